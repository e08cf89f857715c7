//! A brand's tax rates: one active rate per customer country.

use crate::page::{Page, PageRequest};
use crate::{Conn, Result};
use obol_core::{BrandId, TaxRateId};

#[derive(Debug, Clone)]
pub struct TaxRateRow {
    pub id: TaxRateId,
    pub brand_id: BrandId,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Hundredths of a percent: 1900 is 19 %.
    pub percentage_bps: i64,
    /// Whether prices already include the tax (carved out) or it is added.
    pub inclusive: bool,
    pub display_name: String,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(TaxRateRow {
    id,
    brand_id,
    country,
    percentage_bps,
    inclusive,
    display_name,
    active,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, brand_id, country, percentage_bps, inclusive, display_name, active, created_at, updated_at";

/// Inserts an active rate, retiring the country's active one first (the
/// partial unique index allows one). The brand's row is locked first, so
/// that two new rates of a brand take turns.
pub async fn insert(conn: &mut Conn, row: &TaxRateRow) -> Result<()> {
    crate::sql::query("UPDATE brands SET updated_at = updated_at WHERE id = $1")
        .bind(&row.brand_id)
        .execute(&mut *conn)
        .await?;
    crate::sql::query(
        "UPDATE tax_rates SET active = 0, updated_at = $3 \
         WHERE brand_id = $1 AND country = $2 AND active = 1",
    )
    .bind(&row.brand_id)
    .bind(&row.country)
    .bind(row.created_at)
    .execute(&mut *conn)
    .await?;
    crate::sql::query(
        "INSERT INTO tax_rates (id, brand_id, country, percentage_bps, inclusive, display_name, \
         active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.country)
    .bind(row.percentage_bps)
    .bind(row.inclusive)
    .bind(&row.display_name)
    .bind(row.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, brand_id: &BrandId, id: &str) -> Result<Option<TaxRateRow>> {
    let sql = format!("SELECT {COLUMNS} FROM tax_rates WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The rate in force for customers of `country`, if the brand has one.
pub async fn active_for(
    conn: &mut Conn,
    brand_id: &BrandId,
    country: &str,
) -> Result<Option<TaxRateRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tax_rates WHERE brand_id = $1 AND country = $2 AND active = 1"
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(country)
        .fetch_optional(conn)
        .await
}

/// The brand's rates, retired ones too, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<TaxRateRow>> {
    let select = format!("SELECT {COLUMNS} FROM tax_rates WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}
