//! Acceptance "BitPay" (issue 13): crypto sales through the `bitpay`
//! connector against a local stand-in of BitPay's invoice API (the token
//! checked on every call). A confirm creates an invoice and answers
//! `requires_action` with its `url`; BitPay's notifications are unsigned,
//! so each is only a hint after which Obol reads the invoice back and
//! applies what BitPay's API says: exact, underpaid (failed at its expiry),
//! overpaid (excess recorded) and expired payments, and a notification
//! that claims more than the API says changes nothing.

use super::notifications::{entries, events_about, posted, statuses};
use super::standins::{
    BITPAY_TOKEN, BitPayStandIn, SATS_PER_CENT, assert_paid, assert_underpaid, crypto_app, post_ipn,
};
use crate::harness::{Backend, Resp, TestApp, id_of};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    exact_payment_pays_the_order_after_bitpay_confirms_it,
    underpaid_invoice_fails_at_its_expiry_and_the_order_stays_payable,
    overpaid_invoice_pays_and_records_the_excess,
    expired_invoice_is_settled_by_sync,
    a_notification_claiming_more_than_the_api_says_changes_nothing,
    refunds_are_unsupported_and_the_token_is_required,
);

const RETURN_URL: &str = "https://shop.example/done";

/// A server on the test clock with a BitPay account at a stand-in: (the
/// app, the stand-in, the account's id).
async fn setup(backend: Backend) -> (TestApp, BitPayStandIn, String) {
    let standin = BitPayStandIn::start().await;
    let (app, account) = crypto_app(backend, "bitpay", standin.credentials()).await;
    (app, standin, account)
}

/// A new EUR order of `amount`, confirmed with crypto: (order id, invoice id).
async fn confirmed(app: &TestApp, standin: &BitPayStandIn, amount: i64) -> (String, String) {
    let order = app
        .create_order(json!({"amount": amount, "currency": "EUR",
                             "customer_email": "buyer@example.com", "return_url": RETURN_URL}))
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
    let txn = &answer["payments"][0];
    let invoice_id = txn["connector_transaction_id"]
        .as_str()
        .expect("the invoice id")
        .to_owned();
    assert_eq!(
        answer["next_action"]["url"],
        format!("{}/i/{invoice_id}", standin.url),
        "the invoice's page"
    );
    let sent = standin.invoice(&invoice_id).request;
    assert_eq!(sent["token"], BITPAY_TOKEN);
    assert_eq!(
        sent["price"],
        format!("{}.{:02}", amount / 100, amount % 100)
    );
    assert_eq!(sent["currency"], "EUR");
    assert_eq!(sent["orderId"], txn["id"]);
    assert_eq!(sent["buyer"]["email"], "buyer@example.com");
    let account = txn["connector_account_id"].as_str().expect("account");
    assert!(
        sent["notificationURL"]
            .as_str()
            .is_some_and(|url| url.ends_with(&format!("/v1/ipn/{account}"))),
        "{sent}"
    );
    let redirect = sent["redirectURL"].as_str().expect("redirectURL");
    assert!(
        redirect.contains(&format!("/v1/orders/{id}/return")),
        "{redirect}"
    );
    (id, invoice_id)
}

/// Posts BitPay's notification as it does: JSON, no signature.
async fn hint(app: &TestApp, account_id: &str, body: &str) -> Resp {
    post_ipn(app, account_id, "application/json", &[], body).await
}

/// The invoice now stands so at BitPay, and BitPay notifies Obol of it.
async fn bitpay_says(
    app: &TestApp,
    standin: &BitPayStandIn,
    account: &str,
    invoice_id: &str,
    (status, paid_cents, exception): (&str, i64, Value),
) -> Value {
    standin.set(invoice_id, status, paid_cents * SATS_PER_CENT, exception);
    let body = standin.notification(invoice_id, status);
    hint(app, account, &body).await.expect(200).clone()
}

async fn payment(app: &TestApp, order_id: &str) -> (Value, Value) {
    let order = app.order(order_id).await;
    let txn = order["payments"][0].clone();
    (order, txn)
}

/// Exact: `paid` leaves it processing; `confirmed` pays the order.
async fn exact_payment_pays_the_order_after_bitpay_confirms_it(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, invoice) = confirmed(&app, &standin, 8925).await;
    let receipt = bitpay_says(
        &app,
        &standin,
        &account,
        &invoice,
        ("paid", 8925, json!(false)),
    )
    .await;
    assert_eq!(receipt["result"], "applied");
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "processing", "{order}");
    assert_eq!(txn["status"], "pending");

    let receipt = bitpay_says(
        &app,
        &standin,
        &account,
        &invoice,
        ("confirmed", 8925, json!(false)),
    )
    .await;
    assert_eq!(receipt["result"], "applied");
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], 8925);
    assert_eq!(
        statuses(&txn),
        ["pending", "requires_action", "pending", "succeeded"]
    );
    assert_eq!(
        (txn["amount_received"].clone(), txn["amount_excess"].clone()),
        (json!(8925), json!(0))
    );
    let txn_id = txn["id"].as_str().expect("id");
    assert_eq!(events_about(&app, "transaction.succeeded", txn_id).await, 1);
    assert_eq!(entries(&app, "capture", &id).await, 1);
    assert_eq!(posted(&app, "processor_clearing").await, 8925);
    assert_eq!(posted(&app, "brand_pending").await, -8925);

    // `complete` later: the payment is final already.
    let receipt = bitpay_says(
        &app,
        &standin,
        &account,
        &invoice,
        ("complete", 8925, json!(false)),
    )
    .await;
    assert_eq!(receipt["result"], "unchanged");
    assert_eq!(standin.refused(), 0, "every call carried the token");
    app.assert_ledger_balanced().await;
}

/// Underpaid: a partial payment keeps it processing; the invoice expires
/// `paidPartial` and the payment fails `underpaid`; the order is payable.
async fn underpaid_invoice_fails_at_its_expiry_and_the_order_stays_payable(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, invoice) = confirmed(&app, &standin, 8925).await;
    bitpay_says(
        &app,
        &standin,
        &account,
        &invoice,
        ("new", 4462, json!("paidPartial")),
    )
    .await;
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "processing", "{order}");
    assert_eq!(txn["amount_received"], 4462);

    app.advance(15 * 60).await;
    bitpay_says(
        &app,
        &standin,
        &account,
        &invoice,
        ("expired", 4462, json!("paidPartial")),
    )
    .await;
    assert_underpaid(&app, &id, 4462).await;
}

/// Overpaid (`paidOver`, `complete`): paid for the price, the excess kept
/// on the transaction and booked as the customer's.
async fn overpaid_invoice_pays_and_records_the_excess(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, invoice) = confirmed(&app, &standin, 8925).await;
    bitpay_says(
        &app,
        &standin,
        &account,
        &invoice,
        ("complete", 9817, json!("paidOver")),
    )
    .await;
    assert_paid(&app, &id, 8925, 9817).await;
}

/// Expired unpaid, found by a sync (`GET /invoices/{id}` with the token).
async fn expired_invoice_is_settled_by_sync(backend: Backend) {
    let (app, standin, _account) = setup(backend).await;
    let (id, invoice) = confirmed(&app, &standin, 8925).await;
    standin.set(&invoice, "expired", 0, json!(false));
    app.post(&format!("/v1/orders/{id}/sync"), json!({}))
        .await
        .expect(200);
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(txn["status"], "failed", "{txn}");
    assert_eq!(txn["failure_reason"], "expired");
    assert_eq!(order["status"], "in_progress");
    assert_eq!(posted(&app, "processor_clearing").await, 0);
    assert_eq!(standin.refused(), 0);
    app.assert_ledger_balanced().await;
}

/// A notification claiming `paid` or `confirmed` for an invoice BitPay's
/// API says is `new`: nothing changes (the claim is never read). An
/// invoice Obol does not know is 404 (not recorded: a retry may match);
/// a body naming no invoice is 400.
async fn a_notification_claiming_more_than_the_api_says_changes_nothing(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, invoice) = confirmed(&app, &standin, 8925).await;
    for claimed in ["paid", "confirmed", "complete"] {
        let body = standin.notification(&invoice, claimed);
        let receipt = hint(&app, &account, &body).await.expect(200).clone();
        assert_eq!(receipt["result"], "unchanged", "{claimed}: {receipt}");
    }
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "requires_action", "{order}");
    assert_eq!(txn["status"], "requires_action");
    assert_eq!(statuses(&txn), ["pending", "requires_action"]);
    assert_eq!(posted(&app, "processor_clearing").await, 0);
    assert_eq!(events_about(&app, "order.paid", &id).await, 0);

    let unknown = json!({"event": {"code": 1005, "name": "invoice_confirmed"},
                         "data": {"id": "BPNOTOURS", "status": "confirmed"}});
    let unknown = hint(&app, &account, &unknown.to_string()).await;
    assert_eq!(unknown.status, 404, "no payment yet: {}", unknown.body);
    let refused = hint(&app, &account, "{\"event\": {}}").await;
    assert_eq!(refused.status, 400, "{}", refused.body);
}

/// Refunds are 400 `operation_unsupported`; an account needs its token
/// (400 naming `credentials[token]`, the value never echoed).
async fn refunds_are_unsupported_and_the_token_is_required(backend: Backend) {
    let (app, standin, account) = setup(backend).await;
    let (id, invoice) = confirmed(&app, &standin, 8925).await;
    bitpay_says(
        &app,
        &standin,
        &account,
        &invoice,
        ("confirmed", 8925, json!(false)),
    )
    .await;
    let refund = app
        .post("/v1/refunds", json!({"order_id": id, "amount": 8925}))
        .await;
    assert_eq!(refund.status, 400, "{}", refund.body);
    assert_eq!(refund.code(), "operation_unsupported");
    for credentials in [json!({"api_base": standin.url}), json!({"token": ""})] {
        let refused = app
            .post(
                "/v1/connector_accounts",
                json!({"connector": "bitpay", "payment_methods": ["crypto"], "credentials": credentials}),
            )
            .await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert_eq!(refused.param(), Some("credentials[token]"));
    }
    app.assert_ledger_balanced().await;
}
