//! Credit top-ups: a paid `credit_top_up` order is the customer's paid
//! wallet credit, never the brand's money; a refund or reverse gives back
//! only credit not yet spent (409 otherwise, nothing changed).

use crate::harness::{Backend, Options, TestApp, id_of, spawn_paying};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    a_paid_top_up_is_paid_credit_and_never_clears,
    only_unspent_top_up_credit_goes_back,
    top_ups_need_a_customer_and_an_amount,
);

const VISA: &str = "4242424242424242";
/// Two days and a minute: past the default clearing delay.
const PAST_CLEARING_S: i64 = 2 * 24 * 3600 + 60;

async fn app(backend: Backend) -> TestApp {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    spawn_paying(backend, options).await
}

async fn customer(app: &TestApp) -> String {
    id_of(&app.create_customer("topup@example.com").await)
}

async fn top_up(app: &TestApp, customer_id: &str, amount: i64) -> String {
    let order = app
        .create_order(
            json!({"type": "credit_top_up", "amount": amount, "currency": "EUR",
            "customer_id": customer_id}),
        )
        .await;
    let id = id_of(&order);
    let paid = app.confirm_card(&id, VISA).await;
    assert_eq!(paid.expect(200)["status"], "paid", "{}", paid.body);
    id
}

async fn balances(app: &TestApp, customer_id: &str) -> Value {
    app.get(&format!("/v1/customers/{customer_id}/wallet"))
        .await
        .expect(200)["balances"]
        .clone()
}

async fn brand_money(app: &TestApp) -> Value {
    app.get("/v1/balance").await.expect(200).clone()
}

fn eur_wallet(paid: i64) -> Value {
    json!([{"currency": "EUR", "available": paid, "paid": paid, "granted": 0}])
}

async fn a_paid_top_up_is_paid_credit_and_never_clears(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app).await;
    let order_id = top_up(&app, &customer_id, 5000).await;
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(5000));
    let credited = app
        .count("SELECT COUNT(*) FROM events WHERE type = 'wallet.credited'")
        .await;
    assert_eq!(credited, 1);
    let entries = app
        .get(&format!("/v1/ledger/entries?order_id={order_id}"))
        .await
        .expect(200)
        .clone();
    let postings: Vec<i64> = entries["data"][0]["postings"]
        .as_array()
        .expect("postings")
        .iter()
        .map(|posting| posting["amount"].as_i64().expect("amount"))
        .collect();
    assert_eq!(postings.len(), 2, "{entries}");
    assert!(postings.contains(&5000) && postings.contains(&-5000));
    let wallet = app
        .get(&format!("/v1/ledger/accounts?customer_id={customer_id}"))
        .await
        .expect(200)["data"][0]
        .clone();
    assert_eq!(
        (wallet["type"].as_str(), wallet["balance"].as_i64()),
        (Some("customer_wallet"), Some(-5000))
    );
    let money = brand_money(&app).await;
    assert_eq!(money["pending"], json!([]), "{money}");

    app.advance(PAST_CLEARING_S).await;
    assert_eq!(app.order(&order_id).await["status"], "completed");
    let money = brand_money(&app).await;
    assert_eq!(
        (money["pending"].clone(), money["available"].clone()),
        (json!([]), json!([])),
        "{money}"
    );
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(5000));
    app.assert_ledger_balanced().await;
}

async fn only_unspent_top_up_credit_goes_back(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app).await;
    let order_id = top_up(&app, &customer_id, 5000).await;
    // 3000 of it spent on an order paid from the wallet.
    let paid_with_wallet = app
        .create_order(json!({"amount": 3000, "currency": "EUR", "customer_id": customer_id}))
        .await;
    let spent = app
        .post(
            &format!("/v1/orders/{}/confirm", id_of(&paid_with_wallet)),
            json!({"payment_method": {"type": "wallet"}}),
        )
        .await;
    assert_eq!(spent.expect(200)["status"], "paid", "{}", spent.body);
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(2000));

    let entries_before = app.count("SELECT COUNT(*) FROM ledger_entries").await;
    for refused in [
        app.post("/v1/refunds", json!({"order_id": order_id})).await,
        app.post("/v1/refunds", json!({"order_id": order_id, "amount": 2001}))
            .await,
        app.post(&format!("/v1/orders/{order_id}/reverse"), json!({}))
            .await,
    ] {
        refused.expect(409);
        assert_eq!(refused.code(), "invalid_state", "{}", refused.body);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger_entries").await,
        entries_before
    );
    let order = app.order(&order_id).await;
    assert_eq!(
        (
            order["amount_refunded"].as_i64(),
            order["payments"].as_array().map(Vec::len)
        ),
        (Some(0), Some(1))
    );

    let refund = app
        .post("/v1/refunds", json!({"order_id": order_id, "amount": 2000}))
        .await;
    assert_eq!(refund.expect(200)["status"], "succeeded", "{}", refund.body);
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(0));
    assert_eq!(app.order(&order_id).await["amount_refunded"], 2000);

    // A whole top-up reversed before anything of it is spent.
    let other = top_up(&app, &customer_id, 1000).await;
    let reversed = app
        .post(&format!("/v1/orders/{other}/reverse"), json!({}))
        .await;
    assert_eq!(
        reversed.expect(200)["status"],
        "reversed",
        "{}",
        reversed.body
    );
    assert_eq!(balances(&app, &customer_id).await, eur_wallet(0));
    app.assert_ledger_balanced().await;
}

async fn top_ups_need_a_customer_and_an_amount(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app).await;
    let no_customer = app
        .post(
            "/v1/orders",
            json!({"type": "credit_top_up", "amount": 100, "currency": "EUR"}),
        )
        .await;
    no_customer.expect(400);
    assert_eq!(no_customer.param(), Some("customer_id"));
    let nothing = app
        .post(
            "/v1/orders",
            json!({"type": "credit_top_up", "amount": 0, "currency": "EUR",
                "customer_id": customer_id, "setup_mandate": true}),
        )
        .await;
    nothing.expect(400);
    assert_eq!(nothing.param(), Some("amount"));
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 0);
}
