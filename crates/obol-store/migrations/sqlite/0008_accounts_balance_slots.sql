-- An account's balance is its own running balance plus those of its slots
-- (see PostgreSQL's 0008). SQLite has one writer at a time, so nothing
-- waits on a balance row and Obol never writes slots here; the table keeps
-- the schemas and the queries alike.
CREATE TABLE ledger_balance_slots (
    account_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    balance INTEGER NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, slot)
) WITHOUT ROWID;
