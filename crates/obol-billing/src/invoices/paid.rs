//! An invoice follows its order: the payment that pays the order marks the
//! invoice paid in the same database transaction (payments calls billing's
//! listener inside step 3), and a failed payment is the invoice's
//! `invoice.payment_failed`.

use super::{parse_status, record};
use crate::error::{Error, Result};
use async_trait::async_trait;
use obol_core::Timestamp;
use obol_core::billing::invoice::{InvoiceCommand, invoice_transition};
use obol_core::order::{OrderStatus, TransactionKind};
use obol_kernel::error::ApiError;
use obol_kernel::state::AppState;
use obol_payments::listeners::{OrderChange, OrderListener};
use obol_store::Conn;
use obol_store::billing::invoices::{self as store, InvoiceLineRow, InvoiceRow};
use obol_store::orders::OrderRow;

/// Billing's listener on the orders it made.
pub struct InvoiceOrders;

#[async_trait]
impl OrderListener for InvoiceOrders {
    fn order_types(&self) -> &'static [&'static str] {
        &["invoice", "subscription"]
    }

    async fn order_changed(
        &self,
        state: &AppState,
        tx: &mut Conn,
        change: &OrderChange<'_>,
    ) -> Result<(), ApiError> {
        Ok(order_changed(state, tx, change).await?)
    }
}

fn captured(status: &str) -> bool {
    OrderStatus::parse(status).is_some_and(OrderStatus::is_captured)
}

async fn order_changed(state: &AppState, tx: &mut Conn, change: &OrderChange<'_>) -> Result<()> {
    let Some(mut row) = store::lock_by_order(tx, state.db.backend, &change.order.id).await? else {
        // No invoice: a trial's order that sets up the mandate.
        return crate::subscriptions::billing::setup_order_changed(
            state,
            tx,
            change.order,
            change.now,
        )
        .await;
    };
    let lines = store::lines(tx, &row.id).await?;
    if captured(&change.order.status) && !captured(change.previous_status) {
        if matches!(row.status.as_str(), "open" | "uncollectible") {
            mark_paid(state, tx, &mut row, &lines, Some(change.order), change.now).await?;
        } else {
            // Voided while its last payment was under way: the money is the
            // brand's to give back, as for any order.
            tracing::warn!(invoice_id = %row.id, status = %row.status, "an invoice not open was paid");
        }
        return Ok(());
    }
    let failed_payment = TransactionKind::parse(&change.transaction.kind)
        .is_some_and(TransactionKind::is_payment)
        && change.transaction.status == "failed";
    if failed_payment && row.status == "open" {
        record(
            state,
            tx,
            "invoice.payment_failed",
            &row,
            &lines,
            change.now,
        )
        .await?;
        crate::subscriptions::dunning::payment_failed(
            state,
            tx,
            &row,
            change.transaction,
            change.now,
        )
        .await?;
    }
    Ok(())
}

/// Marks an open (or uncollectible) invoice paid inside `tx`, with
/// `invoice.paid`, and tells its subscription. `order` is the order that
/// paid it (none for an invoice of nothing).
pub(crate) async fn mark_paid(
    state: &AppState,
    tx: &mut Conn,
    row: &mut InvoiceRow,
    lines: &[InvoiceLineRow],
    order: Option<&OrderRow>,
    now: Timestamp,
) -> Result<()> {
    let to = invoice_transition(parse_status(row)?, InvoiceCommand::Pay)
        .map_err(|error| Error::invalid_state(error.to_string()))?;
    row.status = to.as_str().to_owned();
    row.amount_paid = row.total;
    row.paid_at = Some(now.as_ms());
    row.updated_at = now.as_ms();
    store::update(tx, row).await?;
    record(state, tx, "invoice.paid", row, lines, now).await?;
    crate::subscriptions::billing::invoice_paid(state, tx, row, order, now).await
}
