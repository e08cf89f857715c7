-- 0003_sandbox: the sandbox connector's own state, as a processor would keep
-- it. Separate from Obol's tables on purpose: the simulator must not read
-- Obol's view of a payment. Card numbers and CVCs are never stored.

-- One row per authorize, sale or verify. `status` is the outcome of that
-- call; `state` is where the money stands.
CREATE TABLE sandbox_payments (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    operation TEXT NOT NULL CHECK (operation IN ('authorize', 'sale', 'verify')),
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount >= 0),
    status TEXT NOT NULL CHECK (status IN ('succeeded', 'pending', 'requires_action', 'declined', 'failed', 'canceled')),
    decline_code TEXT,
    state TEXT NOT NULL CHECK (state IN ('none', 'authorized', 'captured', 'voided', 'reversed')),
    authorized BIGINT NOT NULL DEFAULT 0,
    captured BIGINT NOT NULL DEFAULT 0 CHECK (captured >= 0),
    refunded BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    card_brand TEXT NOT NULL,
    card_last4 TEXT NOT NULL,
    settle_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (account_id, transaction_id),
    CHECK (captured <= authorized),
    CHECK (refunded <= captured)
);

-- One row per follow-up that moved money; a refused one leaves no row.
CREATE TABLE sandbox_operations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    payment_id TEXT NOT NULL REFERENCES sandbox_payments (id),
    kind TEXT NOT NULL CHECK (kind IN ('capture', 'increment_authorization', 'void', 'reverse', 'refund')),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, transaction_id)
);

CREATE INDEX sandbox_operations_payment ON sandbox_operations (payment_id);
