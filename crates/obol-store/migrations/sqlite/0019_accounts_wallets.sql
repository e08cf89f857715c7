-- 0019_accounts_wallets: customer wallets as credit-normal ledger accounts
-- (what Obol owes the customer: a balance at or below zero), paid credit
-- (`customer_wallet`) apart from granted credit (`wallet_granted`), and the
-- grants behind granted credit with what is left of each.

-- SQLite cannot change a CHECK in place: the table is built again under the
-- new checks. Its postings' foreign keys are checked at commit (deferred).
-- No wallet account held money before this version (wallets were refused).
PRAGMA defer_foreign_keys = ON;
CREATE TABLE ledger_accounts_old AS SELECT * FROM ledger_accounts;
DROP TABLE ledger_accounts;
CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    type TEXT NOT NULL CHECK (type IN ('brand_pending', 'brand_available', 'processor_clearing',
        'customer_wallet', 'wallet_granted', 'fees', 'commission', 'promotions', 'external',
        'disputes')),
    currency TEXT NOT NULL,
    -- The connector account of a processor_clearing account, the customer of
    -- a wallet account; null for the others.
    owner_id TEXT,
    -- owner_id or '': NULLs are distinct in a unique constraint, '' is not.
    owner_key TEXT NOT NULL,
    balance INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (owner_key = COALESCE(owner_id, '')),
    CHECK (CASE WHEN type IN ('processor_clearing', 'customer_wallet', 'wallet_granted')
        THEN owner_id IS NOT NULL ELSE owner_id IS NULL END),
    -- A wallet is what Obol owes its customer: credit-normal, never in debit.
    CHECK (type NOT IN ('customer_wallet', 'wallet_granted') OR balance <= 0),
    UNIQUE (brand_id, type, currency, owner_key)
);
INSERT INTO ledger_accounts (id, brand_id, type, currency, owner_id, owner_key, balance, version,
        created_at, updated_at)
    SELECT id, brand_id, type, currency, owner_id, owner_key, balance, version, created_at,
        updated_at
    FROM ledger_accounts_old;
DROP TABLE ledger_accounts_old;
CREATE INDEX ledger_accounts_brand ON ledger_accounts (brand_id, id);

-- A customer's wallet accounts, found by their owner.
CREATE INDEX ledger_accounts_owner ON ledger_accounts (brand_id, owner_key);
-- A customer's entries (`GET /v1/ledger/entries?customer_id=`).
CREATE INDEX ledger_entries_customer ON ledger_entries (brand_id, customer_id, id);

-- One granted credit (a grant by the brand, a redeem code): its `remaining`
-- is its share of the customer's `wallet_granted` balance, spent soonest
-- expiring first and removed at `expires_at`.
CREATE TABLE wallet_grants (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    remaining INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    reason TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('grant', 'redeem_code')),
    expires_at INTEGER,
    expired_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX wallet_grants_customer ON wallet_grants (brand_id, customer_id, currency, id);

-- What a wallet payment took from each grant, so that its refund gives the
-- granted part back to the grants it came from.
CREATE TABLE wallet_grant_spends (
    grant_id TEXT NOT NULL REFERENCES wallet_grants (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    amount INTEGER NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (order_id, grant_id)
);
