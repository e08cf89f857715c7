//! Acceptance: a server killed with deliveries pending (some in flight,
//! some not yet fanned out) delivers every event at least once after a
//! restart.

use super::receiver::{Answer, Receiver};
use crate::harness::Backend;
use crate::on_both;
use crate::platform::process::{Serve, WorkDir, call, database, obol, printed, url_of};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

on_both!(killed_server_delivers_every_event_after_restart);

async fn killed_server_delivers_every_event_after_restart(backend: Backend) {
    const ORDERS: usize = 8;
    let dir = WorkDir::new();
    let db = database(backend).await;
    let serve = || {
        let mut command = obol(&dir.0, db.as_ref().map(|db| db.url.as_str()));
        command.env("OBOL_ALLOW_PRIVATE_NETWORK", "1");
        Serve::start(command)
    };
    let mut first = serve();
    let (lines, base) = first.listening().await;
    let key = printed(&lines, "demo secret key:");
    let receiver = Receiver::start().await;
    // Slow answers keep attempts in flight when the server dies.
    receiver.always(Answer {
        status: 200,
        delay: Duration::from_secs(3),
    });
    let (status, endpoint) = call(
        reqwest::Method::POST,
        format!("{base}/v1/webhook_endpoints"),
        &key,
        Some(json!({"url": receiver.url("/hooks"), "events": ["order.paid"]})),
    )
    .await;
    assert_eq!(status, 200, "{endpoint}");
    let mut orders = Vec::new();
    for _ in 0..ORDERS {
        let (status, order) = call(
            reqwest::Method::POST,
            format!("{base}/v1/orders"),
            &key,
            Some(json!({"amount": 1200, "currency": "EUR", "confirm": true,
                "payment_method": {"type": "card", "card": {"number": "4242424242424242",
                "exp_month": 12, "exp_year": 2030, "cvc": "123"}}})),
        )
        .await;
        assert_eq!((status, &order["status"]), (200, &json!("paid")), "{order}");
        orders.push(order["id"].as_str().expect("id").to_owned());
    }
    receiver
        .wait_for("/hooks", 1, Duration::from_secs(20))
        .await;
    first.kill_hard().await;
    receiver.always(Answer::status(200));

    let mut second = serve();
    second.listening().await;
    // A lease of the dead process runs out before its attempts are made again.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let delivered: HashSet<String> = receiver
            .calls_to("/hooks")
            .iter()
            .map(|call| {
                call.json()["data"]["object"]["id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        if orders.iter().all(|id| delivered.contains(id)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after the restart, {} of {ORDERS} orders' order.paid arrived",
            orders.iter().filter(|id| delivered.contains(*id)).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // On record too: every message ends succeeded, the attempts the dead
    // process held made again once their lease ran out.
    let store = obol_store::Db::connect(&url_of(&dir.0, db.as_ref()))
        .await
        .expect("database");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let succeeded: i64 = obol_store::sql::query_scalar(
            "SELECT COUNT(DISTINCT event_id) FROM webhook_deliveries \
             WHERE event_type = 'order.paid' AND status = 'succeeded'",
        )
        .fetch_one(&store.pool)
        .await
        .expect("count");
        let pending: i64 = obol_store::sql::query_scalar(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&store.pool)
        .await
        .expect("count");
        if succeeded == ORDERS as i64 && pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{succeeded} of {ORDERS} messages succeeded, {pending} attempts pending"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    store.close().await;
    second.terminate().await;
}
