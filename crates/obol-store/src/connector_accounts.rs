//! A brand's connector accounts: which provider, for which payment methods
//! and currencies, in which order; secrets only as ciphertexts.

use crate::page::{Page, PageRequest};
use crate::{Backend, Conn, Result};
use obol_core::{BrandId, ConnectorAccountId};

/// A stored connector account. `payment_methods` is a JSON array of method
/// types as text, `currencies` one of ISO 4217 codes (`None`: every currency
/// the connector takes); both ciphertexts come from the server's master key.
#[derive(Debug, Clone)]
pub struct ConnectorAccountRow {
    pub id: ConnectorAccountId,
    pub brand_id: BrandId,
    pub connector: String,
    pub label: Option<String>,
    pub credentials_ciphertext: Option<String>,
    pub payment_methods: String,
    pub currencies: Option<String>,
    pub priority: i64,
    /// `enabled` or `disabled`.
    pub status: String,
    pub webhook_secret_ciphertext: String,
    pub created_at: i64,
    pub updated_at: i64,
}
crate::from_row!(ConnectorAccountRow {
    id,
    brand_id,
    connector,
    label,
    credentials_ciphertext,
    payment_methods,
    currencies,
    priority,
    status,
    webhook_secret_ciphertext,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, brand_id, connector, label, credentials_ciphertext, payment_methods, \
    currencies, priority, status, webhook_secret_ciphertext, created_at, updated_at";

/// Most enabled accounts routing considers for one brand: far above any real
/// setup, it bounds the scan should a brand ever hold thousands.
pub const ENABLED_SCAN_LIMIT: i64 = 1000;

/// Inserts an account.
pub async fn insert(conn: &mut Conn, account: &ConnectorAccountRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO connector_accounts (id, brand_id, connector, label, credentials_ciphertext, \
         payment_methods, currencies, priority, status, webhook_secret_ciphertext, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&account.id)
    .bind(&account.brand_id)
    .bind(&account.connector)
    .bind(&account.label)
    .bind(&account.credentials_ciphertext)
    .bind(&account.payment_methods)
    .bind(&account.currencies)
    .bind(account.priority)
    .bind(&account.status)
    .bind(&account.webhook_secret_ciphertext)
    .bind(account.created_at)
    .bind(account.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An account of the brand, enabled or not.
pub async fn get(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &ConnectorAccountId,
) -> Result<Option<ConnectorAccountRow>> {
    let sql = format!("SELECT {COLUMNS} FROM connector_accounts WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// An account by id alone, whatever its brand: a connector's notification
/// names only the account, and is verified with that account's secret
/// before anything of it is read.
pub async fn find_by_id(
    conn: &mut Conn,
    id: &ConnectorAccountId,
) -> Result<Option<ConnectorAccountRow>> {
    let sql = format!("SELECT {COLUMNS} FROM connector_accounts WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Like `get`, locking the row until the transaction ends (PostgreSQL).
pub async fn get_for_update(
    conn: &mut Conn,
    backend: Backend,
    brand_id: &BrandId,
    id: &ConnectorAccountId,
) -> Result<Option<ConnectorAccountRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM connector_accounts WHERE id = $1{}",
        backend.for_update()
    );
    crate::brand_row(conn, sql, brand_id, id).await
}

/// The brand's accounts, enabled and disabled, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<ConnectorAccountRow>> {
    let select = format!("SELECT {COLUMNS} FROM connector_accounts WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}

/// The brand's enabled accounts in routing order: lowest priority first,
/// then oldest (ids sort by creation time); at most `ENABLED_SCAN_LIMIT`.
pub async fn enabled(conn: &mut Conn, brand_id: &BrandId) -> Result<Vec<ConnectorAccountRow>> {
    enabled_query(brand_id).fetch_all(conn).await
}

/// The query of `enabled`, to run beside another.
pub fn enabled_query(
    brand_id: &BrandId,
) -> crate::sql::Query<crate::sql::AsRow<ConnectorAccountRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM connector_accounts WHERE brand_id = $1 AND status = 'enabled' \
         ORDER BY priority, id LIMIT $2"
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(ENABLED_SCAN_LIMIT)
}

/// Writes the editable fields back.
pub async fn update(conn: &mut Conn, account: &ConnectorAccountRow) -> Result<()> {
    crate::sql::query(
        "UPDATE connector_accounts SET label = $3, credentials_ciphertext = $4, \
         payment_methods = $5, currencies = $6, priority = $7, status = $8, updated_at = $9 \
         WHERE brand_id = $1 AND id = $2",
    )
    .bind(&account.brand_id)
    .bind(&account.id)
    .bind(&account.label)
    .bind(&account.credentials_ciphertext)
    .bind(&account.payment_methods)
    .bind(&account.currencies)
    .bind(account.priority)
    .bind(&account.status)
    .bind(account.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}
