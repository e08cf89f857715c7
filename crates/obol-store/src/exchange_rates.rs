//! A brand's exchange rates: each pair's rates by the time they come into
//! force.

use crate::page::{Page, PageRequest};
use crate::{Conn, Result};
use obol_core::{BrandId, ExchangeRateId};

#[derive(Debug, Clone)]
pub struct ExchangeRateRow {
    pub id: ExchangeRateId,
    pub brand_id: BrandId,
    pub base: String,
    pub quote: String,
    /// Units of `quote` for one unit of `base`, as normalized decimal text.
    pub rate: String,
    pub valid_from: i64,
    pub created_at: i64,
}

crate::from_row!(ExchangeRateRow {
    id,
    brand_id,
    base,
    quote,
    rate,
    valid_from,
    created_at
});

const COLUMNS: &str = "id, brand_id, base, quote, rate, valid_from, created_at";

pub async fn insert(conn: &mut Conn, row: &ExchangeRateRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO exchange_rates (id, brand_id, base, quote, rate, valid_from, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.base)
    .bind(&row.quote)
    .bind(&row.rate)
    .bind(row.valid_from)
    .bind(row.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, brand_id: &BrandId, id: &str) -> Result<Option<ExchangeRateRow>> {
    let sql = format!("SELECT {COLUMNS} FROM exchange_rates WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The brand's rates, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<ExchangeRateRow>> {
    let select = format!("SELECT {COLUMNS} FROM exchange_rates WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}

/// The brand's `base → quote` rate in force at `at_ms`: the one with the
/// latest `valid_from` at or before it; of two with the same `valid_from`,
/// the one made last.
pub async fn in_force(
    conn: &mut Conn,
    brand_id: &BrandId,
    base: &str,
    quote: &str,
    at_ms: i64,
) -> Result<Option<ExchangeRateRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM exchange_rates \
         WHERE brand_id = $1 AND base = $2 AND quote = $3 AND valid_from <= $4 \
         ORDER BY valid_from DESC, created_at DESC, id DESC LIMIT 1"
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(base)
        .bind(quote)
        .bind(at_ms)
        .fetch_optional(conn)
        .await
}
