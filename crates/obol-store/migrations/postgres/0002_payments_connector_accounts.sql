-- A brand's accounts at payment providers. Credentials and the webhook
-- secret are AES-256-GCM ciphertexts under the master key; payment_methods
-- and currencies are JSON arrays as text (currencies NULL: every currency).
CREATE TABLE connector_accounts (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    connector TEXT NOT NULL,
    label TEXT,
    credentials_ciphertext TEXT,
    payment_methods TEXT NOT NULL CHECK (payment_methods <> '[]'),
    currencies TEXT CHECK (currencies <> '[]'),
    priority BIGINT NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 1000000),
    status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    webhook_secret_ciphertext TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Routing reads a brand's enabled accounts in priority order.
CREATE INDEX connector_accounts_routing ON connector_accounts (brand_id, status, priority);
CREATE INDEX connector_accounts_brand ON connector_accounts (brand_id, id);
