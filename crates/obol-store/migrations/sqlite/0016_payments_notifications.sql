-- 0016_payments_notifications: connector notifications in, and crypto
-- payments (what an invoice received) on transactions and the sandbox.

-- Each verified notification, once: the key de-duplicates a connector's
-- retries and concurrent copies by its event id. `transaction_id` is the
-- transaction it was about, NULL when none matched.
CREATE TABLE connector_notifications (
    connector_account_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    connector_transaction_id TEXT NOT NULL,
    transaction_id TEXT,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (connector_account_id, event_id)
);

-- A notification names its payment by the connector's id.
CREATE INDEX transactions_connector_id ON transactions (connector_account_id, connector_transaction_id);

-- What a crypto payment received, when it differs from what was asked.
ALTER TABLE transactions ADD COLUMN amount_received INTEGER CHECK (amount_received >= 0);

-- The sandbox's crypto invoices: the method, when an invoice not paid in
-- full fails, and what it received.
ALTER TABLE sandbox_payments ADD COLUMN method TEXT NOT NULL DEFAULT 'card' CHECK (method IN ('card', 'crypto'));
ALTER TABLE sandbox_payments ADD COLUMN invoice_expires_at INTEGER;
ALTER TABLE sandbox_payments ADD COLUMN amount_received INTEGER CHECK (amount_received >= 0);
