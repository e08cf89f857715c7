-- A brand's webhook endpoints. Secrets are AES-256-GCM ciphertexts under
-- the master key; after a rotation the previous secret keeps signing beside
-- the new one until previous_secret_expires_at. events is a JSON array of
-- event types as text, or ["*"]. A deleted endpoint keeps its row for its
-- deliveries' history.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    url TEXT NOT NULL,
    description TEXT,
    events TEXT NOT NULL CHECK (events <> '[]'),
    status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled', 'failing')),
    secret_ciphertext TEXT NOT NULL,
    previous_secret_ciphertext TEXT,
    previous_secret_expires_at INTEGER,
    deleted_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_brand ON webhook_endpoints (brand_id, id);

-- Per brand, the last event sequence whose deliveries were made. Brands
-- that exist now start at their last event, so an upgrade sends no
-- callback of an order paid before it.
CREATE TABLE notify_cursors (
    brand_id TEXT PRIMARY KEY REFERENCES brands (id),
    last_sequence INTEGER NOT NULL
);
INSERT INTO notify_cursors (brand_id, last_sequence) SELECT id, event_sequence FROM brands;

-- One row per attempt to deliver an event to a target: an endpoint
-- (endpoint_id set, target its id) or an order's callback URL (endpoint_id
-- NULL, target 'callback:' and the URL). The attempts of one message share
-- message_id (the first attempt's id); the newest is 'pending' while one is
-- due at run_at, and lease_until marks one in flight. Messages about one
-- object to one target go out in sequence order: one behind an earlier
-- pending message is held, run_at NULL, until that one ends.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    event_id TEXT NOT NULL REFERENCES events (id),
    event_type TEXT NOT NULL,
    endpoint_id TEXT REFERENCES webhook_endpoints (id),
    target TEXT NOT NULL,
    url TEXT NOT NULL,
    object_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    run_at INTEGER,
    lease_until INTEGER,
    attempted_at INTEGER,
    http_status INTEGER,
    response_excerpt TEXT,
    duration_ms INTEGER,
    error TEXT,
    next_attempt_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (run_at) WHERE status = 'pending';
-- An attempt that ends takes the next due one of its target.
CREATE INDEX webhook_deliveries_target_due ON webhook_deliveries (target, run_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_in_order ON webhook_deliveries (target, object_id, sequence)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
