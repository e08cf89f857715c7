//! `Idempotency-Key`: replays, conflicts, scoping and concurrency.

use crate::harness::{Backend, spawn};
use crate::on_both;
use serde_json::json;

on_both!(
    replays_the_first_answer,
    different_request_is_422,
    errors_are_not_stored,
    concurrent_requests_make_one,
    keys_are_scoped_per_brand,
    stale_running_record_is_recovered,
    only_the_holder_finishes_or_drops_a_record
);

async fn replays_the_first_answer(backend: Backend) {
    let app = spawn(backend).await;
    let body = json!({"email": "a@example.com", "name": "A", "metadata": {"x": "1", "y": "2"}});
    let first = app.post_idempotent("/v1/customers", "key-1", body).await;
    first.expect(200);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same request with its keys in another order.
    let reordered =
        json!({"metadata": {"y": "2", "x": "1"}, "name": "A", "email": "a@example.com"});
    let second = app
        .post_idempotent("/v1/customers", "key-1", reordered)
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 1);
}

async fn different_request_is_422(backend: Backend) {
    let app = spawn(backend).await;
    app.post_idempotent("/v1/customers", "key-2", json!({"email": "a@example.com"}))
        .await
        .expect(200);
    let other = app
        .post_idempotent("/v1/customers", "key-2", json!({"email": "b@example.com"}))
        .await;
    other.expect(422);
    assert_eq!(other.code(), "idempotency_key_reused");
    assert_eq!(other.body["error"]["type"], "idempotency_error");
    let other_path = app
        .post_idempotent("/v1/api_keys", "key-2", json!({"email": "a@example.com"}))
        .await;
    assert_eq!(other_path.status, 422);
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1);
}

async fn errors_are_not_stored(backend: Backend) {
    let app = spawn(backend).await;
    let bad = app
        .post_idempotent("/v1/customers", "key-3", json!({"email": "not-an-email"}))
        .await;
    bad.expect(400);
    let fixed = app
        .post_idempotent("/v1/customers", "key-3", json!({"email": "a@example.com"}))
        .await;
    fixed.expect(200);
    assert_eq!(fixed.header("idempotent-replayed"), None);
    // A 409 is not stored either: the same key works once the conflict is gone.
    let conflict = app
        .post_idempotent("/v1/customers", "key-4", json!({"email": "a@example.com"}))
        .await;
    conflict.expect(409);
    app.delete(&format!(
        "/v1/customers/{}",
        fixed.body["id"].as_str().expect("id")
    ))
    .await
    .expect(200);
    app.post_idempotent("/v1/customers", "key-4", json!({"email": "a@example.com"}))
        .await
        .expect(200);
    let bad_key = app
        .post_idempotent(
            "/v1/customers",
            &"k".repeat(256),
            json!({"email": "z@example.com"}),
        )
        .await;
    bad_key.expect(400);
    assert_eq!(bad_key.param(), Some("Idempotency-Key"));
}

async fn concurrent_requests_make_one(backend: Backend) {
    let app = spawn(backend).await;
    let requests = (0..20).map(|_| {
        app.post_idempotent(
            "/v1/customers",
            "race",
            json!({"email": "race@example.com"}),
        )
    });
    let answers = futures_util::future::join_all(requests).await;
    let created: Vec<_> = answers
        .iter()
        .filter(|r| r.status == 200 && r.header("idempotent-replayed").is_none())
        .collect();
    assert_eq!(created.len(), 1, "exactly one request creates");
    for answer in &answers {
        match answer.status {
            200 => assert_eq!(answer.body, created[0].body),
            409 => assert_eq!(answer.code(), "idempotency_in_progress"),
            other => panic!("unexpected status {other}: {}", answer.body),
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 1);
}

async fn keys_are_scoped_per_brand(backend: Backend) {
    let app = spawn(backend).await;
    let (_, other_key) = app.other_brand("Other").await;
    app.post_idempotent("/v1/customers", "shared", json!({"email": "a@example.com"}))
        .await
        .expect(200);
    let other = app
        .send(
            "POST",
            "/v1/customers",
            Some(&other_key),
            Some(json!({"email": "b@example.com"})),
            &[("Idempotency-Key", "shared")],
        )
        .await;
    other.expect(200);
    assert_eq!(other.header("idempotent-replayed"), None);
    assert_eq!(other.body["email"], "b@example.com");
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 2);
}

async fn stale_running_record_is_recovered(backend: Backend) {
    let app = spawn(backend).await;
    // Signs of life are in real time, whatever the test clock says.
    let now = obol_core::Timestamp::system_now().as_ms();
    let running = |key: &str, body: &serde_json::Value, locked_at: i64| {
        obol_store::idempotency::IdempotencyRow {
            scope: app.brand_id.clone(),
            key: key.into(),
            method: "POST".into(),
            path: "/v1/customers".into(),
            request_hash: obol_server::idempotency::request_hash(
                &app.state.master_key,
                body.to_string().as_bytes(),
            ),
            status: "running".into(),
            response_status: None,
            response_body: None,
            response_sealed: 0,
            owner: Some("another request".into()),
            locked_at,
            created_at: locked_at,
        }
    };
    let stale_body = json!({"email": "late@example.com"});
    let fresh_body = json!({"email": "busy@example.com"});
    let mut conn = app.state.db.pool.acquire().await.expect("conn");
    // Left running by a process that died two minutes ago, and one still running.
    obol_store::idempotency::try_start(&mut conn, &running("stale", &stale_body, now - 120_000))
        .await
        .expect("insert");
    obol_store::idempotency::try_start(&mut conn, &running("fresh", &fresh_body, now))
        .await
        .expect("insert");
    drop(conn);
    let busy = app
        .post_idempotent("/v1/customers", "fresh", fresh_body)
        .await;
    busy.expect(409);
    assert_eq!(busy.code(), "idempotency_in_progress");
    let recovered = app
        .post_idempotent("/v1/customers", "stale", stale_body.clone())
        .await;
    recovered.expect(200);
    let replayed = app
        .post_idempotent("/v1/customers", "stale", stale_body)
        .await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body, recovered.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1);
}

/// A request whose record went stale and was taken over by a retry may not
/// drop or finish it afterwards: the retry holds it now.
async fn only_the_holder_finishes_or_drops_a_record(backend: Backend) {
    use obol_store::idempotency::{self, IdempotencyRow};
    let app = spawn(backend).await;
    let now = obol_core::Timestamp::system_now().as_ms();
    let record = IdempotencyRow {
        scope: app.brand_id.clone(),
        key: "taken-over".into(),
        method: "POST".into(),
        path: "/v1/refunds".into(),
        request_hash: "fingerprint".into(),
        status: "running".into(),
        response_status: None,
        response_body: None,
        response_sealed: 0,
        owner: Some("first".into()),
        locked_at: now - 60_000,
        created_at: now,
    };
    let mut conn = app.state.db.write_conn().await.expect("conn");
    assert!(
        idempotency::try_start(&mut conn, &record)
            .await
            .expect("start")
    );
    let (scope, key) = (record.scope.as_str(), record.key.as_str());
    assert!(
        idempotency::take_over(&mut conn, scope, key, "retry", now - 10_000, now)
            .await
            .expect("take over")
    );
    // The first request comes back late: neither its drop nor its answer lands.
    idempotency::abandon(&mut conn, scope, key, "first")
        .await
        .expect("abandon");
    assert!(
        !idempotency::finish(&mut conn, scope, key, "first", 200, "{}", false)
            .await
            .expect("finish")
    );
    assert!(
        !idempotency::heartbeat(&mut conn, scope, key, "first", now)
            .await
            .expect("beat")
    );
    let held = idempotency::get(&mut conn, scope, key)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        (held.status.as_str(), held.owner.as_deref()),
        ("running", Some("retry"))
    );
    assert!(
        idempotency::finish(&mut conn, scope, key, "retry", 200, "{}", false)
            .await
            .expect("finish")
    );
}
