//! Acceptance "Test clock": an advance runs the jobs that fall due on the
//! way, each at its own time and in order, before answering; the clock
//! survives a restart; the routes are admin-only and exist only with
//! `OBOL_TEST_CLOCK`.

use crate::harness::{self, ADMIN_KEY, Backend, Options, Resp, TestApp};
use crate::on_both;
use obol_core::Timestamp;
use obol_core::time::SECOND_MS;
use obol_server::jobs::{JobRegistry, enqueue, new_job};
use obol_server::{AppState, jobs::JobError};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const STEP_KIND: &str = "test.step";
const CHAIN_DELAY_MS: i64 = 5 * SECOND_MS;

/// (payload name, the clock's time when it ran), in run order.
type Steps = Arc<Mutex<Vec<(String, Timestamp)>>>;

/// `test.step` records its payload's `name`; when the payload names `then`,
/// it enqueues a step of that name due 5 s later.
fn step_registry(steps: &Steps) -> JobRegistry {
    let mut registry = obol_server::job_registry();
    let steps = steps.clone();
    registry.register(STEP_KIND, move |state: AppState, job| {
        let steps = steps.clone();
        async move {
            let payload: Value = serde_json::from_str(&job.payload)?;
            let now = state.now();
            steps
                .lock()
                .unwrap()
                .push((payload["name"].as_str().unwrap_or_default().to_owned(), now));
            if let Some(then) = payload["then"].as_str() {
                let mut conn = state.db.pool.acquire().await?;
                let next = new_job(
                    STEP_KIND,
                    json!({"name": then}),
                    now.plus_ms(CHAIN_DELAY_MS),
                );
                enqueue(&mut conn, &next, now)
                    .await
                    .map_err(|error| JobError::new(error.message))?;
            }
            Ok(())
        }
    });
    registry
}

async fn clock_app(backend: Backend, steps: &Steps) -> TestApp {
    harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            jobs: Some(step_registry(steps)),
            ..Options::default()
        },
    )
    .await
}

async fn advance(app: &TestApp, key: &str, body: Value) -> Resp {
    app.send("POST", "/v1/test_clock/advance", Some(key), Some(body), &[])
        .await
}

fn clock_time(body: &Value) -> Timestamp {
    assert_eq!(body["object"], "test_clock", "not a test clock: {body}");
    Timestamp::parse_rfc3339(body["now"].as_str().expect("now")).expect("now is RFC 3339")
}

async fn clock_now(app: &TestApp) -> Timestamp {
    clock_time(app.admin_get("/v1/test_clock").await.expect(200))
}

on_both!(
    advance_runs_due_jobs_in_order_at_their_times,
    clock_survives_restart,
    routes_are_404_without_test_clock,
    routes_need_the_admin_key,
    bad_seconds_are_rejected,
);

async fn advance_runs_due_jobs_in_order_at_their_times(backend: Backend) {
    let steps = Steps::default();
    let app = clock_app(backend, &steps).await;
    let start = clock_now(&app).await;
    assert_eq!(start, app.state.now());
    // The clock starts at the real time.
    let drift = (Timestamp::system_now().as_ms() - start.as_ms()).abs();
    assert!(
        drift < 60 * SECOND_MS,
        "test clock starts {drift} ms from the real time"
    );

    let mut conn = app.state.db.pool.acquire().await.expect("connection");
    for (name, then, seconds) in [("a", None, 30), ("b", None, 10), ("c", Some("d"), 20)] {
        let job = new_job(
            STEP_KIND,
            json!({"name": name, "then": then}),
            start.plus_ms(seconds * SECOND_MS),
        );
        assert!(enqueue(&mut conn, &job, start).await.expect("enqueue"));
    }
    // Outside the window: must not run.
    let late = new_job(
        STEP_KIND,
        json!({"name": "late"}),
        start.plus_ms(61 * SECOND_MS),
    );
    assert!(enqueue(&mut conn, &late, start).await.expect("enqueue"));
    drop(conn);
    assert!(steps.lock().unwrap().is_empty());

    let body = advance(&app, ADMIN_KEY, json!({"seconds": 60}))
        .await
        .expect(200)
        .clone();
    assert_eq!(clock_time(&body), start.plus_ms(60 * SECOND_MS));
    let at = |seconds: i64| start.plus_ms(seconds * SECOND_MS);
    let expected = vec![
        ("b".to_owned(), at(10)),
        ("c".to_owned(), at(20)),
        ("d".to_owned(), at(25)),
        ("a".to_owned(), at(30)),
    ];
    assert_eq!(
        *steps.lock().unwrap(),
        expected,
        "jobs ran out of order or at the wrong time"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'test.step' AND status = 'done'")
            .await,
        4
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'test.step' AND status = 'pending'")
            .await,
        1
    );
    assert_eq!(clock_now(&app).await, at(60));

    // The next second brings the late one, alone.
    let body = advance(&app, ADMIN_KEY, json!({"seconds": 1}))
        .await
        .expect(200)
        .clone();
    assert_eq!(clock_time(&body), at(61));
    assert_eq!(steps.lock().unwrap().len(), 5);
    assert_eq!(steps.lock().unwrap()[4], ("late".to_owned(), at(61)));
}

async fn clock_survives_restart(backend: Backend) {
    let steps = Steps::default();
    let app = clock_app(backend, &steps).await;
    let start = clock_now(&app).await;
    let moved = clock_time(
        advance(&app, ADMIN_KEY, json!({"seconds": 86_400}))
            .await
            .expect(200),
    );
    assert_eq!(moved, start.plus_ms(86_400 * SECOND_MS));

    let app = app.restart().await;
    assert_eq!(
        clock_now(&app).await,
        moved,
        "the clock's time was lost on restart"
    );
    let body = advance(&app, ADMIN_KEY, json!({"seconds": 1}))
        .await
        .expect(200)
        .clone();
    assert_eq!(clock_time(&body), moved.plus_ms(SECOND_MS));
    // Other data survives too: the brand still acts.
    app.get("/v1/customers").await.expect(200);
}

async fn routes_are_404_without_test_clock(backend: Backend) {
    let app = harness::spawn(backend).await;
    assert!(app.state.test_clock.is_none());
    let before = app.state.now();
    let answer = app.admin_get("/v1/test_clock").await;
    answer.expect(404);
    assert_eq!(answer.code(), "resource_missing");
    for body in [json!({"seconds": 60}), json!({}), json!({"seconds": "x"})] {
        let answer = advance(&app, ADMIN_KEY, body.clone()).await;
        assert_eq!(
            answer.status, 404,
            "advance {body} without the test clock: {}",
            answer.body
        );
        assert_eq!(answer.code(), "resource_missing");
    }
    // The system clock keeps going by itself.
    assert!(app.state.now() >= before);
}

async fn routes_need_the_admin_key(backend: Backend) {
    let steps = Steps::default();
    let app = clock_app(backend, &steps).await;
    let start = clock_now(&app).await;
    let answer = app.get("/v1/test_clock").await;
    answer.expect(403);
    assert_eq!(answer.code(), "permission_denied");
    let secret = app.secret_key.clone();
    let answer = advance(&app, &secret, json!({"seconds": 60})).await;
    answer.expect(403);
    assert_eq!(answer.code(), "permission_denied");
    // Another role of the brand fares no better.
    let developer = app.key_with_role("developer").await;
    advance(&app, &developer, json!({"seconds": 60}))
        .await
        .expect(403);
    // No key, or a wrong one: 401.
    app.send("GET", "/v1/test_clock", None, None, &[])
        .await
        .expect(401);
    advance(&app, "adm_wrong", json!({"seconds": 60}))
        .await
        .expect(401);
    assert_eq!(
        clock_now(&app).await,
        start,
        "a refused advance moved the clock"
    );
}

async fn bad_seconds_are_rejected(backend: Backend) {
    let steps = Steps::default();
    let app = clock_app(backend, &steps).await;
    let start = clock_now(&app).await;
    for seconds in [json!(0), json!(-5), json!("x"), json!(1.5), json!(null)] {
        let answer = advance(&app, ADMIN_KEY, json!({"seconds": seconds})).await;
        answer.expect(400);
        assert_eq!(
            answer.param(),
            Some("seconds"),
            "seconds = {seconds}: {}",
            answer.body
        );
    }
    let answer = advance(&app, ADMIN_KEY, json!({})).await;
    answer.expect(400);
    assert_eq!(
        (answer.code(), answer.param()),
        ("parameter_missing", Some("seconds"))
    );
    let answer = advance(&app, ADMIN_KEY, json!({"seconds": 1, "minutes": 1})).await;
    answer.expect(400);
    assert_eq!(
        (answer.code(), answer.param()),
        ("parameter_unknown", Some("minutes"))
    );
    assert_eq!(
        clock_now(&app).await,
        start,
        "a rejected advance moved the clock"
    );
}
