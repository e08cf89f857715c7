//! Time-driven order work: expiry, authorization expiry, clearing, and the
//! sync of transactions whose outcome is not known yet.
//!
//! None of it is a job row: an order carries `due_at` (its next step, set by
//! the change that makes it due) and an open transaction `sync_at`. The
//! worker claims due rows with a lease and runs them here.

use super::apply::{self, brand_account};
use crate::error::{Error, Result};
use obol_accounts::ledger::{self, AccountKey, AccountType, NewEntry};
use obol_connectors::Operation;
use obol_core::Timestamp;
use obol_core::order::{OrderCommand, OrderStatus, TransactionStatus};
use obol_core::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use obol_core::{OrderId, TransactionId};
use obol_kernel::events;
use obol_kernel::jobs::DueWork;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::orders::{OrderRow, due};

/// An open transaction that sync cannot settle within this is reported as
/// `transaction.unresolved` and left to `POST /v1/orders/{id}/sync`.
const UNRESOLVED_AFTER_MS: i64 = 7 * DAY_MS;
/// Enough attempts for the backoff below to span the 7 days.
const SYNC_MAX_ATTEMPTS: i64 = 40;
/// Expiry and clearing wait for an operation in flight, which sync settles
/// within 7 days: every 5 minutes, for longer than that.
const IN_FLIGHT_RETRY_MS: i64 = 5 * MINUTE_MS;
/// A claimed item not finished within this is due again (its process died,
/// or the step failed and is tried again).
const LEASE_MS: i64 = 5 * MINUTE_MS;

/// Delay before the next sync attempt: 1 min, 5 min, 30 min, 2 h, then 6 h.
pub fn sync_backoff_ms(attempts: i64) -> i64 {
    match attempts {
        ..=1 => MINUTE_MS,
        2 => 5 * MINUTE_MS,
        3 => 30 * MINUTE_MS,
        4 => 2 * HOUR_MS,
        _ => 6 * HOUR_MS,
    }
}

/// Why a due step did not finish: try again at `retry_at`, or after the
/// lease when `None`.
struct NotDone {
    message: String,
    retry_at: Option<Timestamp>,
}

impl<E: std::fmt::Display> From<E> for NotDone {
    fn from(error: E) -> Self {
        NotDone {
            message: error.to_string(),
            retry_at: None,
        }
    }
}

/// The payments' due work: orders whose `due_at` has come, and open
/// transactions whose `sync_at` has.
pub struct DueOrders;

#[async_trait::async_trait]
impl DueWork for DueOrders {
    async fn next_due(&self, conn: &mut Conn, until_ms: i64) -> obol_store::Result<Option<i64>> {
        due::next(conn, until_ms).await
    }

    async fn run_due(&self, state: &AppState, limit: i64) -> obol_store::Result<usize> {
        run_due(state, limit).await
    }
}

/// Runs up to `limit` due orders and syncs at the current time; returns how
/// many it claimed.
async fn run_due(state: &AppState, limit: i64) -> obol_store::Result<usize> {
    let now = state.now();
    let mut conn = state.db.pool.acquire().await?;
    let orders = due::orders(&mut conn, now.as_ms(), limit).await?;
    let syncs = due::syncs(&mut conn, now.as_ms(), limit).await?;
    drop(conn);
    let lease = now.as_ms() + LEASE_MS;
    let mut ran = 0;
    for (id, seen) in orders {
        let claimed =
            due::move_order(&mut *state.db.write_conn().await?, &id, seen, Some(lease)).await?;
        if claimed {
            ran += 1;
            let outcome = order_step(state, &OrderId::from(id.as_str())).await;
            let next = settle(state, "order", &id, outcome);
            let mut conn = state.db.write_conn().await?;
            due::move_order(&mut conn, &id, lease, next.map(Timestamp::as_ms)).await?;
        }
    }
    for (id, seen) in syncs {
        let claimed = due::claim_sync(&mut *state.db.write_conn().await?, &id, seen, lease).await?;
        if claimed {
            ran += 1;
            let outcome = sync(state, &id).await;
            let next = settle(state, "transaction", &id, outcome);
            let mut conn = state.db.write_conn().await?;
            due::defer_sync(&mut conn, &id, lease, next.map(Timestamp::as_ms)).await?;
        }
    }
    Ok(ran)
}

/// When the item is due next: `None` when its step is done (or no longer
/// applies), the lease's end when it failed.
fn settle(
    state: &AppState,
    what: &str,
    id: &str,
    outcome: Result<Option<Timestamp>, NotDone>,
) -> Option<Timestamp> {
    match outcome {
        Ok(next) => next,
        Err(not_done) => {
            if not_done.retry_at.is_none() {
                tracing::warn!(what, id, error = %not_done.message, "due step failed; retried after its lease");
            }
            Some(
                not_done
                    .retry_at
                    .unwrap_or_else(|| state.now().plus_ms(LEASE_MS)),
            )
        }
    }
}

/// The step an order's status makes due, run now. A step that changes the
/// order writes its next `due_at` itself; `Ok(None)` ends the claim.
async fn order_step(state: &AppState, order_id: &OrderId) -> Result<Option<Timestamp>, NotDone> {
    let mut conn = state.db.pool.acquire().await?;
    let order = obol_store::orders::find_order(&mut conn, order_id).await?;
    drop(conn);
    let Some(order) = order else { return Ok(None) };
    match OrderStatus::parse(&order.status) {
        Some(OrderStatus::InProgress | OrderStatus::Processing | OrderStatus::RequiresAction) => {
            expire(state, &order).await
        }
        Some(OrderStatus::Authorized) => expire_authorization(state, &order).await,
        // Only due when a payment landed after the order stopped being payable.
        Some(OrderStatus::Expired | OrderStatus::Canceled) => {
            super::late::return_late_payments(state, &order)
                .await
                .map_err(not_done)
        }
        _ if order.captured_at.is_some() && order.cleared_at.is_none() => {
            clear(state, &order).await
        }
        _ => Ok(None),
    }
}

/// Checks a time-driven `command`. One refused only until an open operation
/// settles (one in flight, or a processing order's payment) is tried again
/// later: an open order always has a next due time. `Ok(false)`: it no
/// longer applies.
async fn allowed_or_waits(
    state: &AppState,
    conn: &mut Conn,
    order: &OrderRow,
    command: OrderCommand,
) -> Result<bool, NotDone> {
    let facts = super::facts(conn, order, command).await.map_err(not_done)?;
    let status = super::status(order).map_err(not_done)?;
    if obol_core::order::check(status, command, facts).is_ok() {
        return Ok(true);
    }
    if obol_core::order::waits_for_connector(status, command, facts) {
        return Err(waits(state, order));
    }
    Ok(false)
}

/// The step comes back in a while: the order waits for its connector.
fn waits(state: &AppState, order: &OrderRow) -> NotDone {
    let waiting_for = order
        .in_flight_transaction_id
        .as_deref()
        .unwrap_or("its open payment");
    NotDone {
        message: format!("order {} waits for {waiting_for}", order.id),
        retry_at: Some(state.now().plus_ms(IN_FLIGHT_RETRY_MS)),
    }
}

/// A void that answered without ending the order (its connector has not
/// answered finally): the step comes back, so the order is never left
/// without a next due time.
fn voided(state: &AppState, order: super::Order) -> Result<Option<Timestamp>, NotDone> {
    match OrderStatus::parse(&order.status) {
        Some(OrderStatus::Expired | OrderStatus::Canceled) => Ok(None),
        _ => Err(NotDone {
            message: format!("order {} waits for its void", order.id),
            retry_at: Some(state.now().plus_ms(IN_FLIGHT_RETRY_MS)),
        }),
    }
}

/// A step that failed: tried again after the lease. A fault of the server
/// is logged as an error, as the API logs one.
fn not_done(error: impl Into<Error>) -> NotDone {
    let error = error.into();
    if error.is_server_fault() {
        tracing::error!(%error, "internal error");
    }
    NotDone {
        message: error.to_string(),
        retry_at: None,
    }
}

/// Moves an unpaid order to `expired` at `expires_at`. A processing order
/// waits for its open payment, which may still succeed (then it is paid).
async fn expire(state: &AppState, seen: &OrderRow) -> Result<Option<Timestamp>, NotDone> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(mut order) =
        obol_store::orders::lock_order(&mut tx, state.db.backend, &seen.brand_id, &seen.id).await?
    else {
        return Ok(None);
    };
    if now.as_ms() < order.expires_at {
        return Ok(Some(Timestamp::from_ms(order.expires_at)));
    }
    if !allowed_or_waits(state, &mut tx, &order, OrderCommand::Expire).await? {
        return Ok(None);
    }
    if order.status == OrderStatus::RequiresAction.as_str() {
        // An open challenge is released at the connector first. A provider
        // that cannot void (a crypto invoice) ends it on its own, and its
        // sync or notification then leaves the order to expire: it is
        // looked at again, not voided in vain.
        let payment = super::operations::payment_of(&mut tx, &order, true)
            .await
            .map_err(not_done)?;
        if let Some(payment) = payment {
            let (connector, _) =
                super::payment::connector_of(state, &mut tx, &order.brand_id, &payment)
                    .await
                    .map_err(not_done)?;
            if !connector.capabilities().supports(Operation::Void) {
                return Ok(Some(now.plus_ms(IN_FLIGHT_RETRY_MS)));
            }
        }
        tx.rollback().await?;
        let order = super::operations::void(state, &order.brand_id, &order.id, "system", None)
            .await
            .map_err(not_done)?;
        return voided(state, order);
    }
    order.status = OrderStatus::Expired.as_str().to_owned();
    order.due_at = None;
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(&mut tx, &order).await?;
    let view = super::views::render(state, &mut tx, &order)
        .await
        .map_err(not_done)?;
    events::record(
        &mut tx,
        &order.brand_id,
        "order.expired",
        &order.id,
        order.customer_id.as_ref(),
        &view,
        now,
    )
    .await
    .map_err(not_done)?;
    tx.commit().await?;
    Ok(None)
}

/// Voids an authorization not captured by `capture_before` (`trigger: system`).
async fn expire_authorization(
    state: &AppState,
    order: &OrderRow,
) -> Result<Option<Timestamp>, NotDone> {
    if let Some(capture_before) = order.capture_before
        && state.now().as_ms() < capture_before
    {
        return Ok(Some(Timestamp::from_ms(capture_before)));
    }
    match super::operations::void(state, &order.brand_id, &order.id, "system", None).await {
        Ok(order) => voided(state, order),
        // Another operation is in flight: try again shortly.
        Err(Error::InvalidState(message)) => Err(NotDone {
            message,
            retry_at: Some(state.now().plus_ms(IN_FLIGHT_RETRY_MS)),
        }),
        Err(error) => Err(not_done(error)),
    }
}

/// Clearing: moves captured − refunded from pending to available (less a
/// reseller's commission), sets `cleared_at`, and completes a paid order.
/// What open or lost disputes took from pending stays out of the move; an
/// open one then counts as taken from available, where a win gives it back.
async fn clear(state: &AppState, seen: &OrderRow) -> Result<Option<Timestamp>, NotDone> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(mut order) =
        obol_store::orders::lock_order(&mut tx, state.db.backend, &seen.brand_id, &seen.id).await?
    else {
        return Ok(None);
    };
    if !allowed_or_waits(state, &mut tx, &order, OrderCommand::Clear).await? {
        return Ok(None);
    }
    // A top-up's money is the customer's credit: the brand has none to clear.
    let net = if super::top_ups::is_top_up(&order) {
        0
    } else {
        order.amount_captured - order.amount_refunded
    };
    if net > 0 {
        let disputed = obol_store::disputes::held_from_pending(&mut tx, &order.id).await?;
        let entry = clearing_entry(&mut tx, &order, net, disputed)
            .await
            .map_err(not_done)?;
        // Disputes may hold all of it, and there may be no commission.
        if entry.postings.iter().any(|(_, amount)| *amount != 0) {
            ledger::post(&mut tx, &state.caches, entry, now)
                .await
                .map_err(not_done)?;
        }
        if disputed > 0 {
            obol_store::disputes::hold_from_available(&mut tx, &order.id).await?;
        }
    }
    let previous = order.status.clone();
    order.cleared_at = Some(now.as_ms());
    order.due_at = None;
    if order.status == OrderStatus::Paid.as_str() {
        order.status = OrderStatus::Completed.as_str().to_owned();
    }
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(&mut tx, &order).await?;
    if order.status != previous {
        let view = super::views::render(state, &mut tx, &order)
            .await
            .map_err(not_done)?;
        events::record(
            &mut tx,
            &order.brand_id,
            "order.completed",
            &order.id,
            order.customer_id.as_ref(),
            &view,
            now,
        )
        .await
        .map_err(not_done)?;
    }
    tx.commit().await?;
    Ok(None)
}

/// The clearing entry of `net` (captured − refunded) of which `disputed` is
/// held by disputes. The reseller's commission is on all of `net`: as with
/// a provider's platform fees, a dispute is the selling brand's to bear.
async fn clearing_entry(
    conn: &mut Conn,
    order: &OrderRow,
    net: i64,
    disputed: i64,
) -> Result<NewEntry> {
    let currency = apply::currency_of(order)?;
    let brand = obol_store::brands::get(conn, &order.brand_id)
        .await?
        .ok_or_else(|| Error::internal("brand vanished"))?;
    let commission = match &brand.parent_brand_id {
        Some(_) if brand.commission_rate_bps > 0 => {
            obol_core::ledger::commission_minor(net, brand.commission_rate_bps)
        }
        _ => 0,
    };
    let moved = (net - disputed).max(0);
    let mut postings = vec![
        (
            brand_account(order, AccountType::BrandPending, currency),
            moved,
        ),
        (
            brand_account(order, AccountType::BrandAvailable, currency),
            -(moved - commission),
        ),
    ];
    if let (Some(parent), true) = (&brand.parent_brand_id, commission > 0) {
        let account = AccountKey {
            brand_id: parent.clone(),
            account_type: AccountType::Commission,
            currency,
            owner_id: None,
        };
        postings.push((account, -commission));
    }
    Ok(NewEntry {
        brand_id: order.brand_id.clone(),
        description: format!("clearing of {}", order.id),
        order_id: Some(order.id.clone()),
        customer_id: order.customer_id.clone(),
        postings,
    })
}

/// Asks the connector about an open transaction; tried again on the sync
/// backoff until settled, and reported as unresolved after 7 days.
async fn sync(
    state: &AppState,
    transaction_id: &TransactionId,
) -> Result<Option<Timestamp>, NotDone> {
    let mut conn = state.db.pool.acquire().await?;
    let Some(txn) = obol_store::orders::find_transaction(&mut conn, transaction_id).await? else {
        return Ok(None);
    };
    drop(conn);
    if !TransactionStatus::parse(&txn.status).is_some_and(TransactionStatus::is_open) {
        return Ok(None);
    }
    let after = super::operations::sync_transaction(state, &txn)
        .await
        .map_err(not_done)?;
    if !TransactionStatus::parse(&after.status).is_some_and(TransactionStatus::is_open) {
        return Ok(None);
    }
    let now = state.now();
    if now.as_ms() - after.created_at >= UNRESOLVED_AFTER_MS
        || txn.sync_attempts >= SYNC_MAX_ATTEMPTS
    {
        let mut tx = state.db.begin().await?;
        let view = super::views::Transaction::try_from(&after).map_err(not_done)?;
        events::record(
            &mut tx,
            &after.brand_id,
            "transaction.unresolved",
            &after.id,
            None,
            &view,
            now,
        )
        .await
        .map_err(not_done)?;
        tx.commit().await?;
        return Ok(None);
    }
    Ok(Some(now.plus_ms(sync_backoff_ms(txn.sync_attempts))))
}
