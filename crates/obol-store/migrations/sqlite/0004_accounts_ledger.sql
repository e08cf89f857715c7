-- The double-entry ledger: accounts with running balances, entries, and
-- their signed postings (positive = debit).

CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    type TEXT NOT NULL CHECK (type IN ('brand_pending', 'brand_available', 'processor_clearing',
        'customer_wallet', 'fees', 'commission', 'promotions', 'external')),
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
CREATE INDEX ledger_accounts_brand ON ledger_accounts (brand_id, id);

CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    description TEXT NOT NULL,
    order_id TEXT,
    customer_id TEXT REFERENCES customers (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX ledger_entries_brand ON ledger_entries (brand_id, id);
CREATE INDEX ledger_entries_order ON ledger_entries (brand_id, order_id, id);

CREATE TABLE ledger_postings (
    id TEXT PRIMARY KEY,
    entry_id TEXT NOT NULL REFERENCES ledger_entries (id),
    account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount INTEGER NOT NULL CHECK (amount <> 0),
    currency TEXT NOT NULL
);
CREATE INDEX ledger_postings_account ON ledger_postings (account_id, entry_id);
CREATE INDEX ledger_postings_entry ON ledger_postings (entry_id, id);
