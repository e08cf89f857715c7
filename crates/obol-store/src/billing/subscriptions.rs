//! Subscriptions and their due work.

use crate::page::{Page, PageRequest};
use crate::{Backend, Conn, Result};
use obol_core::{BrandId, CustomerId, MandateId, SubscriptionId};

#[derive(Debug, Clone)]
pub struct SubscriptionRow {
    pub id: SubscriptionId,
    pub brand_id: BrandId,
    pub customer_id: CustomerId,
    pub price_id: String,
    pub package_id: String,
    pub status: String,
    pub collection_method: String,
    /// Whether a renewal may be paid from the wallet when it covers it.
    pub pay_from_wallet: bool,
    pub days_until_due: i64,
    pub mandate_id: Option<MandateId>,
    pub coupon_id: Option<String>,
    /// Invoices the coupon still discounts; `None`: every one.
    pub coupon_periods_left: Option<i64>,
    pub anchor_at: i64,
    pub anchor_index: i64,
    /// -1 during a trial (no invoice yet), then 0, 1, 2 …
    pub period_index: i64,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub trial_end: Option<i64>,
    pub trial_will_end_sent: bool,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub paused_at: Option<i64>,
    pub pending_price_id: Option<String>,
    pub setup_order_id: Option<String>,
    pub latest_invoice_id: Option<String>,
    /// The invoice billing is charging itself (whose failure is dunning's).
    pub charging_invoice_id: Option<String>,
    pub dunning_invoice_id: Option<String>,
    pub dunning_failed_at: Option<i64>,
    pub dunning_attempts: i64,
    pub next_retry_at: Option<i64>,
    pub due_at: Option<i64>,
    /// JSON object of strings.
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(SubscriptionRow {
    id,
    brand_id,
    customer_id,
    price_id,
    package_id,
    status,
    collection_method,
    pay_from_wallet,
    days_until_due,
    mandate_id,
    coupon_id,
    coupon_periods_left,
    anchor_at,
    anchor_index,
    period_index,
    current_period_start,
    current_period_end,
    trial_end,
    trial_will_end_sent,
    cancel_at_period_end,
    canceled_at,
    paused_at,
    pending_price_id,
    setup_order_id,
    latest_invoice_id,
    charging_invoice_id,
    dunning_invoice_id,
    dunning_failed_at,
    dunning_attempts,
    next_retry_at,
    due_at,
    metadata,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, brand_id, customer_id, price_id, package_id, status, collection_method, \
    pay_from_wallet, days_until_due, mandate_id, coupon_id, coupon_periods_left, anchor_at, \
    anchor_index, period_index, current_period_start, current_period_end, trial_end, \
    trial_will_end_sent, cancel_at_period_end, canceled_at, paused_at, pending_price_id, \
    setup_order_id, latest_invoice_id, charging_invoice_id, dunning_invoice_id, dunning_failed_at, dunning_attempts, next_retry_at, \
    due_at, metadata, created_at, updated_at";

pub async fn insert(conn: &mut Conn, row: &SubscriptionRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO subscriptions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, \
         $28, $29, $30, $31, $32, $33, $34)"
    );
    crate::sql::query(sql)
        .bind(&row.id)
        .bind(&row.brand_id)
        .bind(&row.customer_id)
        .bind(&row.price_id)
        .bind(&row.package_id)
        .bind(&row.status)
        .bind(&row.collection_method)
        .bind(row.pay_from_wallet)
        .bind(row.days_until_due)
        .bind(&row.mandate_id)
        .bind(&row.coupon_id)
        .bind(row.coupon_periods_left)
        .bind(row.anchor_at)
        .bind(row.anchor_index)
        .bind(row.period_index)
        .bind(row.current_period_start)
        .bind(row.current_period_end)
        .bind(row.trial_end)
        .bind(row.trial_will_end_sent)
        .bind(row.cancel_at_period_end)
        .bind(row.canceled_at)
        .bind(row.paused_at)
        .bind(&row.pending_price_id)
        .bind(&row.setup_order_id)
        .bind(&row.latest_invoice_id)
        .bind(&row.charging_invoice_id)
        .bind(&row.dunning_invoice_id)
        .bind(row.dunning_failed_at)
        .bind(row.dunning_attempts)
        .bind(row.next_retry_at)
        .bind(row.due_at)
        .bind(&row.metadata)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes every changeable field but `due_at`, which its due step may hold
/// as a lease (see `set_due` and `release_due`).
pub async fn update(conn: &mut Conn, row: &SubscriptionRow) -> Result<()> {
    crate::sql::query(
        "UPDATE subscriptions SET price_id = $2, status = $3, mandate_id = $4, \
         coupon_periods_left = $5, anchor_at = $6, anchor_index = $7, period_index = $8, \
         current_period_start = $9, current_period_end = $10, trial_will_end_sent = $11, \
         cancel_at_period_end = $12, canceled_at = $13, paused_at = $14, pending_price_id = $15, \
         latest_invoice_id = $16, dunning_invoice_id = $17, dunning_failed_at = $18, \
         dunning_attempts = $19, next_retry_at = $20, updated_at = $21, package_id = $22, \
         setup_order_id = $23, coupon_id = $24, charging_invoice_id = $25 WHERE id = $1",
    )
    .bind(&row.id)
    .bind(&row.price_id)
    .bind(&row.status)
    .bind(&row.mandate_id)
    .bind(row.coupon_periods_left)
    .bind(row.anchor_at)
    .bind(row.anchor_index)
    .bind(row.period_index)
    .bind(row.current_period_start)
    .bind(row.current_period_end)
    .bind(row.trial_will_end_sent)
    .bind(row.cancel_at_period_end)
    .bind(row.canceled_at)
    .bind(row.paused_at)
    .bind(&row.pending_price_id)
    .bind(&row.latest_invoice_id)
    .bind(&row.dunning_invoice_id)
    .bind(row.dunning_failed_at)
    .bind(row.dunning_attempts)
    .bind(row.next_retry_at)
    .bind(row.updated_at)
    .bind(&row.package_id)
    .bind(&row.setup_order_id)
    .bind(&row.coupon_id)
    .bind(&row.charging_invoice_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets when the subscription's next step falls due.
pub async fn set_due(conn: &mut Conn, id: &SubscriptionId, due_at: Option<i64>) -> Result<()> {
    crate::sql::query("UPDATE subscriptions SET due_at = $2 WHERE id = $1")
        .bind(id)
        .bind(due_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves `due_at` from `seen` to `next` if no one moved it meanwhile: a
/// claim (to a lease) or a release; false when another writer did.
pub async fn move_due(
    conn: &mut Conn,
    id: &SubscriptionId,
    seen: i64,
    next: Option<i64>,
) -> Result<bool> {
    let done =
        crate::sql::query("UPDATE subscriptions SET due_at = $3 WHERE id = $1 AND due_at = $2")
            .bind(id)
            .bind(seen)
            .bind(next)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Subscriptions due by `now_ms`, earliest first: (id, due_at).
pub async fn due(conn: &mut Conn, now_ms: i64, limit: i64) -> Result<Vec<(SubscriptionId, i64)>> {
    crate::sql::query_as(
        "SELECT id, due_at FROM subscriptions WHERE due_at IS NOT NULL AND due_at <= $1 \
         ORDER BY due_at LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The earliest due time up to `until_ms`.
pub async fn next_due(conn: &mut Conn, until_ms: i64) -> Result<Option<i64>> {
    crate::sql::query_scalar(
        "SELECT MIN(due_at) FROM subscriptions WHERE due_at IS NOT NULL AND due_at <= $1",
    )
    .bind(until_ms)
    .fetch_one(conn)
    .await
}

pub async fn get(conn: &mut Conn, brand_id: &BrandId, id: &str) -> Result<Option<SubscriptionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// Any brand's subscription, for its due step.
pub async fn find(conn: &mut Conn, id: &SubscriptionId) -> Result<Option<SubscriptionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The subscription, locked for a change until the transaction ends.
pub async fn lock(
    conn: &mut Conn,
    backend: Backend,
    brand_id: &BrandId,
    id: &str,
) -> Result<Option<SubscriptionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE id = $1 AND brand_id = $2{}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The subscription whose trial's setup order is `order_id`, locked.
pub async fn lock_by_setup_order(
    conn: &mut Conn,
    backend: Backend,
    order_id: &str,
) -> Result<Option<SubscriptionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE setup_order_id = $1{}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(order_id)
        .fetch_optional(conn)
        .await
}

/// What a list of subscriptions may be narrowed to.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    pub customer_id: Option<String>,
    pub status: Option<String>,
}

/// The brand's subscriptions, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    filter: &SubscriptionFilter,
    page: &PageRequest,
) -> Result<Page<SubscriptionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE brand_id = $1 \
         AND ($2 IS NULL OR customer_id = $2) AND ($3 IS NULL OR status = $3) \
         AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    );
    let rows = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(&filter.customer_id)
        .bind(&filter.status)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}
