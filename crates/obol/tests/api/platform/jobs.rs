//! Acceptance "Jobs": a job runs at its due time and not before, exactly once
//! even with several workers racing for it, and a failing job is retried with
//! backoff until its attempts are spent.

use crate::harness::{self, ADMIN_KEY, Backend, Options, TestApp, TestDb};
use crate::on_both;
use obol_core::Timestamp;
use obol_core::time::SECOND_MS;
use obol_server::jobs::{JobError, JobRegistry, backoff_ms, enqueue, new_job, run_due};
use obol_server::{AppState, Config, Server};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RECORD_KIND: &str = "test.record";
const FAIL_KIND: &str = "test.fail";
const RACE_KIND: &str = "test.race";

/// (job id, the clock's time when it ran), in run order.
type Runs = Arc<Mutex<Vec<(String, Timestamp)>>>;

/// The built-in jobs plus `test.record`, which records each run, and
/// `test.fail`, which records each attempt and always fails.
fn recording_registry(runs: &Runs) -> JobRegistry {
    let mut registry = obol_server::job_registry();
    let record = runs.clone();
    registry.register(RECORD_KIND, move |state: AppState, job| {
        let record = record.clone();
        async move {
            record
                .lock()
                .unwrap()
                .push((job.id.to_string(), state.now()));
            Ok(())
        }
    });
    let record = runs.clone();
    registry.register(FAIL_KIND, move |state: AppState, job| {
        let record = record.clone();
        async move {
            record
                .lock()
                .unwrap()
                .push((job.id.to_string(), state.now()));
            Err(JobError::new("boom"))
        }
    });
    registry
}

fn runs_of(runs: &Runs) -> Vec<(String, Timestamp)> {
    runs.lock().unwrap().clone()
}

async fn enqueue_at(app: &TestApp, kind: &str, due: Timestamp, max_attempts: i64) {
    let mut job = new_job(kind, json!({}), due);
    job.max_attempts = max_attempts;
    let mut conn = app.state.db.pool.acquire().await.expect("connection");
    let inserted = enqueue(&mut conn, &job, app.state.now())
        .await
        .expect("enqueue");
    assert!(inserted, "the job was not enqueued");
}

/// The id of the one job of `kind`.
async fn job_id(app: &TestApp, kind: &str) -> String {
    let ids: Vec<String> = obol_store::sql::query_scalar("SELECT id FROM jobs WHERE kind = $1")
        .bind(kind)
        .fetch_all(&app.state.db.pool)
        .await
        .expect("job ids");
    assert_eq!(ids.len(), 1, "expected one job of kind {kind}: {ids:?}");
    ids.into_iter().next().unwrap_or_default()
}

async fn job_row(app: &TestApp, id: &str) -> obol_store::jobs::JobRow {
    let mut conn = app.state.db.pool.acquire().await.expect("connection");
    obol_store::jobs::get(&mut conn, &obol_core::JobId::from(id))
        .await
        .expect("read job")
        .expect("job row exists")
}

/// Advances the test clock by `seconds`; returns its new time.
async fn advance(app: &TestApp, seconds: i64) -> Timestamp {
    let body = app
        .send(
            "POST",
            "/v1/test_clock/advance",
            Some(ADMIN_KEY),
            Some(json!({"seconds": seconds})),
            &[],
        )
        .await
        .expect(200)
        .clone();
    Timestamp::parse_rfc3339(body["now"].as_str().expect("now")).expect("now is RFC 3339")
}

/// Gives the server's background worker a few polls (every 50 ms in tests):
/// it must not run a job early either.
async fn let_worker_poll() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

on_both!(
    due_job_runs_once_at_its_time,
    two_workers_run_each_job_once,
    failing_job_is_retried_with_backoff
);

async fn due_job_runs_once_at_its_time(backend: Backend) {
    let runs = Runs::default();
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            jobs: Some(recording_registry(&runs)),
            ..Options::default()
        },
    )
    .await;
    let start = app.state.now();
    let due = start.plus_ms(30 * SECOND_MS);
    enqueue_at(&app, RECORD_KIND, due, 3).await;
    let id = job_id(&app, RECORD_KIND).await;

    let_worker_poll().await;
    assert!(
        runs_of(&runs).is_empty(),
        "ran before the clock moved: {:?}",
        runs_of(&runs)
    );

    assert_eq!(advance(&app, 29).await, start.plus_ms(29 * SECOND_MS));
    let_worker_poll().await;
    assert!(
        runs_of(&runs).is_empty(),
        "ran a second before its due time: {:?}",
        runs_of(&runs)
    );
    let row = job_row(&app, &id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 0));

    // The advance that reaches the due time runs it before answering.
    assert_eq!(advance(&app, 1).await, due);
    assert_eq!(runs_of(&runs), vec![(id.clone(), due)]);

    // Later advances (and the background worker) do not run it again.
    advance(&app, 3600).await;
    let_worker_poll().await;
    assert_eq!(
        runs_of(&runs),
        vec![(id.clone(), due)],
        "ran more than once"
    );
    let row = job_row(&app, &id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("done", 1));
    assert_eq!(row.last_error, None);
}

/// A server on `url` with no listener and no background worker: only the
/// test calls `run_due` on its state.
async fn worker_state(url: &str, registry: JobRegistry) -> AppState {
    let mut config = Config::new(url);
    config.master_key = Some(harness::MASTER_KEY.into());
    Server::new(&config, registry)
        .await
        .expect("server starts")
        .state
}

async fn two_workers_run_each_job_once(backend: Backend) {
    const JOBS: usize = 200;
    let db = TestDb::new(backend).await;
    let ran: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut registry = obol_server::job_registry();
    let record = ran.clone();
    registry.register(RACE_KIND, move |_state, job| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(job.id.to_string());
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(())
        }
    });
    let first = worker_state(&db.url, registry.clone()).await;
    let second = worker_state(&db.url, registry).await;

    let mut conn = first.db.pool.acquire().await.expect("connection");
    let now = first.now();
    for _ in 0..JOBS {
        assert!(
            enqueue(&mut conn, &new_job(RACE_KIND, json!({}), now), now)
                .await
                .expect("enqueue")
        );
    }
    drop(conn);
    let enqueued: Vec<String> =
        obol_store::sql::query_scalar("SELECT id FROM jobs WHERE kind = $1")
            .bind(RACE_KIND)
            .fetch_all(&first.db.pool)
            .await
            .expect("job ids");
    assert_eq!(enqueued.len(), JOBS);

    let (mut by_first, mut by_second) = (0, 0);
    for _ in 0..3 {
        let (a, b) = tokio::join!(run_due(&first), run_due(&second));
        by_first += a.expect("first worker");
        by_second += b.expect("second worker");
    }
    assert_eq!(
        by_first + by_second,
        JOBS,
        "claimed {by_first} + {by_second}"
    );
    assert!(
        by_first > 0 && by_second > 0,
        "no race happened: {by_first} + {by_second}"
    );

    let ran = ran.lock().unwrap().clone();
    let mut times: HashMap<&str, usize> = HashMap::new();
    for id in &ran {
        *times.entry(id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "jobs run more than once: {twice:?}");
    assert_eq!(ran.len(), JOBS);
    assert!(
        enqueued.iter().all(|id| times.contains_key(id.as_str())),
        "a job never ran"
    );

    let done: i64 = obol_store::sql::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND status = 'done' AND attempts = 1",
    )
    .bind(RACE_KIND)
    .fetch_one(&first.db.pool)
    .await
    .expect("count");
    assert_eq!(done, JOBS as i64);
    first.db.close().await;
    second.db.close().await;
}

async fn failing_job_is_retried_with_backoff(backend: Backend) {
    let runs = Runs::default();
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            jobs: Some(recording_registry(&runs)),
            ..Options::default()
        },
    )
    .await;
    let start = app.state.now();
    let due = start.plus_ms(5 * SECOND_MS);
    enqueue_at(&app, FAIL_KIND, due, 3).await;
    let id = job_id(&app, FAIL_KIND).await;
    let second_try = due.plus_ms(backoff_ms(1));
    let third_try = second_try.plus_ms(backoff_ms(2));
    assert_eq!(second_try, due.plus_ms(10 * SECOND_MS));
    assert_eq!(third_try, due.plus_ms(30 * SECOND_MS));
    let times = || {
        runs_of(&runs)
            .into_iter()
            .map(|(_, at)| at)
            .collect::<Vec<_>>()
    };

    advance(&app, 5).await;
    assert_eq!(times(), vec![due]);
    let row = job_row(&app, &id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert_eq!(row.run_at, second_try.as_ms());
    assert_eq!(row.last_error.as_deref(), Some("boom"));

    // Not retried before the backoff is over.
    advance(&app, 9).await;
    let_worker_poll().await;
    assert_eq!(times(), vec![due]);

    advance(&app, 1).await;
    assert_eq!(times(), vec![due, second_try]);
    let row = job_row(&app, &id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 2));
    assert_eq!(row.run_at, third_try.as_ms());

    // One advance past the third attempt runs it at its own time.
    advance(&app, 60).await;
    assert_eq!(times(), vec![due, second_try, third_try]);
    assert!(runs_of(&runs).iter().all(|(run, _)| *run == id));
    let row = job_row(&app, &id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 3));
    assert_eq!(row.last_error.as_deref(), Some("boom"));
    assert_eq!(row.lease_until, None);

    // Spent: never tried again.
    advance(&app, 24 * 3600).await;
    let_worker_poll().await;
    assert_eq!(
        times().len(),
        3,
        "tried again after the last attempt: {:?}",
        times()
    );
    assert_eq!(job_row(&app, &id).await.status, "failed");
}
