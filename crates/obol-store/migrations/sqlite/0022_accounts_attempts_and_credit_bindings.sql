-- 0022_accounts_attempts_and_credit_bindings: a redemption counts itself
-- among the failures before it is tried (so concurrent guesses see each
-- other), and takes its rows back when it was no guess: each row names its
-- attempt. A grant of wallet credit is bound to the request key that made
-- it, as orders and transactions are, so that a retry credits once.
ALTER TABLE redeem_failures ADD COLUMN attempt_id TEXT;

CREATE TABLE idempotency_bindings_new (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    object_type TEXT NOT NULL CHECK (object_type IN ('order', 'transaction', 'wallet_credit')),
    object_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key, object_type)
);
INSERT INTO idempotency_bindings_new SELECT scope, key, object_type, object_id, request_hash, created_at
    FROM idempotency_bindings;
DROP TABLE idempotency_bindings;
ALTER TABLE idempotency_bindings_new RENAME TO idempotency_bindings;
CREATE INDEX idempotency_bindings_created ON idempotency_bindings (created_at);
