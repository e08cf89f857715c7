//! Acceptance "Orders", "Transactions" and "Refunds": two-stage payments,
//! the status × operation table, refunds (also concurrent), one connector
//! operation at a time, sync of unknown outcomes, clearing and expiry on the
//! test clock, the ledger after each, money edge cases, events, and tenant
//! isolation.

use crate::harness::{self, Backend, Options, Resp, TestApp, id_of, spawn};
use crate::on_both;
use futures_util::future::join_all;
use obol_core::Timestamp;
use obol_core::time::DAY_MS;
use serde_json::{Value, json};
use std::collections::HashMap;

on_both!(
    two_stage_capture_happens_once,
    increment_then_capture_all,
    void_releases_an_authorization,
    reverse_returns_an_uncleared_payment,
    capture_above_authorized_is_refused,
    operations_only_in_their_statuses,
    partial_and_repeated_refunds,
    omitted_refund_amount_takes_the_rest,
    concurrent_refunds_never_exceed_the_capture,
    concurrent_confirms_make_one_sale,
    connector_error_is_replayed_and_blocks_new_confirms,
    capture_racing_void_has_one_winner,
    sync_job_settles_processor_error,
    sync_job_settles_timeout,
    sync_route_settles_at_once,
    clearing_moves_pending_to_available,
    partially_refunded_order_clears,
    unpaid_order_expires,
    uncaptured_authorization_expires,
    amount_and_currency_edge_cases,
    zero_and_three_decimal_currencies,
    events_of_a_payment_flow,
    transactions_list_and_get,
    another_brand_sees_nothing,
);

const VISA: &str = "4242424242424242";
const CHALLENGE: &str = "4000000000003220";
const PROCESSOR_ERROR: &str = "4000000000000119";
const TIMEOUT: &str = "4000000000006975";
/// Two days and a minute: past the default clearing delay.
const PAST_CLEARING_S: i64 = 2 * 24 * 3600 + 60;

async fn app_with_account(backend: Backend) -> TestApp {
    let app = spawn(backend).await;
    app.sandbox_account().await;
    app
}

async fn clock_app(backend: Backend) -> TestApp {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    harness::spawn_paying(backend, options).await
}

async fn unpaid_order(app: &TestApp, amount: i64) -> String {
    id_of(
        &app.create_order(json!({"amount": amount, "currency": "EUR"}))
            .await,
    )
}

async fn refund(app: &TestApp, order_id: &str, amount: Option<i64>) -> Resp {
    let mut body = json!({"order_id": order_id});
    if let Some(amount) = amount {
        body["amount"] = json!(amount);
    }
    app.post("/v1/refunds", body).await
}

async fn action(app: &TestApp, order_id: &str, operation: &str, body: Value) -> Resp {
    app.post(&format!("/v1/orders/{order_id}/{operation}"), body)
        .await
}

/// The brand's `pending` or `available` money in `currency` (0 when none).
async fn balance(app: &TestApp, which: &str, currency: &str) -> i64 {
    let balance = app.get("/v1/balance").await.expect(200).clone();
    balance[which]
        .as_array()
        .expect("balance list")
        .iter()
        .filter(|b| b["currency"] == currency)
        .map(|b| b["amount"].as_i64().expect("amount"))
        .sum()
}

#[track_caller]
fn assert_invalid_state(answer: &Resp, what: &str) {
    assert_eq!(answer.status, 409, "{what}: {}", answer.body);
    assert_eq!(answer.code(), "invalid_state", "{what}: {}", answer.body);
    assert_eq!(answer.body["error"]["type"], "invalid_request_error");
}

#[track_caller]
fn assert_too_large(answer: &Resp) {
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.code(), "amount_too_large", "{}", answer.body);
    assert_eq!(answer.param(), Some("amount"));
}

/// `(kind, status, trigger)` of the order's transactions, oldest first.
fn transaction_summary(order: &Value) -> Vec<(String, String, String)> {
    order["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|t| {
            let field = |name: &str| t[name].as_str().unwrap_or_default().to_owned();
            (field("kind"), field("status"), field("trigger"))
        })
        .collect()
}

fn summary(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

async fn events_of(app: &TestApp, event_type: &str) -> Vec<Value> {
    app.get(&format!("/v1/events?type={event_type}&limit=100"))
        .await
        .expect(200)["data"]
        .as_array()
        .expect("data")
        .clone()
}

fn time(value: &Value) -> Timestamp {
    Timestamp::parse_rfc3339(value.as_str().expect("a timestamp")).expect("RFC 3339")
}

// ---------------------------------------------------------------- two-stage

async fn two_stage_capture_happens_once(backend: Backend) {
    let app = app_with_account(backend).await;
    let order = app.paid_order(10000, false).await;
    let id = id_of(&order);
    assert_eq!(order["status"], "authorized");
    assert_eq!(order["amount_authorized"], 10000);
    assert_eq!(order["amount_captured"], 0);
    let capture_before = time(&order["capture_before"]);
    let authorized_at = time(&order["payments"][0]["confirmed_at"]);
    assert_eq!(capture_before.as_ms() - authorized_at.as_ms(), 7 * DAY_MS);

    let captured = action(&app, &id, "capture", json!({"amount": 6000}))
        .await
        .expect(200)
        .clone();
    assert_eq!(captured["status"], "paid");
    assert_eq!(captured["amount_captured"], 6000);
    assert_eq!(
        transaction_summary(&captured),
        summary(&[
            ("authorize", "succeeded", "api"),
            ("capture", "succeeded", "api")
        ])
    );
    assert_eq!(captured["payments"][1]["amount"], 6000);

    let again = action(&app, &id, "capture", json!({"amount": 1000})).await;
    assert_invalid_state(&again, "second capture");
    assert!(
        again.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("capture") && m.contains("paid")),
        "the message names the operation and the status: {}",
        again.body
    );
    let order = app.order(&id).await;
    assert_eq!(order["amount_captured"], 6000);
    assert_eq!(order["payments"].as_array().map(Vec::len), Some(2));
    assert_eq!(balance(&app, "pending", "EUR").await, 6000);
    assert_eq!(
        app.count("SELECT captured FROM sandbox_payments").await,
        6000
    );
    app.assert_ledger_balanced().await;
}

async fn increment_then_capture_all(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = id_of(&app.paid_order(10000, false).await);
    let not_above = action(
        &app,
        &id,
        "increment_authorization",
        json!({"amount": 10000}),
    )
    .await;
    assert_eq!(not_above.status, 400, "{}", not_above.body);
    assert_eq!(not_above.param(), Some("amount"));

    let raised = action(
        &app,
        &id,
        "increment_authorization",
        json!({"amount": 15000}),
    )
    .await
    .expect(200)
    .clone();
    assert_eq!(raised["status"], "authorized");
    assert_eq!(raised["amount"], 15000);
    assert_eq!(raised["amount_authorized"], 15000);
    assert_eq!(
        raised["payments"][1]["kind"], "increment_authorization",
        "{raised}"
    );

    let captured = action(&app, &id, "capture", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(captured["status"], "paid");
    assert_eq!(captured["amount_captured"], 15000);
    assert_eq!(balance(&app, "pending", "EUR").await, 15000);
    assert_eq!(
        app.count("SELECT captured FROM sandbox_payments").await,
        15000
    );
    app.assert_ledger_balanced().await;
}

async fn void_releases_an_authorization(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = id_of(&app.paid_order(10000, false).await);
    let voided = action(&app, &id, "void", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(voided["status"], "canceled");
    assert_eq!(
        transaction_summary(&voided),
        summary(&[
            ("authorize", "succeeded", "api"),
            ("void", "succeeded", "api")
        ])
    );
    assert_eq!(voided["payments"][1]["amount"], 10000);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments WHERE state = 'voided'")
            .await,
        1
    );
    assert_invalid_state(
        &action(&app, &id, "capture", json!({})).await,
        "capture after void",
    );

    // An order without any payment is canceled without a connector call.
    let unpaid = unpaid_order(&app, 500).await;
    let canceled = action(&app, &unpaid, "void", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["payments"], json!([]));
    assert_eq!(events_of(&app, "order.canceled").await.len(), 2);
    assert_eq!(balance(&app, "pending", "EUR").await, 0);
    app.assert_ledger_balanced().await;
}

async fn reverse_returns_an_uncleared_payment(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = id_of(&app.paid_order(10000, true).await);
    assert_eq!(balance(&app, "pending", "EUR").await, 10000);
    let reversed = action(&app, &id, "reverse", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(reversed["status"], "reversed");
    assert_eq!(
        transaction_summary(&reversed),
        summary(&[
            ("sale", "succeeded", "api"),
            ("reverse", "succeeded", "api")
        ])
    );
    assert_eq!(reversed["payments"][1]["amount"], 10000);
    assert_eq!(balance(&app, "pending", "EUR").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments WHERE state = 'reversed'")
            .await,
        1
    );
    assert_eq!(events_of(&app, "order.reversed").await.len(), 1);
    assert_invalid_state(&refund(&app, &id, None).await, "refund after reverse");

    // A refunded order can no longer be reversed.
    let refunded = id_of(&app.paid_order(10000, true).await);
    refund(&app, &refunded, Some(100)).await.expect(200);
    assert_invalid_state(
        &action(&app, &refunded, "reverse", json!({})).await,
        "reverse after a refund",
    );
    app.assert_ledger_balanced().await;
}

async fn capture_above_authorized_is_refused(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = id_of(&app.paid_order(10000, false).await);
    assert_too_large(&action(&app, &id, "capture", json!({"amount": 10001})).await);
    let zero = action(&app, &id, "capture", json!({"amount": 0})).await;
    assert_eq!(zero.status, 400, "{}", zero.body);
    let order = app.order(&id).await;
    assert_eq!(order["status"], "authorized");
    assert_eq!(order["payments"].as_array().map(Vec::len), Some(1));
    // Still capturable after the refusals.
    let captured = action(&app, &id, "capture", json!({"amount": 10000}))
        .await
        .expect(200)
        .clone();
    assert_eq!(captured["amount_captured"], 10000);
    app.assert_ledger_balanced().await;
}

// ------------------------------------------------------ status × operation

const OPERATIONS: [&str; 6] = [
    "confirm",
    "capture",
    "increment_authorization",
    "void",
    "reverse",
    "refund",
];

/// api.md's table: which operation each status allows.
fn allowed(status: &str, operation: &str) -> bool {
    matches!(
        (status, operation),
        ("in_progress", "confirm" | "void")
            | ("requires_action", "void")
            | ("authorized", "capture" | "increment_authorization" | "void")
            | ("paid", "reverse" | "refund")
            | ("completed" | "partially_refunded", "refund")
    )
}

/// The status an allowed operation leads to.
fn status_after(operation: &str) -> &'static str {
    match operation {
        "confirm" | "capture" => "paid",
        "increment_authorization" => "authorized",
        "void" => "canceled",
        "reverse" => "reversed",
        _ => "partially_refunded",
    }
}

async fn run_operation(app: &TestApp, order_id: &str, operation: &str) -> Resp {
    match operation {
        "confirm" => app.confirm_card(order_id, VISA).await,
        "increment_authorization" => {
            action(app, order_id, operation, json!({"amount": 20000})).await
        }
        "refund" => refund(app, order_id, Some(1000)).await,
        _ => action(app, order_id, operation, json!({})).await,
    }
}

/// A new order of 10000 brought to `status` (not the clock-made ones).
async fn order_in(app: &TestApp, status: &str) -> String {
    match status {
        "in_progress" => unpaid_order(app, 10000).await,
        "requires_action" => {
            let id = unpaid_order(app, 10000).await;
            app.confirm_card(&id, CHALLENGE).await.expect(200);
            id
        }
        "processing" => {
            let id = unpaid_order(app, 10000).await;
            app.confirm_card(&id, PROCESSOR_ERROR).await.expect(502);
            id
        }
        "authorized" => id_of(&app.paid_order(10000, false).await),
        "paid" => id_of(&app.paid_order(10000, true).await),
        "partially_refunded" => {
            let id = id_of(&app.paid_order(10000, true).await);
            refund(app, &id, Some(1000)).await.expect(200);
            id
        }
        "refunded" => {
            let id = id_of(&app.paid_order(10000, true).await);
            refund(app, &id, None).await.expect(200);
            id
        }
        "canceled" => {
            let id = unpaid_order(app, 10000).await;
            action(app, &id, "void", json!({})).await.expect(200);
            id
        }
        "reversed" => {
            let id = id_of(&app.paid_order(10000, true).await);
            action(app, &id, "reverse", json!({})).await.expect(200);
            id
        }
        other => panic!("no recipe for {other}"),
    }
}

/// A pre-built order in `status` from `pool`, else a new one.
async fn take(app: &TestApp, pool: &mut HashMap<&str, Vec<String>>, status: &str) -> String {
    match pool.get_mut(status) {
        Some(ids) => ids.pop().expect("enough pre-built orders"),
        None => order_in(app, status).await,
    }
}

async fn operations_only_in_their_statuses(backend: Backend) {
    let app = clock_app(backend).await;
    // The clock-made statuses first: one order per allowed operation plus
    // one shared by the refused ones.
    let mut pool: HashMap<&str, Vec<String>> = HashMap::new();
    for status in ["completed", "expired"] {
        let needed = 1 + OPERATIONS.iter().filter(|op| allowed(status, op)).count();
        for _ in 0..needed {
            let id = match status {
                "completed" => id_of(&app.paid_order(10000, true).await),
                _ => unpaid_order(&app, 10000).await,
            };
            pool.entry(status).or_default().push(id);
        }
    }
    app.advance(PAST_CLEARING_S).await;

    let statuses = [
        "in_progress",
        "requires_action",
        "processing",
        "authorized",
        "paid",
        "completed",
        "partially_refunded",
        "refunded",
        "canceled",
        "reversed",
        "expired",
    ];
    let mut failures = Vec::new();
    for status in statuses {
        let shared = take(&app, &mut pool, status).await;
        let before = app.order(&shared).await;
        assert_eq!(before["status"], status, "setup of {status}: {before}");
        for operation in OPERATIONS {
            if allowed(status, operation) {
                let fresh = take(&app, &mut pool, status).await;
                assert_eq!(app.order(&fresh).await["status"], status);
                let answer = run_operation(&app, &fresh, operation).await;
                if answer.status != 200 {
                    failures.push(format!(
                        "{operation} on {status}: expected 200, got {} {}",
                        answer.status, answer.body
                    ));
                    continue;
                }
                let after = app.order(&fresh).await;
                if after["status"] != status_after(operation) {
                    failures.push(format!(
                        "{operation} on {status}: order became {}, expected {}",
                        after["status"],
                        status_after(operation)
                    ));
                }
            } else {
                let answer = run_operation(&app, &shared, operation).await;
                let names_status = answer.body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(status));
                if answer.status != 409 || answer.code() != "invalid_state" || !names_status {
                    failures.push(format!(
                        "{operation} on {status}: expected 409 invalid_state naming {status}, got {} {}",
                        answer.status, answer.body
                    ));
                }
            }
        }
        let after = app.order(&shared).await;
        if after["status"] != status || after["payments"] != before["payments"] {
            failures.push(format!(
                "refused operations changed the {status} order: {after}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.assert_ledger_balanced().await;
}

// ---------------------------------------------------------------- refunds

async fn partial_and_repeated_refunds(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = id_of(&app.paid_order(10000, true).await);

    let first = refund(&app, &id, Some(3000)).await.expect(200).clone();
    assert_eq!(first["object"], "refund");
    assert!(first["id"].as_str().is_some_and(|r| r.starts_with("ref_")));
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["amount"], 3000);
    assert_eq!(first["order_id"], id.as_str());
    let order = app.order(&id).await;
    assert_eq!(order["status"], "partially_refunded");
    assert_eq!(order["amount_refunded"], 3000);

    let second = app
        .post(
            "/v1/refunds",
            json!({"order_id": id, "amount": 3000, "reason": "requested_by_customer", "metadata": {"ticket": "42"}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(second["reason"], "requested_by_customer");
    assert_eq!(second["metadata"], json!({"ticket": "42"}));
    assert_eq!(app.order(&id).await["amount_refunded"], 6000);

    assert_too_large(&refund(&app, &id, Some(4001)).await);
    assert_eq!(app.order(&id).await["amount_refunded"], 6000);

    let last = refund(&app, &id, Some(4000)).await.expect(200).clone();
    assert_eq!(last["status"], "succeeded");
    let order = app.order(&id).await;
    assert_eq!(order["status"], "refunded");
    assert_eq!(order["amount_refunded"], 10000);
    assert_invalid_state(
        &refund(&app, &id, Some(1)).await,
        "refund of a refunded order",
    );
    assert_invalid_state(&refund(&app, &id, None).await, "refund of a refunded order");

    let listed = app
        .get(&format!("/v1/refunds?order_id={id}"))
        .await
        .expect(200)
        .clone();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            last["id"].as_str().unwrap(),
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ]
    );
    let fetched = app
        .get(&format!("/v1/refunds/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(fetched.expect(200), &first);
    let unknown = app.get("/v1/refunds?order_id=ord_nope").await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    assert_eq!(events_of(&app, "refund.succeeded").await.len(), 3);
    assert_eq!(events_of(&app, "order.partially_refunded").await.len(), 1);
    assert_eq!(events_of(&app, "order.refunded").await.len(), 1);
    assert_eq!(balance(&app, "pending", "EUR").await, 0);
    assert_eq!(
        app.count("SELECT refunded FROM sandbox_payments").await,
        10000
    );
    app.assert_ledger_balanced().await;
}

async fn omitted_refund_amount_takes_the_rest(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = id_of(&app.paid_order(10000, true).await);
    refund(&app, &id, Some(2500)).await.expect(200);
    let rest = refund(&app, &id, None).await.expect(200).clone();
    assert_eq!(rest["amount"], 7500);
    assert_eq!(rest["status"], "succeeded");
    let order = app.order(&id).await;
    assert_eq!(order["status"], "refunded");
    assert_eq!(order["amount_refunded"], 10000);
    let negative = refund(&app, &id, Some(-5)).await;
    assert_eq!(negative.status, 400, "{}", negative.body);
    app.assert_ledger_balanced().await;
}

async fn concurrent_refunds_never_exceed_the_capture(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = id_of(&app.paid_order(10000, true).await);
    let answers = join_all((0..20).map(|_| refund(&app, &id, Some(1000)))).await;
    let succeeded = answers.iter().filter(|a| a.status == 200).count();
    // A loser is 400 amount_too_large while the order is still partially
    // refunded (the winners' reservations count), or 409 invalid_state once
    // it is `refunded` (api.md's table); never another refund.
    for answer in answers.iter().filter(|a| a.status != 200) {
        if answer.status == 409 {
            assert_invalid_state(answer, "a refund of a refunded order");
        } else {
            assert_too_large(answer);
        }
    }
    assert_eq!(succeeded, 10, "exactly ten refunds fit");
    for answer in answers.iter().filter(|a| a.status == 200) {
        assert_eq!(answer.body["status"], "succeeded", "{}", answer.body);
    }
    let order = app.order(&id).await;
    assert_eq!(order["amount_refunded"], 10000);
    assert_eq!(order["status"], "refunded");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM refunds WHERE status = 'succeeded'")
            .await,
        10
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM refunds").await, 10);
    assert_eq!(
        app.count("SELECT refunded FROM sandbox_payments").await,
        10000
    );
    assert_eq!(balance(&app, "pending", "EUR").await, 0);
    app.assert_ledger_balanced().await;
}

// --------------------------------------------------------------- concurrency

async fn concurrent_confirms_make_one_sale(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = unpaid_order(&app, 7000).await;
    let body = json!({"payment_method": TestApp::card(VISA)});
    let path = format!("/v1/orders/{id}/confirm");
    let keys: Vec<String> = (0..10).map(|i| format!("confirm-{i}")).collect();
    let answers = join_all(
        keys.iter()
            .map(|key| app.post_idempotent(&path, key, body.clone())),
    )
    .await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for answer in answers.iter().filter(|a| a.status != 200) {
        assert_invalid_state(answer, "a concurrent confirm");
    }
    let order = app.order(&id).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["amount_captured"], 7000);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM transactions WHERE kind = 'sale'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM sandbox_payments").await, 1);
    assert_eq!(balance(&app, "pending", "EUR").await, 7000);
    app.assert_ledger_balanced().await;
}

async fn connector_error_is_replayed_and_blocks_new_confirms(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = unpaid_order(&app, 5000).await;
    let path = format!("/v1/orders/{id}/confirm");
    let body = json!({"payment_method": TestApp::card(PROCESSOR_ERROR)});
    let first = app.post_idempotent(&path, "pay-once", body.clone()).await;
    first.expect(502);
    assert_eq!(first.body["error"]["type"], "connector_error");
    assert_eq!(first.header("Idempotent-Replayed"), None);

    let replay = app.post_idempotent(&path, "pay-once", body.clone()).await;
    replay.expect(502);
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(replay.body, first.body);

    let other = app.post_idempotent(&path, "pay-twice", body).await;
    assert_invalid_state(&other, "confirm while processing");
    let with_good_card = app
        .post_idempotent(
            &path,
            "pay-thrice",
            json!({"payment_method": TestApp::card(VISA)}),
        )
        .await;
    assert_invalid_state(&with_good_card, "confirm while processing");

    assert_eq!(app.order(&id).await["status"], "processing");
    assert_eq!(app.count("SELECT COUNT(*) FROM transactions").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM sandbox_payments").await, 1);
}

async fn capture_racing_void_has_one_winner(backend: Backend) {
    let app = app_with_account(backend).await;
    let mut captured = 0;
    for round in 0..8 {
        let id = id_of(&app.paid_order(10000, false).await);
        let (capture, void) = if round % 2 == 0 {
            tokio::join!(
                action(&app, &id, "capture", json!({})),
                action(&app, &id, "void", json!({}))
            )
        } else {
            let (void, capture) = tokio::join!(
                action(&app, &id, "void", json!({})),
                action(&app, &id, "capture", json!({}))
            );
            (capture, void)
        };
        let order = app.order(&id).await;
        match (capture.status, void.status) {
            (200, 409) => {
                assert_invalid_state(&void, "the losing void");
                assert_eq!(order["status"], "paid");
                assert_eq!(order["amount_captured"], 10000);
                captured += 1;
            }
            (409, 200) => {
                assert_invalid_state(&capture, "the losing capture");
                assert_eq!(order["status"], "canceled");
                assert_eq!(order["amount_captured"], 0);
            }
            other => panic!(
                "round {round}: capture and void answered {other:?}: {} / {}",
                capture.body, void.body
            ),
        }
        assert_eq!(order["payments"].as_array().map(Vec::len), Some(2));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments WHERE state = 'captured'")
            .await,
        captured
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments WHERE state = 'voided'")
            .await,
        8 - captured
    );
    assert_eq!(balance(&app, "pending", "EUR").await, captured * 10000);
    app.assert_ledger_balanced().await;
}

// ---------------------------------------------------------------- sync

async fn sync_job_settles_processor_error(backend: Backend) {
    let app = clock_app(backend).await;
    let id = unpaid_order(&app, 4000).await;
    let answer = app.confirm_card(&id, PROCESSOR_ERROR).await;
    answer.expect(502);
    let order = app.order(&id).await;
    assert_eq!(order["status"], "processing");
    assert_eq!(order["payments"][0]["status"], "unknown");

    app.advance(120).await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "in_progress", "{order}");
    assert_eq!(order["payments"][0]["status"], "failed");
    assert!(
        order["last_payment_error"].is_object(),
        "the failure is kept: {order}"
    );
    assert_eq!(events_of(&app, "transaction.failed").await.len(), 1);
    // Payable again.
    let paid = app.confirm_card(&id, VISA).await.expect(200).clone();
    assert_eq!(paid["status"], "paid");
    app.assert_ledger_balanced().await;
}

async fn sync_job_settles_timeout(backend: Backend) {
    let app = clock_app(backend).await;
    let id = unpaid_order(&app, 4500).await;
    app.confirm_card(&id, TIMEOUT).await.expect(502);
    let order = app.order(&id).await;
    assert_eq!(order["status"], "processing");
    assert_eq!(order["payments"][0]["status"], "unknown");
    assert_eq!(balance(&app, "pending", "EUR").await, 0);

    app.advance(120).await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], 4500);
    assert_eq!(order["payments"][0]["status"], "succeeded");
    assert_eq!(order["payments"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.count("SELECT COUNT(*) FROM sandbox_payments").await, 1);
    assert_eq!(balance(&app, "pending", "EUR").await, 4500);
    assert_eq!(events_of(&app, "order.paid").await.len(), 1);
    app.assert_ledger_balanced().await;
}

async fn sync_route_settles_at_once(backend: Backend) {
    let app = app_with_account(backend).await;
    let failing = unpaid_order(&app, 1000).await;
    app.confirm_card(&failing, PROCESSOR_ERROR)
        .await
        .expect(502);
    let slow = unpaid_order(&app, 2000).await;
    app.confirm_card(&slow, TIMEOUT).await.expect(502);

    let synced = action(&app, &failing, "sync", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(synced["status"], "in_progress", "{synced}");
    assert_eq!(synced["payments"][0]["status"], "failed");
    assert!(synced["last_payment_error"].is_object());

    let synced = action(&app, &slow, "sync", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(synced["status"], "paid", "{synced}");
    assert_eq!(synced["payments"][0]["status"], "succeeded");
    assert_eq!(synced["amount_captured"], 2000);

    // Nothing open: sync changes nothing.
    let again = action(&app, &slow, "sync", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(again["payments"], synced["payments"]);
    assert_eq!(
        action(&app, "ord_unknown", "sync", json!({})).await.status,
        404
    );
    assert_eq!(balance(&app, "pending", "EUR").await, 2000);
    app.assert_ledger_balanced().await;
}

// ------------------------------------------------------- clearing and expiry

async fn clearing_moves_pending_to_available(backend: Backend) {
    let app = clock_app(backend).await;
    let id = id_of(&app.paid_order(10000, true).await);
    assert_eq!(balance(&app, "pending", "EUR").await, 10000);
    assert_eq!(balance(&app, "available", "EUR").await, 0);

    // Not yet after one day.
    app.advance(24 * 3600).await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["cleared_at"], Value::Null);

    app.advance(24 * 3600 + 60).await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "completed", "{order}");
    assert!(order["cleared_at"].is_string());
    assert_eq!(balance(&app, "pending", "EUR").await, 0);
    assert_eq!(balance(&app, "available", "EUR").await, 10000);
    assert_eq!(events_of(&app, "order.completed").await.len(), 1);
    app.assert_ledger_balanced().await;

    // A refund after clearing comes out of available.
    refund(&app, &id, Some(3000)).await.expect(200);
    let order = app.order(&id).await;
    assert_eq!(order["status"], "partially_refunded");
    assert_eq!(balance(&app, "available", "EUR").await, 7000);
    assert_eq!(balance(&app, "pending", "EUR").await, 0);
    assert_invalid_state(
        &action(&app, &id, "reverse", json!({})).await,
        "reverse after clearing",
    );
    app.assert_ledger_balanced().await;
}

async fn partially_refunded_order_clears(backend: Backend) {
    let app = clock_app(backend).await;
    let id = id_of(&app.paid_order(10000, true).await);
    refund(&app, &id, Some(4000)).await.expect(200);
    assert_eq!(balance(&app, "pending", "EUR").await, 6000);

    app.advance(PAST_CLEARING_S).await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "partially_refunded", "{order}");
    assert!(order["cleared_at"].is_string(), "{order}");
    assert_eq!(balance(&app, "pending", "EUR").await, 0);
    assert_eq!(balance(&app, "available", "EUR").await, 6000);
    app.assert_ledger_balanced().await;
}

async fn unpaid_order_expires(backend: Backend) {
    let app = clock_app(backend).await;
    let id = unpaid_order(&app, 1000).await;
    let paid = id_of(&app.paid_order(1000, true).await);
    app.advance(23 * 3600).await;
    assert_eq!(app.order(&id).await["status"], "in_progress");

    app.advance(3600 + 60).await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "expired", "{order}");
    assert_eq!(app.order(&paid).await["status"], "paid");
    let expired = events_of(&app, "order.expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["data"]["object"]["id"], id.as_str());
    assert_invalid_state(&app.confirm_card(&id, VISA).await, "confirm when expired");
    assert_eq!(app.count("SELECT COUNT(*) FROM sandbox_payments").await, 1);
    app.assert_ledger_balanced().await;
}

async fn uncaptured_authorization_expires(backend: Backend) {
    let app = clock_app(backend).await;
    let id = id_of(&app.paid_order(5000, false).await);
    app.advance(6 * 24 * 3600).await;
    assert_eq!(app.order(&id).await["status"], "authorized");

    app.advance(24 * 3600 + 60).await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "expired", "{order}");
    assert_eq!(
        transaction_summary(&order),
        summary(&[
            ("authorize", "succeeded", "api"),
            ("void", "succeeded", "system")
        ])
    );
    assert_eq!(order["payments"][1]["amount"], 5000);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments WHERE state = 'voided'")
            .await,
        1
    );
    assert_eq!(events_of(&app, "order.expired").await.len(), 1);
    assert_invalid_state(
        &action(&app, &id, "capture", json!({})).await,
        "capture after expiry",
    );
    app.assert_ledger_balanced().await;
}

// ---------------------------------------------------------------- money

async fn amount_and_currency_edge_cases(backend: Backend) {
    let app = app_with_account(backend).await;
    let cases: [(&str, &str, &str); 10] = [
        (
            r#"{"amount":0,"currency":"EUR"}"#,
            "parameter_invalid",
            "amount",
        ),
        (
            r#"{"amount":-1,"currency":"EUR"}"#,
            "parameter_invalid",
            "amount",
        ),
        (
            r#"{"amount":9007199254740992,"currency":"EUR"}"#,
            "amount_too_large",
            "amount",
        ),
        (
            r#"{"amount":1e20,"currency":"EUR"}"#,
            "parameter_invalid",
            "amount",
        ),
        (
            r#"{"amount":12.5,"currency":"EUR"}"#,
            "parameter_invalid",
            "amount",
        ),
        (
            r#"{"amount":"100","currency":"EUR"}"#,
            "parameter_invalid",
            "amount",
        ),
        (
            r#"{"amount":100,"currency":"XXX"}"#,
            "currency_unsupported",
            "currency",
        ),
        (
            r#"{"amount":100,"currency":"eur"}"#,
            "currency_unsupported",
            "currency",
        ),
        (
            r#"{"amount":100,"currency":"EUR","items":[{"name":"a","quantity":2,"unit_amount":40}]}"#,
            "parameter_invalid",
            "items",
        ),
        (
            r#"{"amount":100,"currency":"EUR","confirm":true}"#,
            "parameter_missing",
            "payment_method",
        ),
    ];
    for (body, code, param) in cases {
        let answer = app
            .send_raw("POST", "/v1/orders", &app.secret_key, body)
            .await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.code(), code, "{body}: {}", answer.body);
        assert_eq!(answer.param(), Some(param), "{body}: {}", answer.body);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 0);

    // The largest amount and items that add up are fine.
    let largest = app
        .create_order(json!({"amount": 9007199254740991_i64, "currency": "EUR"}))
        .await;
    assert_eq!(largest["amount"], 9007199254740991_i64);
    let itemized = app
        .create_order(json!({"amount": 100, "currency": "EUR",
            "items": [{"name": "a", "quantity": 2, "unit_amount": 40}, {"name": "b", "quantity": 1, "unit_amount": 20}]}))
        .await;
    assert_eq!(itemized["items"][0]["unit_amount"], 40);
}

async fn zero_and_three_decimal_currencies(backend: Backend) {
    let app = app_with_account(backend).await;
    for (currency, amount) in [("JPY", 500), ("KWD", 1000)] {
        let order = app
            .create_order(json!({"amount": amount, "currency": currency}))
            .await;
        assert_eq!(order["amount"], amount);
        assert_eq!(order["currency"], currency);
        let paid = app
            .confirm_card(&id_of(&order), VISA)
            .await
            .expect(200)
            .clone();
        assert_eq!(paid["status"], "paid", "{currency}");
        assert_eq!(paid["amount_captured"], amount);
        assert_eq!(paid["payments"][0]["currency"], currency);
        assert_eq!(balance(&app, "pending", currency).await, amount);
    }
    let pending = app.get("/v1/balance").await.expect(200)["pending"].clone();
    assert!(
        pending
            .as_array()
            .expect("pending")
            .contains(&json!({"currency": "JPY", "amount": 500})),
        "{pending}"
    );
    app.assert_ledger_balanced().await;
}

// ------------------------------------------------- events and transactions

async fn events_of_a_payment_flow(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = unpaid_order(&app, 8000).await;
    let paid = app.confirm_card(&id, VISA).await.expect(200).clone();
    let sale = id_of(&paid["payments"][0]);
    let refunded = refund(&app, &id, Some(2000)).await.expect(200).clone();

    let created = events_of(&app, "order.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["object"]["id"], id.as_str());
    assert_eq!(created[0]["data"]["object"]["status"], "in_progress");

    let order_paid = events_of(&app, "order.paid").await;
    assert_eq!(order_paid.len(), 1);
    assert_eq!(order_paid[0]["data"]["object"]["status"], "paid");
    assert_eq!(order_paid[0]["data"]["object"]["amount_captured"], 8000);

    let txn_events = events_of(&app, "transaction.succeeded").await;
    let txn_ids: Vec<&str> = txn_events
        .iter()
        .map(|e| e["data"]["object"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        txn_ids,
        [refunded["transaction_id"].as_str().unwrap(), sale.as_str()]
    );

    let refund_events = events_of(&app, "refund.succeeded").await;
    assert_eq!(refund_events.len(), 1);
    assert_eq!(refund_events[0]["data"]["object"]["id"], refunded["id"]);
    let partial = events_of(&app, "order.partially_refunded").await;
    assert_eq!(partial.len(), 1);
    assert_eq!(partial[0]["data"]["object"]["amount_refunded"], 2000);

    // In commit order: created < paid < partially refunded.
    let sequence = |events: &[Value]| events[0]["sequence"].as_i64().expect("sequence");
    assert!(sequence(&created) < sequence(&order_paid));
    assert!(sequence(&order_paid) < sequence(&partial));
    assert!(events_of(&app, "transaction.failed").await.is_empty());
    app.assert_ledger_balanced().await;
}

async fn transactions_list_and_get(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = id_of(&app.paid_order(6000, true).await);
    let refunded = refund(&app, &id, Some(1000)).await.expect(200).clone();
    let other = id_of(&app.paid_order(100, true).await);

    let listed = app
        .get(&format!("/v1/transactions?order_id={id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(listed["object"], "list");
    assert_eq!(listed["has_more"], false);
    let data = listed["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["kind"], "refund");
    assert_eq!(data[0]["id"], refunded["transaction_id"]);
    assert_eq!(data[0]["amount"], 1000);
    assert_eq!(data[1]["kind"], "sale");
    for txn in data {
        assert_eq!(txn["object"], "transaction");
        assert_eq!(txn["order_id"], id.as_str());
        assert_eq!(txn["currency"], "EUR");
        assert!(
            txn["connector_account_id"]
                .as_str()
                .is_some_and(|c| c.starts_with("cna_"))
        );
        assert!(txn["connector_transaction_id"].is_string());
        let fetched = app
            .get(&format!("/v1/transactions/{}", txn["id"].as_str().unwrap()))
            .await;
        assert_eq!(fetched.expect(200), txn);
    }
    let all = app.get("/v1/transactions").await.expect(200).clone();
    assert_eq!(all["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(all["data"][0]["order_id"], other.as_str());
    let page = app
        .get("/v1/transactions?limit=1")
        .await
        .expect(200)
        .clone();
    assert_eq!(page["has_more"], true);

    assert_eq!(
        app.get("/v1/transactions?order_id=ord_missing")
            .await
            .status,
        404
    );
    let missing = app.get("/v1/transactions/txn_missing").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "resource_missing");
    app.assert_ledger_balanced().await;
}

async fn another_brand_sees_nothing(backend: Backend) {
    let app = app_with_account(backend).await;
    let order = app.paid_order(3000, true).await;
    let id = id_of(&order);
    let txn = id_of(&order["payments"][0]);
    let unpaid = unpaid_order(&app, 3000).await;

    let (_, other_key) = app.other_brand("Globex").await;
    // The other brand has a sandbox account of its own.
    app.send(
        "POST",
        "/v1/connector_accounts",
        Some(&other_key),
        Some(json!({"connector": "sandbox", "payment_methods": ["card"]})),
        &[],
    )
    .await
    .expect(200);
    let as_other = |method: &'static str, path: String, body: Option<Value>| {
        let key = other_key.clone();
        let app = &app;
        async move { app.send(method, &path, Some(&key), body, &[]).await }
    };
    let checks = [
        ("GET", format!("/v1/orders/{id}"), None),
        (
            "POST",
            format!("/v1/orders/{unpaid}/confirm"),
            Some(json!({"payment_method": TestApp::card(VISA)})),
        ),
        ("GET", format!("/v1/transactions?order_id={id}"), None),
        ("GET", format!("/v1/transactions/{txn}"), None),
        ("GET", format!("/v1/refunds?order_id={id}"), None),
        (
            "POST",
            "/v1/refunds".to_owned(),
            Some(json!({"order_id": id})),
        ),
        ("POST", format!("/v1/orders/{id}/reverse"), Some(json!({}))),
        ("POST", format!("/v1/orders/{id}/sync"), Some(json!({}))),
    ];
    for (method, path, body) in checks {
        let answer = as_other(method, path.clone(), body).await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.body);
        assert_eq!(answer.code(), "resource_missing", "{method} {path}");
    }
    let listed = as_other("GET", "/v1/transactions".to_owned(), None).await;
    assert_eq!(listed.expect(200)["data"], json!([]));
    // Nothing changed.
    assert_eq!(app.order(&unpaid).await["status"], "in_progress");
    assert_eq!(app.order(&id).await["status"], "paid");
    assert_eq!(app.count("SELECT COUNT(*) FROM transactions").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM refunds").await, 0);
    app.assert_ledger_balanced().await;
}

on_both!(reseller_commission_at_clearing_and_clawback);

/// A child brand pays its reseller `commission_rate_bps` of every cleared
/// payment; a refund after clearing takes the commission back pro rata.
async fn reseller_commission_at_clearing_and_clawback(backend: Backend) {
    let app = crate::harness::spawn_with(
        backend,
        crate::harness::Options {
            test_clock: true,
            ..Default::default()
        },
    )
    .await;
    let child = app
        .admin_post(
            "/v1/brands",
            json!({"name": "Child", "parent_brand_id": app.brand_id, "commission_rate_bps": 1000}),
        )
        .await
        .expect(200)
        .clone();
    let child_key = child["secret_key"].as_str().expect("key").to_owned();
    let as_child = |method: &'static str, path: &str, body: Option<serde_json::Value>| {
        let (key, path) = (child_key.clone(), path.to_owned());
        let app = &app;
        async move { app.send(method, &path, Some(&key), body, &[]).await }
    };
    as_child(
        "POST",
        "/v1/connector_accounts",
        Some(json!({"connector": "sandbox", "payment_methods": ["card"]})),
    )
    .await
    .expect(200);
    let order = as_child(
        "POST",
        "/v1/orders",
        Some(json!({"amount": 10000, "currency": "EUR"})),
    )
    .await
    .expect(200)
    .clone();
    let id = order["id"].as_str().expect("id").to_owned();
    let card = json!({"payment_method": crate::harness::TestApp::card("4242424242424242")});
    as_child("POST", &format!("/v1/orders/{id}/confirm"), Some(card))
        .await
        .expect(200);
    app.advance(2 * 24 * 3600 + 60).await;
    let balance = as_child("GET", "/v1/balance", None)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        balance["available"],
        json!([{"currency": "EUR", "amount": 9000}]),
        "{balance}"
    );
    let commission = app
        .get("/v1/ledger/accounts?type=commission")
        .await
        .expect(200)["data"][0]["balance"]
        .clone();
    assert_eq!(commission, -1000, "the reseller is owed 10%");

    as_child(
        "POST",
        "/v1/refunds",
        Some(json!({"order_id": id, "amount": 5000})),
    )
    .await
    .expect(200);
    let balance = as_child("GET", "/v1/balance", None)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        balance["available"],
        json!([{"currency": "EUR", "amount": 4500}]),
        "{balance}"
    );
    let commission = app
        .get("/v1/ledger/accounts?type=commission")
        .await
        .expect(200)["data"][0]["balance"]
        .clone();
    assert_eq!(
        commission, -500,
        "half the commission came back with half the payment"
    );
    app.assert_ledger_balanced().await;
}

on_both!(
    publishable_key_reads_and_confirms_one_order,
    refused_card_at_creation_leaves_no_order
);

/// A publishable key acts on one order, named by its client secret.
async fn publishable_key_reads_and_confirms_one_order(backend: Backend) {
    let app = spawn(backend).await;
    app.sandbox_account().await;
    let order = app
        .create_order(json!({"amount": 2500, "currency": "EUR"}))
        .await;
    let other = app
        .create_order(json!({"amount": 100, "currency": "EUR"}))
        .await;
    let (id, secret) = (
        order["id"].as_str().expect("id"),
        order["client_secret"].as_str().expect("secret"),
    );
    let pk = app.publishable_key.clone();
    let read = app
        .send(
            "GET",
            &format!("/v1/orders/{id}?client_secret={secret}"),
            Some(&pk),
            None,
            &[],
        )
        .await;
    assert_eq!(read.expect(200)["id"], id);
    let no_secret = app
        .send("GET", &format!("/v1/orders/{id}"), Some(&pk), None, &[])
        .await;
    assert_eq!(no_secret.status, 401);
    let wrong = app
        .send(
            "GET",
            &format!(
                "/v1/orders/{}?client_secret={secret}",
                other["id"].as_str().expect("id")
            ),
            Some(&pk),
            None,
            &[],
        )
        .await;
    assert_eq!(wrong.status, 404);
    let listing = app.send("GET", "/v1/orders", Some(&pk), None, &[]).await;
    assert_eq!(listing.status, 401);
    let choose_account = json!({"payment_method": TestApp::card("4242424242424242"), "client_secret": secret, "connector_account_id": "cna_x"});
    let refused = app
        .send(
            "POST",
            &format!("/v1/orders/{id}/confirm"),
            Some(&pk),
            Some(choose_account),
            &[],
        )
        .await;
    assert_eq!(refused.status, 401);
    let body =
        json!({"payment_method": TestApp::card("4242424242424242"), "client_secret": secret});
    let paid = app
        .send(
            "POST",
            &format!("/v1/orders/{id}/confirm"),
            Some(&pk),
            Some(body.clone()),
            &[("Idempotency-Key", "pay-1")],
        )
        .await;
    let paid = paid.expect(200).clone();
    assert_eq!(paid["status"], "paid");
    // The checkout view has no trigger; the brand's own view does.
    assert_eq!(app.order(id).await["payments"][0]["trigger"], "checkout");
    // The merchant's own key with the same idempotency key is another scope.
    let merchant = app
        .post_idempotent(&format!("/v1/orders/{id}/confirm"), "pay-1", body)
        .await;
    assert_eq!((merchant.status, merchant.code()), (409, "invalid_state"));
    let capture = app
        .send(
            "POST",
            &format!("/v1/orders/{id}/capture"),
            Some(&pk),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(capture.status, 401);
    app.assert_ledger_balanced().await;
}

/// `confirm: true` with a card Obol refuses answers 400 and creates nothing,
/// so the corrected retry under the same idempotency key makes one order.
async fn refused_card_at_creation_leaves_no_order(backend: Backend) {
    let app = spawn(backend).await;
    app.sandbox_account().await;
    let bad = json!({"amount": 1000, "currency": "EUR", "confirm": true, "payment_method": TestApp::card("4242424242424241")});
    let refused = app.post_idempotent("/v1/orders", "order-1", bad).await;
    assert_eq!(
        (refused.status, refused.param()),
        (400, Some("payment_method[card][number]"))
    );
    let no_connector = app.post("/v1/orders", json!({"amount": 1000, "currency": "EUR", "confirm": true, "payment_method": {"type": "crypto"}})).await;
    assert_eq!(
        (no_connector.status, no_connector.code()),
        (400, "no_connector_available")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 0);
    let good = json!({"amount": 1000, "currency": "EUR", "confirm": true, "payment_method": TestApp::card("4242424242424242")});
    let created = app.post_idempotent("/v1/orders", "order-1", good).await;
    assert_eq!(created.expect(200)["status"], "paid");
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 1);
}
