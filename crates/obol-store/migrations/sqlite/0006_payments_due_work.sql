-- Time-driven order work and transaction syncs move from one job per order
-- to due times on the rows themselves: the change that makes work due (or
-- ends it) already writes the row, so it costs no statement of its own.
ALTER TABLE orders ADD COLUMN due_at INTEGER;
ALTER TABLE transactions ADD COLUMN sync_at INTEGER;
ALTER TABLE transactions ADD COLUMN sync_attempts INTEGER NOT NULL DEFAULT 0;

UPDATE orders SET due_at = (
    SELECT MIN(run_at) FROM jobs
    WHERE status IN ('pending', 'running')
      AND unique_key IN ('order.expire:' || orders.id, 'order.expire_authorization:' || orders.id,
                         'order.clear:' || orders.id));
UPDATE transactions SET
    sync_at = (SELECT MIN(run_at) FROM jobs
               WHERE status IN ('pending', 'running') AND unique_key = 'transaction.sync:' || transactions.id),
    sync_attempts = COALESCE((SELECT MAX(attempts) FROM jobs
                              WHERE unique_key = 'transaction.sync:' || transactions.id), 0);
UPDATE jobs SET status = 'cancelled', lease_until = NULL
WHERE status IN ('pending', 'running')
  AND kind IN ('order.expire', 'order.expire_authorization', 'order.clear', 'transaction.sync');

CREATE INDEX orders_due ON orders (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX transactions_sync_due ON transactions (sync_at) WHERE sync_at IS NOT NULL;
