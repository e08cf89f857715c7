//! `obol ledger check`, the real binary over a test's database: it passes
//! after payments, refunds, clearing, top-ups, wallet payments, grants and
//! redeem codes, and fails with exit status 1 naming what a test broke.

use crate::harness::{Backend, Options, TestApp, id_of, spawn_paying};
use crate::on_both;
use serde_json::json;
use std::process::Command;

on_both!(the_check_passes_on_real_books_and_names_what_is_broken);

const OBOL: &str = env!("CARGO_BIN_EXE_obol");
const VISA: &str = "4242424242424242";

/// Runs `obol ledger check` on the app's database: (exit code, stdout).
fn ledger_check(app: &TestApp) -> (Option<i32>, String) {
    let output = Command::new(OBOL)
        .args(["ledger", "check"])
        .env("DATABASE_URL", &app.db.url)
        .env_remove("OBOL_LOG")
        .output()
        .expect("run obol ledger check");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("checking: each entry sums to zero per currency"),
        "no progress on stderr: {stderr}"
    );
    (output.status.code(), stdout)
}

async fn sql(app: &TestApp, statement: &'static str) {
    obol_store::sql::query(statement)
        .execute(&app.state.db.pool)
        .await
        .expect(statement);
}

async fn the_check_passes_on_real_books_and_names_what_is_broken(backend: Backend) {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    let app = spawn_paying(backend, options).await;
    let customer_id = id_of(&app.create_customer("books@example.com").await);
    let top_up = app
        .create_order(
            json!({"type": "credit_top_up", "amount": 2000, "currency": "EUR", "customer_id": customer_id}),
        )
        .await;
    app.confirm_card(&id_of(&top_up), VISA).await.expect(200);
    app.post(
        &format!("/v1/customers/{customer_id}/wallet/credits"),
        json!({"amount": 300, "currency": "EUR", "reason": "Welcome"}),
    )
    .await
    .expect(200);
    let code = app
        .post(
            "/v1/redeem_codes",
            json!({"amount": 200, "currency": "EUR"}),
        )
        .await
        .expect(200)["code"]
        .clone();
    app.post(
        "/v1/redeem_codes/redeem",
        json!({"code": code, "customer_id": customer_id}),
    )
    .await
    .expect(200);
    let wallet_paid = app
        .create_order(json!({"amount": 1500, "currency": "EUR", "customer_id": customer_id}))
        .await;
    app.post(
        &format!("/v1/orders/{}/confirm", id_of(&wallet_paid)),
        json!({"payment_method": {"type": "wallet"}}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/refunds",
        json!({"order_id": id_of(&wallet_paid), "amount": 600}),
    )
    .await
    .expect(200);
    let card_paid = app.paid_order(1000, true).await;
    app.post(
        "/v1/refunds",
        json!({"order_id": id_of(&card_paid), "amount": 250}),
    )
    .await
    .expect(200);
    app.advance(3 * 24 * 3600).await;

    let (status, stdout) = ledger_check(&app);
    assert_eq!(status, Some(0), "{stdout}");
    assert!(stdout.starts_with("ledger ok: "), "{stdout}");

    app.leave_ledger_broken();
    // Granted credit that its grants do not account for.
    sql(&app, "UPDATE wallet_grants SET remaining = remaining + 1").await;
    let (status, stdout) = ledger_check(&app);
    assert_eq!(status, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("customer {customer_id}")),
        "{stdout}"
    );
    sql(&app, "UPDATE wallet_grants SET remaining = remaining - 1").await;
    assert_eq!(ledger_check(&app).0, Some(0));

    // A top-up that says it captured more than its wallet was credited.
    sql(
        &app,
        "UPDATE orders SET amount = amount + 1, amount_authorized = amount_authorized + 1, \
         amount_captured = amount_captured + 1 WHERE type = 'credit_top_up'",
    )
    .await;
    let (status, stdout) = ledger_check(&app);
    assert_eq!(status, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("top-up {} captured 2001", id_of(&top_up))),
        "{stdout}"
    );
    sql(
        &app,
        "UPDATE orders SET amount = amount - 1, amount_authorized = amount_authorized - 1, \
         amount_captured = amount_captured - 1 WHERE type = 'credit_top_up'",
    )
    .await;
    assert_eq!(ledger_check(&app).0, Some(0));

    // One posting off by one: its entry is named.
    let entry_id: (String,) =
        obol_store::sql::query_as("SELECT entry_id FROM ledger_postings ORDER BY id LIMIT 1")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("a posting");
    sql(
        &app,
        "UPDATE ledger_postings SET amount = amount + 1 \
         WHERE id = (SELECT MIN(id) FROM ledger_postings)",
    )
    .await;
    let (status, stdout) = ledger_check(&app);
    assert_eq!(status, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("entry {} sums to 1 EUR", entry_id.0)),
        "{stdout}"
    );
}
