-- 0020_accounts_redeem_codes: codes a brand hands out that credit a
-- customer's wallet with granted credit, once per customer and never
-- beyond their redemptions; and the failed attempts that limit guessing.

-- A code is found by a keyed hash of its text (unique per brand) and kept
-- sealed under the master key to be shown to the brand again.
CREATE TABLE redeem_codes (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    code_hash TEXT NOT NULL,
    code_ciphertext TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    max_redemptions BIGINT CHECK (max_redemptions IS NULL OR max_redemptions > 0),
    redemptions BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (max_redemptions IS NULL OR redemptions <= max_redemptions),
    UNIQUE (brand_id, code_hash)
);
CREATE INDEX redeem_codes_brand ON redeem_codes (brand_id, id);

-- One redemption per code and customer.
CREATE TABLE redeem_code_redemptions (
    code_id TEXT NOT NULL REFERENCES redeem_codes (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    grant_id TEXT NOT NULL REFERENCES wallet_grants (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (code_id, customer_id)
);

-- Failed redemptions, by who tried (a customer, an API key), counted over
-- a window to refuse guessing with 429.
CREATE TABLE redeem_failures (
    brand_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX redeem_failures_subject ON redeem_failures (brand_id, subject, failed_at);
