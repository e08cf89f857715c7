//! Acceptance "Connector notifications": `POST /v1/ipn/{connector_account_id}`
//! takes a connector's signed notification, applies it once (by event id)
//! through the same step 3 as a request or a sync, and refuses what does
//! not verify without changing anything. The sandbox's asynchronous card
//! is settled by the sandbox's own notification, 10 s later on the clock.

pub(super) use super::sandbox::statuses;
use crate::harness::{self, Backend, Options, Resp, TestApp, id_of};
use crate::on_both;
use futures_util::future::join_all;
use serde_json::{Value, json};

on_both!(
    async_card_is_paid_by_the_sandbox_notification,
    the_same_notification_five_times_at_once_applies_once,
    unverifiable_notifications_change_nothing,
    unknown_account_is_404_and_unknown_payment_is_kept,
);

const ASYNC_CARD: &str = "4000000000000077";

/// A sandbox connector account taking cards and crypto, with the webhook
/// secret its creation showed once.
pub(super) struct Account {
    pub id: String,
    pub secret: String,
}

/// A server on the test clock with a sandbox account for card and crypto.
pub(super) async fn clock_app(backend: Backend) -> (TestApp, Account) {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    let app = harness::spawn_with(backend, options).await;
    let created = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "sandbox", "payment_methods": ["card", "crypto"]}),
        )
        .await
        .expect(200)
        .clone();
    let account = Account {
        id: id_of(&created),
        secret: created["webhook_secret"]
            .as_str()
            .expect("the webhook secret, shown once")
            .to_owned(),
    };
    (app, account)
}

/// How many events of `event_type` the brand has about object `id`.
pub(super) async fn events_about(app: &TestApp, event_type: &str, id: &str) -> usize {
    let events = app
        .get(&format!("/v1/events?type={event_type}&limit=100"))
        .await
        .expect(200)
        .clone();
    events["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|event| event["data"]["object"]["id"] == id)
        .count()
}

/// The sum of every posting on the brand's accounts of `account_type`.
pub(super) async fn posted(app: &TestApp, account_type: &str) -> i64 {
    obol_store::sql::query_scalar::<i64>(
        "SELECT CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) FROM ledger_postings p \
         JOIN ledger_accounts a ON a.id = p.account_id WHERE a.type = $1",
    )
    .bind(account_type)
    .fetch_one(&app.state.db.pool)
    .await
    .expect("sum the postings")
}

/// The brand's ledger entries about `order_id` described as `what of …`.
pub(super) async fn entries(app: &TestApp, what: &str, order_id: &str) -> i64 {
    obol_store::sql::query_scalar::<i64>(
        "SELECT COUNT(*) FROM ledger_entries WHERE description = $1",
    )
    .bind(format!("{what} of {order_id}"))
    .fetch_one(&app.state.db.pool)
    .await
    .expect("count the entries")
}

/// Headers signing `body` as event `id` at `timestamp` (unix seconds)
/// with `secret`, the Standard Webhooks way.
pub(super) fn signed_headers(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &str,
) -> Vec<(String, String)> {
    let signature = standardwebhooks::Webhook::new(secret)
        .expect("a webhook secret")
        .sign(id, timestamp, body.as_bytes())
        .expect("sign");
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), signature),
    ]
}

/// Posts `body`, byte for byte as signed, with `headers` to the account's
/// notification route (no API key).
pub(super) async fn post_notification(
    app: &TestApp,
    account_id: &str,
    headers: &[(String, String)],
    body: &str,
) -> Resp {
    let mut request = app
        .client
        .post(format!("{}/v1/ipn/{account_id}", app.url))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    assert_ne!(status, 500, "the notification answered 500: {text}");
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The test clock's time in unix seconds.
pub(super) fn now_secs(app: &TestApp) -> i64 {
    app.state.now().as_ms() / 1000
}

/// A sandbox notification body about the payment the sandbox knows as
/// `payment_id`.
fn body(event_id: &str, event_type: &str, payment_id: &str, amount: i64) -> String {
    json!({"id": event_id, "type": event_type, "connector_transaction_id": payment_id,
           "amount": amount, "currency": "EUR", "payment_method": "card"})
    .to_string()
}

/// A new EUR order confirmed with the asynchronous card: (order id, its
/// transaction as answered).
async fn processing_order(app: &TestApp, amount: i64) -> (String, Value) {
    let order = app
        .create_order(json!({"amount": amount, "currency": "EUR"}))
        .await;
    let id = id_of(&order);
    let answer = app.confirm_card(&id, ASYNC_CARD).await.expect(200).clone();
    assert_eq!(answer["status"], "processing", "{answer}");
    let txn = answer["payments"][0].clone();
    assert_eq!(txn["status"], "pending");
    (id, txn)
}

/// Acceptance (a): the asynchronous card leaves the order `processing`;
/// 10 s later on the clock the sandbox's own signed notification, posted
/// over HTTP to `/v1/ipn/{account}`, makes it `paid` (before any sync is
/// due), with the history pending → succeeded.
async fn async_card_is_paid_by_the_sandbox_notification(backend: Backend) {
    let (app, account) = clock_app(backend).await;
    let (id, txn) = processing_order(&app, 3000).await;
    assert_eq!(app.order(&id).await["status"], "processing");

    app.advance(9).await;
    assert_eq!(
        app.order(&id).await["status"],
        "processing",
        "not before 10 s"
    );
    app.advance(1).await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], 3000);
    let paid = &order["payments"][0];
    assert_eq!(statuses(paid), ["pending", "succeeded"], "{paid}");
    assert_eq!(paid["failure_reason"], Value::Null);
    let received = app
        .count("SELECT COUNT(*) FROM connector_notifications WHERE transaction_id IS NOT NULL")
        .await;
    assert_eq!(received, 1, "settled by the notification, not by a sync");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'sandbox.notify' AND status = 'done'")
            .await,
        1
    );
    let txn_id = txn["id"].as_str().expect("transaction id");
    assert_eq!(events_about(&app, "transaction.succeeded", txn_id).await, 1);
    assert_eq!(events_about(&app, "order.paid", &id).await, 1);
    assert_eq!(entries(&app, "capture", &id).await, 1);
    assert_eq!(posted(&app, "processor_clearing").await, 3000);
    assert_eq!(posted(&app, "brand_pending").await, -3000);
    let _ = account;
}

/// Acceptance (b): one signed notification posted 5 times at once is
/// applied once: one `transaction.succeeded`, one ledger entry; the other
/// copies answer 200 as duplicates. A later conflicting one (failed after
/// succeeded) answers 200 and changes nothing.
async fn the_same_notification_five_times_at_once_applies_once(backend: Backend) {
    let (app, account) = clock_app(backend).await;
    let (id, txn) = processing_order(&app, 3000).await;
    let payment_id = txn["connector_transaction_id"]
        .as_str()
        .expect("sandbox id");
    let event = body("sbx_evt_test_1", "payment.succeeded", payment_id, 3000);
    let headers = signed_headers(&account.secret, "sbx_evt_test_1", now_secs(&app), &event);

    let answers =
        join_all((0..5).map(|_| post_notification(&app, &account.id, &headers, &event))).await;
    let mut results: Vec<String> = answers
        .iter()
        .map(|answer| {
            answer.expect(200);
            assert_eq!(answer.body["object"], "notification_receipt");
            answer.body["result"].as_str().expect("result").to_owned()
        })
        .collect();
    results.sort();
    assert_eq!(
        results,
        [
            "applied",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
    let order = app.order(&id).await;
    assert_eq!(order["status"], "paid", "{order}");
    let txn_id = txn["id"].as_str().expect("transaction id");
    assert_eq!(events_about(&app, "transaction.succeeded", txn_id).await, 1);
    assert_eq!(entries(&app, "capture", &id).await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_notifications")
            .await,
        1
    );

    let late = body("sbx_evt_test_2", "payment.failed", payment_id, 3000);
    let headers = signed_headers(&account.secret, "sbx_evt_test_2", now_secs(&app), &late);
    let answer = post_notification(&app, &account.id, &headers, &late).await;
    assert_eq!(answer.expect(200)["result"], "unchanged");
    let order = app.order(&id).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(statuses(&order["payments"][0]), ["pending", "succeeded"]);
    assert_eq!(events_about(&app, "transaction.failed", txn_id).await, 0);
    // The sandbox's own notification, when its time comes, changes nothing.
    app.advance(10).await;
    assert_eq!(entries(&app, "capture", &id).await, 1);
    assert_eq!(events_about(&app, "transaction.succeeded", txn_id).await, 1);
}

/// Acceptance (c): a notification signed with another secret, stale,
/// altered after signing or unsigned is 400 `signature_invalid`, and
/// nothing changes (no record, no event, the transaction still pending).
async fn unverifiable_notifications_change_nothing(backend: Backend) {
    let (app, account) = clock_app(backend).await;
    let (id, txn) = processing_order(&app, 3000).await;
    let payment_id = txn["connector_transaction_id"]
        .as_str()
        .expect("sandbox id");
    let event = body("sbx_evt_bad", "payment.succeeded", payment_id, 3000);
    let now = now_secs(&app);
    let other_secret = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBvZiAzMiBieXQ=";
    let altered = event.replace("3000", "30");
    let cases = [
        (
            "another secret",
            signed_headers(other_secret, "sbx_evt_bad", now, &event),
            event.clone(),
        ),
        (
            "stale",
            signed_headers(&account.secret, "sbx_evt_bad", now - 301, &event),
            event.clone(),
        ),
        (
            "from the future",
            signed_headers(&account.secret, "sbx_evt_bad", now + 301, &event),
            event.clone(),
        ),
        (
            "altered",
            signed_headers(&account.secret, "sbx_evt_bad", now, &event),
            altered,
        ),
        ("unsigned", Vec::new(), event.clone()),
    ];
    for (what, headers, body) in cases {
        let answer = post_notification(&app, &account.id, &headers, &body).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        assert_eq!(answer.code(), "signature_invalid", "{what}");
        assert_eq!(answer.body["error"]["type"], "invalid_request_error");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_notifications")
            .await,
        0
    );
    let order = app.order(&id).await;
    assert_eq!(order["status"], "processing");
    assert_eq!(order["payments"][0]["status"], "pending");
    let txn_id = txn["id"].as_str().expect("transaction id");
    assert_eq!(events_about(&app, "transaction.succeeded", txn_id).await, 0);
    assert_eq!(posted(&app, "processor_clearing").await, 0);
}

/// Acceptance (d): an unknown account is 404. A verified notification
/// about a payment Obol does not know (yet) is 404 too and not recorded,
/// so the connector's retry may match once the payment knows its id.
async fn unknown_account_is_404_and_unknown_payment_is_kept(backend: Backend) {
    let (app, account) = clock_app(backend).await;
    let event = body("sbx_evt_stray", "payment.succeeded", "sbx_pay_unknown", 100);
    let headers = signed_headers(&account.secret, "sbx_evt_stray", now_secs(&app), &event);
    let answer = post_notification(&app, "cna_unknown", &headers, &event).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(answer.code(), "resource_missing");

    for _ in 0..2 {
        let answer = post_notification(&app, &account.id, &headers, &event).await;
        assert_eq!(
            (answer.status, answer.code()),
            (404, "resource_missing"),
            "{}",
            answer.body
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_notifications")
            .await,
        0
    );
}
