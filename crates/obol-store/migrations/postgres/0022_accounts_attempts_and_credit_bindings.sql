-- 0022_accounts_attempts_and_credit_bindings: a redemption counts itself
-- among the failures before it is tried (so concurrent guesses see each
-- other), and takes its rows back when it was no guess: each row names its
-- attempt. A grant of wallet credit is bound to the request key that made
-- it, as orders and transactions are, so that a retry credits once.
ALTER TABLE redeem_failures ADD COLUMN attempt_id TEXT;

ALTER TABLE idempotency_bindings DROP CONSTRAINT idempotency_bindings_object_type_check;
ALTER TABLE idempotency_bindings ADD CONSTRAINT idempotency_bindings_object_type_check
    CHECK (object_type IN ('order', 'transaction', 'wallet_credit'));
