//! Due work: orders whose `due_at` and open transactions whose `sync_at` has
//! come. Each item is claimed by moving its time to a lease, so one process
//! runs it; a process that dies leaves it due again when the lease ends.

use crate::{Conn, Result};
use obol_core::{OrderId, TransactionId};

/// Up to `limit` orders due at `now`, soonest first, with their due time.
pub async fn orders(conn: &mut Conn, now_ms: i64, limit: i64) -> Result<Vec<(OrderId, i64)>> {
    crate::sql::query_as(
        "SELECT id, due_at FROM orders WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Moves an order's due time from `from` to `to` (`None` ends it):
/// claims it with `to` a lease, or sets its next time after its step.
/// False if another process or a change of the order moved it first.
pub async fn move_order(conn: &mut Conn, id: &OrderId, from: i64, to: Option<i64>) -> Result<bool> {
    let result = crate::sql::query("UPDATE orders SET due_at = $3 WHERE id = $1 AND due_at = $2")
        .bind(id)
        .bind(from)
        .bind(to)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Up to `limit` transactions whose sync is due at `now`.
pub async fn syncs(conn: &mut Conn, now_ms: i64, limit: i64) -> Result<Vec<(TransactionId, i64)>> {
    crate::sql::query_as(
        "SELECT id, sync_at FROM transactions WHERE sync_at <= $1 ORDER BY sync_at, id LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Claims a transaction's sync seen due at `seen` until `lease`, counting
/// the attempt; false if another process or a change got there first.
pub async fn claim_sync(
    conn: &mut Conn,
    id: &TransactionId,
    seen: i64,
    lease: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE transactions SET sync_at = $3, sync_attempts = sync_attempts + 1 \
         WHERE id = $1 AND sync_at = $2",
    )
    .bind(id)
    .bind(seen)
    .bind(lease)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Sets (or with `None` ends) a transaction's next sync, unless step 3
/// moved it meanwhile.
pub async fn defer_sync(
    conn: &mut Conn,
    id: &TransactionId,
    claimed: i64,
    at: Option<i64>,
) -> Result<()> {
    crate::sql::query("UPDATE transactions SET sync_at = $3 WHERE id = $1 AND sync_at = $2")
        .bind(id)
        .bind(claimed)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The earliest due time of any order or sync up to `until`.
pub async fn next(conn: &mut Conn, until_ms: i64) -> Result<Option<i64>> {
    let order: Option<i64> =
        crate::sql::query_scalar("SELECT MIN(due_at) FROM orders WHERE due_at <= $1")
            .bind(until_ms)
            .fetch_one(&mut *conn)
            .await?;
    let sync: Option<i64> =
        crate::sql::query_scalar("SELECT MIN(sync_at) FROM transactions WHERE sync_at <= $1")
            .bind(until_ms)
            .fetch_one(conn)
            .await?;
    Ok(order.into_iter().chain(sync).min())
}
