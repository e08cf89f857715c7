//! Paying with `{"type": "wallet"}`: the wallet pays the order in one
//! database transaction with no connector; not enough credit is 402 with
//! nothing changed; refunds and reverses give the credit back where it
//! came from; concurrent payments never take a wallet below zero.

use crate::harness::{Backend, Options, TestApp, id_of, spawn_paying};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    a_top_up_pays_an_order_and_its_refund_fills_the_wallet_again,
    concurrent_wallet_payments_never_overdraw,
    granted_credit_is_spent_first_and_expires_leaving_paid_credit,
    a_reverse_and_a_refund_after_clearing_give_the_credit_back,
    orders_a_wallet_cannot_pay_are_refused_before_anything_changes,
);

const VISA: &str = "4242424242424242";
const DAY_S: i64 = 24 * 3600;
/// Two days and a minute: past the default clearing delay.
const PAST_CLEARING_S: i64 = 2 * DAY_S + 60;

async fn app(backend: Backend) -> TestApp {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    spawn_paying(backend, options).await
}

async fn customer(app: &TestApp, email: &str) -> String {
    id_of(&app.create_customer(email).await)
}

async fn top_up(app: &TestApp, customer_id: &str, amount: i64) {
    let order = app
        .create_order(
            json!({"type": "credit_top_up", "amount": amount, "currency": "EUR",
            "customer_id": customer_id}),
        )
        .await;
    let paid = app.confirm_card(&id_of(&order), VISA).await;
    assert_eq!(paid.expect(200)["status"], "paid", "{}", paid.body);
}

async fn order(app: &TestApp, customer_id: &str, amount: i64) -> String {
    id_of(
        &app.create_order(json!({"amount": amount, "currency": "EUR", "customer_id": customer_id}))
            .await,
    )
}

async fn pay_from_wallet(app: &TestApp, order_id: &str) -> crate::harness::Resp {
    app.post(
        &format!("/v1/orders/{order_id}/confirm"),
        json!({"payment_method": {"type": "wallet"}}),
    )
    .await
}

async fn balances(app: &TestApp, customer_id: &str) -> Value {
    app.get(&format!("/v1/customers/{customer_id}/wallet"))
        .await
        .expect(200)["balances"]
        .clone()
}

fn eur_wallet(paid: i64, granted: i64) -> Value {
    json!([{"currency": "EUR", "available": paid + granted, "paid": paid, "granted": granted}])
}

/// Rows that any change would add to.
async fn footprint(app: &TestApp) -> (i64, i64, i64) {
    (
        app.count("SELECT COUNT(*) FROM transactions").await,
        app.count("SELECT COUNT(*) FROM ledger_entries").await,
        app.count("SELECT COUNT(*) FROM events").await,
    )
}

async fn a_top_up_pays_an_order_and_its_refund_fills_the_wallet_again(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "wallet@example.com").await;
    top_up(&app, &customer_id, 5000).await;
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(5000, 0));
    let card_transactions = app.count("SELECT COUNT(*) FROM transactions").await;
    let sandbox_calls = app.count("SELECT (SELECT COUNT(*) FROM sandbox_payments) + (SELECT COUNT(*) FROM sandbox_operations)").await;
    let paid_events = app
        .count("SELECT COUNT(*) FROM events WHERE type = 'order.paid'")
        .await;

    let first = order(&app, &customer_id, 3000).await;
    let paid = pay_from_wallet(&app, &first).await;
    let body = paid.expect(200);
    assert_eq!(
        (body["status"].as_str(), body["amount_captured"].as_i64()),
        (Some("paid"), Some(3000)),
        "{body}"
    );
    let payment = &body["payments"][0];
    assert_eq!(
        (
            payment["connector"].as_str(),
            payment["connector_account_id"].clone(),
            payment["kind"].as_str(),
            payment["status"].as_str()
        ),
        (Some("wallet"), Value::Null, Some("sale"), Some("succeeded")),
        "{payment}"
    );
    // One transaction more, and none of them a connector's.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM transactions").await,
        card_transactions + 1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM transactions WHERE connector = 'wallet'")
            .await,
        1
    );
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(2000, 0));
    // No connector was asked: the sandbox recorded nothing more.
    assert_eq!(
        app.count("SELECT (SELECT COUNT(*) FROM sandbox_payments) + (SELECT COUNT(*) FROM sandbox_operations)").await,
        sandbox_calls
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM events WHERE type = 'order.paid'")
            .await,
        paid_events + 1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM events WHERE type = 'wallet.debited'")
            .await,
        1
    );
    let money = app.get("/v1/balance").await.expect(200).clone();
    assert_eq!(
        money["pending"],
        json!([{"currency": "EUR", "amount": 3000}])
    );

    let second = order(&app, &customer_id, 3000).await;
    let before = footprint(&app).await;
    let refused = pay_from_wallet(&app, &second).await;
    refused.expect(402);
    assert_eq!(refused.code(), "insufficient_funds", "{}", refused.body);
    assert_eq!(refused.body["error"]["order_id"], second.as_str());
    assert_eq!(refused.body["error"]["transaction_id"], Value::Null);
    assert_eq!(footprint(&app).await, before);
    let unpaid = app.order(&second).await;
    assert_eq!(
        (
            unpaid["status"].as_str(),
            unpaid["payments"].as_array().map(Vec::len)
        ),
        (Some("in_progress"), Some(0))
    );
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(2000, 0));

    let refund = app
        .post("/v1/refunds", json!({"order_id": first, "amount": 1000}))
        .await;
    assert_eq!(refund.expect(200)["status"], "succeeded", "{}", refund.body);
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(3000, 0));
    let rest = app.post("/v1/refunds", json!({"order_id": first})).await;
    assert_eq!(rest.expect(200)["amount"], 2000, "{}", rest.body);
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(5000, 0));
    let refunded = app.order(&first).await;
    assert_eq!(
        (
            refunded["status"].as_str(),
            refunded["amount_refunded"].as_i64()
        ),
        (Some("refunded"), Some(3000))
    );
    let money = app.get("/v1/balance").await.expect(200).clone();
    assert_eq!(
        money["pending"],
        json!([{"currency": "EUR", "amount": 0}]),
        "{money}"
    );
    app.assert_ledger_balanced().await;
}

async fn concurrent_wallet_payments_never_overdraw(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "rush@example.com").await;
    top_up(&app, &customer_id, 1000).await;
    let mut orders = Vec::new();
    for _ in 0..50 {
        orders.push(order(&app, &customer_id, 100).await);
    }
    let attempts = orders.iter().map(|id| pay_from_wallet(&app, id));
    let answers = futures_util::future::join_all(attempts).await;
    let paid = answers.iter().filter(|answer| answer.status == 200).count();
    let refused = answers
        .iter()
        .filter(|answer| answer.status == 402 && answer.code() == "insufficient_funds")
        .count();
    assert_eq!(
        (paid, refused),
        (10, 40),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(0, 0));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM transactions WHERE connector = 'wallet'")
            .await,
        10
    );
    app.assert_ledger_balanced().await;
}

async fn granted_credit_is_spent_first_and_expires_leaving_paid_credit(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "granted@example.com").await;
    top_up(&app, &customer_id, 500).await;
    let expires_at = obol_core::Timestamp::from_ms(app.state.now().as_ms() + DAY_S * 1000);
    app.post(
        &format!("/v1/customers/{customer_id}/wallet/credits"),
        json!({"amount": 1000, "currency": "EUR", "reason": "Launch offer",
               "expires_at": expires_at.to_rfc3339()}),
    )
    .await
    .expect(200);
    let spent = order(&app, &customer_id, 300).await;
    pay_from_wallet(&app, &spent).await.expect(200);
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(500, 700));

    let entries_before = app.count("SELECT COUNT(*) FROM ledger_entries").await;
    app.advance(DAY_S + 60).await;
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(500, 0));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger_entries").await,
        entries_before + 1
    );
    // What the expired grant paid goes back to promotions, not to the wallet.
    let refund = app.post("/v1/refunds", json!({"order_id": spent})).await;
    assert_eq!(refund.expect(200)["status"], "succeeded", "{}", refund.body);
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(500, 0));
    let promotions = app.get("/v1/ledger/accounts?type=promotions").await;
    assert_eq!(promotions.expect(200)["data"][0]["balance"], 0);
    app.assert_ledger_balanced().await;
}

async fn a_reverse_and_a_refund_after_clearing_give_the_credit_back(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "back@example.com").await;
    top_up(&app, &customer_id, 1000).await;
    let reversed = order(&app, &customer_id, 400).await;
    pay_from_wallet(&app, &reversed).await.expect(200);
    let answer = app
        .post(&format!("/v1/orders/{reversed}/reverse"), json!({}))
        .await;
    assert_eq!(answer.expect(200)["status"], "reversed", "{}", answer.body);
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(1000, 0));

    let cleared = order(&app, &customer_id, 600).await;
    pay_from_wallet(&app, &cleared).await.expect(200);
    app.advance(PAST_CLEARING_S).await;
    assert_eq!(app.order(&cleared).await["status"], "completed");
    let money = app.get("/v1/balance").await.expect(200).clone();
    assert_eq!(
        money["available"],
        json!([{"currency": "EUR", "amount": 600}])
    );
    let refund = app
        .post("/v1/refunds", json!({"order_id": cleared, "amount": 250}))
        .await;
    assert_eq!(refund.expect(200)["status"], "succeeded", "{}", refund.body);
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(650, 0));
    let money = app.get("/v1/balance").await.expect(200).clone();
    assert_eq!(
        money["available"],
        json!([{"currency": "EUR", "amount": 350}])
    );
    // A reverse after clearing is refused as for any payment.
    app.post(&format!("/v1/orders/{cleared}/reverse"), json!({}))
        .await
        .expect(409);
    app.assert_ledger_balanced().await;
}

async fn orders_a_wallet_cannot_pay_are_refused_before_anything_changes(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "refused@example.com").await;
    top_up(&app, &customer_id, 1000).await;
    let before = footprint(&app).await;

    let anonymous = id_of(
        &app.create_order(json!({"amount": 100, "currency": "EUR"}))
            .await,
    );
    let no_customer = pay_from_wallet(&app, &anonymous).await;
    no_customer.expect(400);
    assert_eq!(
        no_customer.param(),
        Some("customer_id"),
        "{}",
        no_customer.body
    );

    let held = id_of(
        &app.create_order(
            json!({"amount": 100, "currency": "EUR", "customer_id": customer_id, "auto_capture": false}),
        )
        .await,
    );
    let two_stage = pay_from_wallet(&app, &held).await;
    two_stage.expect(400);
    assert_eq!(two_stage.code(), "operation_unsupported");

    let top_up_order = id_of(
        &app.create_order(
            json!({"type": "credit_top_up", "amount": 100, "currency": "EUR", "customer_id": customer_id}),
        )
        .await,
    );
    pay_from_wallet(&app, &top_up_order).await.expect(400);

    // With confirm: true, a refusal of the order's shape makes no order;
    // too little credit makes it and answers 402 naming it.
    let orders_before = app.count("SELECT COUNT(*) FROM orders").await;
    let made = app
        .post(
            "/v1/orders",
            json!({"amount": 100, "currency": "EUR", "confirm": true,
                   "payment_method": {"type": "wallet"}}),
        )
        .await;
    made.expect(400);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders").await,
        orders_before
    );
    let too_much = app
        .post(
            "/v1/orders",
            json!({"amount": 1001, "currency": "EUR", "customer_id": customer_id,
                   "confirm": true, "payment_method": {"type": "wallet"}}),
        )
        .await;
    too_much.expect(402);
    assert_eq!(too_much.code(), "insufficient_funds");
    assert!(
        too_much.body["error"]["order_id"].is_string(),
        "{}",
        too_much.body
    );
    let (transactions, entries, _) = footprint(&app).await;
    assert_eq!((transactions, entries), (before.0, before.1));
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(1000, 0));

    let exact = app
        .post(
            "/v1/orders",
            json!({"amount": 1000, "currency": "EUR", "customer_id": customer_id,
                   "confirm": true, "payment_method": {"type": "wallet"}}),
        )
        .await;
    assert_eq!(exact.expect(200)["status"], "paid", "{}", exact.body);
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(0, 0));
    let methods = app
        .get(&format!(
            "/v1/payment_methods?currency=EUR&amount=100&customer_id={customer_id}"
        ))
        .await;
    let listed = methods.expect(200).to_string();
    assert!(listed.contains("\"wallet\""), "{listed}");
}
