//! A retry with the same `Idempotency-Key` never moves money twice: what a
//! first attempt made (the order, the refund, the payment) is bound to its
//! key in the same database transaction, so a retry finds it after a 500,
//! a lost answer or a killed process, and answers with it as it stands.
//! Also: no card data and no plaintext secret in the stored records.

use crate::harness::{self, Backend, Options, TestApp};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    refund_retried_after_step_3_failed,
    refund_retried_after_its_answer_was_lost,
    create_and_confirm_retried_after_step_3_failed,
    create_and_confirm_retried_after_its_answer_was_lost,
    confirm_retried_after_step_3_failed,
    confirm_retried_after_its_answer_was_lost,
    follow_ups_retried_after_step_3_failed,
    another_request_after_a_500_is_a_reused_key,
    card_data_never_in_idempotency_records,
    stored_answers_with_secrets_are_sealed,
    late_top_up_payment_is_returned_and_credits_nothing,
    late_success_on_an_expired_order_is_returned,
    late_success_whose_return_never_went_out_is_returned_later,
    retry_while_the_first_is_held_past_the_stale_window,
);

const STEP_3: &str = "fail_step_3";
const ANSWER: &str = "fail_store_answer";

async fn app_with(backend: Backend, failpoint: &'static str) -> TestApp {
    let options = Options {
        failpoint: Some(failpoint),
        ..Options::default()
    };
    harness::spawn_paying(backend, options).await
}

/// The first attempt's status under each failpoint: step 3 failing is a
/// 500; a lost stored answer still answers the client.
fn first_status(failpoint: &str) -> u16 {
    if failpoint == STEP_3 { 500 } else { 200 }
}

async fn refund_retried(backend: Backend, failpoint: &'static str) {
    let app = app_with(backend, failpoint).await;
    let order = app.paid_order(3882, true).await;
    let body = json!({"order_id": order["id"], "amount": 1294});
    app.arm_failpoint();
    let first = app
        .post_idempotent("/v1/refunds", "refund-1", body.clone())
        .await;
    first.expect(first_status(failpoint));
    let retry = app
        .post_idempotent("/v1/refunds", "refund-1", body.clone())
        .await;
    let refund = retry.expect(200).clone();
    assert_eq!(refund["status"], "succeeded");
    if first.status == 200 {
        assert_eq!(
            first.body["id"], refund["id"],
            "the retry answers the same refund"
        );
    }
    let again = app.post_idempotent("/v1/refunds", "refund-1", body).await;
    assert_eq!(again.expect(200)["id"], refund["id"]);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_operations WHERE kind = 'refund'")
            .await,
        1,
        "one refund at the processor"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM refunds").await, 1);
    let order = app.order(order["id"].as_str().expect("id")).await;
    assert_eq!(order["amount_refunded"], 1294);
    app.assert_ledger_balanced().await;
}

async fn refund_retried_after_step_3_failed(backend: Backend) {
    refund_retried(backend, STEP_3).await;
}

async fn refund_retried_after_its_answer_was_lost(backend: Backend) {
    refund_retried(backend, ANSWER).await;
}

async fn create_and_confirm_retried(backend: Backend, failpoint: &'static str) {
    let app = app_with(backend, failpoint).await;
    let body = json!({"amount": 3882, "currency": "EUR", "confirm": true,
                      "payment_method": TestApp::card("4242424242424242")});
    app.arm_failpoint();
    let first = app
        .post_idempotent("/v1/orders", "create-1", body.clone())
        .await;
    first.expect(first_status(failpoint));
    let retry = app
        .post_idempotent("/v1/orders", "create-1", body.clone())
        .await;
    let order = retry.expect(200).clone();
    assert_eq!(order["status"], "paid", "{order}");
    if first.status == 200 {
        assert_eq!(first.body["id"], order["id"]);
    }
    let again = app.post_idempotent("/v1/orders", "create-1", body).await;
    assert_eq!(again.expect(200)["id"], order["id"]);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders").await,
        1,
        "one order"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments").await,
        1,
        "one charge at the processor"
    );
    app.assert_ledger_balanced().await;
}

async fn create_and_confirm_retried_after_step_3_failed(backend: Backend) {
    create_and_confirm_retried(backend, STEP_3).await;
}

async fn create_and_confirm_retried_after_its_answer_was_lost(backend: Backend) {
    create_and_confirm_retried(backend, ANSWER).await;
}

async fn confirm_retried(backend: Backend, failpoint: &'static str) {
    let app = app_with(backend, failpoint).await;
    let order = app
        .create_order(json!({"amount": 3882, "currency": "EUR"}))
        .await;
    let path = format!("/v1/orders/{}/confirm", order["id"].as_str().expect("id"));
    let body = json!({"payment_method": TestApp::card("4242424242424242")});
    app.arm_failpoint();
    let first = app.post_idempotent(&path, "confirm-1", body.clone()).await;
    first.expect(first_status(failpoint));
    let retry = app.post_idempotent(&path, "confirm-1", body.clone()).await;
    assert_eq!(
        retry.header("idempotent-replayed"),
        None,
        "answered from the rows"
    );
    // Never 409 "the order is paid": the retry is told its payment went through.
    assert_eq!(retry.expect(200)["status"], "paid");
    assert_eq!(retry.body["payments"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments").await,
        1,
        "one charge at the processor"
    );
    app.assert_ledger_balanced().await;
}

async fn confirm_retried_after_step_3_failed(backend: Backend) {
    confirm_retried(backend, STEP_3).await;
}

async fn confirm_retried_after_its_answer_was_lost(backend: Backend) {
    confirm_retried(backend, ANSWER).await;
}

/// Each follow-up operation, retried after its step 3 failed: one
/// operation at the processor, the order as the first would have left it.
async fn follow_ups_retried_after_step_3_failed(backend: Backend) {
    let app = app_with(backend, STEP_3).await;
    let cases = [
        ("capture", false, json!({"amount": 4000}), "paid"),
        (
            "increment_authorization",
            false,
            json!({"amount": 6000}),
            "authorized",
        ),
        ("void", false, json!({}), "canceled"),
        ("reverse", true, json!({}), "reversed"),
    ];
    for (operation, auto_capture, body, status) in cases {
        let order = app.paid_order(5000, auto_capture).await;
        let path = format!(
            "/v1/orders/{}/{operation}",
            order["id"].as_str().expect("id")
        );
        app.arm_failpoint();
        let key = format!("{operation}-1");
        app.post_idempotent(&path, &key, body.clone())
            .await
            .expect(500);
        let retry = app.post_idempotent(&path, &key, body.clone()).await;
        assert_eq!(retry.expect(200)["status"], status, "{operation}");
        let again = app.post_idempotent(&path, &key, body).await;
        assert_eq!(again.expect(200)["status"], status, "{operation}");
        let done: i64 = obol_store::sql::query_scalar(
            "SELECT COUNT(*) FROM sandbox_operations WHERE kind = $1",
        )
        .bind(operation)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
        assert_eq!(done, 1, "one {operation} at the processor");
    }
    let captured =
        app.get("/v1/orders?status=paid").await.expect(200)["data"][0]["amount_captured"].clone();
    assert_eq!(captured, 4000);
    app.assert_ledger_balanced().await;
}

async fn another_request_after_a_500_is_a_reused_key(backend: Backend) {
    let app = app_with(backend, STEP_3).await;
    let order = app.paid_order(3882, true).await;
    app.arm_failpoint();
    app.post_idempotent(
        "/v1/refunds",
        "refund-1",
        json!({"order_id": order["id"], "amount": 1000}),
    )
    .await
    .expect(500);
    let other = app
        .post_idempotent(
            "/v1/refunds",
            "refund-1",
            json!({"order_id": order["id"], "amount": 2000}),
        )
        .await;
    other.expect(422);
    assert_eq!(other.code(), "idempotency_key_reused");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_operations WHERE kind = 'refund'")
            .await,
        1
    );
}

/// Every text column of every idempotency record, as a dump would show it.
async fn idempotency_dump(app: &TestApp) -> String {
    let rows: Vec<(String, String, String, Option<String>)> = obol_store::sql::query_as(
        "SELECT key, path, request_hash, response_body FROM idempotency_keys",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .expect("read records");
    rows.iter()
        .map(|(key, path, hash, body)| {
            format!("{key} {path} {hash} {}", body.clone().unwrap_or_default())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn card_data_never_in_idempotency_records(backend: Backend) {
    use sha2::{Digest, Sha256};
    let app = app_with(backend, ANSWER).await;
    let number = "5555555555554444";
    let mut unkeyed = Vec::new();
    for index in 0..3 {
        let order = app
            .create_order(json!({"amount": 1000, "currency": "EUR"}))
            .await;
        let body = json!({"payment_method": {"type": "card", "card": {
            "number": number, "exp_month": 12, "exp_year": 2030, "cvc": "987"}}});
        // serde_json's maps are sorted: this is the canonical JSON.
        unkeyed.push(hex::encode(Sha256::digest(body.to_string().as_bytes())));
        app.post_idempotent(
            &format!("/v1/orders/{}/confirm", order["id"].as_str().expect("id")),
            &format!("confirm-{index}"),
            body,
        )
        .await
        .expect(200);
    }
    let dump = idempotency_dump(&app).await;
    assert!(dump.contains("/confirm"), "the records are there: {dump}");
    assert!(!dump.contains(number), "a card number is in the records");
    for hash in &unkeyed {
        assert!(
            !dump.contains(hash.as_str()),
            "an unkeyed fingerprint is stored"
        );
    }
    let bytes = app.database_bytes().await;
    assert!(
        !harness::contains(&bytes, number.as_bytes()),
        "a card number is in the database file"
    );
}

async fn stored_answers_with_secrets_are_sealed(backend: Backend) {
    let app = app_with(backend, ANSWER).await;
    let body = json!({"name": "ops", "role": "developer"});
    let first = app
        .post_idempotent("/v1/api_keys", "key-1", body.clone())
        .await;
    let secret = first.expect(200)["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let account = app
        .post_idempotent(
            "/v1/connector_accounts",
            "account-1",
            json!({"connector": "sandbox", "payment_methods": ["card"]}),
        )
        .await;
    let webhook_secret = account.expect(200)["webhook_secret"]
        .as_str()
        .expect("webhook secret")
        .to_owned();
    let brand = app
        .send(
            "POST",
            "/v1/brands",
            Some(harness::ADMIN_KEY),
            Some(json!({"name": "Second"})),
            &[("Idempotency-Key", "brand-1")],
        )
        .await;
    let brand_secret = brand.expect(200)["secret_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let dump = idempotency_dump(&app).await;
    assert!(
        dump.contains("/v1/api_keys"),
        "the records are there: {dump}"
    );
    let bytes = app.database_bytes().await;
    for shown_once in [&secret, &webhook_secret, &brand_secret] {
        assert!(
            !dump.contains(shown_once.as_str()),
            "a plaintext secret is stored"
        );
        assert!(
            !harness::contains(&bytes, shown_once.as_bytes()),
            "a secret is in the database file"
        );
    }
    let replay = app.post_idempotent("/v1/api_keys", "key-1", body).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.expect(200)["secret"], Value::from(secret.clone()));
    let with_replayed = app
        .send("GET", "/v1/customers", Some(&secret), None, &[])
        .await;
    with_replayed.expect(200);
    // Two keys of each brand, and the one made once.
    assert_eq!(app.count("SELECT COUNT(*) FROM api_keys").await, 5);
}

/// A top-up paid after it expired is no credit: the payment is returned
/// and the wallet never sees it.
async fn late_top_up_payment_is_returned_and_credits_nothing(backend: Backend) {
    let app = app_with(backend, "order_expires_during_call").await;
    let customer = app.create_customer("top@example.com").await;
    let order = app
        .create_order(
            json!({"amount": 1000, "currency": "EUR", "type": "credit_top_up",
               "customer_id": customer["id"]}),
        )
        .await;
    let id = order["id"].as_str().expect("id").to_owned();
    app.arm_failpoint();
    app.confirm_card(&id, "4242424242424242").await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "expired", "{order}");
    let kinds: Vec<_> = order["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| (p["kind"].clone(), p["status"].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (json!("sale"), json!("succeeded")),
            (json!("reverse"), json!("succeeded"))
        ]
    );
    let wallet = app
        .get(&format!(
            "/v1/customers/{}/wallet",
            customer["id"].as_str().expect("id")
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(wallet["balances"], json!([]), "{wallet}");
    let credited = app
        .count("SELECT COUNT(*) FROM events WHERE type = 'wallet.credited'")
        .await;
    assert_eq!(credited, 0);
    app.assert_ledger_balanced().await;
}

async fn late_success_on_an_expired_order_is_returned(backend: Backend) {
    let app = app_with(backend, "order_expires_during_call").await;
    for auto_capture in [true, false] {
        let order = app
            .create_order(json!({"amount": 2500, "currency": "EUR", "auto_capture": auto_capture}))
            .await;
        let id = order["id"].as_str().expect("id").to_owned();
        app.arm_failpoint();
        app.confirm_card(&id, "4242424242424242").await;
        let order = app.order(&id).await;
        assert_eq!(order["status"], "expired", "the order keeps its status");
        let payments = order["payments"].as_array().expect("payments");
        let (kinds, statuses, triggers): (Vec<_>, Vec<_>, Vec<_>) = (
            payments.iter().map(|p| p["kind"].clone()).collect(),
            payments.iter().map(|p| p["status"].clone()).collect(),
            payments.iter().map(|p| p["trigger"].clone()).collect(),
        );
        let returned = if auto_capture { "reverse" } else { "void" };
        let first = if auto_capture { "sale" } else { "authorize" };
        assert_eq!(kinds, vec![json!(first), json!(returned)], "{order}");
        assert_eq!(statuses, vec![json!("succeeded"), json!("succeeded")]);
        assert_eq!(triggers[1], "system");
    }
    let held: Vec<(String,)> =
        obol_store::sql::query_as("SELECT state FROM sandbox_payments ORDER BY created_at")
            .fetch_all(&app.state.db.pool)
            .await
            .expect("sandbox payments");
    assert_eq!(held, vec![("reversed".to_owned(),), ("voided".to_owned(),)]);
    let balance = app.get("/v1/balance").await;
    let pending: i64 = balance.expect(200)["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .map(|b| b["amount"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(pending, 0, "nothing is owed for a returned payment");
    app.assert_ledger_balanced().await;
}

async fn retry_while_the_first_is_held_past_the_stale_window(backend: Backend) {
    // A connector call may take longer than the stale window (the timeout
    // allows it); the held request keeps its record alive all along.
    let app = harness::spawn_with(
        backend,
        Options {
            failpoint: Some("hold_connector_call"),
            connector_timeout_ms: Some(30_000),
            ..Options::default()
        },
    )
    .await;
    app.sandbox_account().await;
    let order = app
        .create_order(json!({"amount": 4000, "currency": "EUR"}))
        .await;
    let path = format!("/v1/orders/{}/confirm", order["id"].as_str().expect("id"));
    let body = json!({"payment_method": TestApp::card("4242424242424242")});
    app.arm_failpoint();
    let first = {
        let (client, url, key) = (
            app.client.clone(),
            format!("{}{path}", app.url),
            app.secret_key.clone(),
        );
        let body = body.to_string();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .header("Idempotency-Key", "held")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("answer")
                .status()
                .as_u16()
        })
    };
    // Past the stale window in real time: the first still renews its record.
    let stale_ms = obol_server::idempotency::STALE_AFTER_MS.unsigned_abs();
    tokio::time::sleep(std::time::Duration::from_millis(stale_ms + 2_000)).await;
    let retry = app.post_idempotent(&path, "held", body.clone()).await;
    retry.expect(409);
    assert_eq!(retry.code(), "idempotency_in_progress");
    assert_eq!(first.await.expect("first"), 200);
    let replay = app.post_idempotent(&path, "held", body).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.expect(200)["status"], "paid");
    assert_eq!(app.count("SELECT COUNT(*) FROM sandbox_payments").await, 1);
}

/// The process "dies" after booking a late success, before sending its
/// return: sync fails the return nobody sent, and the order's due step
/// makes a new one, so the money still goes back.
async fn late_success_whose_return_never_went_out_is_returned_later(backend: Backend) {
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            failpoint: Some("order_expires_then_crash"),
            ..Options::default()
        },
    )
    .await;
    app.sandbox_account().await;
    let order = app
        .create_order(json!({"amount": 2500, "currency": "EUR"}))
        .await;
    let id = order["id"].as_str().expect("id").to_owned();
    app.arm_failpoint();
    app.confirm_card(&id, "4242424242424242").await;
    let order = app.order(&id).await;
    assert_eq!(order["status"], "expired");
    assert_eq!(
        order["payments"][1]["status"], "pending",
        "the return is not sent"
    );
    app.advance(3_600).await;
    let order = app.order(&id).await;
    let payments = order["payments"].as_array().expect("payments");
    let states: Vec<(Value, Value)> = payments
        .iter()
        .map(|p| (p["kind"].clone(), p["status"].clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            (json!("sale"), json!("succeeded")),
            (json!("reverse"), json!("failed")),
            (json!("reverse"), json!("succeeded")),
        ],
        "{order}"
    );
    let state: String = obol_store::sql::query_scalar("SELECT state FROM sandbox_payments")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("sandbox payment");
    assert_eq!(state, "reversed");
    assert_eq!(order["status"], "expired");
    app.assert_ledger_balanced().await;
}
