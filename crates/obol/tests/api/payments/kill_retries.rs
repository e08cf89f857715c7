//! A keyed confirm whose server is SIGKILLed at each point of the payment
//! operation, retried with its key on a restarted server: answered with
//! the order as it stands, charged once.

use crate::harness::Backend;
use crate::on_both;
use crate::platform::process::{CARD, Serve, Unpaid, card, obol};
use serde_json::Value;
use std::time::Duration;

on_both!(
    confirm_retried_after_a_kill_before_the_call,
    confirm_retried_after_a_kill_before_step_3,
    confirm_retried_after_a_kill_before_its_answer_was_stored,
);

/// A keyed confirm whose process is killed at `failpoint`, then retried
/// with the same key on a restarted server: the retry answers 200 with the
/// order as it stands (paid), never 409 `invalid_state`, and the sandbox
/// charged once. Until the dead request's record goes stale the retry is
/// told it is still in progress.
async fn confirm_retried_after_a_kill(backend: Backend, failpoint: &str) {
    let Unpaid {
        dir,
        db,
        url,
        mut first,
        base,
        key,
        order_id,
    } = Unpaid::start(backend, failpoint).await;
    let confirm = |base: String| {
        let (key, order_id) = (key.clone(), order_id.clone());
        async move {
            let response = crate::harness::http_client()
                .post(format!("{base}/v1/orders/{order_id}/confirm"))
                .bearer_auth(key)
                .header("Idempotency-Key", "confirm-after-kill")
                .header("content-type", "application/json")
                .body(card(CARD, "123").to_string())
                .send()
                .await;
            match response {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    Some((status, body))
                }
                Err(_) => None,
            }
        }
    };
    let held = tokio::spawn(confirm(base.clone()));
    first
        .wait_for_log(&format!("failpoint {failpoint} reached"))
        .await;
    first.kill_hard().await;
    assert_eq!(
        held.await.expect("task"),
        None,
        "the killed request never answered"
    );

    let mut second = Serve::start(obol(&dir.0, db.as_ref().map(|db| db.url.as_str())));
    let (_, base) = second.listening().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let (status, answer) = loop {
        let (status, answer) = confirm(base.clone()).await.expect("an answer");
        if status == 409 && answer["error"]["code"] == "idempotency_in_progress" {
            assert!(tokio::time::Instant::now() < deadline, "still in progress");
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        break (status, answer);
    };
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "paid");
    let store = obol_store::Db::connect(&url).await.expect("database");
    let charges: i64 = obol_store::sql::query_scalar("SELECT COUNT(*) FROM sandbox_payments")
        .fetch_one(&store.pool)
        .await
        .expect("count");
    assert_eq!(charges, 1, "nothing charged twice");
    let (status, replay) = confirm(base.clone()).await.expect("an answer");
    assert_eq!((status, &replay["id"]), (200, &answer["id"]));
    obol_server::ledger::check_invariants(&store)
        .await
        .expect("ledger balanced");
    store.close().await;
    second.terminate().await;
}

/// The payment was recorded but never sent: the retry sends it.
async fn confirm_retried_after_a_kill_before_the_call(backend: Backend) {
    confirm_retried_after_a_kill(backend, "pause_before_connector_call").await;
}

async fn confirm_retried_after_a_kill_before_step_3(backend: Backend) {
    confirm_retried_after_a_kill(backend, "pause_after_connector_call").await;
}

async fn confirm_retried_after_a_kill_before_its_answer_was_stored(backend: Backend) {
    confirm_retried_after_a_kill(backend, "pause_before_storing_answer").await;
}
