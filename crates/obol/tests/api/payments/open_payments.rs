//! An open payment is never forgotten nor guessed: an order that waits for
//! one keeps a next due time until it is final (it expires once nothing is
//! open, and is paid if its payment succeeds), and a connector call that
//! starts late is never sent past its window, so that a sync finding no
//! record of it may fail it.

use crate::harness::{self, Backend, Options, TestApp, id_of};
use crate::on_both;
use obol_core::time::HOUR_MS;
use serde_json::{Value, json};
use std::time::Duration;

const CHALLENGE: &str = "4000000000003220";
const VISA: &str = "4242424242424242";
const HOUR_S: i64 = 3600;

on_both!(
    processing_order_waits_for_its_payment_then_expires,
    late_connector_call_is_never_sent
);

async fn clock_app(backend: Backend, failpoint: Option<&'static str>) -> TestApp {
    let options = Options {
        test_clock: true,
        failpoint,
        ..Options::default()
    };
    harness::spawn_paying(backend, options).await
}

/// The processor moves the sandbox payment of Obol's transaction `txn` on
/// by itself (as after a 3-D Secure challenge): `set` is the SQL change.
async fn processor_sets(app: &TestApp, txn: &str, set: &str) {
    let sql = format!("UPDATE sandbox_payments SET {set} WHERE transaction_id = $1");
    let done = obol_store::sql::query(sql)
        .bind(txn)
        .execute(&app.state.db.pool)
        .await
        .expect("update the sandbox payment");
    assert_eq!(done.rows_affected(), 1, "no sandbox payment of {txn}");
}

/// Orders that are open (not final) and have no next due time: none may exist.
async fn open_orders_never_due(app: &TestApp) -> i64 {
    app.count(
        "SELECT COUNT(*) FROM orders WHERE due_at IS NULL AND (status IN \
         ('in_progress', 'requires_action', 'processing', 'authorized') \
         OR (captured_at IS NOT NULL AND cleared_at IS NULL AND status NOT IN ('refunded', 'reversed')))",
    )
    .await
}

/// A 3-D Secure payment still processing after its challenge leaves its
/// order `processing` with nothing in flight. Past `expires_at` the order
/// waits for the payment, coming back until it settles: declined, it
/// expires; back at its challenge, it is voided and expires; succeeded, the
/// order is paid (money taken is never expired away).
async fn processing_order_waits_for_its_payment_then_expires(backend: Backend) {
    let app = clock_app(backend, None).await;
    let expires_at = app.state.now().plus_ms(HOUR_MS).to_rfc3339();
    let mut orders = Vec::new();
    for _ in 0..3 {
        let order = app
            .create_order(json!({"amount": 3000, "currency": "EUR", "expires_at": expires_at}))
            .await;
        let id = id_of(&order);
        let answer = app.confirm_card(&id, CHALLENGE).await.expect(200).clone();
        assert_eq!(answer["status"], "requires_action");
        orders.push((id, id_of(&answer["payments"][0])));
    }
    for (id, txn) in &orders {
        processor_sets(&app, txn, "status = 'pending', settle_at = NULL").await;
        let synced = app
            .post(&format!("/v1/orders/{id}/sync"), json!({}))
            .await
            .expect(200)
            .clone();
        assert_eq!(synced["status"], "processing", "{synced}");
    }

    app.advance(2 * HOUR_S).await;
    for (id, _) in &orders {
        assert_eq!(app.order(id).await["status"], "processing");
    }
    assert_eq!(
        open_orders_never_due(&app).await,
        0,
        "an order waiting for its payment has no next due time"
    );

    let [
        (declined, declined_txn),
        (challenged, challenged_txn),
        (succeeded, succeeded_txn),
    ] = <[(String, String); 3]>::try_from(orders).expect("three orders");
    processor_sets(
        &app,
        &declined_txn,
        "status = 'declined', decline_code = 'generic_decline'",
    )
    .await;
    processor_sets(&app, &challenged_txn, "status = 'requires_action'").await;
    // Settles as succeeded the next time anyone asks.
    processor_sets(&app, &succeeded_txn, "settle_at = 0").await;
    // The syncs come back within 6 hours.
    app.advance(7 * HOUR_S).await;

    let order = app.order(&declined).await;
    assert_eq!(order["status"], "expired", "{order}");
    assert_eq!(order["payments"][0]["status"], "failed");
    let order = app.order(&challenged).await;
    assert_eq!(order["status"], "expired", "{order}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments WHERE status = 'canceled'")
            .await,
        1,
        "the reopened challenge is voided at the connector"
    );
    let order = app.order(&succeeded).await;
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], 3000);
    assert_eq!(open_orders_never_due(&app).await, 0);
}

/// A connector call that starts only after its window (the failpoint holds
/// it there) while a sync past the window finds no record and fails the
/// transaction: the call is never sent, so no money is taken for a failed
/// transaction.
async fn late_connector_call_is_never_sent(backend: Backend) {
    let app = clock_app(backend, Some("delay_connector_call")).await;
    let order = app
        .create_order(json!({"amount": 4200, "currency": "EUR"}))
        .await;
    let id = id_of(&order);
    let confirm = {
        let request = app
            .client
            .post(format!("{}/v1/orders/{id}/confirm", app.url))
            .bearer_auth(&app.secret_key)
            .header("content-type", "application/json")
            .body(json!({"payment_method": TestApp::card(VISA)}).to_string());
        tokio::spawn(async move {
            let response = request.send().await.expect("confirm sent");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON"))
        })
    };
    // Step 1 has run: the transaction is pending, its call held back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.count("SELECT COUNT(*) FROM transactions").await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no transaction");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.advance(60).await;
    let (status, answer) = confirm.await.expect("confirm task");

    let transactions = app
        .get(&format!("/v1/transactions?order_id={id}"))
        .await
        .expect(200)["data"]
        .clone();
    let txn = &transactions[0];
    let taken = app
        .count("SELECT COUNT(*) FROM sandbox_payments WHERE authorized > 0")
        .await;
    assert!(
        taken == 0 || txn["status"] == "succeeded",
        "the connector took money for a {} transaction",
        txn["status"]
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM sandbox_payments").await, 0);
    assert_eq!(txn["status"], "failed", "{txn}");
    assert_eq!(txn["error"]["code"], "not_found_at_connector");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (402, Some("not_found_at_connector")),
        "{answer}"
    );
    let order = app.order(&id).await;
    assert_eq!(order["status"], "in_progress");
    assert_eq!(order["amount_captured"], 0);
}
