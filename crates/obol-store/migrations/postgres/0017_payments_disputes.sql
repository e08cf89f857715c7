-- 0017_payments_disputes: disputes (chargebacks) a connector opens on a
-- payment, and the `disputes` ledger account type the disputed money sits
-- on until the dispute is won or lost.

-- A connector's dispute of one sale or capture; one row per connector
-- dispute id, so a notice received twice opens one dispute.
CREATE TABLE disputes (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    transaction_id TEXT NOT NULL REFERENCES transactions (id),
    connector_account_id TEXT NOT NULL REFERENCES connector_accounts (id),
    connector_dispute_id TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('needs_response', 'under_review', 'won', 'lost')),
    evidence TEXT,
    evidence_due_by BIGINT,
    -- Whether the disputed amount came from the brand's available balance
    -- (after clearing) or its pending one: a won dispute gives it back there.
    from_available BIGINT NOT NULL CHECK (from_available IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (connector_account_id, connector_dispute_id)
);
CREATE INDEX disputes_brand ON disputes (brand_id, id);

-- The `disputes` account type.
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_type_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_type_check CHECK (type IN (
    'brand_pending', 'brand_available', 'processor_clearing', 'customer_wallet', 'fees',
    'commission', 'promotions', 'external', 'disputes'));
