//! Stripe's events as localstripe itself signs and delivers them to the
//! account's notification URL: a challenged payment the customer completes
//! at Stripe is paid by the event alone, with no return and no sync.

use super::stripe::{CHALLENGE, WEBHOOK_SECRET, World};
use crate::harness::Backend;
use crate::on_both;
use std::time::{Duration, Instant};

on_both!(a_delivered_event_pays_a_challenged_order);

async fn a_delivered_event_pays_a_challenged_order(backend: Backend) {
    let world = World::start(backend).await;
    let url = format!("{}/v1/ipn/{}", world.app.url, world.stripe_account);
    world
        .stripe
        .send_events_to(&url, WEBHOOK_SECRET, &["payment_intent.succeeded"])
        .await;
    let order_id = world.order(3100, true).await;
    let challenged = world
        .confirm(&order_id, CHALLENGE, &world.stripe_account)
        .await;
    assert_eq!(
        challenged.expect(200)["status"],
        "requires_action",
        "{}",
        challenged.body
    );
    world.authenticate(&order_id).await;
    // localstripe sends its event a second after the change.
    let deadline = Instant::now() + Duration::from_secs(20);
    let order = loop {
        let order = world.app.order(&order_id).await;
        if order["status"] != "requires_action" || Instant::now() > deadline {
            break order;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], 3100);
    let applied = "SELECT COUNT(*) FROM connector_notifications";
    assert_eq!(world.app.count(applied).await, 1);
    world.app.assert_ledger_balanced().await;
}
