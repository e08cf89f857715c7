//! API keys (stored as SHA-256 hashes) and the admin keys.

use crate::page::{Page, PageRequest};
use crate::{Conn, Result};
use obol_core::{ApiKeyId, BrandId};

/// A stored brand API key; the secret itself is never stored.
#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: ApiKeyId,
    pub brand_id: BrandId,
    pub name: String,
    pub kind: String,
    pub role: String,
    pub secret_hash: String,
    pub secret_prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// A publishable key itself, sealed under the master key, for the
    /// hosted page to embed; none for secret keys.
    pub publishable_key_ciphertext: Option<String>,
}
crate::from_row!(ApiKeyRow {
    id,
    brand_id,
    name,
    kind,
    role,
    secret_hash,
    secret_prefix,
    created_at,
    revoked_at,
    publishable_key_ciphertext
});

const COLUMNS: &str = "id, brand_id, name, kind, role, secret_hash, secret_prefix, created_at, \
     revoked_at, publishable_key_ciphertext";

pub async fn insert(conn: &mut Conn, key: &ApiKeyRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO api_keys (id, brand_id, name, kind, role, secret_hash, secret_prefix, created_at, \
         revoked_at, publishable_key_ciphertext) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&key.id)
    .bind(&key.brand_id)
    .bind(&key.name)
    .bind(&key.kind)
    .bind(&key.role)
    .bind(&key.secret_hash)
    .bind(&key.secret_prefix)
    .bind(key.created_at)
    .bind(key.revoked_at)
    .bind(&key.publishable_key_ciphertext)
    .execute(conn)
    .await?;
    Ok(())
}

/// The sealed key of the brand's newest active publishable key that keeps
/// one (keys made before they were kept have none).
pub async fn sealed_publishable_key(conn: &mut Conn, brand_id: &BrandId) -> Result<Option<String>> {
    crate::sql::query_scalar(
        "SELECT publishable_key_ciphertext FROM api_keys WHERE brand_id = $1 \
         AND kind = 'publishable' AND revoked_at IS NULL \
         AND publishable_key_ciphertext IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(brand_id)
    .fetch_optional(conn)
    .await
}

/// The active (not revoked) key whose secret hashes to `secret_hash`.
pub async fn find_active_by_hash(conn: &mut Conn, secret_hash: &str) -> Result<Option<ApiKeyRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL");
    crate::sql::query_as(sql)
        .bind(secret_hash)
        .fetch_optional(conn)
        .await
}

pub async fn get(conn: &mut Conn, brand_id: &BrandId, id: &ApiKeyId) -> Result<Option<ApiKeyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<ApiKeyRow>> {
    let select = format!("SELECT {COLUMNS} FROM api_keys WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}

/// Revokes a key; false if it was already revoked or does not exist.
pub async fn revoke(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &ApiKeyId,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE api_keys SET revoked_at = $3 WHERE brand_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(brand_id)
    .bind(id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn insert_admin(
    conn: &mut Conn,
    id: &ApiKeyId,
    secret_hash: &str,
    now_ms: i64,
) -> Result<()> {
    crate::sql::query("INSERT INTO admin_keys (id, secret_hash, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(secret_hash)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn admin_exists(conn: &mut Conn, secret_hash: &str) -> Result<bool> {
    let found: Option<String> =
        crate::sql::query_scalar("SELECT id FROM admin_keys WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}
