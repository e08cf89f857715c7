//! Stripe follow-ups whose answer was lost: Stripe did the capture, void or
//! refund, Obol heard nothing, and a sync finds what Stripe did through the
//! payment's PaymentIntent. A sync Stripe refuses to answer leaves the
//! operation open: it never fails money that may have moved.

use super::stripe::localstripe::Fault;
use super::stripe::{VISA, WEBHOOK_SECRET, World, event, now_unix};
use crate::harness::Backend;
use crate::on_both;
use serde_json::json;

on_both!(
    a_lost_capture_and_a_lost_void_are_found_by_sync,
    a_lost_refund_is_found_among_its_intents_refunds,
    a_refused_sync_leaves_the_operation_open,
    a_webhook_finds_a_payment_whose_answer_was_lost,
);

async fn authorized(world: &World, amount: i64) -> (String, String) {
    let order_id = world.order(amount, false).await;
    let held = world.confirm(&order_id, VISA, &world.stripe_account).await;
    assert_eq!(held.expect(200)["status"], "authorized", "{}", held.body);
    let intent = world.intent_of(&order_id).await;
    (order_id, intent)
}

/// The order's transaction of `kind`.
async fn transaction(world: &World, order_id: &str, kind: &str) -> serde_json::Value {
    let order = world.app.order(order_id).await;
    order["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .find(|txn| txn["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {order}"))
        .clone()
}

async fn a_lost_capture_and_a_lost_void_are_found_by_sync(backend: Backend) {
    let world = World::start(backend).await;
    let (captured, intent) = authorized(&world, 3000).await;
    let path = format!("/v1/payment_intents/{intent}/capture");
    world.stripe.fail_next("POST", &path, Fault::LoseAnswer);
    let lost = world
        .call(&captured, "capture", json!({"amount": 2500}))
        .await;
    lost.expect(502);
    let synced = world.call(&captured, "sync", json!({})).await;
    let order = synced.expect(200);
    assert_eq!(
        (order["status"].as_str(), order["amount_captured"].as_i64()),
        (Some("paid"), Some(2500)),
        "{order}"
    );
    assert_eq!(
        transaction(&world, &captured, "capture").await["status"],
        "succeeded"
    );
    let at_stripe = world
        .stripe
        .get(&format!("/v1/payment_intents/{intent}"))
        .await;
    assert_eq!(at_stripe["status"], "succeeded");

    let (voided, intent) = authorized(&world, 1200).await;
    let path = format!("/v1/payment_intents/{intent}/cancel");
    world.stripe.fail_next("POST", &path, Fault::LoseAnswer);
    world.call(&voided, "void", json!({})).await.expect(502);
    let synced = world.call(&voided, "sync", json!({})).await;
    assert_eq!(synced.expect(200)["status"], "canceled", "{}", synced.body);
    world.app.assert_ledger_balanced().await;
}

async fn a_lost_refund_is_found_among_its_intents_refunds(backend: Backend) {
    let world = World::start(backend).await;
    let order_id = world.order(4000, true).await;
    let paid = world.confirm(&order_id, VISA, &world.stripe_account).await;
    paid.expect(200);
    world
        .stripe
        .fail_next("POST", "/v1/refunds", Fault::LoseAnswer);
    world.refund(&order_id, 1500).await.expect(502);
    let synced = world.call(&order_id, "sync", json!({})).await;
    let order = synced.expect(200);
    assert_eq!(
        (order["status"].as_str(), order["amount_refunded"].as_i64()),
        (Some("partially_refunded"), Some(1500)),
        "{order}"
    );
    let refunds = world.stripe.list("/v1/refunds").await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    world.app.assert_ledger_balanced().await;
}

async fn a_refused_sync_leaves_the_operation_open(backend: Backend) {
    let world = World::start(backend).await;
    let (order_id, intent) = authorized(&world, 2000).await;
    let path = format!("/v1/payment_intents/{intent}/capture");
    world.stripe.fail_next("POST", &path, Fault::LoseAnswer);
    world
        .call(&order_id, "capture", json!({}))
        .await
        .expect(502);
    // Stripe refuses the sync's question (as after a rolled key).
    let read = format!("/v1/payment_intents/{intent}");
    world.stripe.fail_next("GET", &read, Fault::InvalidRequest);
    let synced = world.call(&order_id, "sync", json!({})).await;
    synced.expect(200);
    let capture = transaction(&world, &order_id, "capture").await;
    assert_eq!(capture["status"], "unknown", "{capture}");
    assert_eq!(world.app.order(&order_id).await["status"], "authorized");
    // Answered, the next sync finds the capture Stripe made.
    let synced = world.call(&order_id, "sync", json!({})).await;
    assert_eq!(synced.expect(200)["status"], "paid", "{}", synced.body);
}

/// A sale whose answer was lost knows no Stripe id yet; Stripe's event
/// names the intent and, in its metadata, Obol's transaction: Obol syncs
/// that transaction and the event applies, with no sync asked for.
async fn a_webhook_finds_a_payment_whose_answer_was_lost(backend: Backend) {
    let world = World::start(backend).await;
    let order_id = world.order(2700, true).await;
    world
        .stripe
        .fail_next("POST", "/v1/payment_intents", Fault::LoseAnswer);
    world
        .confirm(&order_id, VISA, &world.stripe_account)
        .await
        .expect(502);
    let txn = transaction(&world, &order_id, "sale").await;
    assert_eq!(txn["connector_transaction_id"], serde_json::Value::Null);
    let txn_id = txn["id"].as_str().expect("id").to_owned();
    let intents = world.stripe.list("/v1/payment_intents").await;
    let intent = intents
        .into_iter()
        .find(|intent| intent["metadata"]["obol_transaction_id"] == txn_id.as_str())
        .expect("the intent Stripe made");
    let succeeded = event("evt_lost_1", "payment_intent.succeeded", intent);
    let answer = world.notify(&succeeded, WEBHOOK_SECRET, now_unix()).await;
    answer.expect(200);
    let order = world.app.order(&order_id).await;
    assert_eq!(
        (order["status"].as_str(), order["amount_captured"].as_i64()),
        (Some("paid"), Some(2700)),
        "{order}"
    );
    world.app.assert_ledger_balanced().await;
}
