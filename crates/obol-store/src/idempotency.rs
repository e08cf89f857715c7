//! Idempotency records (the first request's answer, replayed to retries) and
//! bindings (what a keyed request made, written with the object itself).

use crate::{Conn, Result};

/// A stored idempotency record.
#[derive(Debug, Clone)]
pub struct IdempotencyRow {
    pub scope: String,
    pub key: String,
    pub method: String,
    pub path: String,
    /// Keyed fingerprint of the request; empty for records made before
    /// fingerprints were keyed.
    pub request_hash: String,
    /// `running`, `done` (answer stored) or `failed` (ended in a 500; the
    /// same request may run again).
    pub status: String,
    pub response_status: Option<i64>,
    pub response_body: Option<String>,
    /// 1 when `response_body` is sealed under the master key.
    pub response_sealed: i64,
    /// Random token of the request holding a `running` record.
    pub owner: Option<String>,
    /// Real time (ms) of the holder's last sign of life.
    pub locked_at: i64,
    pub created_at: i64,
}
crate::from_row!(IdempotencyRow {
    scope,
    key,
    method,
    path,
    request_hash,
    status,
    response_status,
    response_body,
    response_sealed,
    owner,
    locked_at,
    created_at
});

const COLUMNS: &str = "scope, key, method, path, request_hash, status, response_status, response_body, \
    response_sealed, owner, locked_at, created_at";

/// Starts a record as `running`, held by `row.owner`; false if one already
/// exists for the key.
pub async fn try_start(conn: &mut Conn, row: &IdempotencyRow) -> Result<bool> {
    let result = crate::sql::query(
        "INSERT INTO idempotency_keys (scope, key, method, path, request_hash, status, owner, locked_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8) ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(&row.scope)
    .bind(&row.key)
    .bind(&row.method)
    .bind(&row.path)
    .bind(&row.request_hash)
    .bind(&row.owner)
    .bind(row.locked_at)
    .bind(row.created_at)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get(conn: &mut Conn, scope: &str, key: &str) -> Result<Option<IdempotencyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM idempotency_keys WHERE scope = $1 AND key = $2");
    crate::sql::query_as(sql)
        .bind(scope)
        .bind(key)
        .fetch_optional(conn)
        .await
}

/// Takes a record for `owner`: one that `failed`, or one still `running`
/// whose holder gave no sign of life since `stale_before_ms` (it is gone).
/// True if `owner` now holds it.
pub async fn take_over(
    conn: &mut Conn,
    scope: &str,
    key: &str,
    owner: &str,
    stale_before_ms: i64,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE idempotency_keys SET status = 'running', owner = $3, locked_at = $5 \
         WHERE scope = $1 AND key = $2 AND (status = 'failed' OR (status = 'running' AND locked_at < $4))",
    )
    .bind(scope)
    .bind(key)
    .bind(owner)
    .bind(stale_before_ms)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Renews the holder's sign of life; false if `owner` no longer holds it.
pub async fn heartbeat(
    conn: &mut Conn,
    scope: &str,
    key: &str,
    owner: &str,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE idempotency_keys SET locked_at = $4 \
         WHERE scope = $1 AND key = $2 AND status = 'running' AND owner = $3",
    )
    .bind(scope)
    .bind(key)
    .bind(owner)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Stores the final answer of a record `owner` holds.
pub async fn finish(
    conn: &mut Conn,
    scope: &str,
    key: &str,
    owner: &str,
    response_status: i64,
    response_body: &str,
    sealed: bool,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE idempotency_keys SET status = 'done', response_status = $4, response_body = $5, \
         response_sealed = $6, owner = NULL \
         WHERE scope = $1 AND key = $2 AND status = 'running' AND owner = $3",
    )
    .bind(scope)
    .bind(key)
    .bind(owner)
    .bind(response_status)
    .bind(response_body)
    .bind(i64::from(sealed))
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks a record `owner` holds as `failed`: no answer is kept, and only the
/// same request may use the key again.
pub async fn release_failed(conn: &mut Conn, scope: &str, key: &str, owner: &str) -> Result<()> {
    crate::sql::query(
        "UPDATE idempotency_keys SET status = 'failed', owner = NULL \
         WHERE scope = $1 AND key = $2 AND status = 'running' AND owner = $3",
    )
    .bind(scope)
    .bind(key)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops a record `owner` holds whose answer is not kept, so the key can be
/// reused; a record another request has taken over is left alone.
pub async fn abandon(conn: &mut Conn, scope: &str, key: &str, owner: &str) -> Result<()> {
    crate::sql::query(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 'running' AND owner = $3",
    )
    .bind(scope)
    .bind(key)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes records and bindings created before `before_ms`; returns how
/// many records.
pub async fn purge(conn: &mut Conn, before_ms: i64) -> Result<u64> {
    let result = crate::sql::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(before_ms)
        .execute(&mut *conn)
        .await?;
    crate::sql::query("DELETE FROM idempotency_bindings WHERE created_at < $1")
        .bind(before_ms)
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}

/// What a keyed request made: `order` or `transaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundObject {
    Order,
    Transaction,
    /// A grant of wallet credit (a granted credit, a redeemed code).
    WalletCredit,
}

impl BoundObject {
    fn as_str(self) -> &'static str {
        match self {
            BoundObject::Order => "order",
            BoundObject::Transaction => "transaction",
            BoundObject::WalletCredit => "wallet_credit",
        }
    }
}

/// Binds an object to the request key that made it, in the caller's
/// transaction (queued with its other writes).
pub async fn bind(
    conn: &mut Conn,
    key: &Binding<'_>,
    object: BoundObject,
    object_id: &str,
    now_ms: i64,
) -> Result<()> {
    crate::sql::query(
        "INSERT INTO idempotency_bindings (scope, key, object_type, object_id, request_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(key.scope)
    .bind(key.key)
    .bind(object.as_str())
    .bind(object_id)
    .bind(key.request_hash)
    .bind(now_ms)
    .queue(conn)
    .await
}

/// A request key as bindings name it.
pub struct Binding<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    /// The keyed fingerprint of the request that made the object.
    pub request_hash: &'a str,
}

/// The object of that type the request key made, with the fingerprint of
/// the request that made it.
pub async fn bound(
    conn: &mut Conn,
    scope: &str,
    key: &str,
    object: BoundObject,
) -> Result<Option<(String, String)>> {
    crate::sql::query_as(
        "SELECT object_id, request_hash FROM idempotency_bindings \
         WHERE scope = $1 AND key = $2 AND object_type = $3",
    )
    .bind(scope)
    .bind(key)
    .bind(object.as_str())
    .fetch_optional(conn)
    .await
}
