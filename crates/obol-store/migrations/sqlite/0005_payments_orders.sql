CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    customer_id TEXT REFERENCES customers (id),
    customer_email TEXT,
    description TEXT,
    items TEXT,
    type TEXT NOT NULL CHECK (type IN ('one_time', 'credit_top_up', 'subscription', 'invoice')),
    status TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    currency TEXT NOT NULL,
    amount_authorized INTEGER NOT NULL DEFAULT 0,
    amount_captured INTEGER NOT NULL DEFAULT 0,
    amount_refunded INTEGER NOT NULL DEFAULT 0,
    amount_refund_pending INTEGER NOT NULL DEFAULT 0,
    auto_capture INTEGER NOT NULL,
    setup_mandate INTEGER NOT NULL DEFAULT 0,
    mandate_id TEXT,
    connector_account_id TEXT,
    in_flight_transaction_id TEXT,
    attempted INTEGER NOT NULL DEFAULT 0,
    return_url TEXT,
    callback_url TEXT,
    expires_at INTEGER NOT NULL,
    capture_before INTEGER,
    captured_at INTEGER,
    cleared_at INTEGER,
    last_payment_error TEXT,
    next_action TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (amount_captured <= amount_authorized OR amount_authorized = 0 AND amount_captured = 0),
    CHECK (amount_refunded + amount_refund_pending <= amount_captured),
    CHECK (amount_refunded >= 0 AND amount_refund_pending >= 0)
);
CREATE INDEX orders_brand ON orders (brand_id, id);
CREATE INDEX orders_brand_customer ON orders (brand_id, customer_id, id);
CREATE INDEX orders_brand_status ON orders (brand_id, status, id);

CREATE TABLE transactions (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    refund_id TEXT,
    payment_transaction_id TEXT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'requires_action', 'succeeded', 'failed', 'unknown')),
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    connector TEXT NOT NULL,
    connector_account_id TEXT NOT NULL,
    connector_transaction_id TEXT,
    trigger_source TEXT NOT NULL,
    preauth INTEGER NOT NULL DEFAULT 0,
    payment_method TEXT,
    error TEXT,
    status_history TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    confirmed_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE INDEX transactions_order ON transactions (order_id, id);
CREATE INDEX transactions_brand ON transactions (brand_id, id);

CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    transaction_id TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason TEXT,
    failure_reason TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id, id);
CREATE INDEX refunds_brand ON refunds (brand_id, id);
