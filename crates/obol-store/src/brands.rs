//! Brands (tenants) and their event sequence counter.

use crate::{Conn, Result};
use obol_core::BrandId;

/// A stored brand.
#[derive(Debug, Clone)]
pub struct BrandRow {
    pub id: BrandId,
    pub name: String,
    pub parent_brand_id: Option<BrandId>,
    pub commission_rate_bps: i64,
    pub default_currency: Option<String>,
    pub clearing_days: i64,
    pub support_email: Option<String>,
    pub display_name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
    /// The webhook secret as a ciphertext under the master key.
    pub webhook_secret_ciphertext: String,
    /// The name emails come from; the brand's display name or name when unset.
    pub sender_name: Option<String>,
    /// The address emails come from; a default of the server's when unset.
    pub sender_email: Option<String>,
    /// The prefix of the brand's invoice numbers; a default from its name when unset.
    pub invoice_prefix: Option<String>,
    /// JSON array of the days after a failed renewal on which it is retried.
    pub dunning_retry_days: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}
crate::from_row!(BrandRow {
    id,
    name,
    parent_brand_id,
    commission_rate_bps,
    default_currency,
    clearing_days,
    support_email,
    display_name,
    logo_url,
    primary_color,
    webhook_secret_ciphertext,
    sender_name,
    sender_email,
    invoice_prefix,
    dunning_retry_days,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, name, parent_brand_id, commission_rate_bps, default_currency, \
    clearing_days, support_email, display_name, logo_url, primary_color, webhook_secret_ciphertext, \
    sender_name, sender_email, invoice_prefix, dunning_retry_days, created_at, updated_at";

pub async fn insert(conn: &mut Conn, brand: &BrandRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO brands (id, name, parent_brand_id, commission_rate_bps, default_currency, \
         clearing_days, support_email, display_name, logo_url, primary_color, \
         webhook_secret_ciphertext, sender_name, sender_email, created_at, updated_at, \
         webhook_secret) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, '')",
    )
    .bind(&brand.id)
    .bind(&brand.name)
    .bind(&brand.parent_brand_id)
    .bind(brand.commission_rate_bps)
    .bind(&brand.default_currency)
    .bind(brand.clearing_days)
    .bind(&brand.support_email)
    .bind(&brand.display_name)
    .bind(&brand.logo_url)
    .bind(&brand.primary_color)
    .bind(&brand.webhook_secret_ciphertext)
    .bind(&brand.sender_name)
    .bind(&brand.sender_email)
    .bind(brand.created_at)
    .bind(brand.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, id: &BrandId) -> Result<Option<BrandRow>> {
    let sql = format!("SELECT {COLUMNS} FROM brands WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Writes every settable field of `brand` back.
pub async fn update(conn: &mut Conn, brand: &BrandRow) -> Result<()> {
    crate::sql::query(
        "UPDATE brands SET name = $2, default_currency = $3, clearing_days = $4, \
         support_email = $5, display_name = $6, logo_url = $7, primary_color = $8, sender_name = $9, \
         sender_email = $10, updated_at = $11, invoice_prefix = $12, dunning_retry_days = $13 \
         WHERE id = $1",
    )
    .bind(&brand.id)
    .bind(&brand.name)
    .bind(&brand.default_currency)
    .bind(brand.clearing_days)
    .bind(&brand.support_email)
    .bind(&brand.display_name)
    .bind(&brand.logo_url)
    .bind(&brand.primary_color)
    .bind(&brand.sender_name)
    .bind(&brand.sender_email)
    .bind(brand.updated_at)
    .bind(&brand.invoice_prefix)
    .bind(&brand.dunning_retry_days)
    .execute(conn)
    .await?;
    Ok(())
}

/// Brands whose webhook secret is still plaintext (made before migration
/// 0012): (id, secret), at most `limit`.
pub async fn plaintext_webhook_secrets(
    conn: &mut Conn,
    limit: i64,
) -> Result<Vec<(BrandId, String)>> {
    crate::sql::query_as(
        "SELECT id, webhook_secret FROM brands WHERE webhook_secret <> '' LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Replaces a brand's plaintext webhook secret by its ciphertext, unless
/// another process did first.
pub async fn seal_webhook_secret(
    conn: &mut Conn,
    id: &BrandId,
    plaintext: &str,
    ciphertext: &str,
) -> Result<()> {
    crate::sql::query(
        "UPDATE brands SET webhook_secret_ciphertext = $3, webhook_secret = '' \
         WHERE id = $1 AND webhook_secret = $2",
    )
    .bind(id)
    .bind(plaintext)
    .bind(ciphertext)
    .execute(conn)
    .await?;
    Ok(())
}

/// A page of the brands whose parent is `parent_id`, newest first.
pub async fn list_children(
    conn: &mut Conn,
    parent_id: &BrandId,
    page: &crate::page::PageRequest,
) -> Result<crate::page::Page<BrandRow>> {
    let select = format!("SELECT {COLUMNS} FROM brands WHERE parent_brand_id = $1");
    crate::page::newest_first(conn, &select, parent_id, page).await
}

/// Brand `id` if its parent is `parent_id`.
pub async fn get_child(
    conn: &mut Conn,
    parent_id: &BrandId,
    id: &BrandId,
) -> Result<Option<BrandRow>> {
    let sql = format!("SELECT {COLUMNS} FROM brands WHERE id = $1 AND parent_brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(parent_id)
        .fetch_optional(conn)
        .await
}
