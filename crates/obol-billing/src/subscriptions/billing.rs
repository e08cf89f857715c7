//! Billing a subscription: the invoice of a period (made, finalized, its
//! order opened), charging it after the commit, and what a paid invoice
//! does to its subscription (inside the payment's transaction).

use super::{lock, record, save, status_of};
use crate::error::{Error, Result};
use crate::invoices::{self, Finalizing, LineDraft, NewInvoice};
use obol_core::billing::subscription::{SubscriptionCommand, SubscriptionStatus, transition};
use obol_core::{Currency, SubscriptionId, Timestamp};
use obol_kernel::state::AppState;
use obol_payments::orders::PaymentMethodInput;
use obol_payments::orders::payment::{self, ConfirmInput};
use obol_store::Conn;
use obol_store::billing::catalog::PriceRow;
use obol_store::billing::invoices::InvoiceRow;
use obol_store::billing::subscriptions::{self as store, SubscriptionRow};
use obol_store::customers::CustomerRow;
use obol_store::orders::OrderRow;

/// Invoices the subscription's current period (`row.period_index`) inside
/// `tx` and finalizes it; `false` when that period's invoice exists already
/// (a renewal that ran before: it bills once). `row` is read back after, as
/// a paid invoice of nothing changes it.
pub(crate) async fn bill_period(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    price: &PriceRow,
    billing_reason: &'static str,
    setup_mandate: bool,
    now: Timestamp,
) -> Result<bool> {
    let customer = obol_store::customers::get(tx, &row.brand_id, &row.customer_id)
        .await?
        .ok_or_else(|| Error::internal("customer vanished"))?;
    let package = obol_store::billing::catalog::get_package(tx, &row.brand_id, &price.package_id)
        .await?
        .ok_or_else(|| Error::internal("package vanished"))?;
    let discount = discount_of(tx, row, &price.package_id).await?;
    if discount.is_some() {
        // A period counts down only when the coupon discounted it.
        row.coupon_periods_left = row.coupon_periods_left.map(|left| left - 1);
    }
    let currency = Currency::parse(&price.currency)
        .ok_or_else(|| Error::internal("corrupt price currency"))?;
    let line = LineDraft {
        description: package.name,
        price_id: Some(price.id.clone()),
        package_id: Some(price.package_id.clone()),
        quantity: 1,
        unit_amount: price.unit_amount,
        period_start: Some(row.current_period_start),
        period_end: Some(row.current_period_end),
        proration: false,
    };
    let new = NewInvoice {
        customer,
        subscription_id: Some(row.id.to_string()),
        period_index: Some(row.period_index),
        billing_reason,
        collection_method: row.collection_method.clone(),
        currency,
        lines: vec![line],
        discount,
        coupon_id: row.coupon_id.clone(),
        days_until_due: days_until_due(row),
        period: Some((row.current_period_start, row.current_period_end)),
        metadata: Default::default(),
    };
    let Some((invoice, lines)) = invoices::insert_draft(state, tx, &row.brand_id, new, now).await?
    else {
        return Ok(false);
    };
    finalize(state, tx, row, invoice, &lines, setup_mandate, now).await?;
    Ok(true)
}

/// The subscription's coupon discount for a line of `package_id`, while it
/// has periods left and applies to the package.
pub(crate) async fn discount_of(
    conn: &mut Conn,
    row: &SubscriptionRow,
    package_id: &str,
) -> Result<Option<crate::invoices::DiscountRule>> {
    let rule = match (&row.coupon_id, row.coupon_periods_left) {
        (Some(_), Some(0)) | (None, _) => None,
        (Some(coupon_id), _) => crate::coupons::rule_of(conn, &row.brand_id, coupon_id).await?,
    };
    Ok(rule.filter(|rule| {
        rule.applies_to
            .as_ref()
            .is_none_or(|packages| packages.iter().any(|id| id == package_id))
    }))
}

/// Days from finalization to due: a sent invoice's setting; an automatic
/// charge is due at once.
pub(crate) fn days_until_due(row: &SubscriptionRow) -> i64 {
    if row.collection_method == "send_invoice" {
        row.days_until_due
    } else {
        0
    }
}

/// Finalizes the subscription's new invoice as its latest, then reads the
/// subscription back (an invoice of nothing is paid, and activates it).
pub(crate) async fn finalize(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    invoice: InvoiceRow,
    lines: &[obol_store::billing::invoices::InvoiceLineRow],
    setup_mandate: bool,
    now: Timestamp,
) -> Result<()> {
    row.latest_invoice_id = Some(invoice.id.to_string());
    if row.collection_method == "charge_automatically" && invoice.total > 0 {
        // Billing charges it itself once this commits: its failure is dunning's.
        row.charging_invoice_id = Some(invoice.id.to_string());
    }
    row.updated_at = now.as_ms();
    save(tx, row).await?;
    invoices::finalize_in(state, tx, invoice, lines, Finalizing { setup_mandate }, now).await?;
    *row = store::find(tx, &row.id)
        .await?
        .ok_or_else(|| Error::internal("subscription vanished"))?;
    Ok(())
}

/// A trial without a mandate: a zero-amount order whose card payment sets
/// one up before the first charge.
pub(crate) async fn open_setup_order(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    customer: &CustomerRow,
    price: &PriceRow,
    now: Timestamp,
) -> Result<()> {
    let currency = Currency::parse(&price.currency)
        .ok_or_else(|| Error::internal("corrupt price currency"))?;
    let mut metadata = obol_core::validate::Metadata::new();
    metadata.insert("subscription_id".to_owned(), row.id.to_string());
    let spec = obol_payments::orders::billed::BilledOrder {
        order_type: "subscription",
        customer_id: customer.id.clone(),
        customer_email: Some(customer.email.clone()),
        description: "Card for the subscription after its trial".to_owned(),
        amount: 0,
        currency,
        setup_mandate: true,
        expires_at: Timestamp::from_ms(row.trial_end.unwrap_or(now.as_ms())),
        metadata,
    };
    let order =
        obol_payments::orders::billed::create_in(state, tx, &row.brand_id, spec, now).await?;
    row.setup_order_id = Some(order.id.into_string());
    Ok(())
}

/// A subscription's setup order changed: the mandate its payment left is
/// the subscription's (inside the payment's transaction).
pub(crate) async fn setup_order_changed(
    state: &AppState,
    tx: &mut Conn,
    order: &OrderRow,
    now: Timestamp,
) -> Result<()> {
    let Some(mandate_id) = &order.mandate_id else {
        return Ok(());
    };
    let Some(mut row) = store::lock_by_setup_order(tx, state.db.backend, &order.id).await? else {
        return Ok(());
    };
    if row.mandate_id.is_none() {
        row.mandate_id = Some(mandate_id.clone());
        row.updated_at = now.as_ms();
        save(tx, &row).await?;
        record(state, tx, "subscription.changed", &row, now).await?;
    }
    Ok(())
}

/// An invoice of the subscription was paid (inside the paying transaction):
/// its mandate, if the payment set one up, becomes the subscription's, and
/// the subscription is active again.
pub(crate) async fn invoice_paid(
    state: &AppState,
    tx: &mut Conn,
    invoice: &InvoiceRow,
    order: Option<&OrderRow>,
    now: Timestamp,
) -> Result<()> {
    let Some(id) = &invoice.subscription_id else {
        return Ok(());
    };
    let mut row = lock(state, tx, &invoice.brand_id, id).await?;
    if row.mandate_id.is_none()
        && let Some(mandate_id) = order.and_then(|order| order.mandate_id.clone())
    {
        row.mandate_id = Some(mandate_id);
    }
    if row.charging_invoice_id.as_deref() == Some(invoice.id.as_str()) {
        row.charging_invoice_id = None;
    }
    let from = status_of(&row)?;
    let in_dunning = matches!(
        from,
        SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid
    );
    // Only the invoice that failed ends dunning; another one paid meanwhile
    // leaves it to be collected.
    let settles = !in_dunning
        || row.dunning_invoice_id.is_none()
        || row.dunning_invoice_id.as_deref() == Some(invoice.id.as_str());
    let event = if settles {
        settle(&mut row, from, now)
    } else {
        None
    };
    row.updated_at = now.as_ms();
    save(tx, &row).await?;
    if let Some(event) = event {
        record(state, tx, event, &row, now).await?;
    }
    Ok(())
}

/// The subscription's dunning invoice is settled (paid, or voided): it is
/// active again; the event of that, if its status changed.
pub(crate) fn settle(
    row: &mut SubscriptionRow,
    from: SubscriptionStatus,
    now: Timestamp,
) -> Option<&'static str> {
    match transition(from, SubscriptionCommand::InvoicePaid) {
        Ok(step) => {
            row.status = step.to.as_str().to_owned();
            row.dunning_invoice_id = None;
            row.dunning_failed_at = None;
            row.dunning_attempts = 0;
            row.next_retry_at = None;
            if from == SubscriptionStatus::Unpaid {
                // Access was off: no invoices for the time unpaid. A new
                // period starts now, billed by the due step at once.
                row.anchor_at = now.as_ms();
                row.anchor_index = row.period_index + 1;
                row.current_period_end = now.as_ms();
            }
            step.event
        }
        Err(refused) => {
            // A paused or ended subscription keeps its status; the invoice
            // is paid all the same.
            tracing::info!(subscription_id = %row.id, %refused, "paid invoice leaves the status");
            None
        }
    }
}

/// Charges the subscription's latest invoice when it is to be charged
/// automatically and nothing has tried it yet (a step that died before its
/// charge is finished by the next). Failures are the listener's to handle
/// (dunning); this only logs what it could not start.
pub(crate) async fn charge_latest(state: &AppState, id: &SubscriptionId) {
    if let Err(error) = try_charge_latest(state, id).await {
        tracing::warn!(subscription_id = %id, %error, "charging the latest invoice did not start");
    }
}

async fn try_charge_latest(state: &AppState, id: &SubscriptionId) -> Result<()> {
    let mut conn = state.db.pool.acquire().await?;
    let Some(row) = store::find(&mut conn, id).await? else {
        return Ok(());
    };
    let Some(invoice_id) = row.latest_invoice_id.clone() else {
        return Ok(());
    };
    let Some(invoice) =
        obol_store::billing::invoices::get(&mut conn, &row.brand_id, &invoice_id).await?
    else {
        return Ok(());
    };
    let Some(order_id) = invoice
        .order_id
        .clone()
        .filter(|_| invoice.status == "open")
    else {
        return Ok(());
    };
    let order = obol_store::orders::get_order(&mut conn, &row.brand_id, &order_id).await?;
    drop(conn);
    if order.is_none_or(|order| order.attempted > 0) {
        return Ok(());
    }
    charge(state, &row, &invoice).await.map(|_| ())
}

/// What a charge of an invoice did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Charged {
    /// A payment went out (its outcome is the listener's), or there was
    /// nothing to pay with (a failure, recorded).
    Sent,
    /// Not charged automatically, or already paid or under way.
    Skipped,
}

/// Charges an open invoice of the subscription now: from the wallet when
/// the customer allowed it and it covers the invoice, else with the
/// mandate. Without either the customer pays through the link.
pub(crate) async fn charge(
    state: &AppState,
    row: &SubscriptionRow,
    invoice: &InvoiceRow,
) -> Result<Charged> {
    if row.collection_method != "charge_automatically" {
        return Ok(Charged::Skipped);
    }
    let Some(order_id) = invoice.order_id.clone() else {
        return Ok(Charged::Skipped);
    };
    let due = invoice.total - invoice.amount_paid;
    let mut conn = state.db.pool.acquire().await?;
    let covered = row.pay_from_wallet
        && crate::invoices::wallet_available(
            &mut conn,
            &row.brand_id,
            &row.customer_id,
            &invoice.currency,
        )
        .await?
            >= due;
    drop(conn);
    let payment_method = if covered {
        PaymentMethodInput {
            method_type: "wallet".to_owned(),
            card: None,
            mandate_id: None,
        }
    } else if let Some(mandate_id) = &row.mandate_id {
        PaymentMethodInput {
            method_type: "mandate".to_owned(),
            card: None,
            mandate_id: Some(mandate_id.to_string()),
        }
    } else {
        // Nothing to charge with: a failed renewal all the same, and the
        // customer is emailed the link.
        super::dunning::nothing_to_charge(state, &row.id, invoice).await?;
        return Ok(Charged::Sent);
    };
    let input = ConfirmInput {
        payment_method,
        connector_account_id: None,
        trigger: "recurring".to_owned(),
        idempotency_key: None,
    };
    match payment::confirm(state, &row.brand_id, &order_id, input).await {
        // A decline is the listener's (dunning); an unknown outcome is
        // settled by sync.
        Ok(_)
        | Err(obol_payments::error::Error::PaymentFailed { .. })
        | Err(obol_payments::error::Error::ConnectorFailed { .. }) => Ok(Charged::Sent),
        // Paid meanwhile, or a payment under way: left be.
        Err(obol_payments::error::Error::InvalidState(_)) => Ok(Charged::Skipped),
        Err(error) => Err(error.into()),
    }
}
