//! The scheduler: durable jobs claimed with leases, run by a worker in every
//! `obol serve` process, retried with backoff, and stepped through in order
//! when the test clock advances.

use crate::error::ApiError;
use crate::state::AppState;
use async_trait::async_trait;
use obol_core::Timestamp;
use obol_core::time::{HOUR_MS, MINUTE_MS, SECOND_MS};
use obol_store::jobs::{JobRow, NewJob};
use obol_store::{Conn, Db};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Why a job attempt failed, and optionally when to try again.
#[derive(Debug, Clone)]
pub struct JobError {
    pub message: String,
    /// Overrides the default backoff for the next attempt.
    pub retry_in_ms: Option<i64>,
}

impl JobError {
    pub fn new(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            retry_in_ms: None,
        }
    }
}

impl<E: std::fmt::Display> From<E> for JobError {
    fn from(error: E) -> Self {
        JobError::new(error.to_string())
    }
}

type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
/// A job handler: runs one job with the shared state.
pub type JobHandler = Arc<dyn Fn(AppState, JobRow) -> JobFuture + Send + Sync>;

/// A kind of job: its payload is the value itself, stored as JSON, and
/// `KIND` names it in the job table. A domain registers each of its kinds
/// once (`JobRegistry::add`).
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The job table's `kind`, `<domain>.<what>`; never renamed once shipped.
    const KIND: &'static str;

    /// Runs one attempt; an error retries it with backoff.
    fn run(self, state: AppState) -> impl Future<Output = Result<(), JobError>> + Send;

    /// This job as a row to enqueue at `run_at`, with the default attempts
    /// and no unique key.
    fn at(&self, run_at: Timestamp) -> NewJob {
        new_job(
            Self::KIND,
            serde_json::to_value(self).unwrap_or_default(),
            run_at,
        )
    }
}

/// Scheduled work a domain keeps on its own rows (an order's `due_at`, a
/// transaction's `sync_at`) rather than as job rows: the worker and the test
/// clock claim it through this, knowing nothing of the domain.
#[async_trait]
pub trait DueWork: Send + Sync + 'static {
    /// When the earliest item falls due, if one does at or before `until_ms`.
    async fn next_due(&self, conn: &mut Conn, until_ms: i64) -> obol_store::Result<Option<i64>>;

    /// Runs up to `limit` items due now; returns how many it claimed.
    async fn run_due(&self, state: &AppState, limit: i64) -> obol_store::Result<usize>;
}

/// Job kinds and their handlers, and the due-work scanners.
#[derive(Default, Clone)]
pub struct JobRegistry {
    handlers: HashMap<String, JobHandler>,
    due_work: Vec<Arc<dyn DueWork>>,
    due_work_kinds: Vec<std::any::TypeId>,
}

impl JobRegistry {
    /// The registry with the kernel's own jobs; each domain adds its own.
    pub fn builtin() -> Self {
        let mut registry = JobRegistry::default();
        registry.add::<Purge>();
        registry
    }

    /// Registers the job kind `J`.
    pub fn add<J: Job>(&mut self) -> &mut Self {
        self.register(J::KIND, |state, job: JobRow| async move {
            let job: J = serde_json::from_str(&job.payload)
                .map_err(|error| JobError::new(format!("bad {} payload: {error}", J::KIND)))?;
            job.run(state).await
        });
        self
    }

    /// Registers a scanner of due work kept on a domain's rows; a second
    /// registration of the same scanner is a no-op.
    pub fn add_due_work<W: DueWork>(&mut self, work: W) -> &mut Self {
        let kind = std::any::TypeId::of::<W>();
        if !self.due_work_kinds.contains(&kind) {
            self.due_work_kinds.push(kind);
            self.due_work.push(Arc::new(work));
        }
        self
    }

    /// Adds (or replaces) the handler of `kind` over the raw row.
    pub fn register<F, Fut>(&mut self, kind: &str, handler: F)
    where
        F: Fn(AppState, JobRow) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.handlers.insert(
            kind.to_owned(),
            Arc::new(move |state, job| Box::pin(handler(state, job))),
        );
    }

    fn get(&self, kind: &str) -> Option<JobHandler> {
        self.handlers.get(kind).cloned()
    }

    /// Runs up to `limit` items of every due-work scanner; how many ran.
    async fn run_due_work(&self, state: &AppState, limit: i64) -> obol_store::Result<usize> {
        let mut ran = 0;
        for work in &self.due_work {
            ran += work.run_due(state, limit).await?;
        }
        Ok(ran)
    }

    /// The earliest due time of any scanner's work, up to `until_ms`.
    async fn next_due_work(
        &self,
        conn: &mut Conn,
        until_ms: i64,
    ) -> obol_store::Result<Option<i64>> {
        let mut next: Option<i64> = None;
        for work in &self.due_work {
            if let Some(at) = work.next_due(conn, until_ms).await? {
                next = Some(next.map_or(at, |next| next.min(at)));
            }
        }
        Ok(next)
    }
}

/// Default attempts before a job is marked `failed`.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 10;
/// A claimed job not finished within this lease is claimed again.
const LEASE_MS: i64 = 5 * MINUTE_MS;
/// Jobs claimed in one round by a worker.
const CLAIM_BATCH: i64 = 16;
const BACKOFF_BASE_MS: i64 = 10 * SECOND_MS;
const BACKOFF_MAX_MS: i64 = HOUR_MS;

/// Delay before attempt `attempts + 1`: 10 s, 20 s, 40 s … capped at 1 h.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    BACKOFF_BASE_MS
        .saturating_mul(1 << exponent)
        .min(BACKOFF_MAX_MS)
}

/// Enqueues a job inside the caller's transaction.
pub async fn enqueue(conn: &mut Conn, job: &NewJob, now: Timestamp) -> Result<bool, ApiError> {
    Ok(obol_store::jobs::enqueue(conn, &obol_core::JobId::new(), job, now.as_ms()).await?)
}

/// A job with the default attempts and no unique key.
pub fn new_job(kind: &str, payload: serde_json::Value, run_at: Timestamp) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        payload: payload.to_string(),
        brand_id: None,
        run_at_ms: run_at.as_ms(),
        max_attempts: DEFAULT_MAX_ATTEMPTS,
        unique_key: None,
    }
}

async fn claim(db: &Db, now: Timestamp, limit: i64) -> obol_store::Result<Vec<JobRow>> {
    let mut tx = db.begin().await?;
    let jobs = obol_store::jobs::claim_due(
        &mut tx,
        db.backend,
        now.as_ms(),
        now.as_ms() + LEASE_MS,
        limit,
    )
    .await?;
    tx.commit().await?;
    Ok(jobs)
}

/// Runs one claimed job and records its outcome.
async fn run_job(state: &AppState, job: JobRow) -> obol_store::Result<()> {
    let outcome = match state.jobs.get(&job.kind) {
        Some(handler) => {
            let limit = Duration::from_millis(u64::try_from(LEASE_MS).unwrap_or(u64::MAX));
            match tokio::time::timeout(limit, handler(state.clone(), job.clone())).await {
                Ok(result) => result,
                Err(_) => Err(JobError::new("job timed out")),
            }
        }
        None => Err(JobError {
            message: format!("no handler for job kind {}", job.kind),
            retry_in_ms: None,
        }),
    };
    let now = state.now().as_ms();
    let mut conn = state.db.write_conn().await?;
    match outcome {
        Ok(()) => {
            obol_store::jobs::complete(&mut conn, &job.id, job.attempts, now).await?;
        }
        Err(error) => {
            let retry_at = (job.attempts < job.max_attempts).then(|| {
                now + error
                    .retry_in_ms
                    .unwrap_or_else(|| backoff_ms(job.attempts))
            });
            tracing::warn!(job_id = %job.id, kind = %job.kind, attempts = job.attempts, error = %error.message, "job failed");
            obol_store::jobs::fail(
                &mut conn,
                &job.id,
                job.attempts,
                &error.message,
                retry_at,
                now,
            )
            .await?;
        }
    }
    Ok(())
}

/// Claims and runs due jobs and due work until none is due; returns
/// how many ran.
pub async fn run_due(state: &AppState) -> obol_store::Result<usize> {
    let mut ran = 0;
    loop {
        let jobs = claim(&state.db, state.now(), CLAIM_BATCH).await?;
        let claimed = jobs.len();
        for job in jobs {
            run_job(state, job).await?;
        }
        let work = state.jobs.run_due_work(state, CLAIM_BATCH).await?;
        if claimed + work == 0 {
            return Ok(ran);
        }
        ran += claimed + work;
    }
}

/// The worker loop of `obol serve`: polls for due jobs until `shutdown`
/// says stop, finishing the job in hand first.
pub async fn worker(
    state: AppState,
    poll_interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        // On the test clock, a round of the worker and an advance exclude
        // each other, so that time never moves while a job runs.
        let advance_guard = match &state.test_clock {
            Some(clock) => Some(clock.advance_lock.lock().await),
            None => None,
        };
        let claimed = claim(&state.db, state.now(), CLAIM_BATCH).await;
        match claimed {
            Ok(jobs) if !jobs.is_empty() => {
                let mut jobs = jobs.into_iter();
                while let Some(job) = jobs.next() {
                    if *shutdown.borrow() {
                        release(&state, std::iter::once(job).chain(jobs)).await;
                        return;
                    }
                    if let Err(error) = run_job(&state, job).await {
                        tracing::error!(%error, "recording a job outcome failed");
                    }
                }
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "claiming jobs failed"),
        }
        match state.jobs.run_due_work(&state, CLAIM_BATCH).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(error) => tracing::error!(%error, "running due work failed"),
        }
        drop(advance_guard);
        tokio::select! {
            _ = tokio::time::sleep(poll_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Gives claimed jobs back so that another process takes them at once.
async fn release(state: &AppState, jobs: impl Iterator<Item = JobRow>) {
    let now = state.now().as_ms();
    for job in jobs {
        let Ok(mut conn) = state.db.write_conn().await else {
            return;
        };
        if let Err(error) = obol_store::jobs::release(&mut conn, &job.id, job.attempts, now).await {
            tracing::error!(%error, job_id = %job.id, "releasing a job lease failed");
        }
    }
}

/// Bounds on one test-clock advance, so that a job that keeps scheduling
/// itself cannot hang the request: rounds of the loop, each running at
/// least one item (a month of 10,000 subscriptions takes some 100,000).
const ADVANCE_MAX_ROUNDS: usize = 1_000_000;
const ADVANCE_WAIT_STEP_MS: u64 = 10;

/// Moves the test clock to `target`, running every job that falls due on the
/// way, each at its own due time, in order, before returning.
pub async fn advance_test_clock(state: &AppState, target: Timestamp) -> Result<(), ApiError> {
    let clock = state
        .test_clock
        .as_ref()
        .ok_or_else(ApiError::route_not_found)?;
    let _one_advance = clock.advance_lock.lock().await;
    let mut rounds = 0usize;
    loop {
        let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
        let now = state.now();
        // A job another worker is running at this instant finishes before
        // time moves on.
        if obol_store::jobs::running_count(&mut conn, now.as_ms()).await? > 0 {
            drop(conn);
            tokio::time::sleep(Duration::from_millis(ADVANCE_WAIT_STEP_MS)).await;
            continue;
        }
        let next_job = obol_store::jobs::next_due(&mut conn, target.as_ms()).await?;
        let next_work = state.jobs.next_due_work(&mut conn, target.as_ms()).await?;
        drop(conn);
        let next_due = next_job.into_iter().chain(next_work).min();
        let Some(next_due) = next_due else { break };
        if next_due > now.as_ms() {
            clock.set(&state.db, Timestamp::from_ms(next_due)).await?;
        }
        let jobs = claim(&state.db, state.now(), 1).await?;
        for job in jobs {
            run_job(state, job).await?;
        }
        state.jobs.run_due_work(state, 1).await?;
        rounds += 1;
        if rounds >= ADVANCE_MAX_ROUNDS {
            return Err(ApiError::internal("test clock advance ran too many jobs"));
        }
    }
    clock.set(&state.db, target).await?;
    Ok(())
}

/// Deletes idempotency records past retention and old finished jobs, then
/// schedules the next purge.
#[derive(Serialize, Deserialize)]
pub struct Purge {}

pub const PURGE_KIND: &str = Purge::KIND;
const PURGE_INTERVAL_MS: i64 = 6 * HOUR_MS;

impl Job for Purge {
    const KIND: &'static str = "maintenance.purge";

    async fn run(self, state: AppState) -> Result<(), JobError> {
        let now = state.now();
        let cutoff = now.as_ms() - crate::idempotency::RETENTION_MS;
        let mut tx = state.db.begin().await?;
        let keys = obol_store::idempotency::purge(&mut tx, cutoff).await?;
        let jobs = obol_store::jobs::purge_finished(&mut tx, cutoff).await?;
        tx.commit().await?;
        tracing::info!(idempotency_keys = keys, jobs, "purged expired records");
        schedule_maintenance(&state).await?;
        Ok(())
    }
}

/// Makes sure the next purge is scheduled: one pending purge job per
/// database, whichever process enqueues it first.
pub async fn schedule_maintenance(state: &AppState) -> obol_store::Result<()> {
    let now = state.now();
    let mut job = Purge {}.at(now.plus_ms(PURGE_INTERVAL_MS));
    job.unique_key = Some(PURGE_KIND.to_owned());
    let mut conn = state.db.write_conn().await?;
    obol_store::jobs::enqueue(&mut conn, &obol_core::JobId::new(), &job, now.as_ms()).await?;
    Ok(())
}
