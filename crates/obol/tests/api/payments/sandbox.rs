//! Acceptance "The sandbox connector": every test card gives exactly its
//! outcome through `POST /v1/orders/{id}/confirm`, and Obol's own card
//! checks refuse a bad card before any transaction is made.

use crate::harness::{self, Backend, Options, Resp, TestApp, spawn};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    approved_cards_pay,
    approved_card_authorizes_without_auto_capture,
    declined_cards_answer_402_and_allow_a_retry,
    three_d_secure_card_requires_action,
    async_card_is_processing_until_sync,
    processor_error_card_answers_502,
    timeout_card_answers_502,
    setup_mandate_order_verifies,
    card_checks_refuse_before_any_transaction,
);

async fn app_with_account(backend: Backend) -> TestApp {
    let app = spawn(backend).await;
    app.sandbox_account().await;
    app
}

async fn clock_app_with_account(backend: Backend) -> TestApp {
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    app.sandbox_account().await;
    app
}

async fn new_order(app: &TestApp, amount: i64) -> String {
    let order = app
        .create_order(json!({"amount": amount, "currency": "EUR"}))
        .await;
    assert_eq!(order["status"], "in_progress");
    order["id"].as_str().expect("order id").to_owned()
}

/// A transaction's statuses, oldest first.
pub(super) fn statuses(txn: &Value) -> Vec<&str> {
    txn["status_history"]
        .as_array()
        .expect("status_history")
        .iter()
        .map(|change| change["status"].as_str().expect("status"))
        .collect()
}

/// The order's transactions, via `GET /v1/transactions?order_id=`, oldest first.
async fn transactions(app: &TestApp, order_id: &str) -> Vec<Value> {
    let mut list = app
        .get(&format!("/v1/transactions?order_id={order_id}"))
        .await
        .expect(200)["data"]
        .as_array()
        .expect("data")
        .clone();
    list.reverse();
    list
}

/// Checks a 402 decline answer; returns its transaction id.
#[track_caller]
fn assert_declined(answer: &Resp, order_id: &str, decline_code: &str) -> String {
    answer.expect(402);
    let error = &answer.body["error"];
    assert_eq!(error["type"], "payment_error", "{}", answer.body);
    assert_eq!(error["code"], "card_declined");
    assert_eq!(error["decline_code"], decline_code);
    assert_eq!(error["order_id"], order_id);
    let txn = error["transaction_id"].as_str().expect("transaction_id");
    assert!(txn.starts_with("txn_"));
    txn.to_owned()
}

/// Checks a 502 connector answer naming the order and its transaction.
#[track_caller]
fn assert_connector_error(answer: &Resp, order_id: &str) -> String {
    answer.expect(502);
    let error = &answer.body["error"];
    assert_eq!(error["type"], "connector_error", "{}", answer.body);
    assert_eq!(error["code"], "connector_error");
    assert_eq!(error["order_id"], order_id);
    error["transaction_id"]
        .as_str()
        .expect("transaction_id")
        .to_owned()
}

async fn approved_cards_pay(backend: Backend) {
    let app = app_with_account(backend).await;
    for (number, brand, last4) in [
        ("4242424242424242", "visa", "4242"),
        ("5555555555554444", "mastercard", "4444"),
    ] {
        let id = new_order(&app, 8925).await;
        let order = app.confirm_card(&id, number).await.expect(200).clone();
        assert_eq!(order["status"], "paid", "{number}");
        assert_eq!(order["amount_authorized"], 8925);
        assert_eq!(order["amount_captured"], 8925);
        assert_eq!(order["last_payment_error"], Value::Null);
        let payments = order["payments"].as_array().expect("payments");
        assert_eq!(payments.len(), 1);
        let txn = &payments[0];
        assert_eq!(txn["kind"], "sale");
        assert_eq!(txn["status"], "succeeded");
        assert_eq!(txn["preauth"], false);
        assert_eq!(txn["trigger"], "api");
        assert_eq!(txn["amount"], 8925);
        assert_eq!(txn["connector"], "sandbox");
        assert_eq!(statuses(txn), ["pending", "succeeded"]);
        assert_eq!(txn["status_history"][1]["http_code"], 200);
        assert_eq!(txn["payment_method"]["brand"], brand);
        assert_eq!(txn["payment_method"]["last4"], last4);
        assert!(
            !txn.to_string().contains(number),
            "the card number leaked: {txn}"
        );
        assert_eq!(app.order(&id).await, order);
    }
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM sandbox_payments WHERE operation = 'sale' AND state = 'captured'"
        )
        .await,
        2
    );
    let balance = app.get("/v1/balance").await.expect(200).clone();
    assert_eq!(
        balance["pending"],
        json!([{"currency": "EUR", "amount": 17850}])
    );
    app.assert_ledger_balanced().await;
}

async fn approved_card_authorizes_without_auto_capture(backend: Backend) {
    let app = app_with_account(backend).await;
    let order = app
        .create_order(json!({"amount": 5000, "currency": "EUR", "auto_capture": false}))
        .await;
    let id = order["id"].as_str().expect("id");
    let order = app
        .confirm_card(id, "4242424242424242")
        .await
        .expect(200)
        .clone();
    assert_eq!(order["status"], "authorized");
    assert_eq!(order["amount_authorized"], 5000);
    assert_eq!(order["amount_captured"], 0);
    assert!(order["capture_before"].is_string(), "{order}");
    let txn = &order["payments"][0];
    assert_eq!(txn["kind"], "authorize");
    assert_eq!(txn["status"], "succeeded");
    assert_eq!(txn["preauth"], true);
    assert_eq!(statuses(txn), ["pending", "succeeded"]);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments WHERE state = 'authorized'")
            .await,
        1
    );
    // Nothing captured: no money moved yet.
    let balance = app.get("/v1/balance").await.expect(200).clone();
    let pending: i64 = balance["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .map(|b| b["amount"].as_i64().expect("amount"))
        .sum();
    assert_eq!(pending, 0, "{balance}");
    app.assert_ledger_balanced().await;
}

async fn declined_cards_answer_402_and_allow_a_retry(backend: Backend) {
    let app = app_with_account(backend).await;
    for (number, decline_code) in [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
    ] {
        let id = new_order(&app, 1500).await;
        let answer = app.confirm_card(&id, number).await;
        let txn_id = assert_declined(&answer, &id, decline_code);
        assert!(
            !answer.body.to_string().contains(number),
            "the card number leaked: {}",
            answer.body
        );

        let order = app.order(&id).await;
        assert_eq!(order["status"], "in_progress", "{number}");
        assert_eq!(order["amount_captured"], 0);
        let error = &order["last_payment_error"];
        assert_eq!(error["code"], "card_declined", "{order}");
        assert_eq!(error["decline_code"], decline_code);
        let txn = app
            .get(&format!("/v1/transactions/{txn_id}"))
            .await
            .expect(200)
            .clone();
        assert_eq!(txn["kind"], "sale");
        assert_eq!(txn["status"], "failed");
        assert_eq!(txn["order_id"], id.as_str());
        assert_eq!(statuses(&txn), ["pending", "failed"]);
        assert_eq!(txn["error"]["decline_code"], decline_code);

        // Another try with a good card pays the same order.
        let paid = app
            .confirm_card(&id, "4242424242424242")
            .await
            .expect(200)
            .clone();
        assert_eq!(paid["status"], "paid");
        assert_eq!(paid["last_payment_error"], Value::Null);
        let kinds: Vec<(String, String)> = transactions(&app, &id)
            .await
            .iter()
            .map(|t| {
                (
                    t["kind"].as_str().unwrap_or_default().to_owned(),
                    t["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("sale".to_owned(), "failed".to_owned()),
                ("sale".to_owned(), "succeeded".to_owned())
            ]
        );
    }
    let failed = app
        .get("/v1/events?type=transaction.failed&limit=100")
        .await
        .expect(200)["data"]
        .as_array()
        .map(Vec::len);
    assert_eq!(failed, Some(4));
    app.assert_ledger_balanced().await;
}

async fn three_d_secure_card_requires_action(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = new_order(&app, 2000).await;
    let order = app
        .confirm_card(&id, "4000000000003220")
        .await
        .expect(200)
        .clone();
    assert_eq!(order["status"], "requires_action");
    assert_eq!(order["next_action"]["type"], "redirect");
    let url = order["next_action"]["url"].as_str().expect("redirect url");
    assert!(url.starts_with("http"), "{url}");
    let txn = &order["payments"][0];
    assert_eq!(txn["kind"], "sale");
    assert_eq!(txn["status"], "requires_action");
    assert_eq!(statuses(txn), ["pending", "requires_action"]);
    assert_eq!(order["amount_captured"], 0);
    let event = app
        .get("/v1/events?type=order.requires_action")
        .await
        .expect(200)
        .clone();
    assert_eq!(event["data"][0]["data"]["object"]["id"], id.as_str());
    app.assert_ledger_balanced().await;
}

async fn async_card_is_processing_until_sync(backend: Backend) {
    let app = clock_app_with_account(backend).await;
    let id = new_order(&app, 3000).await;
    let order = app
        .confirm_card(&id, "4000000000000077")
        .await
        .expect(200)
        .clone();
    // Checked last, so that a wrong status here does not hide the rest.
    let answered_status = order["status"].clone();
    let stored_status = app.order(&id).await["status"].clone();
    let txn = &order["payments"][0];
    assert_eq!(txn["kind"], "sale");
    assert_eq!(txn["status"], "pending");
    assert_eq!(order["amount_captured"], 0);
    // One connector operation at a time: no second confirm meanwhile.
    let again = app.confirm_card(&id, "4242424242424242").await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.code(), "invalid_state");

    app.advance(60).await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], 3000);
    let txn = &order["payments"][0];
    assert_eq!(txn["status"], "succeeded");
    let history = statuses(txn);
    assert_eq!(history.first(), Some(&"pending"), "{txn}");
    assert_eq!(history.last(), Some(&"succeeded"), "{txn}");
    assert_eq!(app.count("SELECT COUNT(*) FROM sandbox_payments").await, 1);
    app.assert_ledger_balanced().await;
    assert_eq!(
        answered_status, "processing",
        "the confirm answer of the asynchronous card"
    );
    assert_eq!(stored_status, "processing", "the order while pending");
}

async fn processor_error_card_answers_502(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = new_order(&app, 4000).await;
    let answer = app.confirm_card(&id, "4000000000000119").await;
    let txn_id = assert_connector_error(&answer, &id);
    let txn = app
        .get(&format!("/v1/transactions/{txn_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(txn["status"], "unknown");
    assert_eq!(txn["kind"], "sale");
    assert_eq!(statuses(&txn), ["pending", "unknown"]);
    let order = app.order(&id).await;
    assert_eq!(order["status"], "processing");
    assert_eq!(order["amount_captured"], 0);
    app.assert_ledger_balanced().await;
}

async fn timeout_card_answers_502(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = new_order(&app, 4500).await;
    let started = std::time::Instant::now();
    let answer = app.confirm_card(&id, "4000000000006975").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the connector timeout did not fire"
    );
    let txn_id = assert_connector_error(&answer, &id);
    let txn = app
        .get(&format!("/v1/transactions/{txn_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(txn["status"], "unknown");
    assert_eq!(statuses(&txn), ["pending", "unknown"]);
    assert_eq!(app.order(&id).await["status"], "processing");
    // The sandbox took the money although Obol saw no answer.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments WHERE state = 'captured'")
            .await,
        1
    );
    app.assert_ledger_balanced().await;
}

async fn setup_mandate_order_verifies(backend: Backend) {
    let app = app_with_account(backend).await;
    let customer = app.create_customer("mandate@example.com").await;
    let order = app
        .create_order(
            json!({"amount": 0, "currency": "EUR", "setup_mandate": true,
                             "customer_id": customer["id"]}),
        )
        .await;
    assert_eq!(order["setup_mandate"], true);
    let id = order["id"].as_str().expect("id");
    let order = app
        .confirm_card(id, "4242424242424242")
        .await
        .expect(200)
        .clone();
    assert_eq!(order["status"], "paid");
    assert_eq!(order["amount_captured"], 0);
    let txn = &order["payments"][0];
    assert_eq!(txn["kind"], "verify");
    assert_eq!(txn["status"], "succeeded");
    assert_eq!(txn["amount"], 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments WHERE operation = 'verify'")
            .await,
        1
    );
    // A verification captured nothing: there is nothing to reverse or refund.
    let reverse = app
        .post(&format!("/v1/orders/{id}/reverse"), json!({}))
        .await;
    let refund_all = app.post("/v1/refunds", json!({"order_id": id})).await;
    let refund_some = app
        .post("/v1/refunds", json!({"order_id": id, "amount": 1}))
        .await;
    for answer in [reverse, refund_all, refund_some] {
        assert_eq!(
            (answer.status, answer.code()),
            (409, "invalid_state"),
            "{}",
            answer.body
        );
    }
    let order = app.order(id).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["payments"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.count("SELECT COUNT(*) FROM refunds").await, 0);
    app.assert_ledger_balanced().await;
}

async fn card_checks_refuse_before_any_transaction(backend: Backend) {
    let app = app_with_account(backend).await;
    let id = new_order(&app, 1000).await;
    let card = |number: &str, month: i64, year: i64, cvc: &str| {
        json!({"payment_method": {"type": "card", "card":
            {"number": number, "exp_month": month, "exp_year": year, "cvc": cvc}}})
    };
    let cases = [
        (
            card("4242424242424241", 12, 2030, "123"),
            "payment_method[card][number]",
            "4242424242424241",
        ),
        (
            card("4000000000000002", 1, 2020, "123"),
            "payment_method[card][exp_year]",
            "4000000000000002",
        ),
        (
            card("4242424242424242", 13, 2030, "123"),
            "payment_method[card][exp_month]",
            "4242424242424242",
        ),
        (
            card("4242424242424242", 12, 2030, "12a"),
            "payment_method[card][cvc]",
            "4242424242424242",
        ),
        (
            card("4242424242424242", 12, 2030, "1234"),
            "payment_method[card][cvc]",
            "4242424242424242",
        ),
    ];
    for (body, param, number) in cases {
        let answer = app
            .post(&format!("/v1/orders/{id}/confirm"), body.clone())
            .await;
        answer.expect(400);
        assert_eq!(answer.body["error"]["type"], "invalid_request_error");
        assert_eq!(answer.code(), "parameter_invalid", "{}", answer.body);
        assert_eq!(answer.param(), Some(param), "{}", answer.body);
        assert!(
            !answer.body.to_string().contains(number),
            "the card number leaked: {}",
            answer.body
        );
        // The same refusal at creation with confirm: true.
        let mut create = json!({"amount": 1000, "currency": "EUR", "confirm": true});
        create["payment_method"] = body["payment_method"].clone();
        let answer = app.post("/v1/orders", create).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(!answer.body.to_string().contains(number));
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM transactions").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM sandbox_payments").await, 0);
    let order = app.order(&id).await;
    assert_eq!(order["status"], "in_progress");
    assert_eq!(order["payments"], json!([]));
    assert_eq!(order["last_payment_error"], Value::Null);
    // The order is still payable.
    app.confirm_card(&id, "4242424242424242").await.expect(200);
}
