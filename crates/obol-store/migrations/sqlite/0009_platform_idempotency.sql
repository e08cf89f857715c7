-- Idempotency records: a keyed request fingerprint, an owner token so only
-- the request that holds a record can finish or drop it, answers sealed
-- under the master key when they carry a secret, and `failed` for a request
-- that ended in a 500 (the same request may run again; it finds what the
-- first attempt made through idempotency_bindings).
CREATE TABLE idempotency_keys_new (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    response_status INTEGER,
    response_body TEXT,
    response_sealed INTEGER NOT NULL DEFAULT 0 CHECK (response_sealed IN (0, 1)),
    owner TEXT,
    locked_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
-- Earlier fingerprints were unkeyed hashes of bodies that may hold a card
-- number: they are dropped (an empty fingerprint is compared by method and
-- path only). Earlier answers that carry a shown-once secret are dropped.
INSERT INTO idempotency_keys_new (scope, key, method, path, request_hash, status,
        response_status, response_body, locked_at, created_at)
    SELECT scope, key, method, path, '', status, response_status, response_body, locked_at, created_at
    FROM idempotency_keys
    WHERE path NOT IN ('/v1/api_keys', '/v1/brands', '/v1/connector_accounts');
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

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
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key, object_type)
);
CREATE INDEX idempotency_bindings_created ON idempotency_bindings (created_at);
