-- The brand's sender of emails: From is sender_name <sender_email> when set.
ALTER TABLE brands ADD COLUMN sender_name TEXT;
ALTER TABLE brands ADD COLUMN sender_email TEXT;

-- Per brand, the last event sequence whose emails were made. Brands that
-- exist now start at their last event, so an upgrade emails nobody about an
-- order paid before it.
CREATE TABLE email_cursors (
    brand_id TEXT PRIMARY KEY REFERENCES brands (id),
    last_sequence BIGINT NOT NULL
);
INSERT INTO email_cursors (brand_id, last_sequence) SELECT id, event_sequence FROM brands;

-- One row per email, rendered when it was made from its event (what the
-- recipient gets is what is stored). A queued email is sent at run_at;
-- run_at is NULL while no SMTP server is configured, and lease_until marks
-- one being sent. One email of a template per event.
CREATE TABLE emails (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    template TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (id),
    order_id TEXT,
    customer_id TEXT,
    to_address TEXT NOT NULL,
    from_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts BIGINT NOT NULL CHECK (attempts >= 0),
    run_at BIGINT,
    lease_until BIGINT,
    last_error TEXT,
    sent_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (event_id, template)
);
CREATE INDEX emails_due ON emails (run_at) WHERE status = 'queued';
CREATE INDEX emails_brand ON emails (brand_id, id);
CREATE INDEX emails_order ON emails (brand_id, order_id, id);
CREATE INDEX emails_customer ON emails (brand_id, customer_id, id);

-- A brand's own version of a built-in email template.
CREATE TABLE email_templates (
    brand_id TEXT NOT NULL REFERENCES brands (id),
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (brand_id, name)
);
