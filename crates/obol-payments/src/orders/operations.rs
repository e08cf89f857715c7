//! Operations on an existing payment: capture, increment, void, reverse, sync.

use super::apply::{self, Applied};
use super::payment::{self, Call, Report};
use super::views::Order;
use crate::error::{Error, Result};
use obol_connectors::{AccountContext, Connector, FollowUpRequest, Operation, SyncRequest};
use obol_core::BrandId;
use obol_core::Money;
use obol_core::OrderId;
use obol_core::order::{
    self as machine, AmountRefused, OrderCommand, OrderStatus, TransactionKind, TransactionStatus,
};
use obol_kernel::events;
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::state::AppState;
use obol_store::idempotency::BoundObject;
use obol_store::orders::{OrderRow, TransactionRow};
use std::sync::Arc;

/// The amount error of an amount the state machine refused.
pub(crate) fn amount_error(refused: AmountRefused) -> Error {
    match refused {
        AmountRefused::TooLarge(message) => {
            Error::invalid_request("amount_too_large", message).with_param("amount")
        }
        AmountRefused::Invalid(message) => Error::invalid("amount", message),
    }
}

/// The order's latest payment (authorize/sale/verify) that is succeeded, or
/// still open when `open_too`.
pub(crate) async fn payment_of(
    conn: &mut obol_store::Conn,
    order: &OrderRow,
    open_too: bool,
) -> Result<Option<TransactionRow>> {
    Ok(obol_store::orders::transactions_of_order(conn, &order.id)
        .await?
        .into_iter()
        .rev()
        .find(|t| {
            let status = TransactionStatus::parse(&t.status);
            TransactionKind::parse(&t.kind).is_some_and(TransactionKind::is_payment)
                && (status == Some(TransactionStatus::Succeeded)
                    || (open_too && status.is_some_and(TransactionStatus::is_open)))
        }))
}

/// Runs a follow-up operation through the three steps.
async fn follow_up(
    state: &AppState,
    brand_id: &BrandId,
    order_id: &OrderId,
    command: OrderCommand,
    trigger: &str,
    key: Option<&IdempotencyKey>,
    amount_for: impl FnOnce(&OrderRow) -> Result<i64>,
) -> Result<Order> {
    let kind = match command {
        OrderCommand::Capture => TransactionKind::Capture,
        OrderCommand::IncrementAuthorization => TransactionKind::IncrementAuthorization,
        OrderCommand::Reverse => TransactionKind::Reverse,
        _ => TransactionKind::Void,
    };
    let (operation, _) = follow_up_call(kind)?;
    if let Some(found) = super::bound::transaction_as_it_stands(state, brand_id, key).await? {
        let txn = found.transaction();
        if txn.order_id != order_id || txn.kind != kind.as_str() {
            return Err(Error::KeyReused);
        }
        let txn = super::bound::settle_follow_up(state, found).await?;
        return super::bound::answer_order(state, brand_id, &txn).await;
    }
    let mut tx = state.db.begin().await?;
    let mut order = super::lock(state, &mut tx, brand_id, order_id).await?;
    super::allow(&mut tx, &order, command).await?;
    let Some(payment) = payment_of(&mut tx, &order, kind == TransactionKind::Void).await? else {
        // A void before any payment: nothing to release at a connector.
        return cancel_unpaid(state, tx, order).await;
    };
    let amount = amount_for(&order)?;
    if super::wallet_payment::is_wallet(&payment) {
        // Paid from the wallet, the order is paid: only a reverse is left.
        if kind != TransactionKind::Reverse {
            return Err(Error::internal(format!(
                "{} on wallet-paid order {}",
                kind.as_str(),
                order.id
            )));
        }
        let order =
            super::wallet_payment::reverse(state, &mut tx, order, &payment, trigger, key).await?;
        tx.commit().await?;
        return Ok(order);
    }
    let (connector, context) = payment::connector_of(state, &mut tx, brand_id, &payment).await?;
    payment::require(&connector, operation)?;
    if kind == TransactionKind::Reverse && super::top_ups::is_top_up(&order) {
        super::top_ups::hold(state, &mut tx, &order, amount, state.now()).await?;
    }
    let account = crate::connector_accounts::get(&mut tx, brand_id, &payment.connector_account_id)
        .await?
        .ok_or_else(|| Error::internal("connector account vanished"))?;
    let intent = payment::Intent {
        kind,
        amount,
        trigger,
        account: &account,
        payment_method: None,
        payment_transaction_id: Some(payment.id.clone()),
        refund_id: None,
    };
    let txn = payment::record_intent(state, &mut tx, &mut order, intent).await?;
    let now_ms = txn.created_at;
    super::bound::bind(&mut tx, key, BoundObject::Transaction, &txn.id, now_ms).await?;
    tx.commit().await?;
    let Applied {
        order,
        transaction,
        rendered,
        ..
    } = send_follow_up(state, &connector, context, &txn, &payment).await?;
    payment::answer(state, &order, &transaction, rendered).await
}

/// How a follow-up request becomes a call.
type WrapCall = fn(FollowUpRequest) -> Call;

/// The connector operation of a follow-up transaction kind, and its call.
pub(crate) fn follow_up_call(kind: TransactionKind) -> Result<(Operation, WrapCall)> {
    Ok(match kind {
        TransactionKind::Capture => (Operation::Capture, Call::Capture),
        TransactionKind::IncrementAuthorization => {
            (Operation::IncrementAuthorization, Call::Increment)
        }
        TransactionKind::Void => (Operation::Void, Call::Void),
        TransactionKind::Reverse => (Operation::Reverse, Call::Reverse),
        TransactionKind::Refund => (Operation::Refund, Call::Refund),
        other => {
            return Err(Error::internal(format!(
                "{} is not a follow-up operation",
                other.as_str()
            )));
        }
    })
}

/// Steps 2 and 3 of the follow-up `txn` on `payment`.
pub(crate) async fn send_follow_up(
    state: &AppState,
    connector: &Arc<dyn Connector>,
    context: AccountContext,
    txn: &TransactionRow,
    payment: &TransactionRow,
) -> Result<Applied> {
    let kind = TransactionKind::parse(&txn.kind)
        .ok_or_else(|| Error::internal("corrupt transaction kind"))?;
    let (_, wrap) = follow_up_call(kind)?;
    let currency = obol_core::Currency::parse(&txn.currency)
        .ok_or_else(|| Error::internal("corrupt transaction currency"))?;
    let request = FollowUpRequest {
        account: context,
        transaction_id: txn.id.clone(),
        payment_transaction_id: payment.id.clone(),
        connector_payment_id: payment.connector_transaction_id.clone(),
        amount: Money {
            amount_minor: txn.amount,
            currency,
        },
    };
    let report = payment::call(state, connector, wrap(request), Some(txn.created_at)).await;
    apply::apply(state, &txn.id, report).await
}

async fn cancel_unpaid(
    state: &AppState,
    mut tx: obol_store::Tx,
    mut order: OrderRow,
) -> Result<Order> {
    let now = state.now();
    order.status = OrderStatus::Canceled.as_str().to_owned();
    order.due_at = None;
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(&mut tx, &order).await?;
    let view = super::views::render(state, &mut tx, &order).await?;
    events::record(
        &mut tx,
        &order.brand_id,
        "order.canceled",
        &order.id,
        order.customer_id.as_ref(),
        &view,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// Captures all or part of an authorization; the rest is released.
pub async fn capture(
    state: &AppState,
    brand_id: &BrandId,
    order_id: &OrderId,
    requested: Option<i64>,
    key: Option<&IdempotencyKey>,
) -> Result<Order> {
    follow_up(
        state,
        brand_id,
        order_id,
        OrderCommand::Capture,
        "api",
        key,
        |order| {
            machine::capture_amount(apply::order_amounts(order), requested).map_err(amount_error)
        },
    )
    .await
}

/// Raises an authorization to a new total.
pub async fn increment(
    state: &AppState,
    brand_id: &BrandId,
    order_id: &OrderId,
    new_total: i64,
    key: Option<&IdempotencyKey>,
) -> Result<Order> {
    super::amount("amount", new_total, false)?;
    follow_up(
        state,
        brand_id,
        order_id,
        OrderCommand::IncrementAuthorization,
        "api",
        key,
        |order| {
            machine::increment_amount(apply::order_amounts(order), new_total).map_err(amount_error)
        },
    )
    .await
}

/// Voids an order: releases its authorization, or cancels an unpaid order.
pub async fn void(
    state: &AppState,
    brand_id: &BrandId,
    order_id: &OrderId,
    trigger: &str,
    key: Option<&IdempotencyKey>,
) -> Result<Order> {
    // A system void (expiry) leaves the order `expired` rather than `canceled`.
    follow_up(
        state,
        brand_id,
        order_id,
        OrderCommand::Void,
        trigger,
        key,
        |order| Ok(order.amount_authorized.max(order.amount)),
    )
    .await
}

/// Reverses a paid, uncleared, unrefunded order: all of it goes back.
pub async fn reverse(
    state: &AppState,
    brand_id: &BrandId,
    order_id: &OrderId,
    key: Option<&IdempotencyKey>,
) -> Result<Order> {
    follow_up(
        state,
        brand_id,
        order_id,
        OrderCommand::Reverse,
        "api",
        key,
        |order| Ok(order.amount_captured),
    )
    .await
}

/// Asks the connector about every open transaction of the order and applies
/// what it says; an unreachable connector leaves them open (not an error).
pub async fn sync(state: &AppState, brand_id: &BrandId, order_id: &OrderId) -> Result<Order> {
    let mut conn = state.db.pool.acquire().await?;
    let order = obol_store::orders::get_order(&mut conn, brand_id, order_id)
        .await?
        .ok_or_else(|| Error::not_found("order", order_id))?;
    let open: Vec<TransactionRow> = obol_store::orders::transactions_of_order(&mut conn, &order.id)
        .await?
        .into_iter()
        .filter(|t| TransactionStatus::parse(&t.status).is_some_and(TransactionStatus::is_open))
        .collect();
    drop(conn);
    for txn in open {
        sync_transaction(state, &txn).await?;
    }
    super::get(state, brand_id, order_id).await
}

/// Syncs one open transaction; returns it as it is afterwards.
pub async fn sync_transaction(state: &AppState, txn: &TransactionRow) -> Result<TransactionRow> {
    let report = ask(state, txn).await?;
    // A connector that has not seen a young operation may still be handling
    // its call: "not found" is final only once the call must have ended.
    if report.not_found && call_may_be_running(state, txn) {
        return Ok(txn.clone());
    }
    let applied = apply::apply(state, &txn.id, report).await?;
    Ok(applied.transaction)
}

/// Whether the connector call of an open transaction may still be running.
pub(crate) fn call_may_be_running(state: &AppState, txn: &TransactionRow) -> bool {
    state.now().as_ms() - txn.created_at < payment::call_window_ms(state)
}

/// Whether an operation the connector has no record of can still be sent
/// and answered within its call window, so that sync's "not found" stays
/// final.
pub(crate) fn may_still_be_sent(state: &AppState, txn: &TransactionRow) -> bool {
    let timeout_ms = i64::try_from(state.connector_timeout_ms).unwrap_or(i64::MAX / 4);
    state.now().as_ms() - txn.created_at + timeout_ms < payment::call_window_ms(state)
}

/// Asks the connector how an open transaction stands.
pub(crate) async fn ask(state: &AppState, txn: &TransactionRow) -> Result<Report> {
    let mut conn = state.db.pool.acquire().await?;
    let (connector, context) = payment::connector_of(state, &mut conn, &txn.brand_id, txn).await?;
    let payment_connector_transaction_id = match &txn.payment_transaction_id {
        Some(id) => obol_store::orders::find_transaction(&mut conn, id)
            .await?
            .and_then(|payment| payment.connector_transaction_id),
        None => None,
    };
    drop(conn);
    let operation =
        Operation::parse(&txn.kind).ok_or_else(|| Error::internal("corrupt transaction kind"))?;
    let request = SyncRequest {
        account: context,
        transaction_id: txn.id.clone(),
        operation,
        connector_transaction_id: txn.connector_transaction_id.clone(),
        payment_connector_transaction_id,
        amount: obol_core::Currency::parse(&txn.currency).map(|currency| obol_core::Money {
            amount_minor: txn.amount,
            currency,
        }),
    };
    Ok(payment::call(state, &connector, Call::Sync(request), None).await)
}

/// Sends a recorded follow-up operation whose call no request is making:
/// the return of a payment that landed on an order no longer payable, or
/// one whose first attempt died before its call went out. Its transaction
/// id is the connector's idempotency key, so sending it again is safe.
pub(crate) async fn resend_follow_up(
    state: &AppState,
    txn: &TransactionRow,
) -> Result<TransactionRow> {
    let mut conn = state.db.pool.acquire().await?;
    let payment = match txn.payment_transaction_id.as_ref() {
        Some(id) => obol_store::orders::find_transaction(&mut conn, id).await?,
        None => None,
    }
    .ok_or_else(|| Error::internal(format!("transaction {} names no payment", txn.id)))?;
    let (connector, context) = payment::connector_of(state, &mut conn, &txn.brand_id, txn).await?;
    drop(conn);
    Ok(send_follow_up(state, &connector, context, txn, &payment)
        .await?
        .transaction)
}
