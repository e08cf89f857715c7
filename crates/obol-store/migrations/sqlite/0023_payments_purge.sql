-- 0023_payments_purge: the payments' purge deletes spent return nonces and
-- old connector notifications by age; these indexes keep it from reading
-- every row.
CREATE INDEX checkout_returns_used ON checkout_returns (used_at);
CREATE INDEX connector_notifications_received ON connector_notifications (received_at);
