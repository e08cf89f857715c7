//! Acceptance: a receiver that sleeps past the timeout holds back only its
//! own deliveries; another endpoint gets the same events at once.

use super::receiver::{Answer, Receiver};
use super::webhooks::{attempts, endpoint};
use crate::harness::{self, Backend, Options, id_of};
use crate::on_both;
use serde_json::json;
use std::time::{Duration, Instant};

on_both!(slow_receiver_does_not_delay_another_endpoint);

async fn slow_receiver_does_not_delay_another_endpoint(backend: Backend) {
    let app = harness::spawn_paying(backend, Options::default()).await;
    let slow = Receiver::start().await;
    slow.always(Answer {
        status: 200,
        delay: Duration::from_secs(15),
    });
    let fast = Receiver::start().await;
    let (slow_id, _) = endpoint(&app, &slow.url("/slow"), json!(["order.paid"])).await;
    endpoint(&app, &fast.url("/fast"), json!(["order.paid"])).await;

    let started = Instant::now();
    let mut orders = Vec::new();
    for _ in 0..20 {
        orders.push(id_of(&app.paid_order(1000, true).await));
    }
    let calls = fast.wait_for("/fast", 20, Duration::from_secs(9)).await;
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the fast endpoint waited for the slow one"
    );
    let delivered: Vec<String> = calls
        .iter()
        .map(|c| {
            c.json()["data"]["object"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for order in &orders {
        assert!(
            delivered.contains(order),
            "{order} missing from {delivered:?}"
        );
    }
    // The slow one's attempts time out after 10 s and are retried; the
    // fast one got every event while the slow one's first four hung.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = attempts(&app, &slow_id).await;
        let timed_out = all
            .iter()
            .filter(|a| a["status"] == "failed" && a["http_status"].is_null())
            .count();
        if timed_out >= 3 {
            assert!(
                all.iter().filter(|a| a["status"] == "failed").all(|a| {
                    !a["next_attempt_at"].is_null()
                        && a["duration_ms"]
                            .as_i64()
                            .is_some_and(|ms| (9_000..14_000).contains(&ms))
                }),
                "{all:#?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no timeout recorded: {all:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
