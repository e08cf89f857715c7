-- 0027_payments_order_coupons: a coupon on an order. amount is what the
-- order charges, after amount_discount; coupon_id names the coupon.

ALTER TABLE orders ADD COLUMN coupon_id TEXT;
ALTER TABLE orders ADD COLUMN amount_discount INTEGER NOT NULL DEFAULT 0;
