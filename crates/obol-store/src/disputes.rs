//! Disputes (chargebacks) a connector opened on a brand's payments.

use crate::page::{Page, PageRequest};
use crate::{Backend, Conn, Result};
use obol_core::{BrandId, ConnectorAccountId, DisputeId, OrderId, TransactionId};

/// A stored dispute; amounts in the order currency's minor units.
#[derive(Debug, Clone)]
pub struct DisputeRow {
    pub id: DisputeId,
    pub brand_id: BrandId,
    pub order_id: OrderId,
    pub transaction_id: TransactionId,
    pub connector_account_id: ConnectorAccountId,
    pub connector_dispute_id: String,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    /// `needs_response`, `under_review`, `won` or `lost`.
    pub status: String,
    pub evidence: Option<String>,
    pub evidence_due_by: Option<i64>,
    /// 1 when the amount was taken from the brand's available balance.
    pub from_available: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(DisputeRow {
    id,
    brand_id,
    order_id,
    transaction_id,
    connector_account_id,
    connector_dispute_id,
    amount,
    currency,
    reason,
    status,
    evidence,
    evidence_due_by,
    from_available,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, brand_id, order_id, transaction_id, connector_account_id, \
    connector_dispute_id, amount, currency, reason, status, evidence, evidence_due_by, \
    from_available, created_at, updated_at";

/// Inserts a dispute; false when the account has one with its connector
/// dispute id already (a concurrent copy waits for the first, then finds it).
pub async fn insert(conn: &mut Conn, dispute: &DisputeRow) -> Result<bool> {
    let result = crate::sql::query(
        "INSERT INTO disputes (id, brand_id, order_id, transaction_id, connector_account_id, \
         connector_dispute_id, amount, currency, reason, status, evidence, evidence_due_by, \
         from_available, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&dispute.id)
    .bind(&dispute.brand_id)
    .bind(&dispute.order_id)
    .bind(&dispute.transaction_id)
    .bind(&dispute.connector_account_id)
    .bind(&dispute.connector_dispute_id)
    .bind(dispute.amount)
    .bind(&dispute.currency)
    .bind(&dispute.reason)
    .bind(&dispute.status)
    .bind(&dispute.evidence)
    .bind(dispute.evidence_due_by)
    .bind(dispute.from_available)
    .bind(dispute.created_at)
    .bind(dispute.updated_at)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// A dispute of the brand.
pub async fn get(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &DisputeId,
) -> Result<Option<DisputeRow>> {
    let sql = format!("SELECT {COLUMNS} FROM disputes WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// Like `get`, locking the row until the transaction ends (PostgreSQL).
pub async fn get_for_update(
    conn: &mut Conn,
    backend: Backend,
    brand_id: &BrandId,
    id: &DisputeId,
) -> Result<Option<DisputeRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM disputes WHERE id = $1{}",
        backend.for_update()
    );
    crate::brand_row(conn, sql, brand_id, id).await
}

/// The account's dispute with the connector's id, locked (PostgreSQL).
pub async fn find_by_connector_id(
    conn: &mut Conn,
    backend: Backend,
    connector_account_id: &ConnectorAccountId,
    connector_dispute_id: &str,
) -> Result<Option<DisputeRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM disputes WHERE connector_account_id = $1 \
         AND connector_dispute_id = $2{}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(connector_account_id)
        .bind(connector_dispute_id)
        .fetch_optional(conn)
        .await
}

/// The brand's disputes, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<DisputeRow>> {
    let select = format!("SELECT {COLUMNS} FROM disputes WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}

/// Writes a dispute's status and evidence.
pub async fn update(conn: &mut Conn, dispute: &DisputeRow) -> Result<()> {
    crate::sql::query(
        "UPDATE disputes SET status = $3, evidence = $4, updated_at = $5 \
         WHERE brand_id = $1 AND id = $2",
    )
    .bind(&dispute.brand_id)
    .bind(&dispute.id)
    .bind(&dispute.status)
    .bind(&dispute.evidence)
    .bind(dispute.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The succeeded sale or capture of the account that the connector's
/// payment id names: the transaction a dispute is about.
pub async fn disputed_transaction(
    conn: &mut Conn,
    connector_account_id: &ConnectorAccountId,
    connector_transaction_id: &str,
) -> Result<Option<TransactionId>> {
    crate::sql::query_scalar(
        "SELECT id FROM transactions WHERE connector_account_id = $1 \
         AND connector_transaction_id = $2 AND kind IN ('sale', 'capture') \
         AND status = 'succeeded' ORDER BY id LIMIT 1",
    )
    .bind(connector_account_id)
    .bind(connector_transaction_id)
    .fetch_optional(conn)
    .await
}

/// What the order's disputes took from the brand's pending balance and
/// did not give back: open and lost ones opened before clearing.
pub async fn held_from_pending(conn: &mut Conn, order_id: &OrderId) -> Result<i64> {
    crate::sql::query_scalar(
        "SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM disputes WHERE order_id = $1 AND from_available = 0 \
         AND status <> 'won'",
    )
    .bind(order_id)
    .fetch_one(conn)
    .await
}

/// Marks the order's open disputes as held from available: clearing moved
/// the rest of the order there, so a won dispute gives its amount back there.
pub async fn hold_from_available(conn: &mut Conn, order_id: &OrderId) -> Result<()> {
    crate::sql::query(
        "UPDATE disputes SET from_available = 1 WHERE order_id = $1 AND from_available = 0 \
         AND status IN ('needs_response', 'under_review')",
    )
    .bind(order_id)
    .execute(conn)
    .await?;
    Ok(())
}
