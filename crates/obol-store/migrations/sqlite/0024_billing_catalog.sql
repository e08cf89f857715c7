-- 0024_billing_catalog: a brand's catalog: products, the features packages
-- grant, packages (what a product sells: features, a license) and their
-- prices.

CREATE TABLE products (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    name TEXT NOT NULL,
    description TEXT,
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    -- JSON object of strings.
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX products_brand ON products (brand_id, id);

-- A feature's key is unique per brand.
CREATE TABLE features (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('boolean', 'limit')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (brand_id, key)
);
CREATE INDEX features_brand ON features (brand_id, id);

-- features: JSON object of feature keys to true (boolean features) or a
-- non-negative integer (limit features). No license when
-- license_device_limit is NULL.
CREATE TABLE packages (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    name TEXT NOT NULL,
    features TEXT NOT NULL,
    license_device_limit INTEGER CHECK (license_device_limit IS NULL OR license_device_limit >= 0),
    license_duration_days INTEGER CHECK (license_duration_days IS NULL OR license_duration_days > 0),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (license_device_limit IS NOT NULL OR license_duration_days IS NULL)
);
CREATE INDEX packages_brand ON packages (brand_id, id);

-- A price's amount never changes: only active and metadata do.
CREATE TABLE prices (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    package_id TEXT NOT NULL REFERENCES packages (id),
    currency TEXT NOT NULL,
    unit_amount INTEGER NOT NULL CHECK (unit_amount >= 0),
    type TEXT NOT NULL CHECK (type IN ('one_time', 'recurring')),
    recurring_interval TEXT CHECK (recurring_interval IS NULL OR recurring_interval IN ('day', 'week', 'month', 'year')),
    interval_count INTEGER CHECK (interval_count IS NULL OR interval_count > 0),
    trial_days INTEGER CHECK (trial_days IS NULL OR trial_days >= 0),
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK ((type = 'one_time') = (recurring_interval IS NULL)),
    CHECK ((recurring_interval IS NULL) = (interval_count IS NULL)),
    CHECK ((recurring_interval IS NULL) = (trial_days IS NULL))
);
CREATE INDEX prices_brand ON prices (brand_id, id);
