-- 0018_payments_disputes_by_order: clearing looks up the disputes of the
-- order it clears, to move only what the disputes left in pending.
CREATE INDEX disputes_order ON disputes (order_id);
