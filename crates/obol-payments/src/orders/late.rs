//! A payment that succeeds on an order no longer payable (expired or
//! canceled while its call was out) is returned at once: a void of an
//! authorization, a reverse of a sale, `trigger: system`. The return is
//! recorded in the same database transaction as the success and sent right
//! after it; the order falls due as well, so that a return that never went
//! out (a crash) or that failed is made again by the order's due step.

use super::apply;
use crate::error::{Error, Result};
use obol_accounts::ledger::NewEntry;
use obol_core::Timestamp;
use obol_core::order::{TransactionKind, TransactionStatus};
use obol_core::time::MINUTE_MS;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::orders::{OrderRow, TransactionRow};

/// When an order with a late payment is looked at again.
const RETURN_RETRY_MS: i64 = 5 * MINUTE_MS;
/// Returns tried for one payment before it is left to staff (logged).
const RETURN_ATTEMPTS_MAX: usize = 10;

/// How a payment is returned: a void of an authorization, a reverse of a
/// sale; a zero-amount verification holds nothing.
fn return_kind(kind: TransactionKind) -> Option<TransactionKind> {
    match kind {
        TransactionKind::Sale => Some(TransactionKind::Reverse),
        TransactionKind::Authorize => Some(TransactionKind::Void),
        _ => None,
    }
}

/// Step 3 of a payment that succeeded on an order no longer payable: the
/// money taken is booked, and its return recorded, to be sent once this
/// transaction commits. The order keeps its status and falls due.
pub(crate) async fn late_success(
    state: &AppState,
    conn: &mut Conn,
    order: &mut OrderRow,
    txn: &TransactionRow,
    kind: TransactionKind,
    entries: &mut Vec<NewEntry>,
) -> Result<Option<TransactionRow>> {
    tracing::warn!(order_id = %order.id, transaction_id = %txn.id, status = %order.status,
        "a payment succeeded on an order that is no longer payable; returning it");
    if kind == TransactionKind::Sale {
        entries.push(if super::top_ups::is_top_up(order) {
            // Not the customer's credit: the order took no payment. Owed
            // back outside Obol until its return succeeds.
            super::top_ups::late_capture(order, txn)?
        } else {
            apply::capture_entry(order, txn)?
        });
    }
    let Some(return_kind) = return_kind(kind) else {
        return Ok(None);
    };
    order.due_at = Some(state.now().plus_ms(RETURN_RETRY_MS).as_ms());
    record_return(state, conn, order, txn, return_kind)
        .await
        .map(Some)
}

async fn record_return(
    state: &AppState,
    conn: &mut Conn,
    order: &mut OrderRow,
    payment: &TransactionRow,
    return_kind: TransactionKind,
) -> Result<TransactionRow> {
    let account =
        crate::connector_accounts::get(conn, &order.brand_id, &payment.connector_account_id)
            .await?
            .ok_or_else(|| Error::internal("connector account vanished"))?;
    let intent = super::payment::Intent {
        kind: return_kind,
        amount: payment.amount,
        trigger: "system",
        account: &account,
        payment_method: None,
        payment_transaction_id: Some(payment.id.clone()),
        refund_id: None,
    };
    super::payment::record_intent(state, conn, order, intent).await
}

/// The order's due step while it holds a late payment: a return still
/// open is waited for (sync settles it); a payment with no succeeded return
/// gets a new one, sent now. Done once every late payment is returned.
pub(crate) async fn return_late_payments(
    state: &AppState,
    order: &OrderRow,
) -> Result<Option<Timestamp>> {
    let later = Some(state.now().plus_ms(RETURN_RETRY_MS));
    let mut tx = state.db.begin().await?;
    let Some(mut order) =
        obol_store::orders::lock_order(&mut tx, state.db.backend, &order.brand_id, &order.id)
            .await?
    else {
        return Ok(None);
    };
    if order.in_flight_transaction_id.is_some() {
        return Ok(later);
    }
    let transactions = obol_store::orders::transactions_of_order(&mut tx, &order.id).await?;
    let Some((payment, return_kind, attempts)) = unreturned(&transactions) else {
        order.due_at = None;
        obol_store::orders::update_order(&mut tx, &order).await?;
        tx.commit().await?;
        return Ok(None);
    };
    if attempts >= RETURN_ATTEMPTS_MAX {
        tracing::error!(order_id = %order.id, transaction_id = %payment.id, attempts,
            "a late payment could not be returned; it needs a refund by staff");
        return Ok(None);
    }
    let returned = record_return(state, &mut tx, &mut order, payment, return_kind).await?;
    tx.commit().await?;
    super::operations::resend_follow_up(state, &returned).await?;
    Ok(later)
}

/// The first succeeded payment with no succeeded return, its return's
/// kind, and how many returns of it failed.
fn unreturned(
    transactions: &[TransactionRow],
) -> Option<(&TransactionRow, TransactionKind, usize)> {
    transactions.iter().find_map(|payment| {
        let return_kind = return_kind(TransactionKind::parse(&payment.kind)?)?;
        if payment.status != TransactionStatus::Succeeded.as_str() {
            return None;
        }
        let returns: Vec<&TransactionRow> = transactions
            .iter()
            .filter(|t| {
                t.payment_transaction_id.as_deref() == Some(payment.id.as_str())
                    && t.kind == return_kind.as_str()
            })
            .collect();
        if returns
            .iter()
            .any(|t| t.status == TransactionStatus::Succeeded.as_str())
        {
            return None;
        }
        Some((payment, return_kind, returns.len()))
    })
}
