//! Idempotency records: the first request's answer, replayed to retries.

use crate::{Conn, Result};

/// A stored idempotency record.
#[derive(Debug, Clone)]
pub struct IdempotencyRow {
    pub scope: String,
    pub key: String,
    pub method: String,
    pub path: String,
    pub request_hash: String,
    pub status: String,
    pub response_status: Option<i64>,
    pub response_body: Option<String>,
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
    locked_at,
    created_at
});

const COLUMNS: &str = "scope, key, method, path, request_hash, status, response_status, response_body, locked_at, created_at";

/// Starts a record as `running`; false if one already exists for the key.
pub async fn try_start(conn: &mut Conn, row: &IdempotencyRow) -> Result<bool> {
    let result = crate::sql::query(
        "INSERT INTO idempotency_keys (scope, key, method, path, request_hash, status, locked_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'running', $6, $7) ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(&row.scope)
    .bind(&row.key)
    .bind(&row.method)
    .bind(&row.path)
    .bind(&row.request_hash)
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

/// Takes over a `running` record whose lock is older than `stale_before_ms`
/// (its process died); true if this caller now owns it.
pub async fn take_over_stale(
    conn: &mut Conn,
    scope: &str,
    key: &str,
    stale_before_ms: i64,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE idempotency_keys SET locked_at = $4 \
         WHERE scope = $1 AND key = $2 AND status = 'running' AND locked_at < $3",
    )
    .bind(scope)
    .bind(key)
    .bind(stale_before_ms)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Stores the final answer of a running record.
pub async fn finish(
    conn: &mut Conn,
    scope: &str,
    key: &str,
    response_status: i64,
    response_body: &str,
) -> Result<()> {
    crate::sql::query(
        "UPDATE idempotency_keys SET status = 'done', response_status = $3, response_body = $4 \
         WHERE scope = $1 AND key = $2 AND status = 'running'",
    )
    .bind(scope)
    .bind(key)
    .bind(response_status)
    .bind(response_body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops a running record whose answer is not kept, so the key can be reused.
pub async fn abandon(conn: &mut Conn, scope: &str, key: &str) -> Result<()> {
    crate::sql::query(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 'running'",
    )
    .bind(scope)
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes records created before `before_ms`; returns how many.
pub async fn purge(conn: &mut Conn, before_ms: i64) -> Result<u64> {
    let result = crate::sql::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(before_ms)
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}
