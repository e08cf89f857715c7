//! Coupons and their redemptions.

use crate::page::{Page, PageRequest};
use crate::{Conn, Result};
use obol_core::{BrandId, CouponId, CustomerId, OrderId, SubscriptionId};

#[derive(Debug, Clone)]
pub struct CouponRow {
    pub id: CouponId,
    pub brand_id: BrandId,
    pub code: Option<String>,
    pub name: Option<String>,
    pub percent_off_bps: Option<i64>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    /// `once`, `repeating` or `forever`.
    pub duration: String,
    pub duration_in_periods: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub times_redeemed: i64,
    pub redeem_by: Option<i64>,
    /// JSON array of package ids, or none: every package.
    pub applies_to: Option<String>,
    pub active: bool,
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(CouponRow {
    id,
    brand_id,
    code,
    name,
    percent_off_bps,
    amount_off,
    currency,
    duration,
    duration_in_periods,
    max_redemptions,
    times_redeemed,
    redeem_by,
    applies_to,
    active,
    metadata,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, brand_id, code, name, percent_off_bps, amount_off, currency, duration, \
    duration_in_periods, max_redemptions, times_redeemed, redeem_by, applies_to, active, metadata, \
    created_at, updated_at";

/// Inserts a coupon; false when the brand has one with this code.
pub async fn insert(conn: &mut Conn, row: &CouponRow) -> Result<bool> {
    let sql = format!(
        "INSERT INTO coupons ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
         $12, $13, $14, $15, $16, $17) ON CONFLICT DO NOTHING"
    );
    let done = crate::sql::query(sql)
        .bind(&row.id)
        .bind(&row.brand_id)
        .bind(&row.code)
        .bind(&row.name)
        .bind(row.percent_off_bps)
        .bind(row.amount_off)
        .bind(&row.currency)
        .bind(&row.duration)
        .bind(row.duration_in_periods)
        .bind(row.max_redemptions)
        .bind(row.times_redeemed)
        .bind(row.redeem_by)
        .bind(&row.applies_to)
        .bind(row.active)
        .bind(&row.metadata)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut Conn, brand_id: &BrandId, id: &str) -> Result<Option<CouponRow>> {
    let sql = format!("SELECT {COLUMNS} FROM coupons WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The brand's coupon with this id or, failing that, this code.
pub async fn by_id_or_code(
    conn: &mut Conn,
    brand_id: &BrandId,
    id_or_code: &str,
) -> Result<Option<CouponRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM coupons WHERE brand_id = $1 AND (id = $2 OR code = $2) \
         ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1"
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(id_or_code)
        .fetch_optional(conn)
        .await
}

/// Takes one redemption if any is left and the coupon is active: false when
/// it is exhausted or disabled (the update is conditional, so concurrent
/// redemptions never pass `max_redemptions`).
pub async fn take_redemption(conn: &mut Conn, id: &CouponId, now_ms: i64) -> Result<bool> {
    let done = crate::sql::query(
        "UPDATE coupons SET times_redeemed = times_redeemed + 1, updated_at = $2 \
         WHERE id = $1 AND active = 1 \
         AND (max_redemptions IS NULL OR times_redeemed < max_redemptions)",
    )
    .bind(id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records who redeemed it, for what: a subscription or an order.
pub async fn insert_redemption(
    conn: &mut Conn,
    coupon_id: &CouponId,
    brand_id: &BrandId,
    customer_id: Option<&CustomerId>,
    (subscription_id, order_id): (Option<&SubscriptionId>, Option<&OrderId>),
    now_ms: i64,
) -> Result<()> {
    crate::sql::query(
        "INSERT INTO coupon_redemptions (coupon_id, brand_id, customer_id, subscription_id, \
         order_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(coupon_id)
    .bind(brand_id)
    .bind(customer_id)
    .bind(subscription_id)
    .bind(order_id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn disable(conn: &mut Conn, brand_id: &BrandId, id: &str, now_ms: i64) -> Result<()> {
    crate::sql::query(
        "UPDATE coupons SET active = 0, updated_at = $3 WHERE id = $1 AND brand_id = $2",
    )
    .bind(id)
    .bind(brand_id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// The brand's coupons, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<CouponRow>> {
    let select = format!("SELECT {COLUMNS} FROM coupons WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}
