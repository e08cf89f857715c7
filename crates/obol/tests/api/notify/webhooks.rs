//! Webhook endpoints and deliveries: signed per Standard Webhooks (checked
//! by the PyPI library), retried on the schedule, given up on after 3 days,
//! in order per object, rotated, kept per brand.

use super::receiver::{Answer, Call, Receiver, verifies};
use crate::harness::{self, Backend, Options, TestApp, id_of};
use crate::on_both;
use serde_json::{Value, json};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

/// Creates an endpoint for `events` at `url`; (id, secret).
pub async fn endpoint(app: &TestApp, url: &str, events: Value) -> (String, String) {
    let created = app
        .post(
            "/v1/webhook_endpoints",
            json!({"url": url, "events": events}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["object"], "webhook_endpoint");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (id_of(&created), secret)
}

/// Every attempt of the endpoint, oldest first.
pub async fn attempts(app: &TestApp, endpoint_id: &str) -> Vec<Value> {
    let mut all = app
        .get(&format!(
            "/v1/webhook_endpoints/{endpoint_id}/deliveries?limit=100"
        ))
        .await
        .expect(200)["data"]
        .as_array()
        .expect("data")
        .clone();
    all.reverse();
    all
}

/// Waits (real time) until the endpoint has an attempt that `done` accepts.
async fn wait_attempts(
    app: &TestApp,
    endpoint_id: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let all = attempts(app, endpoint_id).await;
        if done(&all) {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "attempts never got there: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn statuses(attempts: &[Value]) -> Vec<&str> {
    attempts
        .iter()
        .map(|a| a["status"].as_str().unwrap_or_default())
        .collect()
}

fn signatures(call: &Call) -> usize {
    call.headers["webhook-signature"].split(' ').count()
}

on_both!(
    paid_order_reaches_the_endpoint_signed,
    callback_url_gets_the_orders_events_signed_with_the_brand_secret,
    refused_receiver_is_retried_on_the_schedule_until_it_is_up,
    always_failing_receiver_fails_after_three_days_and_gone_disables,
    events_of_one_object_arrive_in_order_behind_a_retry,
    rotated_secret_signs_beside_the_new_one_for_a_day,
    endpoints_and_their_deliveries_stay_within_their_brand,
    endpoint_fields_are_checked,
);

async fn paid_order_reaches_the_endpoint_signed(backend: Backend) {
    let app = harness::spawn_paying(backend, Options::default()).await;
    let receiver = Receiver::start().await;
    let (endpoint_id, secret) = endpoint(&app, &receiver.url("/hooks"), json!(["*"])).await;
    let order = app.paid_order(8925, true).await;
    let order_id = id_of(&order);

    let calls = receiver.wait_for("/hooks", 1, PATIENCE).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    let paid = loop {
        let calls = receiver.calls_to("/hooks");
        if let Some(call) = calls.iter().find(|c| c.event_type() == "order.paid") {
            break call.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no order.paid: {calls:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!calls.is_empty());
    let event = paid.json();
    assert_eq!(event["object"], "event");
    assert_eq!(event["data"]["object"]["id"], order_id.as_str());
    assert_eq!(paid.headers["webhook-id"], event["id"].as_str().unwrap());
    assert_eq!(paid.headers["content-type"], "application/json");
    let timestamp: i64 = paid.headers["webhook-timestamp"]
        .parse()
        .expect("unix seconds");
    let now = app.state.now().as_ms() / 1000;
    assert!((now - timestamp).abs() < 60, "{timestamp} vs {now}");
    assert_eq!(signatures(&paid), 1);
    assert!(
        verifies(&secret, &paid),
        "the library rejects the signature"
    );
    let stranger = obol_server::crypto::new_webhook_secret();
    assert!(!verifies(&stranger, &paid), "a wrong secret verifies");
    let mut tampered = paid.clone();
    tampered.body = tampered.body.replace("8925", "1");
    assert!(!verifies(&secret, &tampered), "a changed body verifies");

    // The same event the events API shows, and its attempt on record.
    let stored = app
        .get(&format!("/v1/events/{}", event["id"].as_str().unwrap()))
        .await
        .expect(200)
        .clone();
    assert_eq!(stored, event);
    let all = wait_attempts(&app, &endpoint_id, |all| {
        all.iter()
            .any(|a| a["event_type"] == "order.paid" && a["status"] == "succeeded")
    })
    .await;
    let attempt = all
        .iter()
        .find(|a| a["event_type"] == "order.paid")
        .expect("attempt");
    assert_eq!(attempt["object"], "webhook_delivery");
    assert_eq!(attempt["attempt"], 1);
    assert_eq!(attempt["http_status"], 200);
    assert_eq!(attempt["response_excerpt"], "answered 200");
    assert_eq!(attempt["endpoint_id"], endpoint_id.as_str());
    assert!(attempt["duration_ms"].as_i64().expect("duration") >= 0);
    assert!(attempt["next_attempt_at"].is_null());
    assert!(attempt["id"].as_str().unwrap().starts_with("whd_"));

    // Resend: a new message, delivered again.
    let before = receiver
        .calls_to("/hooks")
        .iter()
        .filter(|c| c.event_type() == "order.paid")
        .count();
    let resent = app
        .post(
            &format!("/v1/events/{}/resend", event["id"].as_str().unwrap()),
            json!({}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(resent["data"][0]["status"], "pending");
    let deadline = std::time::Instant::now() + PATIENCE;
    while receiver
        .calls_to("/hooks")
        .iter()
        .filter(|c| c.event_type() == "order.paid")
        .count()
        <= before
    {
        assert!(std::time::Instant::now() < deadline, "resend never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unknown = app.post("/v1/events/evt_unknown/resend", json!({})).await;
    assert_eq!(unknown.status, 404);
}

async fn callback_url_gets_the_orders_events_signed_with_the_brand_secret(backend: Backend) {
    let app = harness::spawn_paying(backend, Options::default()).await;
    let receiver = Receiver::start().await;
    let brand = app
        .get(&format!("/v1/brands/{}", app.brand_id))
        .await
        .expect(200)
        .clone();
    let brand_secret = brand["webhook_secret"].as_str().expect("secret").to_owned();
    let order = app
        .create_order(
            json!({"amount": 500, "currency": "JPY", "callback_url": receiver.url("/callback")}),
        )
        .await;
    let order_id = id_of(&order);
    app.confirm_card(&order_id, "4242424242424242")
        .await
        .expect(200);
    let calls = receiver.wait_for("/callback", 2, PATIENCE).await;
    let types: Vec<String> = calls.iter().map(Call::event_type).collect();
    assert_eq!(
        types,
        ["order.created", "order.paid"],
        "only the order's own events"
    );
    for call in &calls {
        assert_eq!(call.json()["data"]["object"]["id"], order_id.as_str());
        assert!(verifies(&brand_secret, call));
    }
    // Another order without a callback sends nothing there.
    app.paid_order(100, true).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.calls_to("/callback").len(), 2);
}

async fn refused_receiver_is_retried_on_the_schedule_until_it_is_up(backend: Backend) {
    let app = harness::spawn_paying(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    let mut receiver = Receiver::start().await;
    let (endpoint_id, secret) =
        endpoint(&app, &receiver.url("/hooks"), json!(["order.paid"])).await;
    receiver.down().await;
    app.paid_order(1000, true).await;
    let first = wait_attempts(&app, &endpoint_id, |all| {
        all.first().is_some_and(|a| a["status"] == "failed")
    })
    .await;
    assert!(first[0]["http_status"].is_null());
    assert!(first[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    // Not retried before its time.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        attempts(&app, &endpoint_id).await.len(),
        2,
        "a failed and a pending one"
    );
    app.advance(5).await;
    app.advance(5 * 60).await;
    receiver.up().await;
    app.advance(30 * 60).await;
    let all = attempts(&app, &endpoint_id).await;
    assert_eq!(
        statuses(&all),
        ["failed", "failed", "failed", "succeeded"],
        "{all:#?}"
    );
    let attempt_numbers: Vec<i64> = all.iter().map(|a| a["attempt"].as_i64().unwrap()).collect();
    assert_eq!(attempt_numbers, [1, 2, 3, 4]);
    let at = |a: &Value, field: &str| -> i64 {
        obol_core::Timestamp::parse_rfc3339(a[field].as_str().expect(field))
            .expect("a time")
            .as_ms()
    };
    let gaps: Vec<i64> = all
        .windows(2)
        .map(|pair| at(&pair[1], "attempted_at") - at(&pair[0], "attempted_at"))
        .collect();
    assert_eq!(gaps, [5_000, 300_000, 1_800_000]);
    let announced: Vec<i64> = all[..3]
        .iter()
        .map(|failed| at(failed, "next_attempt_at") - at(failed, "attempted_at"))
        .collect();
    assert_eq!(
        announced, gaps,
        "each failed attempt names when the next one comes"
    );
    assert!(all[3]["next_attempt_at"].is_null());
    let calls = receiver.calls_to("/hooks");
    assert_eq!(calls.len(), 1, "one delivery once it was up");
    assert!(verifies(&secret, &calls[0]));
    // Nothing more is due.
    app.advance(3 * 86_400).await;
    assert_eq!(attempts(&app, &endpoint_id).await.len(), 4);
}

async fn always_failing_receiver_fails_after_three_days_and_gone_disables(backend: Backend) {
    let app = harness::spawn_paying(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    let receiver = Receiver::start().await;
    receiver.always(Answer::status(500));
    let (endpoint_id, _) = endpoint(&app, &receiver.url("/down"), json!(["order.paid"])).await;
    app.paid_order(1000, true).await;
    wait_attempts(&app, &endpoint_id, |all| all.len() >= 2).await;
    app.advance(4 * 86_400).await;
    let all = attempts(&app, &endpoint_id).await;
    assert_eq!(all.len(), 12, "{all:#?}");
    assert!(
        all.iter()
            .all(|a| a["status"] == "failed" && a["http_status"] == 500)
    );
    assert!(all[..11].iter().all(|a| !a["next_attempt_at"].is_null()));
    assert!(all[11]["next_attempt_at"].is_null());
    let first = obol_core::Timestamp::parse_rfc3339(all[0]["attempted_at"].as_str().unwrap())
        .unwrap()
        .as_ms();
    let last = obol_core::Timestamp::parse_rfc3339(all[11]["attempted_at"].as_str().unwrap())
        .unwrap()
        .as_ms();
    assert!(last - first >= 3 * 86_400_000, "gave up too soon");
    let failing_endpoint = app
        .get(&format!("/v1/webhook_endpoints/{endpoint_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(failing_endpoint["status"], "failing");
    let failing = app
        .get("/v1/events?type=webhook_endpoint.failing")
        .await
        .expect(200)
        .clone();
    assert_eq!(
        failing["data"][0]["data"]["object"]["id"],
        endpoint_id.as_str()
    );
    app.advance(2 * 86_400).await;
    assert_eq!(
        attempts(&app, &endpoint_id).await.len(),
        12,
        "no attempt after giving up"
    );
    assert_eq!(receiver.calls_to("/down").len(), 12);

    // 410 Gone: disabled at once, not retried.
    let gone = Receiver::start().await;
    gone.always(Answer::status(410));
    let (gone_id, _) = endpoint(&app, &gone.url("/gone"), json!(["order.paid"])).await;
    app.paid_order(1000, true).await;
    let all = wait_attempts(&app, &gone_id, |all| {
        all.first().is_some_and(|a| a["status"] == "failed")
    })
    .await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["http_status"], 410);
    assert!(all[0]["next_attempt_at"].is_null());
    let disabled = app
        .get(&format!("/v1/webhook_endpoints/{gone_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(disabled["status"], "disabled");
    app.paid_order(1000, true).await;
    app.advance(86_400).await;
    assert_eq!(
        attempts(&app, &gone_id).await.len(),
        1,
        "a disabled endpoint gets nothing"
    );
    assert_eq!(gone.calls_to("/gone").len(), 1);
}

async fn events_of_one_object_arrive_in_order_behind_a_retry(backend: Backend) {
    let app = harness::spawn_paying(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    let receiver = Receiver::start().await;
    receiver.then([Answer::status(503)]);
    let (endpoint_id, _) = endpoint(
        &app,
        &receiver.url("/ordered"),
        json!(["order.created", "order.updated", "order.paid"]),
    )
    .await;
    let order = app
        .create_order(json!({"amount": 700, "currency": "EUR"}))
        .await;
    let order_id = id_of(&order);
    wait_attempts(&app, &endpoint_id, |all| {
        all.first().is_some_and(|a| a["status"] == "failed")
    })
    .await;
    app.patch(
        &format!("/v1/orders/{order_id}"),
        json!({"description": "Pro plan"}),
    )
    .await
    .expect(200);
    app.confirm_card(&order_id, "4242424242424242")
        .await
        .expect(200);
    // The later two wait behind the first one's retry.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.calls_to("/ordered").len(), 1);
    app.advance(5).await;
    let calls = receiver.wait_for("/ordered", 4, PATIENCE).await;
    let types: Vec<String> = calls.iter().map(Call::event_type).collect();
    assert_eq!(
        types,
        [
            "order.created",
            "order.created",
            "order.updated",
            "order.paid"
        ]
    );
    let sequences: Vec<i64> = calls[1..]
        .iter()
        .map(|c| c.json()["sequence"].as_i64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
}

async fn rotated_secret_signs_beside_the_new_one_for_a_day(backend: Backend) {
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    let receiver = Receiver::start().await;
    let (endpoint_id, old) =
        endpoint(&app, &receiver.url("/rotating"), json!(["order.paid"])).await;
    let rotated = app
        .post(
            &format!("/v1/webhook_endpoints/{endpoint_id}/rotate_secret"),
            json!({}),
        )
        .await
        .expect(200)
        .clone();
    let new = rotated["secret"].as_str().expect("new secret").to_owned();
    assert_ne!(new, old);
    assert!(!rotated["previous_secret_expires_at"].is_null());
    let shown = app
        .get(&format!("/v1/webhook_endpoints/{endpoint_id}"))
        .await
        .expect(200)
        .clone();
    assert!(shown.get("secret").is_none(), "a secret is shown once");

    let ping = app
        .post(
            &format!("/v1/webhook_endpoints/{endpoint_id}/test"),
            json!({}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(ping["event_type"], "ping");
    let calls = receiver.wait_for("/rotating", 1, PATIENCE).await;
    assert_eq!(
        calls[0].event_type(),
        "ping",
        "a ping goes whatever the endpoint takes"
    );
    assert_eq!(signatures(&calls[0]), 2);
    assert!(verifies(&new, &calls[0]));
    assert!(verifies(&old, &calls[0]));

    app.advance(24 * 3600 + 60).await;
    app.post(
        &format!("/v1/webhook_endpoints/{endpoint_id}/test"),
        json!({}),
    )
    .await
    .expect(200);
    app.advance(1).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    while receiver.calls_to("/rotating").len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second ping never arrived; its attempts: {:#?}",
            attempts(&app, &endpoint_id).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = receiver.calls_to("/rotating");
    assert_eq!(signatures(&calls[1]), 1);
    assert!(verifies(&new, &calls[1]));
    assert!(
        !verifies(&old, &calls[1]),
        "the old secret signs after its day"
    );
    let shown = app
        .get(&format!("/v1/webhook_endpoints/{endpoint_id}"))
        .await
        .expect(200)
        .clone();
    assert!(shown.get("previous_secret_expires_at").is_none());
}

async fn endpoints_and_their_deliveries_stay_within_their_brand(backend: Backend) {
    let app = harness::spawn_paying(backend, Options::default()).await;
    let receiver = Receiver::start().await;
    let (_, other_key) = app.other_brand("Beta").await;
    let theirs = app
        .send(
            "POST",
            "/v1/webhook_endpoints",
            Some(&other_key),
            Some(json!({"url": receiver.url("/theirs"), "events": ["*"]})),
            &[],
        )
        .await
        .expect(200)
        .clone();
    let theirs_id = id_of(&theirs);
    let (mine_id, _) = endpoint(&app, &receiver.url("/mine"), json!(["*"])).await;
    let order = app.paid_order(1000, true).await;
    receiver.wait_for("/mine", 2, PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.calls_to("/theirs").is_empty(),
        "another brand's events"
    );

    for (method, path, body) in [
        ("GET", format!("/v1/webhook_endpoints/{theirs_id}"), None),
        (
            "PATCH",
            format!("/v1/webhook_endpoints/{theirs_id}"),
            Some(json!({"description": "x"})),
        ),
        ("DELETE", format!("/v1/webhook_endpoints/{theirs_id}"), None),
        (
            "POST",
            format!("/v1/webhook_endpoints/{theirs_id}/rotate_secret"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/webhook_endpoints/{theirs_id}/test"),
            Some(json!({})),
        ),
        (
            "GET",
            format!("/v1/webhook_endpoints/{theirs_id}/deliveries"),
            None,
        ),
    ] {
        let answer = app
            .send(method, &path, Some(&app.secret_key), body, &[])
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (404, "resource_missing"),
            "{method} {path}"
        );
    }
    let listed = app.get("/v1/webhook_endpoints").await.expect(200).clone();
    assert_eq!(harness::ids(&listed), std::slice::from_ref(&mine_id));
    // Their view of our event and endpoint: not found either.
    let event_id = app
        .get(&format!("/v1/events?object_id={}", id_of(&order)))
        .await
        .expect(200)["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resend = app
        .send(
            "POST",
            &format!("/v1/events/{event_id}/resend"),
            Some(&other_key),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(resend.status, 404);
    let deliveries = app
        .send(
            "GET",
            &format!("/v1/webhook_endpoints/{mine_id}/deliveries"),
            Some(&other_key),
            None,
            &[],
        )
        .await;
    assert_eq!(deliveries.status, 404);
    let cursor = app
        .get(&format!(
            "/v1/webhook_endpoints/{mine_id}/deliveries?starting_after=whd_unknown"
        ))
        .await;
    assert_eq!(cursor.status, 400);
}

async fn endpoint_fields_are_checked(backend: Backend) {
    let app = harness::spawn(backend).await;
    let receiver = Receiver::start().await;
    for (body, param) in [
        (json!({"url": "ftp://example.com/", "events": ["*"]}), "url"),
        (json!({"url": receiver.url("/x"), "events": []}), "events"),
        (
            json!({"url": receiver.url("/x"), "events": ["*", "order.paid"]}),
            "events",
        ),
        (
            json!({"url": receiver.url("/x"), "events": ["order.paid", "order.exploded"]}),
            "events[1]",
        ),
        (
            json!({"url": receiver.url("/x"), "events": ["*"], "secret": "mine"}),
            "secret",
        ),
    ] {
        let answer = app.post("/v1/webhook_endpoints", body.clone()).await;
        assert_eq!(
            (answer.status, answer.param()),
            (400, Some(param)),
            "{body}: {}",
            answer.body
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_endpoints").await, 0);
    // A name that does not resolve now is taken: each attempt is checked on
    // the address it connects to.
    endpoint(&app, "https://hooks.invalid/obol", json!(["*"])).await;
    let (id, _) = endpoint(
        &app,
        &receiver.url("/x"),
        json!(["order.paid", "order.paid"]),
    )
    .await;
    let shown = app
        .get(&format!("/v1/webhook_endpoints/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(shown["events"], json!(["order.paid"]));
    let patched = app
        .patch(
            &format!("/v1/webhook_endpoints/{id}"),
            json!({"events": ["*"], "description": "all of it", "status": "disabled"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (
            &patched["events"],
            &patched["description"],
            &patched["status"]
        ),
        (&json!(["*"]), &json!("all of it"), &json!("disabled"))
    );
    let bad = app
        .patch(
            &format!("/v1/webhook_endpoints/{id}"),
            json!({"status": "failing"}),
        )
        .await;
    assert_eq!((bad.status, bad.param()), (400, Some("status")));
    let deleted = app
        .delete(&format!("/v1/webhook_endpoints/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(deleted["deleted"], true);
    assert_eq!(
        app.get(&format!("/v1/webhook_endpoints/{id}")).await.status,
        404
    );
    assert_eq!(
        app.delete(&format!("/v1/webhook_endpoints/{id}"))
            .await
            .status,
        404
    );
}
