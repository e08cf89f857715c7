//! Dunning: a failed automatic charge of a subscription's invoice makes it
//! `past_due`, and the invoice is tried again on the brand's retry days
//! (counted from the first failure); when they are spent it is `unpaid`.
//! A payment at any time makes it `active` again (see `billing`).

use super::{lock, record, save, status_of};
use crate::error::Result;
use obol_core::Timestamp;
use obol_core::billing::dunning::retry_at;
use obol_core::billing::subscription::{SubscriptionCommand, SubscriptionStatus, transition};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::billing::invoices::InvoiceRow;
use obol_store::orders::TransactionRow;

/// An automatic charge of `invoice` failed (inside the failing payment's
/// transaction). A customer's own failed attempt on the payment page
/// starts no dunning.
pub(crate) async fn payment_failed(
    state: &AppState,
    tx: &mut Conn,
    invoice: &InvoiceRow,
    transaction: &TransactionRow,
    now: Timestamp,
) -> Result<()> {
    let Some(id) = &invoice.subscription_id else {
        return Ok(());
    };
    if transaction.trigger_source != "recurring" {
        return Ok(());
    }
    let mut row = lock(state, tx, &invoice.brand_id, id).await?;
    let brand = obol_store::brands::get(tx, &row.brand_id)
        .await?
        .ok_or_else(|| crate::Error::internal("brand vanished"))?;
    let retry_days = obol_accounts::brands::settings::dunning_retry_days_of(&brand);
    let from = status_of(&row)?;
    let mut event = None;
    match from {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => {
            let step = transition(from, SubscriptionCommand::PaymentFailed)
                .map_err(|error| crate::Error::internal(error.to_string()))?;
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
        _ => return Ok(()),
    }
    let failed_at = Timestamp::from_ms(row.dunning_failed_at.unwrap_or(now.as_ms()));
    let attempts = usize::try_from(row.dunning_attempts).unwrap_or(usize::MAX);
    row.next_retry_at = retry_at(failed_at, &retry_days, attempts).map(Timestamp::as_ms);
    row.updated_at = now.as_ms();
    if let Some(event) = event {
        save(tx, &row).await?;
        record(state, tx, event, &row, now).await?;
    }
    if row.next_retry_at.is_none() {
        let step = transition(status_of(&row)?, SubscriptionCommand::RetriesExhausted)
            .map_err(|error| crate::Error::internal(error.to_string()))?;
        row.status = step.to.as_str().to_owned();
        save(tx, &row).await?;
        if let Some(event) = step.event {
            record(state, tx, event, &row, now).await?;
        }
        return Ok(());
    }
    save(tx, &row).await
}
