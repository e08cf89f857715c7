-- 0021_accounts_exchange_rates: a brand's exchange rates, each in force
-- from its valid_from until a later one of the same pair. The rate is kept
-- as the decimal text it was given (normalized), never as a float.

CREATE TABLE exchange_rates (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    rate TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK (base <> quote)
);
-- The rate in force: the pair's latest valid_from at or before a time.
CREATE INDEX exchange_rates_pair ON exchange_rates (brand_id, base, quote, valid_from);
CREATE INDEX exchange_rates_brand ON exchange_rates (brand_id, id);
