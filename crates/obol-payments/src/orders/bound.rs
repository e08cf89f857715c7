//! What a keyed request made, found again by its retry.
//!
//! The order, or the payment transaction, that a request with an
//! `Idempotency-Key` makes is bound to the key in the same database
//! transaction that makes it (step 1). A retry therefore finds it whatever
//! became of the first attempt — a 500, a lost answer, a killed process —
//! and answers with it as it stands instead of moving money again; the
//! stored answer is only the shortcut for the common case.

use super::operations;
use super::payment;
use super::views::{Order, Refund};
use crate::error::{Error, Result};
use obol_core::order::TransactionStatus;
use obol_core::{BrandId, OrderId, TransactionId};
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::idempotency::{self, BoundObject};
use obol_store::orders::{OrderRow, TransactionRow};

/// Binds `object_id` to the request's key, in the caller's transaction.
pub(crate) async fn bind(
    conn: &mut Conn,
    key: Option<&IdempotencyKey>,
    object: BoundObject,
    object_id: &str,
    now_ms: i64,
) -> Result<()> {
    if let Some(key) = key {
        idempotency::bind(conn, &key.binding(), object, object_id, now_ms).await?;
    }
    Ok(())
}

/// The id of the object of that type the request's key made, if any; key reused
/// when another request made it (the key was freed by an answer that
/// changed nothing, then reused for something else).
async fn bound_id(
    conn: &mut Conn,
    key: &IdempotencyKey,
    object: BoundObject,
) -> Result<Option<String>> {
    match idempotency::bound(conn, &key.scope, &key.key, object).await? {
        Some((id, request_hash)) if request_hash == key.request_hash => Ok(Some(id)),
        Some(_) => Err(Error::KeyReused),
        None => Ok(None),
    }
}

/// The order a keyed create made, if a first attempt got that far; key reused if
/// the key made a payment of another request instead.
pub(crate) async fn order(
    state: &AppState,
    brand_id: &BrandId,
    key: Option<&IdempotencyKey>,
) -> Result<Option<OrderRow>> {
    let Some(key) = key else { return Ok(None) };
    let mut conn = state.db.pool.acquire().await?;
    let Some(id) = bound_id(&mut conn, key, BoundObject::Order).await? else {
        drop(conn);
        if has_transaction(state, Some(key)).await? {
            return Err(Error::KeyReused);
        }
        return Ok(None);
    };
    Ok(obol_store::orders::get_order(&mut conn, brand_id, &OrderId::from(id)).await?)
}

/// Whether the request's key made a payment transaction (read only: the
/// connector is not asked).
pub(crate) async fn has_transaction(
    state: &AppState,
    key: Option<&IdempotencyKey>,
) -> Result<bool> {
    let Some(key) = key else { return Ok(false) };
    let mut conn = state.db.pool.acquire().await?;
    Ok(bound_id(&mut conn, key, BoundObject::Transaction)
        .await?
        .is_some())
}

/// A transaction a first attempt made, as a retry finds it.
pub(crate) enum Found {
    /// Final, or open with the connector knowing of it (or unreachable):
    /// answered as it stands.
    Settled(TransactionRow),
    /// Open, and the connector has no record of it: the first attempt died
    /// before its call went out. The retry sends it again, under the same
    /// transaction id (the connector's idempotency key).
    Unsent(TransactionRow),
}

impl Found {
    pub(crate) fn transaction(&self) -> &TransactionRow {
        match self {
            Found::Settled(txn) | Found::Unsent(txn) => txn,
        }
    }
}

/// The payment transaction a keyed request made, if a first attempt got
/// that far, as it stands now: one still open is asked about first (sync),
/// so the answer is as current as the connector can make it. One whose
/// call may still be running somewhere is `InProgress`,
/// kept for the same request to ask again.
pub(crate) async fn transaction_as_it_stands(
    state: &AppState,
    brand_id: &BrandId,
    key: Option<&IdempotencyKey>,
) -> Result<Option<Found>> {
    let Some(key) = key else { return Ok(None) };
    let mut conn = state.db.pool.acquire().await?;
    let Some(id) = bound_id(&mut conn, key, BoundObject::Transaction).await? else {
        return Ok(None);
    };
    let Some(txn) =
        obol_store::orders::get_transaction(&mut conn, brand_id, &TransactionId::from(id)).await?
    else {
        return Ok(None);
    };
    drop(conn);
    if !TransactionStatus::parse(&txn.status).is_some_and(TransactionStatus::is_open) {
        return Ok(Some(Found::Settled(txn)));
    }
    let report = operations::ask(state, &txn).await?;
    if report.not_found {
        if operations::may_still_be_sent(state, &txn) {
            return Ok(Some(Found::Unsent(txn)));
        }
        if operations::call_may_be_running(state, &txn) {
            return Err(Error::InProgress);
        }
    }
    // An unreachable connector leaves it open: answered as it stands.
    let applied = super::apply::apply(state, &txn.id, report).await?;
    Ok(Some(Found::Settled(applied.transaction)))
}

/// The answer to a retried follow-up (capture, void, refund …) whose
/// transaction a first attempt made: sent again first if it never went out.
pub(crate) async fn settle_follow_up(state: &AppState, found: Found) -> Result<TransactionRow> {
    match found {
        Found::Settled(txn) => Ok(txn),
        Found::Unsent(txn) => operations::resend_follow_up(state, &txn).await,
    }
}

/// The answer to an order operation whose transaction a first attempt
/// made: what that attempt would have answered, from the rows as they are.
pub(crate) async fn answer_order(
    state: &AppState,
    brand_id: &BrandId,
    txn: &TransactionRow,
) -> Result<Order> {
    let mut conn = state.db.pool.acquire().await?;
    let order = obol_store::orders::get_order(&mut conn, brand_id, &txn.order_id)
        .await?
        .ok_or_else(|| Error::internal(format!("transaction {} has no order", txn.id)))?;
    drop(conn);
    payment::answer(state, &order, txn, None).await
}

/// The answer to a refund whose transaction a first attempt made.
pub(crate) async fn answer_refund(
    state: &AppState,
    brand_id: &BrandId,
    txn: &TransactionRow,
) -> Result<Refund> {
    let refund_id = txn
        .refund_id
        .as_ref()
        .ok_or_else(|| Error::internal(format!("transaction {} is no refund", txn.id)))?;
    let mut conn = state.db.pool.acquire().await?;
    let refund = obol_store::orders::get_refund(&mut conn, brand_id, refund_id)
        .await?
        .ok_or_else(|| Error::internal("refund vanished"))?;
    super::refunds::answer(txn, &refund)
}
