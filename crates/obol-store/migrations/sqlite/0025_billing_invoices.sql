-- 0025_billing_invoices: tax rates, invoices with their lines and gapless
-- per-brand numbers, credit notes, and the brand's billing settings.

-- invoice_prefix: the prefix of the brand's invoice numbers (a default from
-- its name when NULL); dunning_retry_days: JSON array of days after a
-- failed renewal to retry it (1, 3, 5, 7 when NULL).
ALTER TABLE brands ADD COLUMN invoice_prefix TEXT;
ALTER TABLE brands ADD COLUMN dunning_retry_days TEXT;

-- One active rate per brand and country; a new one supersedes it.
CREATE TABLE tax_rates (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    country TEXT NOT NULL,
    percentage_bps INTEGER NOT NULL CHECK (percentage_bps >= 0 AND percentage_bps <= 10000),
    inclusive INTEGER NOT NULL CHECK (inclusive IN (0, 1)),
    display_name TEXT NOT NULL,
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX tax_rates_brand ON tax_rates (brand_id, id);
CREATE UNIQUE INDEX tax_rates_active_country ON tax_rates (brand_id, country) WHERE active = 1;

-- The last number a brand's finalized invoices took: bumped in the
-- finalizing transaction, so a rollback gives the number back.
CREATE TABLE invoice_numbers (
    brand_id TEXT PRIMARY KEY REFERENCES brands (id),
    last_number INTEGER NOT NULL CHECK (last_number >= 0)
);

-- Amounts in minor units of currency. subtotal = sum of line amounts;
-- total = subtotal - discount + exclusive tax; amount_paid and
-- amount_credited grow with payments and credit notes. A subscription's
-- invoice for its period n is unique (subscription_id, period_index): a
-- renewal that runs twice bills once.
CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    subscription_id TEXT,
    period_index INTEGER,
    billing_reason TEXT NOT NULL CHECK (billing_reason IN ('manual', 'subscription_create', 'subscription_cycle', 'subscription_update')),
    number TEXT,
    status TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    -- Who it is from and to as when it was made: an issued invoice reads
    -- the same forever.
    issuer_name TEXT NOT NULL,
    customer_name TEXT,
    customer_email TEXT,
    customer_country TEXT,
    -- charge_automatically: paid with the mandate or wallet; send_invoice:
    -- emailed with its link at finalization.
    collection_method TEXT NOT NULL CHECK (collection_method IN ('charge_automatically', 'send_invoice')),
    currency TEXT NOT NULL,
    subtotal INTEGER NOT NULL CHECK (subtotal >= 0),
    discount INTEGER NOT NULL CHECK (discount >= 0),
    tax INTEGER NOT NULL CHECK (tax >= 0),
    total INTEGER NOT NULL CHECK (total >= 0),
    amount_paid INTEGER NOT NULL CHECK (amount_paid >= 0),
    amount_credited INTEGER NOT NULL CHECK (amount_credited >= 0),
    coupon_id TEXT,
    tax_rate_id TEXT REFERENCES tax_rates (id),
    tax_bps INTEGER,
    tax_inclusive INTEGER CHECK (tax_inclusive IS NULL OR tax_inclusive IN (0, 1)),
    days_until_due INTEGER NOT NULL CHECK (days_until_due >= 0),
    due_date INTEGER,
    order_id TEXT REFERENCES orders (id),
    -- The PDF template an issued invoice renders with, forever.
    template_version INTEGER,
    period_start INTEGER,
    period_end INTEGER,
    finalized_at INTEGER,
    paid_at INTEGER,
    voided_at INTEGER,
    marked_uncollectible_at INTEGER,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (brand_id, number),
    UNIQUE (subscription_id, period_index),
    CHECK ((status = 'draft') = (number IS NULL)),
    CHECK (amount_paid <= total)
);
CREATE INDEX invoices_brand ON invoices (brand_id, id);
CREATE INDEX invoices_customer ON invoices (brand_id, customer_id, id);
CREATE UNIQUE INDEX invoices_order ON invoices (order_id);

-- amount = quantity * unit_amount (negative for a proration credit);
-- discount and tax are this line's share.
CREATE TABLE invoice_lines (
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    price_id TEXT,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_amount INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    discount INTEGER NOT NULL CHECK (discount >= 0),
    tax INTEGER NOT NULL,
    period_start INTEGER,
    period_end INTEGER,
    proration INTEGER NOT NULL CHECK (proration IN (0, 1)),
    PRIMARY KEY (invoice_id, position)
);

-- refund_to 'payment': refund_id names the card refund; 'wallet': the
-- amount went to the customer's wallet as paid credit.
CREATE TABLE credit_notes (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    refund_to TEXT NOT NULL CHECK (refund_to IN ('wallet', 'payment')),
    refund_id TEXT,
    lines TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, id);
