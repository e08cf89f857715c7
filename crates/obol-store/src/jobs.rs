//! The durable job queue: claimed with leases, retried with backoff.

use crate::{Backend, Conn, Result};
use obol_core::{BrandId, JobId};

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: String,
    pub brand_id: Option<BrandId>,
    pub run_at_ms: i64,
    pub max_attempts: i64,
    /// At most one pending job per key; enqueueing another is a no-op.
    pub unique_key: Option<String>,
}

/// A stored job.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: JobId,
    pub kind: String,
    pub payload: String,
    pub brand_id: Option<BrandId>,
    pub status: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub unique_key: Option<String>,
}
crate::from_row!(JobRow {
    id,
    kind,
    payload,
    brand_id,
    status,
    run_at,
    attempts,
    max_attempts,
    lease_until,
    last_error,
    unique_key
});

const COLUMNS: &str = "id, kind, payload, brand_id, status, run_at, attempts, max_attempts, lease_until, last_error, unique_key";

/// Enqueues a job; returns false when a job with the same `unique_key` is
/// already pending.
pub async fn enqueue(conn: &mut Conn, id: &JobId, job: &NewJob, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "INSERT INTO jobs (id, kind, payload, brand_id, status, run_at, attempts, max_attempts, \
         unique_key, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6, $7, $8, $8) \
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(&job.kind)
    .bind(&job.payload)
    .bind(&job.brand_id)
    .bind(job.run_at_ms)
    .bind(job.max_attempts)
    .bind(&job.unique_key)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Claims up to `limit` due jobs (pending and due, or running with an expired
/// lease), earliest first, leasing them until `lease_until_ms`.
pub async fn claim_due(
    conn: &mut Conn,
    backend: Backend,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> Result<Vec<JobRow>> {
    let sql = format!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = $2, updated_at = $1 \
         WHERE id IN (SELECT id FROM jobs WHERE (status = 'pending' AND run_at <= $1) \
         OR (status = 'running' AND lease_until < $1) ORDER BY run_at, id LIMIT $3{}) \
         RETURNING {COLUMNS}",
        backend.skip_locked()
    );
    let mut rows: Vec<JobRow> = crate::sql::query_as(sql)
        .bind(now_ms)
        .bind(lease_until_ms)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
    Ok(rows)
}

/// Marks a claimed job done; false if the lease was lost meanwhile.
pub async fn complete(conn: &mut Conn, id: &JobId, attempts: i64, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE jobs SET status = 'done', lease_until = NULL, updated_at = $3 \
         WHERE id = $1 AND status = 'running' AND attempts = $2",
    )
    .bind(id)
    .bind(attempts)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records a failed attempt: retried at `retry_at_ms`, or `failed` for good
/// when `retry_at_ms` is `None`.
pub async fn fail(
    conn: &mut Conn,
    id: &JobId,
    attempts: i64,
    error: &str,
    retry_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE jobs SET status = CASE WHEN $4 IS NULL THEN 'failed' ELSE 'pending' END, \
         run_at = COALESCE($4, run_at), last_error = $3, lease_until = NULL, updated_at = $5 \
         WHERE id = $1 AND status = 'running' AND attempts = $2",
    )
    .bind(id)
    .bind(attempts)
    .bind(error)
    .bind(retry_at_ms)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Gives a claimed job back (on shutdown) without counting the attempt.
pub async fn release(conn: &mut Conn, id: &JobId, attempts: i64, now_ms: i64) -> Result<()> {
    crate::sql::query(
        "UPDATE jobs SET status = 'pending', attempts = attempts - 1, lease_until = NULL, updated_at = $3 \
         WHERE id = $1 AND status = 'running' AND attempts = $2",
    )
    .bind(id)
    .bind(attempts)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Cancels the open job with this unique key, if any.
pub async fn cancel_by_key(conn: &mut Conn, unique_key: &str, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE jobs SET status = 'cancelled', lease_until = NULL, updated_at = $2 \
         WHERE unique_key = $1 AND status = 'pending'",
    )
    .bind(unique_key)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The earliest due time among pending jobs due by `until_ms`.
pub async fn next_due(conn: &mut Conn, until_ms: i64) -> Result<Option<i64>> {
    crate::sql::query_scalar(
        "SELECT MIN(run_at) FROM jobs WHERE status = 'pending' AND run_at <= $1",
    )
    .bind(until_ms)
    .fetch_one(conn)
    .await
}

/// How many jobs are running under a lease that has not expired at `now_ms`.
pub async fn running_count(conn: &mut Conn, now_ms: i64) -> Result<i64> {
    crate::sql::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND lease_until >= $1",
    )
    .bind(now_ms)
    .fetch_one(conn)
    .await
}

pub async fn get(conn: &mut Conn, id: &JobId) -> Result<Option<JobRow>> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Deletes finished jobs last changed before `before_ms`; returns how many.
pub async fn purge_finished(conn: &mut Conn, before_ms: i64) -> Result<u64> {
    let result = crate::sql::query(
        "DELETE FROM jobs WHERE status IN ('done', 'cancelled') AND updated_at < $1",
    )
    .bind(before_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}
