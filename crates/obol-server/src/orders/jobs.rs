//! Time-driven order work: expiry, authorization expiry, clearing, and the
//! sync of transactions whose outcome is not known yet.

use super::apply::{self, brand_account};
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::jobs::{JobError, JobRegistry, new_job};
use crate::ledger::{self, AccountKey, AccountType, NewEntry};
use crate::state::AppState;
use obol_core::Timestamp;
use obol_core::order::{OrderCommand, OrderStatus};
use obol_core::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use obol_store::Conn;
use obol_store::jobs::JobRow;
use obol_store::orders::{OrderRow, TransactionRow};
use serde_json::json;

const EXPIRE: &str = "order.expire";
const EXPIRE_AUTHORIZATION: &str = "order.expire_authorization";
const CLEAR: &str = "order.clear";
const SYNC: &str = "transaction.sync";

/// An open transaction that sync cannot settle within this is reported as
/// `transaction.unresolved` and left to `POST /v1/orders/{id}/sync`.
const UNRESOLVED_AFTER_MS: i64 = 7 * DAY_MS;
/// Enough attempts for the backoff below to span the 7 days.
const SYNC_MAX_ATTEMPTS: i64 = 40;
/// Expiry and clearing wait for an operation in flight, which sync settles
/// within 7 days: every 5 minutes, for longer than that.
const IN_FLIGHT_RETRY_MS: i64 = 5 * MINUTE_MS;
const ORDER_JOB_MAX_ATTEMPTS: i64 = 3_000;

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

/// Adds the order jobs to the registry.
pub fn register(registry: &mut JobRegistry) {
    registry.register(
        EXPIRE,
        |state, job| async move { expire(&state, &job).await },
    );
    registry.register(EXPIRE_AUTHORIZATION, |state, job| async move {
        expire_authorization(&state, &job).await
    });
    registry.register(CLEAR, |state, job| async move { clear(&state, &job).await });
    registry.register(SYNC, |state, job| async move { sync(&state, &job).await });
}

/// Schedules the order's job of `kind` (one pending per order and kind).
async fn schedule(
    conn: &mut Conn,
    kind: &str,
    order: &OrderRow,
    at: Timestamp,
    now: Timestamp,
) -> ApiResult<()> {
    let mut job = new_job(kind, json!({"order_id": order.id}), at);
    job.unique_key = Some(format!("{kind}:{}", order.id));
    job.brand_id = Some(order.brand_id.clone());
    job.max_attempts = ORDER_JOB_MAX_ATTEMPTS;
    crate::jobs::enqueue(conn, &job, now).await.map(drop)
}

/// Cancels the pending job of `kind` for an order or transaction, if any.
async fn cancel(conn: &mut Conn, kind: &str, object_id: &str, now: Timestamp) -> ApiResult<()> {
    obol_store::jobs::cancel_by_key(conn, &format!("{kind}:{object_id}"), now.as_ms()).await?;
    Ok(())
}

pub async fn schedule_expiry(conn: &mut Conn, order: &OrderRow, now: Timestamp) -> ApiResult<()> {
    schedule(
        conn,
        EXPIRE,
        order,
        Timestamp::from_ms(order.expires_at),
        now,
    )
    .await
}

pub async fn cancel_expiry(conn: &mut Conn, order_id: &str, now: Timestamp) -> ApiResult<()> {
    cancel(conn, EXPIRE, order_id, now).await
}

pub async fn schedule_authorization_expiry(
    conn: &mut Conn,
    order: &OrderRow,
    at: Timestamp,
    now: Timestamp,
) -> ApiResult<()> {
    schedule(conn, EXPIRE_AUTHORIZATION, order, at, now).await
}

pub async fn cancel_authorization_expiry(
    conn: &mut Conn,
    order_id: &str,
    now: Timestamp,
) -> ApiResult<()> {
    cancel(conn, EXPIRE_AUTHORIZATION, order_id, now).await
}

pub async fn schedule_clearing(
    conn: &mut Conn,
    order: &OrderRow,
    at: Timestamp,
    now: Timestamp,
) -> ApiResult<()> {
    schedule(conn, CLEAR, order, at, now).await
}

pub async fn cancel_clearing(conn: &mut Conn, order_id: &str, now: Timestamp) -> ApiResult<()> {
    cancel(conn, CLEAR, order_id, now).await
}

pub async fn schedule_sync(
    conn: &mut Conn,
    txn: &TransactionRow,
    at: Timestamp,
    now: Timestamp,
) -> ApiResult<()> {
    let mut job = new_job(SYNC, json!({"transaction_id": txn.id}), at);
    job.unique_key = Some(format!("{SYNC}:{}", txn.id));
    job.brand_id = Some(txn.brand_id.clone());
    job.max_attempts = SYNC_MAX_ATTEMPTS;
    crate::jobs::enqueue(conn, &job, now).await.map(drop)
}

pub async fn cancel_sync(conn: &mut Conn, transaction_id: &str, now: Timestamp) -> ApiResult<()> {
    cancel(conn, SYNC, transaction_id, now).await
}

fn payload_id(job: &JobRow, field: &str) -> Result<String, JobError> {
    let payload: serde_json::Value = serde_json::from_str(&job.payload)?;
    payload[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| JobError::new(format!("job payload lacks {field}")))
}

/// A time-driven change refused only because another operation on the order
/// is waiting for its connector is tried again later; otherwise it no
/// longer applies.
fn retry_if_in_flight(order: &OrderRow) -> Result<(), JobError> {
    match &order.in_flight_transaction_id {
        Some(transaction_id) => Err(JobError {
            message: format!("order {} waits for transaction {transaction_id}", order.id),
            retry_in_ms: Some(IN_FLIGHT_RETRY_MS),
        }),
        None => Ok(()),
    }
}

fn job_error(error: ApiError) -> JobError {
    JobError::new(error.message)
}

/// Moves an unpaid order to `expired` at `expires_at`.
async fn expire(state: &AppState, job: &JobRow) -> Result<(), JobError> {
    let order_id = payload_id(job, "order_id")?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(mut order) =
        obol_store::orders::lock_order(&mut tx, state.db.backend, &order_id).await?
    else {
        return Ok(());
    };
    if super::allow(&mut tx, &order, OrderCommand::Expire)
        .await
        .is_err()
    {
        return retry_if_in_flight(&order);
    }
    if order.status == OrderStatus::RequiresAction.as_str() {
        // An open challenge is released at the connector first.
        tx.rollback().await?;
        return super::operations::void(state, &order.brand_id, &order.id, "system")
            .await
            .map(drop)
            .map_err(job_error);
    }
    order.status = OrderStatus::Expired.as_str().to_owned();
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(&mut tx, &order).await?;
    let view = super::views::render(state, &mut tx, &order)
        .await
        .map_err(job_error)?;
    events::record(
        &mut tx,
        &order.brand_id,
        "order.expired",
        &order.id,
        order.customer_id.as_deref(),
        &view,
        now,
    )
    .await
    .map_err(job_error)?;
    tx.commit().await?;
    Ok(())
}

/// Voids an authorization not captured by `capture_before` (`trigger: system`).
async fn expire_authorization(state: &AppState, job: &JobRow) -> Result<(), JobError> {
    let order_id = payload_id(job, "order_id")?;
    let mut conn = state.db.pool.acquire().await?;
    let Some(order) =
        obol_store::orders::lock_order(&mut conn, state.db.backend, &order_id).await?
    else {
        return Ok(());
    };
    drop(conn);
    if order.status != OrderStatus::Authorized.as_str() {
        return Ok(());
    }
    match super::operations::void(state, &order.brand_id, &order.id, "system").await {
        Ok(_) => Ok(()),
        // Another operation is in flight: try again shortly.
        Err(error) if error.code == "invalid_state" => Err(JobError {
            message: error.message,
            retry_in_ms: Some(IN_FLIGHT_RETRY_MS),
        }),
        Err(error) => Err(job_error(error)),
    }
}

/// Clearing: moves captured − refunded from pending to available (less a
/// reseller's commission), sets `cleared_at`, and completes a paid order.
async fn clear(state: &AppState, job: &JobRow) -> Result<(), JobError> {
    let order_id = payload_id(job, "order_id")?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(mut order) =
        obol_store::orders::lock_order(&mut tx, state.db.backend, &order_id).await?
    else {
        return Ok(());
    };
    if super::allow(&mut tx, &order, OrderCommand::Clear)
        .await
        .is_err()
    {
        return retry_if_in_flight(&order);
    }
    let net = order.amount_captured - order.amount_refunded;
    if net > 0 {
        let entry = clearing_entry(&mut tx, &order, net)
            .await
            .map_err(job_error)?;
        ledger::post(&mut tx, entry, now).await.map_err(job_error)?;
    }
    let previous = order.status.clone();
    order.cleared_at = Some(now.as_ms());
    if order.status == OrderStatus::Paid.as_str() {
        order.status = OrderStatus::Completed.as_str().to_owned();
    }
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(&mut tx, &order).await?;
    if order.status != previous {
        let view = super::views::render(state, &mut tx, &order)
            .await
            .map_err(job_error)?;
        events::record(
            &mut tx,
            &order.brand_id,
            "order.completed",
            &order.id,
            order.customer_id.as_deref(),
            &view,
            now,
        )
        .await
        .map_err(job_error)?;
    }
    tx.commit().await?;
    Ok(())
}

async fn clearing_entry(conn: &mut Conn, order: &OrderRow, net: i64) -> ApiResult<NewEntry> {
    let currency = apply::currency_of(order)?;
    let brand = obol_store::brands::get(conn, &order.brand_id)
        .await?
        .ok_or_else(|| ApiError::internal("brand vanished"))?;
    let commission = match &brand.parent_brand_id {
        Some(_) if brand.commission_rate_bps > 0 => {
            obol_core::ledger::commission_minor(net, brand.commission_rate_bps)
        }
        _ => 0,
    };
    let mut postings = vec![
        (
            brand_account(order, AccountType::BrandPending, currency),
            net,
        ),
        (
            brand_account(order, AccountType::BrandAvailable, currency),
            -(net - commission),
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

/// Asks the connector about an open transaction; retried on the sync backoff
/// until settled, and reported as unresolved after 7 days.
async fn sync(state: &AppState, job: &JobRow) -> Result<(), JobError> {
    let transaction_id = payload_id(job, "transaction_id")?;
    let mut conn = state.db.pool.acquire().await?;
    let Some(txn) = obol_store::orders::find_transaction(&mut conn, &transaction_id).await? else {
        return Ok(());
    };
    drop(conn);
    if !obol_core::order::TransactionStatus::parse(&txn.status).is_some_and(|s| s.is_open()) {
        return Ok(());
    }
    let after = super::operations::sync_transaction(state, &txn)
        .await
        .map_err(job_error)?;
    if !obol_core::order::TransactionStatus::parse(&after.status).is_some_and(|s| s.is_open()) {
        return Ok(());
    }
    let now = state.now();
    if now.as_ms() - after.created_at >= UNRESOLVED_AFTER_MS || job.attempts >= job.max_attempts {
        let mut tx = state.db.begin().await?;
        let view = super::views::Transaction::try_from(&after).map_err(job_error)?;
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
        .map_err(job_error)?;
        tx.commit().await?;
        return Ok(());
    }
    Err(JobError {
        message: format!("transaction {} is still {}", after.id, after.status),
        retry_in_ms: Some(sync_backoff_ms(job.attempts)),
    })
}
