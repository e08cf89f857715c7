//! Invoices: drafts, finalization (a gapless number per brand, the order
//! that pays it, the email), payment (the order's payment marks the invoice
//! paid in the same database transaction: see `paid`), void and
//! uncollectible, its PDF and hosted page. Each change and its event land
//! in one transaction.

pub(crate) mod api;
pub mod compute;
pub mod credit_notes;
pub(crate) mod document;
mod drafts;
pub(crate) mod page;
pub(crate) mod paid;
mod pay;
mod views;

pub use compute::{DiscountRule, LineDraft, TaxRule};
pub use drafts::create;
pub(crate) use pay::wallet_available;
pub use pay::{pay, pay_options};
pub use views::{
    AppliedTax, CreateInvoice, CreateInvoiceLine, Invoice, InvoiceLine, PayInvoice, PayOption,
};
pub(crate) use views::{page_signature, view};

use crate::error::{Error, Result};
use obol_core::billing::invoice::{InvoiceCommand, InvoiceStatus, invoice_transition};
use obol_core::time::DAY_MS;
use obol_core::validate::Metadata;
use obol_core::{BrandId, Currency, CustomerId, InvoiceId, Timestamp};
use obol_kernel::events;
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::billing::invoices::{self as store, InvoiceFilter, InvoiceLineRow, InvoiceRow};
use obol_store::customers::CustomerRow;

/// Days from finalization to the due date when the caller names none.
pub const DEFAULT_DAYS_UNTIL_DUE: i64 = 7;
/// An open invoice stays payable long after its due date (dunning, a late
/// payment by link): its order expires only this long after finalization.
const ORDER_LIFETIME_MS: i64 = 400 * DAY_MS;

/// An invoice to draft, as billing's services describe it.
pub(crate) struct NewInvoice {
    pub customer: CustomerRow,
    pub subscription_id: Option<String>,
    pub period_index: Option<i64>,
    pub billing_reason: &'static str,
    pub collection_method: String,
    pub currency: Currency,
    pub lines: Vec<LineDraft>,
    pub discount: Option<DiscountRule>,
    pub coupon_id: Option<String>,
    pub days_until_due: i64,
    pub period: Option<(i64, i64)>,
    pub metadata: Metadata,
}

/// The customer an invoice may be made for: the brand's, not deleted.
pub(crate) async fn live_customer(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> Result<CustomerRow> {
    obol_store::customers::get(conn, brand_id, &CustomerId::from(id))
        .await?
        .filter(|customer| customer.deleted_at.is_none())
        .ok_or(Error::NotFound {
            what: "customer",
            id: id.to_owned(),
            param: Some("customer_id"),
        })
}

/// Inserts a draft (with `invoice.created`) into `tx`, taxed at the rate of
/// the customer's country; `None` when the subscription already has its
/// invoice for this period (a renewal that ran before).
pub(crate) async fn insert_draft(
    state: &AppState,
    tx: &mut Conn,
    brand_id: &BrandId,
    new: NewInvoice,
    now: Timestamp,
) -> Result<Option<(InvoiceRow, Vec<InvoiceLineRow>)>> {
    let rate = match &new.customer.country {
        Some(country) => obol_store::billing::tax_rates::active_for(tx, brand_id, country).await?,
        None => None,
    };
    let tax = rate.as_ref().map(|rate| TaxRule {
        rate_bps: u32::try_from(rate.percentage_bps).unwrap_or(0),
        inclusive: rate.inclusive,
    });
    let sums = compute::compute(new.lines, new.discount.as_ref(), tax)?;
    let brand = obol_store::brands::get(tx, brand_id)
        .await?
        .ok_or_else(|| Error::internal("brand vanished"))?;
    let id = InvoiceId::new();
    let row = InvoiceRow {
        id: id.clone(),
        brand_id: brand_id.clone(),
        customer_id: new.customer.id.clone(),
        subscription_id: new.subscription_id,
        period_index: new.period_index,
        billing_reason: new.billing_reason.to_owned(),
        number: None,
        status: InvoiceStatus::Draft.as_str().to_owned(),
        issuer_name: brand.display_name.unwrap_or(brand.name),
        customer_name: new.customer.name.clone(),
        customer_email: Some(new.customer.email.clone()),
        customer_country: new.customer.country.clone(),
        collection_method: new.collection_method,
        currency: new.currency.code().to_owned(),
        subtotal: sums.subtotal,
        discount: sums.discount,
        tax: sums.tax,
        total: sums.total.max(0),
        amount_paid: 0,
        amount_credited: 0,
        coupon_id: new.coupon_id,
        tax_rate_id: rate.as_ref().map(|rate| rate.id.to_string()),
        tax_bps: rate.as_ref().map(|rate| rate.percentage_bps),
        tax_inclusive: rate.as_ref().map(|rate| rate.inclusive),
        days_until_due: new.days_until_due,
        due_date: None,
        order_id: None,
        template_version: None,
        period_start: new.period.map(|period| period.0),
        period_end: new.period.map(|period| period.1),
        finalized_at: None,
        paid_at: None,
        voided_at: None,
        marked_uncollectible_at: None,
        metadata: serde_json::to_string(&new.metadata).map_err(Error::internal)?,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    let lines: Vec<InvoiceLineRow> = sums
        .lines
        .into_iter()
        .enumerate()
        .map(|(position, line)| InvoiceLineRow {
            invoice_id: id.clone(),
            position: i64::try_from(position).unwrap_or(i64::MAX),
            description: line.draft.description,
            price_id: line.draft.price_id,
            quantity: line.draft.quantity,
            unit_amount: line.draft.unit_amount,
            amount: line.amount,
            discount: line.discount,
            tax: line.tax,
            period_start: line.draft.period_start,
            period_end: line.draft.period_end,
            proration: line.draft.proration,
        })
        .collect();
    if !store::insert(tx, &row, &lines).await? {
        return Ok(None);
    }
    record(state, tx, "invoice.created", &row, &lines, now).await?;
    Ok(Some((row, lines)))
}

/// Writes `event_type` about the invoice as it now stands.
pub(crate) async fn record(
    state: &AppState,
    tx: &mut Conn,
    event_type: &str,
    row: &InvoiceRow,
    lines: &[InvoiceLineRow],
    now: Timestamp,
) -> Result<Invoice> {
    let view = view(state, row, lines)?;
    events::record(
        tx,
        &row.brand_id,
        event_type,
        &row.id,
        Some(&row.customer_id),
        &view,
        now,
    )
    .await?;
    Ok(view)
}

/// How a finalized invoice is to be paid: whether its card payment leaves
/// a mandate for the renewals.
pub(crate) struct Finalizing {
    pub setup_mandate: bool,
}

/// Finalizes a locked draft inside `tx`: its number (taken in this
/// transaction, so a rollback leaves no gap), due date, template version,
/// and the order that pays it; an invoice of nothing is paid at once.
/// `invoice.finalized` (and `invoice.paid`) are written.
pub(crate) async fn finalize_in(
    state: &AppState,
    tx: &mut Conn,
    mut row: InvoiceRow,
    lines: &[InvoiceLineRow],
    finalizing: Finalizing,
    now: Timestamp,
) -> Result<InvoiceRow> {
    let status = parse_status(&row)?;
    invoice_transition(status, InvoiceCommand::Finalize)
        .map_err(|error| Error::invalid_state(error.to_string()))?;
    let brand = obol_store::brands::get(tx, &row.brand_id)
        .await?
        .ok_or_else(|| Error::internal("brand vanished"))?;
    let number = store::take_number(tx, &row.brand_id).await?;
    if state.failpoint_once("invoice_finalize_fails") {
        // Test hook: the finalizing transaction rolls back after taking
        // its number, which must come back.
        return Err(Error::internal("failpoint invoice_finalize_fails"));
    }
    let prefix = obol_accounts::brands::settings::invoice_prefix_of(&brand);
    row.number = Some(format!("{prefix}-{number:06}"));
    row.status = InvoiceStatus::Open.as_str().to_owned();
    row.template_version = Some(i64::from(crate::pdf::CURRENT_TEMPLATE_VERSION));
    row.finalized_at = Some(now.as_ms());
    row.due_date = Some(
        now.plus_ms(row.days_until_due.saturating_mul(DAY_MS))
            .as_ms(),
    );
    row.updated_at = now.as_ms();
    if row.total > 0 {
        let currency = Currency::parse(&row.currency)
            .ok_or_else(|| Error::internal("corrupt invoice currency"))?;
        let order_type = if row.subscription_id.is_some() {
            "subscription"
        } else {
            "invoice"
        };
        let mut metadata = Metadata::new();
        metadata.insert("invoice_id".to_owned(), row.id.to_string());
        let spec = obol_payments::orders::billed::BilledOrder {
            order_type,
            customer_id: row.customer_id.clone(),
            customer_email: row.customer_email.clone(),
            description: format!("Invoice {}", row.number.as_deref().unwrap_or_default()),
            amount: row.total,
            currency,
            setup_mandate: finalizing.setup_mandate,
            expires_at: now.plus_ms(ORDER_LIFETIME_MS),
            metadata,
        };
        let order =
            obol_payments::orders::billed::create_in(state, tx, &row.brand_id, spec, now).await?;
        row.order_id = Some(order.id);
        store::update(tx, &row).await?;
        record(state, tx, "invoice.finalized", &row, lines, now).await?;
    } else {
        store::update(tx, &row).await?;
        record(state, tx, "invoice.finalized", &row, lines, now).await?;
        paid::mark_paid(state, tx, &mut row, lines, None, now).await?;
    }
    Ok(row)
}

pub(crate) fn parse_status(row: &InvoiceRow) -> Result<InvoiceStatus> {
    InvoiceStatus::parse(&row.status).ok_or_else(|| Error::internal("corrupt invoice status"))
}

/// Locks the brand's invoice `id` with its lines, or not found.
pub(crate) async fn lock(
    state: &AppState,
    tx: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> Result<(InvoiceRow, Vec<InvoiceLineRow>)> {
    let row = store::lock(tx, state.db.backend, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("invoice", id))?;
    let lines = store::lines(tx, &row.id).await?;
    Ok((row, lines))
}

/// `POST /v1/invoices/{id}/finalize`: a draft becomes `open` (409 otherwise).
pub async fn finalize(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Invoice> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let (row, lines) = lock(state, &mut tx, brand_id, id).await?;
    let row = finalize_in(
        state,
        &mut tx,
        row,
        &lines,
        Finalizing {
            setup_mandate: false,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    view(state, &row, &lines)
}

/// `POST /v1/invoices/{id}/void`: a draft, open or uncollectible invoice is
/// void, and its order no longer payable. An invoice whose payment is under
/// way cannot be voided until it ends.
pub async fn void(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Invoice> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let view = void_in(state, &mut tx, brand_id, id, now).await?;
    tx.commit().await?;
    Ok(view)
}

/// Voids the invoice inside `tx`, with `invoice.voided`. Its order is
/// locked first, as a payment's outcome locks the order before the invoice.
pub(crate) async fn void_in(
    state: &AppState,
    tx: &mut Conn,
    brand_id: &BrandId,
    id: &str,
    now: Timestamp,
) -> Result<Invoice> {
    let seen = store::get(tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("invoice", id))?;
    invoice_transition(parse_status(&seen)?, InvoiceCommand::Void)
        .map_err(|error| Error::invalid_state(error.to_string()))?;
    if let Some(order_id) = &seen.order_id {
        let closed = obol_payments::orders::billed::expire_unpaid(
            tx,
            state.db.backend,
            brand_id,
            order_id,
            now,
        )
        .await?;
        if !closed {
            return Err(Error::invalid_state(
                "a payment of this invoice is under way or made: it cannot be voided",
            ));
        }
    }
    let (mut row, lines) = lock(state, tx, brand_id, id).await?;
    if row.order_id != seen.order_id {
        // Finalized meanwhile: its new order was not closed.
        return Err(Error::invalid_state(
            "the invoice was finalized meanwhile: void it again",
        ));
    }
    let to = invoice_transition(parse_status(&row)?, InvoiceCommand::Void)
        .map_err(|error| Error::invalid_state(error.to_string()))?;
    row.status = to.as_str().to_owned();
    row.voided_at = Some(now.as_ms());
    row.updated_at = now.as_ms();
    store::update(tx, &row).await?;
    record(state, tx, "invoice.voided", &row, &lines, now).await
}

/// `POST /v1/invoices/{id}/mark_uncollectible`: an open invoice is written
/// off; it stays payable.
pub async fn mark_uncollectible(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Invoice> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let (mut row, lines) = lock(state, &mut tx, brand_id, id).await?;
    let to = invoice_transition(parse_status(&row)?, InvoiceCommand::MarkUncollectible)
        .map_err(|error| Error::invalid_state(error.to_string()))?;
    row.status = to.as_str().to_owned();
    row.marked_uncollectible_at = Some(now.as_ms());
    row.updated_at = now.as_ms();
    store::update(&mut tx, &row).await?;
    let view = record(
        state,
        &mut tx,
        "invoice.marked_uncollectible",
        &row,
        &lines,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// The brand's invoice `id` with its lines, or not found.
pub(crate) async fn find(
    state: &AppState,
    brand_id: &BrandId,
    id: &str,
) -> Result<(InvoiceRow, Vec<InvoiceLineRow>)> {
    let mut conn = state.db.pool.acquire().await?;
    let row = store::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("invoice", id))?;
    let lines = store::lines(&mut conn, &row.id).await?;
    Ok((row, lines))
}

pub async fn get(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Invoice> {
    let (row, lines) = find(state, brand_id, id).await?;
    view(state, &row, &lines)
}

/// The brand's invoices, newest first, narrowed by customer, status or subscription.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<InvoiceFilter>,
) -> Result<List<Invoice>> {
    let ListRequest { page, filter } = request;
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        &page,
        async |conn, after| Ok(store::get(conn, brand_id, after).await?.is_some()),
        async |conn, page| store::list(conn, brand_id, &filter, page).await,
    )
    .await?;
    let mut data = Vec::with_capacity(rows.data.len());
    for row in &rows.data {
        let lines = store::lines(&mut conn, &row.id).await?;
        data.push(view(state, row, &lines)?);
    }
    Ok(List::new(data, rows.has_more))
}
