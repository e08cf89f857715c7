//! Acceptance "CoinPayments" (issue 13): crypto sales through the
//! `coinpayments` connector against a local stand-in of its API. A confirm
//! opens a CoinPayments transaction (the `HMAC` header checked by the
//! stand-in) and answers `requires_action` with its checkout page; IPNs
//! signed with the IPN secret settle it exactly, underpaid (failed at its
//! timeout, the order payable again), or overpaid (excess recorded); a
//! sync reads `get_tx_info`. Forged IPNs are 400 and change nothing; a
//! repeated one applies once; refunds are unsupported. The books balance
//! after each (the harness checks when the app is dropped).

use super::notifications::{entries, events_about, posted, statuses};
use super::standins::{
    CP_MERCHANT, CoinPaymentsStandIn, SATS_PER_CENT, assert_paid, assert_underpaid, crypto_app,
    hmac_sha512, post_ipn,
};
use crate::harness::{Backend, Resp, TestApp, id_of};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    exact_payment_by_ipn_pays_the_order,
    underpaid_payment_fails_at_its_timeout_and_the_order_stays_payable,
    overpaid_payment_pays_and_records_the_excess,
    expired_payment_is_settled_by_sync,
    an_order_past_its_expiry_waits_for_its_invoice_then_expires,
    forged_ipns_are_refused_and_change_nothing,
    a_repeated_ipn_applies_once,
    refunds_are_unsupported_and_an_email_is_required,
    credentials_are_checked_at_account_creation,
    rate_limits_are_retried_and_a_failing_provider_is_unknown,
);

const RETURN_URL: &str = "https://shop.example/done";
const EMAIL: &str = "buyer@example.com";

/// A server on the test clock with a CoinPayments account at a stand-in:
/// (the app, the stand-in, the account's id).
async fn setup(backend: Backend) -> (TestApp, CoinPaymentsStandIn, String) {
    let standin = CoinPaymentsStandIn::start().await;
    let (app, account) = crypto_app(backend, "coinpayments", standin.credentials()).await;
    (app, standin, account)
}

/// A new EUR order of `amount` by a customer with an email, confirmed with
/// crypto: (order id, CoinPayments' txn id).
async fn confirmed(app: &TestApp, standin: &CoinPaymentsStandIn, amount: i64) -> (String, String) {
    let order = app
        .create_order(
            json!({"amount": amount, "currency": "EUR", "customer_email": EMAIL,
                             "return_url": RETURN_URL}),
        )
        .await;
    let id = id_of(&order);
    let answer = app
        .post(
            &format!("/v1/orders/{id}/confirm"),
            json!({"payment_method": {"type": "crypto"}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(answer["status"], "requires_action", "{answer}");
    assert_eq!(answer["next_action"]["type"], "redirect");
    let txn = &answer["payments"][0];
    let txn_id = txn["connector_transaction_id"]
        .as_str()
        .expect("CoinPayments' txn id")
        .to_owned();
    let url = answer["next_action"]["url"].as_str().expect("url");
    assert_eq!(
        url,
        format!("{}/index.php?cmd=checkout&id={txn_id}&key=ck1", standin.url),
        "the provider's checkout page"
    );
    // What CoinPayments was sent: signed, exact, with the order's email.
    let sent = standin.transaction(&txn_id).fields;
    let obol_txn = txn["id"].as_str().expect("id");
    let expected_amount = format!("{}.{:02}", amount / 100, amount % 100);
    assert_eq!(sent["cmd"], "create_transaction");
    assert_eq!(sent["amount"], expected_amount);
    assert_eq!(sent["currency1"], "EUR");
    assert_eq!(sent["currency2"], "BTC");
    assert_eq!(sent["buyer_email"], EMAIL);
    assert_eq!(sent["custom"], obol_txn);
    assert_eq!(sent["invoice"], obol_txn);
    assert!(
        sent["ipn_url"].ends_with(&format!(
            "/v1/ipn/{}",
            txn["connector_account_id"].as_str().unwrap_or_default()
        )),
        "{}",
        sent["ipn_url"]
    );
    assert!(
        standin.calls().iter().all(|(_, signed)| *signed),
        "every call signed"
    );
    (id, txn_id)
}

/// Posts a form-encoded IPN with its `HMAC` header.
async fn post_form(app: &TestApp, account_id: &str, body: &str, hmac: &str) -> Resp {
    let form = "application/x-www-form-urlencoded";
    post_ipn(app, account_id, form, &[("HMAC", hmac)], body).await
}

/// Sends CoinPayments' IPN about `txn_id` as it now stands.
async fn notify(
    app: &TestApp,
    standin: &CoinPaymentsStandIn,
    account_id: &str,
    txn_id: &str,
    ipn_id: &str,
) -> Value {
    let (body, hmac) = standin.ipn(txn_id, ipn_id);
    post_form(app, account_id, &body, &hmac)
        .await
        .expect(200)
        .clone()
}

async fn payment(app: &TestApp, order_id: &str) -> (Value, Value) {
    let order = app.order(order_id).await;
    let txn = order["payments"][0].clone();
    (order, txn)
}

/// Exact: the IPN with status 100 pays the order; one capture entry.
async fn exact_payment_by_ipn_pays_the_order(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, txn_id) = confirmed(&app, &standin, 8925).await;
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "requires_action");
    assert_eq!(txn["payment_method"], json!({"type": "crypto"}));

    standin.pay(&txn_id, 8925 * SATS_PER_CENT, 100, "Complete");
    let receipt = notify(&app, &standin, &account, &txn_id, "ipn_exact_1").await;
    assert_eq!(receipt["result"], "applied");
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], 8925);
    assert_eq!(statuses(&txn), ["pending", "requires_action", "succeeded"]);
    assert_eq!(
        (txn["amount_received"].clone(), txn["amount_excess"].clone()),
        (json!(8925), json!(0))
    );
    let txn_obol = txn["id"].as_str().expect("id");
    assert_eq!(
        events_about(&app, "transaction.succeeded", txn_obol).await,
        1
    );
    assert_eq!(entries(&app, "capture", &id).await, 1);
    assert_eq!(posted(&app, "processor_clearing").await, 8925);
    assert_eq!(posted(&app, "brand_pending").await, -8925);
    app.assert_ledger_balanced().await;
}

/// Underpaid: half arrives (status 0 with funds) and the order is
/// processing; at the timeout (status -1) the payment fails `underpaid`,
/// what arrived is booked as the customer's, and the order is payable.
async fn underpaid_payment_fails_at_its_timeout_and_the_order_stays_payable(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, txn_id) = confirmed(&app, &standin, 8925).await;
    standin.pay(
        &txn_id,
        4462 * SATS_PER_CENT + 15,
        0,
        "Waiting for buyer funds...",
    );
    notify(&app, &standin, &account, &txn_id, "ipn_under_1").await;
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "processing", "{order}");
    assert_eq!(txn["status"], "pending");
    assert_eq!(txn["amount_received"], 4462, "rounded down to the cent");

    app.advance(60).await;
    standin.pay(
        &txn_id,
        4462 * SATS_PER_CENT + 15,
        -1,
        "Cancelled / Timed Out",
    );
    notify(&app, &standin, &account, &txn_id, "ipn_under_2").await;
    let (_, txn) = payment(&app, &id).await;
    assert_eq!(
        statuses(&txn),
        ["pending", "requires_action", "pending", "failed"]
    );
    assert_underpaid(&app, &id, 4462).await;
}

/// Overpaid: 10 % more arrives; the order is paid for its price and the
/// transaction records what arrived and the excess (the customer's).
async fn overpaid_payment_pays_and_records_the_excess(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, txn_id) = confirmed(&app, &standin, 8925).await;
    standin.pay(&txn_id, 9817 * SATS_PER_CENT, 100, "Complete");
    notify(&app, &standin, &account, &txn_id, "ipn_over_1").await;
    assert_paid(&app, &id, 8925, 9817).await;
}

/// Expired with nothing paid, with no IPN: a sync (`get_tx_info`, signed)
/// fails the payment `expired`; before that, a sync of the open payment
/// changes nothing.
async fn expired_payment_is_settled_by_sync(backend: Backend) {
    let (app, standin, _account) = setup(backend).await;
    let (id, txn_id) = confirmed(&app, &standin, 8925).await;
    app.post(&format!("/v1/orders/{id}/sync"), json!({}))
        .await
        .expect(200);
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "requires_action", "{order}");
    assert_eq!(txn["status"], "requires_action");

    standin.pay(&txn_id, 0, -1, "Cancelled / Timed Out");
    app.post(&format!("/v1/orders/{id}/sync"), json!({}))
        .await
        .expect(200);
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(txn["status"], "failed", "{txn}");
    assert_eq!(txn["failure_reason"], "expired");
    assert_eq!(order["status"], "in_progress");
    let calls = standin.calls();
    assert!(
        calls.iter().any(|(body, signed)| *signed
            && body.contains("cmd=get_tx_info")
            && body.contains(&format!("txid={txn_id}"))),
        "{calls:?}"
    );
    assert_eq!(posted(&app, "processor_clearing").await, 0);
    app.assert_ledger_balanced().await;
}

/// An order whose expiry comes while its invoice is open is not voided
/// (CoinPayments cannot): it waits for the invoice, and expires once the
/// invoice has timed out.
async fn an_order_past_its_expiry_waits_for_its_invoice_then_expires(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, txn_id) = confirmed(&app, &standin, 5000).await;
    app.advance(24 * 3600 + 60).await;
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "requires_action", "{order}");
    assert_eq!(txn["status"], "requires_action");
    standin.pay(&txn_id, 0, -1, "Cancelled / Timed Out");
    notify(&app, &standin, &account, &txn_id, "ipn_timeout").await;
    app.advance(10 * 60).await;
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "expired", "{order}");
    assert_eq!(txn["status"], "failed");
    app.assert_ledger_balanced().await;
}

/// A bad HMAC, a missing one, or a good HMAC for another merchant: 400,
/// nothing recorded or changed.
async fn forged_ipns_are_refused_and_change_nothing(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, txn_id) = confirmed(&app, &standin, 8925).await;
    standin.pay(&txn_id, 8925 * SATS_PER_CENT, 100, "Complete");
    let (body, hmac) = standin.ipn(&txn_id, "ipn_forged_1");
    let forged = hmac_sha512("not_the_ipn_secret", body.as_bytes());
    let refused = post_form(&app, &account, &body, &forged).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.code(), "signature_invalid");
    let tampered = body.replace("status=100", "status=2");
    assert_eq!(
        post_form(&app, &account, &tampered, &hmac).await.status,
        400
    );
    assert_eq!(post_form(&app, &account, &body, "").await.status, 400);
    let other = body.replace(&format!("merchant={CP_MERCHANT}"), "merchant=someone_else");
    let signed = hmac_sha512(super::standins::CP_IPN_SECRET, other.as_bytes());
    let refused = post_form(&app, &account, &other, &signed).await;
    assert_eq!(
        refused.status, 400,
        "another merchant's IPN: {}",
        refused.body
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_notifications")
            .await,
        0
    );
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "requires_action");
    assert_eq!(txn["status"], "requires_action");
    assert_eq!(posted(&app, "processor_clearing").await, 0);
}

/// The same IPN twice: 200 both times, applied once.
async fn a_repeated_ipn_applies_once(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, txn_id) = confirmed(&app, &standin, 8925).await;
    standin.pay(&txn_id, 8925 * SATS_PER_CENT, 100, "Complete");
    let first = notify(&app, &standin, &account, &txn_id, "ipn_twice").await;
    let second = notify(&app, &standin, &account, &txn_id, "ipn_twice").await;
    assert_eq!(
        (first["result"].clone(), second["result"].clone()),
        (json!("applied"), json!("duplicate"))
    );
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "paid");
    let txn_obol = txn["id"].as_str().expect("id");
    assert_eq!(
        events_about(&app, "transaction.succeeded", txn_obol).await,
        1
    );
    assert_eq!(entries(&app, "capture", &id).await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_notifications")
            .await,
        1
    );
    app.assert_ledger_balanced().await;
}

/// A refund of a paid order is 400 `operation_unsupported`; an order with
/// no customer email cannot be confirmed with CoinPayments (400, no call).
async fn refunds_are_unsupported_and_an_email_is_required(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, txn_id) = confirmed(&app, &standin, 8925).await;
    standin.pay(&txn_id, 8925 * SATS_PER_CENT, 100, "Complete");
    notify(&app, &standin, &account, &txn_id, "ipn_refund_1").await;
    let refund = app
        .post("/v1/refunds", json!({"order_id": id, "amount": 1000}))
        .await;
    assert_eq!(refund.status, 400, "{}", refund.body);
    assert_eq!(refund.code(), "operation_unsupported");
    assert_eq!(app.order(&id).await["amount_refunded"], 0);

    let calls = standin.calls().len();
    let guest = id_of(
        &app.create_order(json!({"amount": 500, "currency": "EUR"}))
            .await,
    );
    let refused = app
        .post(
            &format!("/v1/orders/{guest}/confirm"),
            json!({"payment_method": {"type": "crypto"}}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.param(), Some("customer_email"));
    assert_eq!(app.order(&guest).await["payments"], json!([]));
    assert_eq!(standin.calls().len(), calls, "CoinPayments was not called");
    app.assert_ledger_balanced().await;
}

/// Each required key missing is a 400 naming it, never echoing a secret;
/// CoinPayments takes crypto only.
async fn credentials_are_checked_at_account_creation(backend: Backend) {
    let (app, standin, _account) = setup(backend).await;
    for key in ["public_key", "private_key", "ipn_secret", "merchant_id"] {
        let mut credentials = standin.credentials();
        credentials.as_object_mut().expect("an object").remove(key);
        let refused = app
            .post(
                "/v1/connector_accounts",
                json!({"connector": "coinpayments", "payment_methods": ["crypto"], "credentials": credentials}),
            )
            .await;
        assert_eq!(refused.status, 400, "{key}: {}", refused.body);
        assert_eq!(
            refused.param(),
            Some(format!("credentials[{key}]").as_str())
        );
        let text = refused.body.to_string();
        assert!(
            !text.contains("cp_private") && !text.contains("cp_ipn_secret"),
            "{text}"
        );
    }
    let card = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "coinpayments", "payment_methods": ["card"], "credentials": standin.credentials()}),
        )
        .await;
    assert_eq!(card.status, 400, "{}", card.body);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_accounts WHERE connector = 'coinpayments'")
            .await,
        1
    );
}

/// A 429 is retried inside the call (the payment opens once); a 502 is an
/// unknown outcome, never a guess: the transaction `unknown`, a sync due.
async fn rate_limits_are_retried_and_a_failing_provider_is_unknown(backend: Backend) {
    let (app, standin, _account) = setup(backend).await;
    standin.fail_next(&[429]);
    let (id, _txn_id) = confirmed(&app, &standin, 8925).await;
    let creates = standin
        .calls()
        .iter()
        .filter(|(body, _)| body.contains("cmd=create_transaction"))
        .count();
    assert_eq!(creates, 2, "the rate-limited call, then the one that ran");
    assert_eq!(app.order(&id).await["status"], "requires_action");

    standin.fail_next(&[502]);
    let order = app
        .create_order(json!({"amount": 1000, "currency": "EUR", "customer_email": EMAIL}))
        .await;
    let other = id_of(&order);
    let answer = app
        .post(
            &format!("/v1/orders/{other}/confirm"),
            json!({"payment_method": {"type": "crypto"}}),
        )
        .await;
    assert_ne!(answer.status, 500, "{}", answer.body);
    let (_, txn) = payment(&app, &other).await;
    assert_eq!(txn["status"], "unknown", "{txn}");
    let due = app
        .count("SELECT COUNT(*) FROM transactions WHERE status = 'unknown' AND sync_at IS NOT NULL")
        .await;
    assert_eq!(due, 1, "a sync is scheduled");
    assert_eq!(posted(&app, "processor_clearing").await, 0);
}
