//! A brand's tax rates by customer country: one in force per country (a
//! new one supersedes it), applied to invoices made after, each invoice
//! keeping the rate it was made with.

pub(crate) mod api;

use crate::error::{Error, Result};
use obol_core::validate;
use obol_core::{BrandId, TaxRateId, Timestamp};
use obol_kernel::events;
use obol_kernel::list::{self, List};
use obol_kernel::state::AppState;
use obol_store::billing::tax_rates::{self as store, TaxRateRow};
use obol_store::page::PageRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tax rate as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxRate {
    pub id: String,
    /// Always `tax_rate`.
    pub object: &'static str,
    /// ISO 3166-1 alpha-2: the customers' country it applies to.
    pub country: String,
    /// Hundredths of a percent: 1900 is 19 %.
    pub percentage_bps: i64,
    /// Prices include it (carved out) or it is added on top.
    pub inclusive: bool,
    pub display_name: String,
    /// False once a newer rate for the country superseded it.
    pub active: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// `POST /v1/tax_rates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaxRate {
    pub country: String,
    /// 0 to 10000.
    pub percentage_bps: i64,
    /// Default false (exclusive: added to the price).
    pub inclusive: Option<bool>,
    /// Shown on invoices; default `Tax`.
    pub display_name: Option<String>,
}

fn view(row: TaxRateRow) -> TaxRate {
    TaxRate {
        id: row.id.into_string(),
        object: "tax_rate",
        country: row.country,
        percentage_bps: row.percentage_bps,
        inclusive: row.inclusive,
        display_name: row.display_name,
        active: row.active,
        created_at: Timestamp::from_ms(row.created_at),
    }
}

/// Creates the rate in force for a country (superseding the one before),
/// with `tax_rate.created`.
pub async fn create(state: &AppState, brand_id: &BrandId, input: CreateTaxRate) -> Result<TaxRate> {
    let country = validate::country("country", &input.country)?;
    if !obol_accounts::reference::is_country(&country) {
        return Err(Error::invalid(
            "country",
            format!("{country} is not an ISO 3166-1 country code"),
        ));
    }
    if !(0..=10_000).contains(&input.percentage_bps) {
        return Err(Error::invalid(
            "percentage_bps",
            "percentage_bps must be 0 to 10000 (hundredths of a percent)",
        ));
    }
    let display_name = input
        .display_name
        .as_deref()
        .map(|name| validate::text("display_name", name, 1, 64))
        .transpose()?
        .unwrap_or_else(|| "Tax".to_owned());
    let now = state.now();
    let row = TaxRateRow {
        id: TaxRateId::new(),
        brand_id: brand_id.clone(),
        country,
        percentage_bps: input.percentage_bps,
        inclusive: input.inclusive.unwrap_or(false),
        display_name,
        active: true,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    let mut tx = state.db.begin().await?;
    store::insert(&mut tx, &row).await?;
    let id = row.id.clone();
    let rate = view(row);
    events::record(&mut tx, brand_id, "tax_rate.created", &id, None, &rate, now).await?;
    tx.commit().await?;
    Ok(rate)
}

pub async fn get(state: &AppState, brand_id: &BrandId, id: &str) -> Result<TaxRate> {
    let mut conn = state.db.pool.acquire().await?;
    store::get(&mut conn, brand_id, id)
        .await?
        .map(view)
        .ok_or_else(|| Error::not_found("tax_rate", id))
}

/// The brand's rates, superseded ones too, newest first.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<TaxRate>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| Ok(store::get(conn, brand_id, after).await?.is_some()),
        async |conn, page| store::list(conn, brand_id, page).await,
    )
    .await?;
    Ok(List::mapped(rows, view))
}
