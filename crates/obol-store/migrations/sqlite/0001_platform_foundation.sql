CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE test_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    now_ms INTEGER NOT NULL
);

CREATE TABLE admin_keys (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE brands (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_brand_id TEXT REFERENCES brands (id),
    commission_rate_bps INTEGER NOT NULL DEFAULT 0 CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    default_currency TEXT,
    clearing_days INTEGER NOT NULL DEFAULT 2 CHECK (clearing_days BETWEEN 0 AND 365),
    support_email TEXT,
    display_name TEXT,
    logo_url TEXT,
    primary_color TEXT,
    webhook_secret TEXT NOT NULL,
    event_sequence INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('secret', 'publishable')),
    role TEXT NOT NULL CHECK (role IN ('owner', 'developer', 'support', 'read_only')),
    secret_hash TEXT NOT NULL UNIQUE,
    secret_prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_brand ON api_keys (brand_id, id);

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    email TEXT NOT NULL,
    name TEXT,
    phone TEXT,
    country TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'blocked')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE UNIQUE INDEX customers_brand_email ON customers (brand_id, email) WHERE deleted_at IS NULL;
CREATE INDEX customers_brand ON customers (brand_id, id);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    -- Assigned after commit by the sequencer, in the order events become
    -- visible (commit order), so that no write holds a per-brand lock.
    sequence INTEGER,
    type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    customer_id TEXT,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (brand_id, sequence)
);
CREATE INDEX events_customer ON events (brand_id, customer_id, sequence);
CREATE INDEX events_unsequenced ON events (brand_id, id) WHERE sequence IS NULL;

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    brand_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    run_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_until INTEGER,
    last_error TEXT,
    unique_key TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (status, run_at);
CREATE UNIQUE INDEX jobs_unique_pending ON jobs (unique_key) WHERE status = 'pending';

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done')),
    response_status INTEGER,
    response_body TEXT,
    locked_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
