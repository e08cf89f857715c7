//! One-off drafts: `POST /v1/invoices` with lines naming prices or
//! describing themselves.

use super::views::{CreateInvoice, CreateInvoiceLine, Invoice};
use super::{DEFAULT_DAYS_UNTIL_DUE, LineDraft, NewInvoice, insert_draft, live_customer, view};
use crate::error::{Error, Result};
use obol_core::validate::{self, Metadata};
use obol_core::{BrandId, Currency};
use obol_kernel::state::AppState;
use obol_store::Conn;

const DAYS_UNTIL_DUE_MAX: i64 = 365;
const LINES_MAX: usize = 100;
const QUANTITY_MAX: i64 = 1_000_000;

fn metadata_json(value: Option<&serde_json::Value>) -> Result<Metadata> {
    Ok(value
        .map(validate::metadata)
        .transpose()?
        .unwrap_or_default())
}

/// A line of a one-off invoice: a price's (of the brand, in the invoice's
/// currency) or one described with its amount.
async fn line_of(
    conn: &mut Conn,
    brand_id: &BrandId,
    index: usize,
    input: &CreateInvoiceLine,
) -> Result<(LineDraft, Option<Currency>)> {
    let param = |field: &str| format!("lines[{index}][{field}]");
    let quantity = input.quantity.unwrap_or(1);
    if !(1..=QUANTITY_MAX).contains(&quantity) {
        return Err(Error::invalid(
            param("quantity"),
            format!("quantity must be 1 to {QUANTITY_MAX}"),
        ));
    }
    let description = input
        .description
        .as_deref()
        .map(|text| validate::text(&param("description"), text, 1, 500))
        .transpose()?;
    match (&input.price_id, input.unit_amount) {
        (Some(price_id), None) => {
            let price = obol_store::billing::catalog::get_price(conn, brand_id, price_id)
                .await?
                .ok_or_else(|| Error::NotFound {
                    what: "price",
                    id: price_id.clone(),
                    param: None,
                })?;
            let package =
                obol_store::billing::catalog::get_package(conn, brand_id, &price.package_id)
                    .await?
                    .ok_or_else(|| Error::internal("package vanished"))?;
            let currency = Currency::parse(&price.currency)
                .ok_or_else(|| Error::internal("corrupt price currency"))?;
            Ok((
                LineDraft {
                    description: description.unwrap_or(package.name),
                    price_id: Some(price.id),
                    package_id: Some(package.id),
                    quantity,
                    unit_amount: price.unit_amount,
                    period_start: None,
                    period_end: None,
                    proration: false,
                },
                Some(currency),
            ))
        }
        (None, Some(unit_amount)) => {
            let description = description.ok_or_else(|| {
                Error::invalid(
                    param("description"),
                    "a line without a price needs a description",
                )
            })?;
            if !(0..=crate::catalog::AMOUNT_MAX).contains(&unit_amount) {
                return Err(Error::invalid(
                    param("unit_amount"),
                    "unit_amount must be a non-negative integer of minor units",
                ));
            }
            Ok((
                LineDraft {
                    description,
                    price_id: None,
                    package_id: None,
                    quantity,
                    unit_amount,
                    period_start: None,
                    period_end: None,
                    proration: false,
                },
                None,
            ))
        }
        _ => Err(Error::invalid(
            format!("lines[{index}]"),
            "a line names either price_id or unit_amount (with a description)",
        )),
    }
}

/// `POST /v1/invoices`: a one-off draft for a customer, with `invoice.created`.
pub async fn create(state: &AppState, brand_id: &BrandId, input: CreateInvoice) -> Result<Invoice> {
    if input.lines.is_empty() || input.lines.len() > LINES_MAX {
        return Err(Error::invalid(
            "lines",
            format!("an invoice has 1 to {LINES_MAX} lines"),
        ));
    }
    let days_until_due = input.days_until_due.unwrap_or(DEFAULT_DAYS_UNTIL_DUE);
    if !(0..=DAYS_UNTIL_DUE_MAX).contains(&days_until_due) {
        return Err(Error::invalid(
            "days_until_due",
            format!("days_until_due must be 0 to {DAYS_UNTIL_DUE_MAX}"),
        ));
    }
    let metadata = metadata_json(input.metadata.as_ref())?;
    let named_currency = input
        .currency
        .as_deref()
        .map(|code| validate::currency("currency", code))
        .transpose()?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let customer = live_customer(&mut tx, brand_id, &input.customer_id).await?;
    let mut lines = Vec::with_capacity(input.lines.len());
    let mut currency = named_currency;
    for (index, line) in input.lines.iter().enumerate() {
        let (draft, price_currency) = line_of(&mut tx, brand_id, index, line).await?;
        if let Some(price_currency) = price_currency {
            if currency.is_some_and(|currency| currency != price_currency) {
                return Err(Error::invalid(
                    format!("lines[{index}][price_id]"),
                    "every price of an invoice is in the invoice's one currency",
                ));
            }
            currency = Some(price_currency);
        }
        lines.push(draft);
    }
    let currency = match currency {
        Some(currency) => currency,
        None => brand_currency(&mut tx, brand_id).await?,
    };
    let new = NewInvoice {
        customer,
        subscription_id: None,
        period_index: None,
        billing_reason: "manual",
        collection_method: "send_invoice".to_owned(),
        currency,
        lines,
        discount: None,
        coupon_id: None,
        days_until_due,
        period: None,
        metadata,
    };
    let (row, lines) = insert_draft(state, &mut tx, brand_id, new, now)
        .await?
        .ok_or_else(|| Error::internal("a one-off invoice met a period's"))?;
    tx.commit().await?;
    view(state, &row, &lines)
}

async fn brand_currency(conn: &mut Conn, brand_id: &BrandId) -> Result<Currency> {
    let brand = obol_store::brands::get(conn, brand_id)
        .await?
        .ok_or_else(|| Error::internal("brand vanished"))?;
    brand
        .default_currency
        .as_deref()
        .and_then(Currency::parse)
        .ok_or_else(|| {
            Error::invalid(
                "currency",
                "name a currency: no line names a price and the brand has no default_currency",
            )
        })
}
