-- 0019_accounts_wallets: customer wallets as credit-normal ledger accounts
-- (what Obol owes the customer: a balance at or below zero), paid credit
-- (`customer_wallet`) apart from granted credit (`wallet_granted`), and the
-- grants behind granted credit with what is left of each.

-- No wallet account held money before this version (wallets were refused).
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_type_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_type_check CHECK (type IN (
    'brand_pending', 'brand_available', 'processor_clearing', 'customer_wallet',
    'wallet_granted', 'fees', 'commission', 'promotions', 'external', 'disputes'));
-- The unnamed owner and wallet checks of 0004, found by what they name.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
        WHERE conrelid = 'ledger_accounts'::regclass AND contype = 'c'
        AND conname <> 'ledger_accounts_type_check'
        AND pg_get_constraintdef(oid) LIKE '%customer_wallet%'
    LOOP
        EXECUTE format('ALTER TABLE ledger_accounts DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_owner_check CHECK (
    CASE WHEN type IN ('processor_clearing', 'customer_wallet', 'wallet_granted')
    THEN owner_id IS NOT NULL ELSE owner_id IS NULL END);
-- A wallet is what Obol owes its customer: credit-normal, never in debit.
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_wallet_check CHECK (
    type NOT IN ('customer_wallet', 'wallet_granted') OR balance <= 0);

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
    amount BIGINT NOT NULL CHECK (amount > 0),
    remaining BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    reason TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('grant', 'redeem_code')),
    expires_at BIGINT,
    expired_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX wallet_grants_customer ON wallet_grants (brand_id, customer_id, currency, id);

-- What a wallet payment took from each grant, so that its refund gives the
-- granted part back to the grants it came from.
CREATE TABLE wallet_grant_spends (
    grant_id TEXT NOT NULL REFERENCES wallet_grants (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (order_id, grant_id)
);
