//! Orders, their payment transactions and refunds.

use crate::page::{Page, PageRequest};
use crate::{Backend, Conn, Result};
use obol_core::{
    BrandId, ConnectorAccountId, CustomerId, MandateId, OrderId, RefundId, TransactionId,
};

/// A stored order. JSON columns are text.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: OrderId,
    pub brand_id: BrandId,
    pub customer_id: Option<CustomerId>,
    pub customer_email: Option<String>,
    pub description: Option<String>,
    pub items: Option<String>,
    pub order_type: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub amount_authorized: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub amount_refund_pending: i64,
    pub auto_capture: i64,
    pub setup_mandate: i64,
    pub mandate_id: Option<MandateId>,
    pub connector_account_id: Option<ConnectorAccountId>,
    pub in_flight_transaction_id: Option<TransactionId>,
    pub attempted: i64,
    pub return_url: Option<String>,
    pub callback_url: Option<String>,
    pub expires_at: i64,
    pub capture_before: Option<i64>,
    pub captured_at: Option<i64>,
    pub cleared_at: Option<i64>,
    /// When the order's next time-driven step falls due: expiry while
    /// unpaid, the authorization's expiry while authorized, clearing while
    /// captured and not cleared.
    pub due_at: Option<i64>,
    pub last_payment_error: Option<String>,
    pub next_action: Option<String>,
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The coupon that took `amount_discount` off (`amount` is after it).
    pub coupon_id: Option<String>,
    pub amount_discount: i64,
}
crate::from_row!(OrderRow { id, brand_id, customer_id, customer_email, description, items, order_type = "type", status, amount, currency, amount_authorized, amount_captured, amount_refunded, amount_refund_pending, auto_capture, setup_mandate, mandate_id, connector_account_id, in_flight_transaction_id, attempted, return_url, callback_url, expires_at, capture_before, captured_at, cleared_at, due_at, last_payment_error, next_action, metadata, created_at, updated_at, coupon_id, amount_discount });

const ORDER_COLUMNS: &str = "id, brand_id, customer_id, customer_email, description, items, type, status, \
    amount, currency, amount_authorized, amount_captured, amount_refunded, amount_refund_pending, \
    auto_capture, setup_mandate, mandate_id, connector_account_id, in_flight_transaction_id, attempted, \
    return_url, callback_url, expires_at, capture_before, captured_at, cleared_at, due_at, \
    last_payment_error, next_action, metadata, created_at, updated_at, coupon_id, amount_discount";

pub async fn insert_order(conn: &mut Conn, o: &OrderRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO orders ({ORDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, \
         $33, $34)"
    );
    crate::sql::query(sql)
        .bind(&o.id)
        .bind(&o.brand_id)
        .bind(&o.customer_id)
        .bind(&o.customer_email)
        .bind(&o.description)
        .bind(&o.items)
        .bind(&o.order_type)
        .bind(&o.status)
        .bind(o.amount)
        .bind(&o.currency)
        .bind(o.amount_authorized)
        .bind(o.amount_captured)
        .bind(o.amount_refunded)
        .bind(o.amount_refund_pending)
        .bind(o.auto_capture)
        .bind(o.setup_mandate)
        .bind(&o.mandate_id)
        .bind(&o.connector_account_id)
        .bind(&o.in_flight_transaction_id)
        .bind(o.attempted)
        .bind(&o.return_url)
        .bind(&o.callback_url)
        .bind(o.expires_at)
        .bind(o.capture_before)
        .bind(o.captured_at)
        .bind(o.cleared_at)
        .bind(o.due_at)
        .bind(&o.last_payment_error)
        .bind(&o.next_action)
        .bind(&o.metadata)
        .bind(o.created_at)
        .bind(o.updated_at)
        .bind(&o.coupon_id)
        .bind(o.amount_discount)
        .queue(conn)
        .await
}

/// Moves an order's expiry (and its due step) to `expires_at`.
pub async fn set_expiry(conn: &mut Conn, id: &OrderId, expires_at: i64, now_ms: i64) -> Result<()> {
    crate::sql::query(
        "UPDATE orders SET expires_at = $2, due_at = $2, updated_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(expires_at)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes every mutable column of the order back (queued with the
/// transaction's other writes, like the inserts here).
pub async fn update_order(conn: &mut Conn, o: &OrderRow) -> Result<()> {
    crate::sql::query(
        "UPDATE orders SET description = $2, items = $3, status = $4, amount = $5, \
         amount_authorized = $6, amount_captured = $7, amount_refunded = $8, amount_refund_pending = $9, \
         mandate_id = $10, connector_account_id = $11, in_flight_transaction_id = $12, attempted = $13, \
         return_url = $14, callback_url = $15, capture_before = $16, captured_at = $17, cleared_at = $18, \
         last_payment_error = $19, next_action = $20, metadata = $21, updated_at = $22, due_at = $23, \
         customer_id = $24 WHERE id = $1",
    )
    .bind(&o.id)
    .bind(&o.description)
    .bind(&o.items)
    .bind(&o.status)
    .bind(o.amount)
    .bind(o.amount_authorized)
    .bind(o.amount_captured)
    .bind(o.amount_refunded)
    .bind(o.amount_refund_pending)
    .bind(&o.mandate_id)
    .bind(&o.connector_account_id)
    .bind(&o.in_flight_transaction_id)
    .bind(o.attempted)
    .bind(&o.return_url)
    .bind(&o.callback_url)
    .bind(o.capture_before)
    .bind(o.captured_at)
    .bind(o.cleared_at)
    .bind(&o.last_payment_error)
    .bind(&o.next_action)
    .bind(&o.metadata)
    .bind(o.updated_at)
    .bind(o.due_at)
    .bind(&o.customer_id)
    .queue(conn)
    .await
}

pub async fn get_order(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &OrderId,
) -> Result<Option<OrderRow>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// An order by id alone, for work not done on a brand's behalf.
pub async fn find_order(conn: &mut Conn, id: &OrderId) -> Result<Option<OrderRow>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// An order of a brand, by primary key with the brand in the same statement:
/// a row of another brand is filtered out before `FOR UPDATE` locks it, so
/// no tenant can hold another's order nor time whether an id exists by
/// waiting on it. `brand_id || ''` is an expression no index matches: with
/// a plain `brand_id = $2`, a generic plan made on a small table picks the
/// `(brand_id, status, id)` index and walks all of the brand's orders (see
/// `of_brand`); this way it is always the primary key.
const ORDER_OF_BRAND: &str = "id = $1 AND brand_id || '' = $2";

/// The brand's order, locked until the transaction ends (PostgreSQL;
/// SQLite's `BEGIN IMMEDIATE` already excludes other writers).
pub async fn lock_order(
    conn: &mut Conn,
    backend: Backend,
    brand_id: &BrandId,
    id: &OrderId,
) -> Result<Option<OrderRow>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE {ORDER_OF_BRAND}{}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The brand's order, locked like `lock_order`, and the brand's enabled
/// connector accounts in routing order: one round trip on PostgreSQL.
pub async fn lock_order_with_routes(
    conn: &mut Conn,
    backend: Backend,
    id: &OrderId,
    brand_id: &BrandId,
) -> Result<(
    Option<OrderRow>,
    Vec<crate::connector_accounts::ConnectorAccountRow>,
)> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE {ORDER_OF_BRAND}{}",
        backend.for_update()
    );
    let order = crate::sql::query_as::<OrderRow>(sql)
        .bind(id)
        .bind(brand_id);
    let routes = crate::connector_accounts::enabled_query(brand_id);
    let (orders, routes) = conn.fetch_pair(order, routes).await?;
    Ok((orders.into_iter().next(), routes))
}

/// An order as step 3 reads it: with its brand's clearing delay.
#[derive(Debug, Clone)]
pub struct LockedOrder {
    pub order: OrderRow,
    pub clearing_days: i64,
}

impl crate::sql::FromRow for LockedOrder {
    fn from_row(mut row: crate::sql::Row) -> Result<Self> {
        let clearing_days = row.take(usize::MAX, "clearing_days")?;
        Ok(LockedOrder {
            order: OrderRow::from_row(row)?,
            clearing_days,
        })
    }
}

/// The order of a transaction, locked like `lock_order`, with its brand's
/// clearing delay, and all its transactions read under that lock: one round
/// trip on PostgreSQL.
pub async fn lock_order_and_transactions(
    conn: &mut Conn,
    backend: Backend,
    transaction_id: &TransactionId,
) -> Result<(Option<LockedOrder>, Vec<TransactionRow>)> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS}, (SELECT clearing_days FROM brands WHERE brands.id = orders.brand_id) \
         AS clearing_days FROM orders WHERE id = (SELECT order_id FROM transactions WHERE id = $1){}",
        backend.for_update()
    );
    let order = crate::sql::query_as::<LockedOrder>(sql).bind(transaction_id);
    let sql = format!(
        "SELECT {TRANSACTION_COLUMNS} FROM transactions \
         WHERE order_id = (SELECT order_id FROM transactions WHERE id = $1) ORDER BY id"
    );
    let transactions = crate::sql::query_as::<TransactionRow>(sql).bind(transaction_id);
    let (orders, transactions) = conn.fetch_pair(order, transactions).await?;
    Ok((orders.into_iter().next(), transactions))
}

/// The order of a transaction, locked like `lock_order`.
pub async fn lock_order_of_transaction(
    conn: &mut Conn,
    backend: Backend,
    transaction_id: &TransactionId,
) -> Result<Option<OrderRow>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = (SELECT order_id FROM transactions WHERE id = $1){}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(transaction_id)
        .fetch_optional(conn)
        .await
}

/// Filters of the order list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<String>,
    pub customer_id: Option<CustomerId>,
    pub order_type: Option<String>,
    pub created_gte: Option<i64>,
    pub created_lt: Option<i64>,
}

pub async fn list_orders(
    conn: &mut Conn,
    brand_id: &BrandId,
    f: &OrderFilter,
    page: &PageRequest,
) -> Result<Page<OrderRow>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE brand_id = $1 AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR customer_id = $3) AND ($4 IS NULL OR type = $4) \
         AND ($5 IS NULL OR created_at >= $5) AND ($6 IS NULL OR created_at < $6) \
         AND ($7 IS NULL OR id < $7) ORDER BY id DESC LIMIT $8"
    );
    let rows = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(&f.status)
        .bind(&f.customer_id)
        .bind(&f.order_type)
        .bind(f.created_gte)
        .bind(f.created_lt)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}

/// Reserves `amount` for a refund unless that would refund more than was
/// captured; false when it would.
pub async fn reserve_refund(
    conn: &mut Conn,
    order_id: &OrderId,
    amount: i64,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE orders SET amount_refund_pending = amount_refund_pending + $2, updated_at = $3 \
         WHERE id = $1 AND amount_captured - amount_refunded - amount_refund_pending >= $2",
    )
    .bind(order_id)
    .bind(amount)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// A stored payment transaction.
#[derive(Debug, Clone)]
pub struct TransactionRow {
    pub id: TransactionId,
    pub brand_id: BrandId,
    pub order_id: OrderId,
    pub refund_id: Option<RefundId>,
    pub payment_transaction_id: Option<TransactionId>,
    pub kind: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub connector: String,
    pub connector_account_id: ConnectorAccountId,
    pub connector_transaction_id: Option<String>,
    pub trigger_source: String,
    pub preauth: i64,
    pub payment_method: Option<String>,
    pub error: Option<String>,
    pub status_history: String,
    pub version: i64,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub updated_at: i64,
    /// When sync next asks the connector about this open transaction.
    pub sync_at: Option<i64>,
    /// Syncs tried so far.
    pub sync_attempts: i64,
    /// What the customer sent, when it can differ from `amount` (crypto).
    pub amount_received: Option<i64>,
}
crate::from_row!(TransactionRow {
    id,
    brand_id,
    order_id,
    refund_id,
    payment_transaction_id,
    kind,
    status,
    amount,
    currency,
    connector,
    connector_account_id,
    connector_transaction_id,
    trigger_source,
    preauth,
    payment_method,
    error,
    status_history,
    version,
    created_at,
    confirmed_at,
    updated_at,
    sync_at,
    sync_attempts,
    amount_received
});

const TRANSACTION_COLUMNS: &str = "id, brand_id, order_id, refund_id, payment_transaction_id, kind, status, \
    amount, currency, connector, connector_account_id, connector_transaction_id, trigger_source, preauth, \
    payment_method, error, status_history, version, created_at, confirmed_at, updated_at, sync_at, sync_attempts, \
    amount_received";

pub async fn insert_transaction(conn: &mut Conn, t: &TransactionRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO transactions ({TRANSACTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
    );
    crate::sql::query(sql)
        .bind(&t.id)
        .bind(&t.brand_id)
        .bind(&t.order_id)
        .bind(&t.refund_id)
        .bind(&t.payment_transaction_id)
        .bind(&t.kind)
        .bind(&t.status)
        .bind(t.amount)
        .bind(&t.currency)
        .bind(&t.connector)
        .bind(&t.connector_account_id)
        .bind(&t.connector_transaction_id)
        .bind(&t.trigger_source)
        .bind(t.preauth)
        .bind(&t.payment_method)
        .bind(&t.error)
        .bind(&t.status_history)
        .bind(t.version)
        .bind(t.created_at)
        .bind(t.confirmed_at)
        .bind(t.updated_at)
        .bind(t.sync_at)
        .bind(t.sync_attempts)
        .bind(t.amount_received)
        .queue(conn)
        .await
}

/// Writes a transaction's outcome if nobody changed it since `expected_version`
/// and it is still open; false when another writer won.
pub async fn update_transaction(
    conn: &mut Conn,
    t: &TransactionRow,
    expected_version: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE transactions SET status = $2, connector_transaction_id = $3, error = $4, status_history = $5, \
         version = $6, confirmed_at = $7, updated_at = $8, amount = $9, sync_at = $11, amount_received = $12 \
         WHERE id = $1 AND version = $10 AND status IN ('pending', 'requires_action', 'unknown')",
    )
    .bind(&t.id)
    .bind(&t.status)
    .bind(&t.connector_transaction_id)
    .bind(&t.error)
    .bind(&t.status_history)
    .bind(t.version)
    .bind(t.confirmed_at)
    .bind(t.updated_at)
    .bind(t.amount)
    .bind(expected_version)
    .bind(t.sync_at)
    .bind(t.amount_received)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get_transaction(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &TransactionId,
) -> Result<Option<TransactionRow>> {
    let sql = format!("SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// A transaction by id alone, for jobs.
pub async fn find_transaction(
    conn: &mut Conn,
    id: &TransactionId,
) -> Result<Option<TransactionRow>> {
    let sql = format!("SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The transaction a connector account's provider knows by
/// `connector_transaction_id` (a notification names it so); the oldest
/// when several share it.
pub async fn find_by_connector_id(
    conn: &mut Conn,
    connector_account_id: &ConnectorAccountId,
    connector_transaction_id: &str,
) -> Result<Option<TransactionRow>> {
    let sql = format!(
        "SELECT {TRANSACTION_COLUMNS} FROM transactions \
         WHERE connector_account_id = $1 AND connector_transaction_id = $2 ORDER BY id LIMIT 1"
    );
    crate::sql::query_as(sql)
        .bind(connector_account_id)
        .bind(connector_transaction_id)
        .fetch_optional(conn)
        .await
}

/// Every transaction of an order, oldest first.
pub async fn transactions_of_order(
    conn: &mut Conn,
    order_id: &OrderId,
) -> Result<Vec<TransactionRow>> {
    let sql =
        format!("SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE order_id = $1 ORDER BY id");
    crate::sql::query_as(sql)
        .bind(order_id)
        .fetch_all(conn)
        .await
}

pub async fn list_transactions(
    conn: &mut Conn,
    brand_id: &BrandId,
    order_id: Option<&OrderId>,
    page: &PageRequest,
) -> Result<Page<TransactionRow>> {
    let select = format!("SELECT {TRANSACTION_COLUMNS} FROM transactions");
    list_of_order(conn, select, brand_id, order_id, page).await
}

/// A page of a brand's rows that `select` reads (transactions or refunds),
/// newest first, only those of `order_id` when it is given.
async fn list_of_order<T: crate::sql::FromRow>(
    conn: &mut Conn,
    select: String,
    brand_id: &BrandId,
    order_id: Option<&OrderId>,
    page: &PageRequest,
) -> Result<Page<T>> {
    let sql = format!(
        "{select} WHERE brand_id = $1 AND ($2 IS NULL OR order_id = $2) \
         AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    let rows = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(order_id)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}

/// A stored refund.
#[derive(Debug, Clone)]
pub struct RefundRow {
    pub id: RefundId,
    pub brand_id: BrandId,
    pub order_id: OrderId,
    pub transaction_id: TransactionId,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: Option<String>,
    pub failure_reason: Option<String>,
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}
crate::from_row!(RefundRow {
    id,
    brand_id,
    order_id,
    transaction_id,
    amount,
    currency,
    status,
    reason,
    failure_reason,
    metadata,
    created_at,
    updated_at
});

const REFUND_COLUMNS: &str = "id, brand_id, order_id, transaction_id, amount, currency, status, reason, failure_reason, metadata, created_at, updated_at";

pub async fn insert_refund(conn: &mut Conn, r: &RefundRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    crate::sql::query(sql)
        .bind(&r.id)
        .bind(&r.brand_id)
        .bind(&r.order_id)
        .bind(&r.transaction_id)
        .bind(r.amount)
        .bind(&r.currency)
        .bind(&r.status)
        .bind(&r.reason)
        .bind(&r.failure_reason)
        .bind(&r.metadata)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Settles a pending refund; false if it was no longer pending.
pub async fn settle_refund(
    conn: &mut Conn,
    id: &RefundId,
    status: &str,
    failure_reason: Option<&str>,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE refunds SET status = $2, failure_reason = $3, updated_at = $4 WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(status)
    .bind(failure_reason)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get_refund(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &RefundId,
) -> Result<Option<RefundRow>> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

pub async fn list_refunds(
    conn: &mut Conn,
    brand_id: &BrandId,
    order_id: Option<&OrderId>,
    page: &PageRequest,
) -> Result<Page<RefundRow>> {
    let select = format!("SELECT {REFUND_COLUMNS} FROM refunds");
    list_of_order(conn, select, brand_id, order_id, page).await
}

/// Whether the order has any refund (pending or settled).
pub async fn has_refunds(conn: &mut Conn, order_id: &OrderId) -> Result<bool> {
    let found: Option<String> = crate::sql::query_scalar(
        "SELECT id FROM refunds WHERE order_id = $1 AND status <> 'failed' LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

pub mod due;
