//! What a subscription's owner changes: its price (an upgrade prorated by
//! the second as two lines of one invoice, a downgrade at the period's
//! end), cancellation (now, with the unused time credited to the wallet
//! when asked, or at the period's end), pause and resume.

use super::views::{CancelSubscription, ChangeSubscription, Subscription};
use super::{billing, lock, period_start, record, recurring_price, save, status_of, view};
use crate::error::{Error, Result};
use crate::invoices::{self, LineDraft, NewInvoice};
use obol_accounts::ledger::AccountType;
use obol_accounts::wallets::{self, OrderWallet};
use obol_core::billing::proration::{prorate, seconds_between};
use obol_core::billing::subscription::{SubscriptionCommand, may_change_price, transition};
use obol_core::{BrandId, Currency, Money, OrderId, SubscriptionId, Timestamp};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::billing::catalog::PriceRow;
use obol_store::billing::subscriptions::SubscriptionRow;

fn apply(row: &mut SubscriptionRow, command: SubscriptionCommand) -> Result<Option<&'static str>> {
    let step = transition(status_of(row)?, command)
        .map_err(|error| Error::invalid_state(error.to_string()))?;
    row.status = step.to.as_str().to_owned();
    Ok(step.event)
}

/// `POST /v1/subscriptions/{id}/change`: to another recurring price of the
/// same currency and interval. `immediate` (the default for a dearer price)
/// switches now and invoices the rest of the period: a credit line for the
/// old price's unused time and a charge line for the new one, prorated by
/// the second; `period_end` (the default for a cheaper one) waits for the
/// renewal, shown meanwhile as `pending_price_id`.
pub async fn change(
    state: &AppState,
    brand_id: &BrandId,
    id: &str,
    input: ChangeSubscription,
) -> Result<Subscription> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = lock(state, &mut tx, brand_id, id).await?;
    if !may_change_price(status_of(&row)?) {
        return Err(Error::invalid_state(format!(
            "a {} subscription cannot change its price",
            row.status
        )));
    }
    let old = super::price_of(&mut tx, brand_id, &row.price_id).await?;
    let new = recurring_price(&mut tx, brand_id, &input.price_id).await?;
    if new.id == old.id {
        return Err(Error::invalid(
            "price_id",
            "the subscription is on this price already",
        ));
    }
    if (&new.currency, &new.interval, new.interval_count)
        != (&old.currency, &old.interval, old.interval_count)
    {
        return Err(Error::invalid(
            "price_id",
            "the new price must have the subscription's currency and interval",
        ));
    }
    let dearer = new.unit_amount >= old.unit_amount;
    let immediate = match input.proration.as_deref() {
        None => dearer,
        Some("immediate") if dearer => true,
        Some("immediate") => {
            return Err(Error::invalid(
                "proration",
                "a cheaper price takes effect at the period's end (proration period_end)",
            ));
        }
        Some("period_end") => false,
        Some(_) => {
            return Err(Error::invalid(
                "proration",
                "proration must be immediate or period_end",
            ));
        }
    };
    row.updated_at = now.as_ms();
    if !immediate {
        row.pending_price_id = Some(new.id.clone());
        save(&mut tx, &row).await?;
        record(state, &mut tx, "subscription.changed", &row, now).await?;
        tx.commit().await?;
        return view(state, &row);
    }
    let in_trial = row.period_index < 0;
    row.price_id = new.id.clone();
    row.package_id = new.package_id.clone();
    row.pending_price_id = None;
    save(&mut tx, &row).await?;
    record(state, &mut tx, "subscription.changed", &row, now).await?;
    if !in_trial {
        bill_proration(state, &mut tx, &mut row, &old, &new, now).await?;
    }
    tx.commit().await?;
    billing::charge_latest(state, &row.id).await;
    super::get(state, brand_id, id).await
}

/// The upgrade's invoice: unused time of `old` credited, the rest of the
/// period on `new` charged, both by the second.
async fn bill_proration(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    old: &PriceRow,
    new: &PriceRow,
    now: Timestamp,
) -> Result<()> {
    let start = Timestamp::from_ms(row.current_period_start);
    let end = Timestamp::from_ms(row.current_period_end);
    let period = seconds_between(start, end);
    let remaining = seconds_between(now, end).min(period);
    let too_large = || Error::internal("a proration out of range");
    let credit = prorate(old.unit_amount, remaining, period).ok_or_else(too_large)?;
    let charge = prorate(new.unit_amount, remaining, period).ok_or_else(too_large)?;
    let names = async |conn: &mut Conn, price: &PriceRow| -> Result<String> {
        Ok(
            obol_store::billing::catalog::get_package(conn, &row.brand_id, &price.package_id)
                .await?
                .map_or_else(|| price.id.clone(), |package| package.name),
        )
    };
    let old_name = names(tx, old).await?;
    let new_name = names(tx, new).await?;
    let line = |description: String, price: &PriceRow, unit_amount: i64| LineDraft {
        description,
        price_id: Some(price.id.clone()),
        package_id: Some(price.package_id.clone()),
        quantity: 1,
        unit_amount,
        period_start: Some(now.as_ms()),
        period_end: Some(end.as_ms()),
        proration: true,
    };
    let customer = obol_store::customers::get(tx, &row.brand_id, &row.customer_id)
        .await?
        .ok_or_else(|| Error::internal("customer vanished"))?;
    let currency =
        Currency::parse(&new.currency).ok_or_else(|| Error::internal("corrupt price currency"))?;
    let draft = NewInvoice {
        customer,
        subscription_id: Some(row.id.to_string()),
        period_index: None,
        billing_reason: "subscription_update",
        collection_method: row.collection_method.clone(),
        currency,
        lines: vec![
            line(format!("Unused time on {old_name}"), old, -credit),
            line(format!("Remaining time on {new_name}"), new, charge),
        ],
        // The subscription's coupon discounts the new price's line (a
        // credit line takes none), without counting a period down.
        discount: billing::discount_of(tx, row, &new.package_id).await?,
        coupon_id: row.coupon_id.clone(),
        days_until_due: billing::days_until_due(row),
        period: Some((now.as_ms(), end.as_ms())),
        metadata: Default::default(),
    };
    let (invoice, lines) = invoices::insert_draft(state, tx, &row.brand_id, draft, now)
        .await?
        .ok_or_else(|| Error::internal("a proration invoice met a period's"))?;
    billing::finalize(state, tx, row, invoice, &lines, false, now).await
}

/// `POST /v1/subscriptions/{id}/cancel`: at the period's end (it renews no
/// more), or now, with the unused part of the period's paid invoice
/// credited to the customer's wallet when `refund_unused`.
pub async fn cancel(
    state: &AppState,
    brand_id: &BrandId,
    id: &str,
    input: CancelSubscription,
) -> Result<Subscription> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let at_period_end = input.at_period_end.unwrap_or(false);
    if !at_period_end {
        // Its open invoice goes void with it: the invoice's order and the
        // invoice are locked before the subscription, as a payment does.
        void_latest(state, &mut tx, brand_id, id, now).await?;
    }
    let mut row = lock(state, &mut tx, brand_id, id).await?;
    row.updated_at = now.as_ms();
    if at_period_end {
        if status_of(&row)?.is_terminal() {
            return Err(Error::invalid_state(format!(
                "a {} subscription cannot be canceled",
                row.status
            )));
        }
        row.cancel_at_period_end = true;
        save(&mut tx, &row).await?;
        record(state, &mut tx, "subscription.changed", &row, now).await?;
        tx.commit().await?;
        return view(state, &row);
    }
    let event = apply(&mut row, SubscriptionCommand::Cancel)?;
    row.canceled_at = Some(now.as_ms());
    save(&mut tx, &row).await?;
    if input.refund_unused.unwrap_or(false) {
        credit_unused(state, &mut tx, &row, now).await?;
    }
    if let Some(event) = event {
        record(state, &mut tx, event, &row, now).await?;
    }
    tx.commit().await?;
    view(state, &row)
}

/// Voids the subscription's latest invoice if it is still payable.
async fn void_latest(
    state: &AppState,
    tx: &mut Conn,
    brand_id: &BrandId,
    id: &str,
    now: Timestamp,
) -> Result<()> {
    let Some(row) = obol_store::billing::subscriptions::get(tx, brand_id, id).await? else {
        return Err(Error::not_found("subscription", id));
    };
    if status_of(&row)?.is_terminal() {
        return Ok(());
    }
    let Some(invoice_id) = &row.latest_invoice_id else {
        return Ok(());
    };
    let payable = obol_store::billing::invoices::get(tx, brand_id, invoice_id)
        .await?
        .is_some_and(|invoice| matches!(invoice.status.as_str(), "open" | "uncollectible"));
    if payable {
        invoices::void_in(state, tx, brand_id, invoice_id, now).await?;
    }
    Ok(())
}

/// Credits the unused part of the current period's paid invoice to the
/// wallet: from the brand's available balance, with its ledger entry.
async fn credit_unused(
    state: &AppState,
    tx: &mut Conn,
    row: &SubscriptionRow,
    now: Timestamp,
) -> Result<()> {
    let Some(invoice) =
        obol_store::billing::invoices::period_invoice(tx, &row.id, row.period_index).await?
    else {
        return Ok(());
    };
    let Some(order_id) = invoice
        .order_id
        .clone()
        .filter(|_| invoice.status == "paid")
    else {
        return Ok(());
    };
    let start = Timestamp::from_ms(row.current_period_start);
    let end = Timestamp::from_ms(row.current_period_end);
    let period = seconds_between(start, end);
    let remaining = seconds_between(now, end).min(period);
    let paid = invoice.amount_paid - invoice.amount_credited;
    let amount = prorate(paid, remaining, period)
        .ok_or_else(|| Error::internal("a proration out of range"))?;
    if amount <= 0 {
        return Ok(());
    }
    let currency = Currency::parse(&invoice.currency)
        .ok_or_else(|| Error::internal("corrupt invoice currency"))?;
    credit_wallet(
        state,
        tx,
        &invoice,
        &order_id,
        Money {
            amount_minor: amount,
            currency,
        },
        "subscription_unused",
        now,
    )
    .await
}

/// Credits `money` of `invoice` to its customer's wallet from the brand's
/// available balance, and counts it as credited on the invoice.
pub(crate) async fn credit_wallet(
    state: &AppState,
    tx: &mut Conn,
    invoice: &obol_store::billing::invoices::InvoiceRow,
    order_id: &OrderId,
    money: Money,
    source: &str,
    now: Timestamp,
) -> Result<()> {
    let from = wallets::brand_account(
        &invoice.brand_id,
        AccountType::BrandAvailable,
        money.currency,
    );
    let wallet = OrderWallet {
        brand_id: &invoice.brand_id,
        customer_id: &invoice.customer_id,
        order_id,
    };
    let description = format!(
        "credit of invoice {}",
        invoice.number.as_deref().unwrap_or(invoice.id.as_str())
    );
    if !obol_store::billing::invoices::add_credited(
        tx,
        &invoice.id,
        money.amount_minor,
        now.as_ms(),
    )
    .await?
    {
        return Err(Error::invalid(
            "amount",
            "credits of an invoice cannot add up to more than was paid",
        ));
    }
    wallets::credit_paid(state, tx, wallet, money, from, source, description, now).await?;
    Ok(())
}

/// `POST /v1/subscriptions/{id}/pause`: no invoices while paused.
pub async fn pause(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Subscription> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = lock(state, &mut tx, brand_id, id).await?;
    let event = apply(&mut row, SubscriptionCommand::Pause)?;
    row.paused_at = Some(now.as_ms());
    row.next_retry_at = None;
    row.updated_at = now.as_ms();
    save(&mut tx, &row).await?;
    if let Some(event) = event {
        record(state, &mut tx, event, &row, now).await?;
    }
    tx.commit().await?;
    view(state, &row)
}

/// `POST /v1/subscriptions/{id}/resume`: a new period starts now (the
/// anchor moves to now), invoiced and charged as a renewal.
pub async fn resume(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Subscription> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = lock(state, &mut tx, brand_id, id).await?;
    let event = apply(&mut row, SubscriptionCommand::Resume)?;
    let price = super::price_of(&mut tx, brand_id, &row.price_id).await?;
    row.paused_at = None;
    row.dunning_invoice_id = None;
    row.dunning_failed_at = None;
    row.dunning_attempts = 0;
    row.period_index = row.period_index.max(-1) + 1;
    row.anchor_at = now.as_ms();
    row.anchor_index = row.period_index;
    row.current_period_start = now.as_ms();
    row.current_period_end = period_start(&row, &price, row.period_index + 1)?;
    row.updated_at = now.as_ms();
    save(&mut tx, &row).await?;
    if let Some(event) = event {
        record(state, &mut tx, event, &row, now).await?;
    }
    billing::bill_period(
        state,
        &mut tx,
        &mut row,
        &price,
        "subscription_cycle",
        false,
        now,
    )
    .await?;
    tx.commit().await?;
    let id = SubscriptionId::from(id);
    billing::charge_latest(state, &id).await;
    super::get(state, brand_id, &id).await
}
