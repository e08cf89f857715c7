//! Dunning: a failed automatic charge of a subscription's invoice (billing's
//! own charge: a brand's or customer's attempt does not count) makes it
//! `past_due`, and the invoice is tried again on the brand's retry days
//! (counted from the first failure); when they are spent it is `unpaid`.
//! A renewal with nothing to charge with fails the same way, and each
//! failure emails the customer the invoice's link. A payment of that
//! invoice at any time makes it `active` again (see `billing`).

use super::{lock, record, save, status_of};
use crate::error::{Error, Result};
use obol_core::billing::dunning::retry_at;
use obol_core::billing::subscription::{SubscriptionCommand, SubscriptionStatus, transition};
use obol_core::{SubscriptionId, Timestamp};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::billing::invoices::InvoiceRow;
use obol_store::billing::subscriptions::SubscriptionRow;
use obol_store::orders::TransactionRow;

/// A payment of `invoice` failed (inside the failing payment's
/// transaction): dunning's when billing was charging it.
pub(crate) async fn payment_failed(
    state: &AppState,
    tx: &mut Conn,
    invoice: &InvoiceRow,
    _transaction: &TransactionRow,
    now: Timestamp,
) -> Result<()> {
    let Some(id) = &invoice.subscription_id else {
        return Ok(());
    };
    let mut row = lock(state, tx, &invoice.brand_id, id).await?;
    if row.charging_invoice_id.as_deref() != Some(invoice.id.as_str()) {
        return Ok(());
    }
    row.charging_invoice_id = None;
    failed(state, tx, &mut row, invoice, now).await
}

/// A renewal that had nothing to charge with (no mandate, a wallet short of
/// it): a failure, recorded with `invoice.payment_failed`.
pub(crate) async fn nothing_to_charge(
    state: &AppState,
    id: &SubscriptionId,
    invoice: &InvoiceRow,
) -> Result<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = lock(state, &mut tx, &invoice.brand_id, id).await?;
    if row.charging_invoice_id.as_deref() != Some(invoice.id.as_str()) {
        return Ok(());
    }
    row.charging_invoice_id = None;
    let lines = obol_store::billing::invoices::lines(&mut tx, &invoice.id).await?;
    crate::invoices::record(
        state,
        &mut tx,
        "invoice.payment_failed",
        invoice,
        &lines,
        now,
    )
    .await?;
    failed(state, &mut tx, &mut row, invoice, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The next step after a failed charge of `invoice`: `past_due` with the
/// first retry, the next retry, or `unpaid` when none is left.
async fn failed(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    invoice: &InvoiceRow,
    now: Timestamp,
) -> Result<()> {
    let brand = obol_store::brands::get(tx, &row.brand_id)
        .await?
        .ok_or_else(|| Error::internal("brand vanished"))?;
    let retry_days = obol_accounts::brands::settings::dunning_retry_days_of(&brand);
    let from = status_of(row)?;
    let mut event = None;
    match from {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => {
            let step = transition(from, SubscriptionCommand::PaymentFailed)
                .map_err(|error| Error::internal(error.to_string()))?;
            row.status = step.to.as_str().to_owned();
            row.dunning_invoice_id = Some(invoice.id.to_string());
            row.dunning_failed_at = Some(now.as_ms());
            row.dunning_attempts = 0;
            event = step.event;
        }
        SubscriptionStatus::PastDue
            if row.dunning_invoice_id.as_deref() == Some(invoice.id.as_str()) =>
        {
            row.dunning_attempts += 1;
        }
        // Another invoice while one is in dunning, or a first invoice:
        // the customer pays it through its link.
        _ => return save(tx, row).await,
    }
    let failed_at = Timestamp::from_ms(row.dunning_failed_at.unwrap_or(now.as_ms()));
    let attempts = usize::try_from(row.dunning_attempts).unwrap_or(usize::MAX);
    row.next_retry_at = retry_at(failed_at, &retry_days, attempts).map(Timestamp::as_ms);
    row.updated_at = now.as_ms();
    if let Some(event) = event {
        save(tx, row).await?;
        record(state, tx, event, row, now).await?;
    }
    if row.next_retry_at.is_none() {
        let step = transition(status_of(row)?, SubscriptionCommand::RetriesExhausted)
            .map_err(|error| Error::internal(error.to_string()))?;
        row.status = step.to.as_str().to_owned();
        save(tx, row).await?;
        if let Some(event) = step.event {
            record(state, tx, event, row, now).await?;
        }
        return Ok(());
    }
    save(tx, row).await
}
