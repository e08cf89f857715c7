//! A brand's exchange rates: `rate` units of `quote` for one of `base`, in
//! force from `valid_from` until a later rate of the same pair. They report
//! money in another currency (`GET /v1/balance?report_currency=`); no money
//! moves at a rate here.

pub(crate) mod api;

use crate::error::{Error, Result};
use crate::ledger::{self, Balance, BalanceAmount, ConvertedAmount, ConvertedTotals};
use obol_core::exchange_rate::{self as fx, Direction, Rate};
use obol_core::{BrandId, Currency, ExchangeRateId, Timestamp, validate};
use obol_kernel::list::{self, List};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::exchange_rates::ExchangeRateRow;
use obol_store::page::PageRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An exchange rate as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExchangeRate {
    #[schema(value_type = String)]
    pub id: ExchangeRateId,
    /// Always `exchange_rate`.
    pub object: &'static str,
    pub base: String,
    pub quote: String,
    /// Units of `quote` for one unit of `base`, a decimal string (`1.0835`),
    /// normalized: no trailing zeros after the point.
    pub rate: String,
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// `POST /v1/exchange_rates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExchangeRate {
    pub base: String,
    pub quote: String,
    /// A decimal string above zero with at most 12 significant digits and
    /// 18 after the point (`"1.0835"`); no sign, exponent or number type.
    pub rate: String,
    /// RFC 3339; now when absent. A past or a future time.
    pub valid_from: Option<String>,
}

impl From<ExchangeRateRow> for ExchangeRate {
    fn from(row: ExchangeRateRow) -> Self {
        ExchangeRate {
            id: row.id,
            object: "exchange_rate",
            base: row.base,
            quote: row.quote,
            rate: row.rate,
            valid_from: Timestamp::from_ms(row.valid_from),
            created_at: Timestamp::from_ms(row.created_at),
        }
    }
}

/// Reads a rate the way `POST` takes it; `param` names the field.
pub fn parse_rate(param: &str, text: &str) -> Result<Rate> {
    Rate::parse(text).map_err(|why| Error::invalid(param, format!("{param} {why}")))
}

/// Records a rate of the brand, with its `exchange_rate.created` event, in
/// one transaction.
pub async fn create(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateExchangeRate,
) -> Result<ExchangeRate> {
    let now = state.now();
    let base = validate::currency("base", &input.base)?;
    let quote = validate::currency("quote", &input.quote)?;
    if base == quote {
        return Err(Error::invalid(
            "quote",
            "quote must be another currency than base",
        ));
    }
    let rate = parse_rate("rate", &input.rate)?;
    let valid_from = match &input.valid_from {
        None => now,
        Some(text) => Timestamp::parse_rfc3339(text)
            .ok_or_else(|| Error::invalid("valid_from", "valid_from must be an RFC 3339 time"))?,
    };
    let row = ExchangeRateRow {
        id: ExchangeRateId::new(),
        brand_id: brand_id.clone(),
        base: base.code().to_owned(),
        quote: quote.code().to_owned(),
        rate: rate.to_string(),
        valid_from: valid_from.as_ms(),
        created_at: now.as_ms(),
    };
    let mut tx = state.db.begin().await?;
    obol_store::exchange_rates::insert(&mut tx, &row).await?;
    let view = ExchangeRate::from(row);
    obol_kernel::events::record(
        &mut tx,
        brand_id,
        "exchange_rate.created",
        &view.id,
        None,
        &view,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// The brand's rates, newest first.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<ExchangeRate>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| {
            Ok(obol_store::exchange_rates::get(conn, brand_id, after)
                .await?
                .is_some())
        },
        async |conn, page| obol_store::exchange_rates::list(conn, brand_id, page).await,
    )
    .await?;
    Ok(List::mapped(rows, ExchangeRate::from))
}

/// The brand's `base → quote` rate in force at `at`; 404 when none is.
pub async fn in_force(
    state: &AppState,
    brand_id: &BrandId,
    base: Currency,
    quote: Currency,
    at: Timestamp,
) -> Result<ExchangeRate> {
    let mut conn = state.db.pool.acquire().await?;
    obol_store::exchange_rates::in_force(&mut conn, brand_id, base.code(), quote.code(), at.as_ms())
        .await?
        .map(ExchangeRate::from)
        .ok_or_else(|| Error::NotFound {
            what: "exchange rate",
            id: format!("{} → {} at {}", base.code(), quote.code(), at.to_rfc3339()),
            param: Some("base"),
        })
}

/// How to turn `from` into `to` at `at`: the latest of the brand's
/// `from → to` rate in force and the inverse of its `to → from` one (and
/// which rate it is); `None` when it has neither.
pub async fn conversion(
    conn: &mut Conn,
    brand_id: &BrandId,
    from: Currency,
    to: Currency,
    at: Timestamp,
) -> Result<Option<(Rate, Direction, ExchangeRateId)>> {
    let pairs = [
        (from, to, Direction::Direct),
        (to, from, Direction::Inverse),
    ];
    let mut latest: Option<(obol_store::exchange_rates::ExchangeRateRow, Direction)> = None;
    for (base, quote, direction) in pairs {
        let row = obol_store::exchange_rates::in_force(
            conn,
            brand_id,
            base.code(),
            quote.code(),
            at.as_ms(),
        )
        .await?;
        if let Some(row) = row {
            // A tie goes to the direct rate, found first.
            let newer = latest.as_ref().is_none_or(|(kept, _)| {
                (row.valid_from, row.created_at) > (kept.valid_from, kept.created_at)
            });
            if newer {
                latest = Some((row, direction));
            }
        }
    }
    let Some((row, direction)) = latest else {
        return Ok(None);
    };
    let rate = Rate::parse(&row.rate)
        .map_err(|why| Error::internal(format!("exchange rate {} is corrupt: {why}", row.id)))?;
    Ok(Some((rate, direction, row.id)))
}

/// The brand's balance with each amount also in `report` at the rates in
/// force now, rounded half-even to `report`'s minor unit, and each side's
/// total; 400 naming `report_currency` (and the pair) when a currency the
/// brand holds has no rate to it.
pub async fn balance_in(state: &AppState, brand_id: &BrandId, report: Currency) -> Result<Balance> {
    let now = state.now();
    let mut balance = ledger::balance(state, brand_id).await?;
    let mut conn = state.db.pool.acquire().await?;
    let mut totals = ConvertedTotals {
        currency: report.code().to_owned(),
        pending: 0,
        available: 0,
    };
    for (side, total) in [
        (&mut balance.pending, &mut totals.pending),
        (&mut balance.available, &mut totals.available),
    ] {
        for amount in side.iter_mut() {
            let converted = convert_amount(&mut conn, brand_id, amount, report, now).await?;
            *total = total
                .checked_add(converted.amount)
                .ok_or_else(out_of_range)?;
            amount.converted = Some(converted);
        }
    }
    balance.converted_totals = Some(totals);
    Ok(balance)
}

async fn convert_amount(
    conn: &mut Conn,
    brand_id: &BrandId,
    amount: &BalanceAmount,
    report: Currency,
    now: Timestamp,
) -> Result<ConvertedAmount> {
    let from = Currency::parse(&amount.currency)
        .ok_or_else(|| Error::internal(format!("a balance in '{}'", amount.currency)))?;
    if from == report {
        return Ok(ConvertedAmount {
            currency: report.code().to_owned(),
            amount: amount.amount,
            exchange_rate_id: None,
        });
    }
    let Some((rate, direction, rate_id)) = conversion(conn, brand_id, from, report, now).await?
    else {
        // Nothing held in the currency is nothing in any other.
        if amount.amount == 0 {
            return Ok(ConvertedAmount {
                currency: report.code().to_owned(),
                amount: 0,
                exchange_rate_id: None,
            });
        }
        return Err(Error::invalid(
            "report_currency",
            format!(
                "no exchange rate between {} and {} is in force: the balance holds {} \
                 (POST /v1/exchange_rates {{\"base\":\"{}\",\"quote\":\"{}\",...}})",
                from.code(),
                report.code(),
                from.code(),
                from.code(),
                report.code()
            ),
        ));
    };
    let converted =
        fx::convert(amount.amount, from, report, rate, direction).ok_or_else(out_of_range)?;
    Ok(ConvertedAmount {
        currency: report.code().to_owned(),
        amount: converted,
        exchange_rate_id: Some(rate_id),
    })
}

fn out_of_range() -> Error {
    Error::invalid(
        "report_currency",
        "the balance converted to report_currency is out of range",
    )
}
