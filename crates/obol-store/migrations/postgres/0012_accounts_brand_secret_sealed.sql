-- The brand's webhook secret (it signs order callbacks) is kept as an
-- AES-256-GCM ciphertext under the master key, like every other secret.
-- The master key is not known to SQL: the server seals existing secrets at
-- start (brands::seal_webhook_secrets) and empties the plaintext column.
ALTER TABLE brands ADD COLUMN webhook_secret_ciphertext TEXT NOT NULL DEFAULT '';
