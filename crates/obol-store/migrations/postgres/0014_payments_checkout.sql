-- 0014_payments_checkout: what the hosted payment page and 3-D Secure
-- returns need.

-- A publishable key is public by design (every payment page carries it):
-- it is kept, sealed under the master key, for the page to embed; secret
-- keys stay hashed only.
ALTER TABLE api_keys ADD COLUMN publishable_key_ciphertext TEXT;

-- Each signed return's one-time nonce, spent by its first use: a replayed
-- return finds its nonce here and changes nothing.
CREATE TABLE checkout_returns (
    nonce TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    used_at BIGINT NOT NULL
);
