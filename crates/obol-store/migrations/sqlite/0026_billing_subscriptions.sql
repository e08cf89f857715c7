-- 0026_billing_subscriptions: coupons and their redemptions, and
-- subscriptions with their periods, trial, dunning and due work.

-- percent_off_bps (hundredths of a percent) or amount_off in currency.
-- times_redeemed never passes max_redemptions: each redemption is a
-- conditional update, and the check backs it.
CREATE TABLE coupons (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    code TEXT,
    name TEXT,
    percent_off_bps INTEGER CHECK (percent_off_bps IS NULL OR (percent_off_bps > 0 AND percent_off_bps <= 10000)),
    amount_off INTEGER CHECK (amount_off IS NULL OR amount_off > 0),
    currency TEXT,
    duration TEXT NOT NULL CHECK (duration IN ('once', 'repeating', 'forever')),
    duration_in_periods INTEGER CHECK (duration_in_periods IS NULL OR duration_in_periods > 0),
    max_redemptions INTEGER CHECK (max_redemptions IS NULL OR max_redemptions > 0),
    times_redeemed INTEGER NOT NULL CHECK (times_redeemed >= 0),
    redeem_by INTEGER,
    -- JSON array of package ids; NULL: every package.
    applies_to TEXT,
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (brand_id, code),
    CHECK (max_redemptions IS NULL OR times_redeemed <= max_redemptions),
    CHECK ((percent_off_bps IS NULL) <> (amount_off IS NULL)),
    CHECK ((amount_off IS NULL) = (currency IS NULL)),
    CHECK ((duration = 'repeating') = (duration_in_periods IS NOT NULL))
);
CREATE INDEX coupons_brand ON coupons (brand_id, id);

-- Periods are counted from anchor_at: period n (n >= anchor_index) runs
-- from boundary n - anchor_index to the next, so a monthly subscription
-- started on Jan 31 renews on the last day of shorter months and on the
-- 31st again after. period_index -1 is a trial without an invoice.
-- coupon_periods_left: invoices the coupon still discounts (NULL: all).
-- due_at: when its next time-driven step falls due (the trial's notice or
-- end, renewal, a dunning retry, an unpaid first invoice's expiry); a
-- step in progress holds it as a lease.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    brand_id TEXT NOT NULL REFERENCES brands (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    price_id TEXT NOT NULL REFERENCES prices (id),
    package_id TEXT NOT NULL REFERENCES packages (id),
    status TEXT NOT NULL CHECK (status IN ('incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused', 'canceled', 'incomplete_expired')),
    collection_method TEXT NOT NULL CHECK (collection_method IN ('charge_automatically', 'send_invoice')),
    pay_from_wallet INTEGER NOT NULL CHECK (pay_from_wallet IN (0, 1)),
    days_until_due INTEGER NOT NULL CHECK (days_until_due >= 0),
    mandate_id TEXT,
    coupon_id TEXT REFERENCES coupons (id),
    coupon_periods_left INTEGER,
    anchor_at INTEGER NOT NULL,
    anchor_index INTEGER NOT NULL,
    period_index INTEGER NOT NULL,
    current_period_start INTEGER NOT NULL,
    current_period_end INTEGER NOT NULL,
    trial_end INTEGER,
    trial_will_end_sent INTEGER NOT NULL CHECK (trial_will_end_sent IN (0, 1)),
    cancel_at_period_end INTEGER NOT NULL CHECK (cancel_at_period_end IN (0, 1)),
    canceled_at INTEGER,
    paused_at INTEGER,
    pending_price_id TEXT REFERENCES prices (id),
    -- A trial's zero-amount order that sets up the mandate, when none was given.
    setup_order_id TEXT REFERENCES orders (id),
    latest_invoice_id TEXT,
    -- The invoice billing itself is charging now: only its own charges'
    -- failures count for dunning, not a brand's or customer's attempt.
    charging_invoice_id TEXT,
    dunning_invoice_id TEXT,
    dunning_failed_at INTEGER,
    dunning_attempts INTEGER NOT NULL CHECK (dunning_attempts >= 0),
    next_retry_at INTEGER,
    due_at INTEGER,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX subscriptions_brand ON subscriptions (brand_id, id);
CREATE INDEX subscriptions_customer ON subscriptions (brand_id, customer_id, id);
CREATE INDEX subscriptions_due ON subscriptions (due_at) WHERE due_at IS NOT NULL;

-- Every redemption of a coupon, by what it discounted (a subscription or
-- an order).
CREATE TABLE coupon_redemptions (
    coupon_id TEXT NOT NULL REFERENCES coupons (id),
    brand_id TEXT NOT NULL REFERENCES brands (id),
    customer_id TEXT REFERENCES customers (id),
    subscription_id TEXT REFERENCES subscriptions (id),
    order_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX coupon_redemptions_coupon ON coupon_redemptions (coupon_id);
