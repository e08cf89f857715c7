-- Idempotency records: a keyed request fingerprint, an owner token so only
-- the request that holds a record can finish or drop it, answers sealed
-- under the master key when they carry a secret, and `failed` for a request
-- that ended in a 500 (the same request may run again; it finds what the
-- first attempt made through idempotency_bindings).
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_status_check;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_status_check
    CHECK (status IN ('running', 'done', 'failed'));
ALTER TABLE idempotency_keys ADD COLUMN response_sealed BIGINT NOT NULL DEFAULT 0
    CHECK (response_sealed IN (0, 1));
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
-- Earlier fingerprints were unkeyed hashes of bodies that may hold a card
-- number: they are dropped (an empty fingerprint is compared by method and
-- path only). Earlier answers that carry a shown-once secret are dropped.
UPDATE idempotency_keys SET request_hash = '';
DELETE FROM idempotency_keys WHERE path IN ('/v1/api_keys', '/v1/brands', '/v1/connector_accounts');

-- What a keyed request made (its order, its payment transaction), written in
-- the same database transaction as the object, so a retry finds it whatever
-- happened to the stored answer; with the request's fingerprint, so only
-- the same request is answered from it.
CREATE TABLE idempotency_bindings (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    object_type TEXT NOT NULL CHECK (object_type IN ('order', 'transaction')),
    object_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key, object_type)
);
CREATE INDEX idempotency_bindings_created ON idempotency_bindings (created_at);
