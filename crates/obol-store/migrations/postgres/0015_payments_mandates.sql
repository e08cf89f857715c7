-- 0015_payments_mandates: mandates (recurring payments), and the sandbox's
-- own record of the mandates it keeps.

-- A customer's mandate: the connector's token for a card set up by a paid
-- `setup_mandate` order, to charge later with no customer present. Only the
-- token is kept, never a card number; the card as the customer sees it.
CREATE TABLE mandates (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    -- The setup order: one mandate at most per order, however often its
    -- payment's outcome is reported.
    order_id TEXT NOT NULL UNIQUE REFERENCES orders (id),
    connector_account_id TEXT NOT NULL REFERENCES connector_accounts (id),
    connector_token TEXT NOT NULL,
    card_brand TEXT NOT NULL,
    card_last4 TEXT NOT NULL,
    exp_month BIGINT NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX mandates_brand ON mandates (brand_id, id);
CREATE INDEX mandates_brand_customer ON mandates (brand_id, customer_id, id);

-- The sandbox's mandates: one per payment made with `setup_mandate`,
-- usable once that payment succeeded. What the card's number meant for
-- later charges is kept as a decline code (NULL: approved), never the number.
CREATE TABLE sandbox_mandates (
    token TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    -- Obol's transaction id of the payment that sets it up.
    transaction_id TEXT NOT NULL,
    card_brand TEXT NOT NULL,
    card_last4 TEXT NOT NULL,
    exp_month BIGINT NOT NULL,
    exp_year BIGINT NOT NULL,
    charge_decline_code TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, transaction_id)
);
