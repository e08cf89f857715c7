-- An account's balance is its own running balance plus those of its slots.
-- Every payment of a brand adds to the same few accounts (its pending
-- balance, its processor's clearing account); on one row, each payment
-- waits for the one before it to commit. A connection adds to its own slot
-- instead, so concurrent payments do not wait for each other. Customer
-- wallets never use slots: their `balance >= 0` check needs the whole
-- balance on one row.
CREATE TABLE ledger_balance_slots (
    account_id TEXT NOT NULL,
    slot BIGINT NOT NULL,
    balance BIGINT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, slot)
) WITH (fillfactor = 10);

-- PostgreSQL checks a foreign key by locking the referenced row for key
-- share. The rows every payment of a brand references (the brand, its
-- balance accounts) collected a lock from each concurrent insert, which
-- PostgreSQL keeps as ever-growing multixacts. Brands and ledger accounts are
-- never deleted, and the ledger check verifies every posting's account.
-- SQLite checks without locking and keeps these keys.
ALTER TABLE orders DROP CONSTRAINT orders_brand_id_fkey;
ALTER TABLE transactions DROP CONSTRAINT transactions_brand_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_brand_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_brand_id_fkey;
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_brand_id_fkey;
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_account_id_fkey;
