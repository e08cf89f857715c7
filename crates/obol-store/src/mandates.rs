//! Mandates: a customer's card kept at a connector (as the connector's
//! token, never a card number) for payments without the customer present.

use crate::page::{Page, PageRequest};
use crate::{Backend, Conn, Result};
use obol_core::{BrandId, ConnectorAccountId, CustomerId, MandateId, OrderId};

/// A stored mandate.
#[derive(Debug, Clone)]
pub struct MandateRow {
    pub id: MandateId,
    pub brand_id: BrandId,
    pub customer_id: CustomerId,
    /// The order whose payment set it up.
    pub order_id: OrderId,
    pub connector_account_id: ConnectorAccountId,
    /// The connector's token for it: what a charge sends instead of a card.
    pub connector_token: String,
    pub card_brand: String,
    pub card_last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    /// `active` or `revoked`.
    pub status: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}
crate::from_row!(MandateRow {
    id,
    brand_id,
    customer_id,
    order_id,
    connector_account_id,
    connector_token,
    card_brand,
    card_last4,
    exp_month,
    exp_year,
    status,
    created_at,
    revoked_at
});

const COLUMNS: &str = "id, brand_id, customer_id, order_id, connector_account_id, \
    connector_token, card_brand, card_last4, exp_month, exp_year, status, created_at, revoked_at";

/// Records a mandate; `UniqueViolation` when its order already has one.
pub async fn insert(conn: &mut Conn, row: &MandateRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO mandates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    crate::sql::query(sql)
        .bind(&row.id)
        .bind(&row.brand_id)
        .bind(&row.customer_id)
        .bind(&row.order_id)
        .bind(&row.connector_account_id)
        .bind(&row.connector_token)
        .bind(&row.card_brand)
        .bind(&row.card_last4)
        .bind(row.exp_month)
        .bind(row.exp_year)
        .bind(&row.status)
        .bind(row.created_at)
        .bind(row.revoked_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// A mandate of the brand.
pub async fn get(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &MandateId,
) -> Result<Option<MandateRow>> {
    let sql = format!("SELECT {COLUMNS} FROM mandates WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// Like `get`, locking the row until the transaction ends (PostgreSQL), so
/// that a revocation and a charge of one mandate take turns.
pub async fn get_for_update(
    conn: &mut Conn,
    backend: Backend,
    brand_id: &BrandId,
    id: &MandateId,
) -> Result<Option<MandateRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM mandates WHERE id = $1{}",
        backend.for_update()
    );
    crate::brand_row(conn, sql, brand_id, id).await
}

/// The brand's mandates, newest first, of one customer when given.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: Option<&CustomerId>,
    page: &PageRequest,
) -> Result<Page<MandateRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM mandates WHERE brand_id = $1 AND ($2 IS NULL OR customer_id = $2) \
         AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    let rows = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(customer_id)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}

/// Revokes an active mandate of the brand; false when it is not one.
pub async fn revoke(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &MandateId,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE mandates SET status = 'revoked', revoked_at = $3 \
         WHERE id = $1 AND brand_id = $2 AND status = 'active'",
    )
    .bind(id)
    .bind(brand_id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}
