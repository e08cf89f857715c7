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
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('needs_response', 'under_review', 'won', 'lost')),
    evidence TEXT,
    evidence_due_by INTEGER,
    -- Whether the disputed amount came from the brand's available balance
    -- (after clearing) or its pending one: a won dispute gives it back there.
    from_available INTEGER NOT NULL CHECK (from_available IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (connector_account_id, connector_dispute_id)
);
CREATE INDEX disputes_brand ON disputes (brand_id, id);

-- The `disputes` account type. SQLite cannot change a CHECK in place: the
-- table is built again under the new check. Its postings' foreign keys are
-- checked at commit (deferred), once every account row is back.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE ledger_accounts_old AS SELECT * FROM ledger_accounts;
DROP TABLE ledger_accounts;
CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    type TEXT NOT NULL CHECK (type IN ('brand_pending', 'brand_available', 'processor_clearing',
        'customer_wallet', 'fees', 'commission', 'promotions', 'external', 'disputes')),
    currency TEXT NOT NULL,
    -- The connector account of a processor_clearing account, the customer of
    -- a customer_wallet; null for the others.
    owner_id TEXT,
    -- owner_id or '': NULLs are distinct in a unique constraint, '' is not.
    owner_key TEXT NOT NULL,
    balance INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (owner_key = COALESCE(owner_id, '')),
    CHECK (CASE WHEN type IN ('processor_clearing', 'customer_wallet') THEN owner_id IS NOT NULL
        ELSE owner_id IS NULL END),
    CHECK (type <> 'customer_wallet' OR balance >= 0),
    UNIQUE (brand_id, type, currency, owner_key)
);
INSERT INTO ledger_accounts (id, brand_id, type, currency, owner_id, owner_key, balance, version,
        created_at, updated_at)
    SELECT id, brand_id, type, currency, owner_id, owner_key, balance, version, created_at,
        updated_at
    FROM ledger_accounts_old;
DROP TABLE ledger_accounts_old;
CREATE INDEX ledger_accounts_brand ON ledger_accounts (brand_id, id);
