//! Acceptance "Crypto on the sandbox": a crypto confirm opens an invoice
//! (`requires_action` with the sandbox's invoice page); paying it exactly
//! pays the order, overpaying pays it and records the excess, underpaying
//! leaves it processing until the invoice expires, then fails the payment
//! `underpaid` and leaves the order payable. Each outcome arrives by the
//! sandbox's signed notification (or the customer's return) through step
//! 3, with its ledger entry and events; the books balance after each.

use super::notifications::{Account, clock_app, entries, events_about, posted, statuses};
use crate::browser::{Browser, PHONE_WIDTH};
use crate::harness::{Backend, Resp, TestApp, id_of};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    exact_payment_pays_the_order,
    underpaid_invoice_fails_at_its_expiry_and_the_order_stays_payable,
    overpaid_invoice_pays_and_records_the_excess,
    crypto_is_a_sale_only,
    invoice_page_in_a_browser,
);

const RETURN_URL: &str = "https://shop.example/done";
const INVOICE_TTL_S: i64 = 15 * 60;

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    obol_server::outbound::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// A new EUR order of `amount` with a return URL.
async fn order(app: &TestApp, amount: i64) -> String {
    let order = app
        .create_order(json!({"amount": amount, "currency": "EUR", "return_url": RETURN_URL}))
        .await;
    id_of(&order)
}

/// Confirms the order with crypto by the secret key.
async fn confirm_crypto(app: &TestApp, order_id: &str) -> Resp {
    app.post(
        &format!("/v1/orders/{order_id}/confirm"),
        json!({"payment_method": {"type": "crypto"}}),
    )
    .await
}

/// The invoice page behind an order's `next_action`: its URL, HTML and
/// the form's token.
struct Invoice {
    url: String,
    html: String,
    token: String,
}

async fn invoice(app: &TestApp, answer: &Value) -> Invoice {
    assert_eq!(answer["status"], "requires_action", "{answer}");
    assert_eq!(answer["next_action"]["type"], "redirect");
    let url = answer["next_action"]["url"]
        .as_str()
        .expect("the invoice URL")
        .to_owned();
    let prefix = format!("{}/sandbox/crypto/sbx_pay_", app.url);
    assert!(url.starts_with(&prefix), "{url}");
    let response = app.client.get(&url).send().await.expect("the invoice page");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("text");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("a CSP")
        .to_owned();
    assert!(
        csp.contains(&format!("form-action 'self' {}", app.url)),
        "the form may lead to the payment's return: {csp}"
    );
    let html = response.text().await.expect("HTML");
    let token = html
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    Invoice { url, html, token }
}

/// Pays the invoice as the customer does (`exact`, `under`, `over`): the
/// answer's status and `Location`.
async fn pay(invoice: &Invoice, how: &str) -> (u16, String) {
    let response = no_redirects()
        .post(&invoice.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("pay={how}&token={}", invoice.token))
        .send()
        .await
        .expect("pay the invoice");
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status().as_u16(), location)
}

/// The order's one payment, as `GET /v1/orders/{id}` shows it.
async fn payment(app: &TestApp, order_id: &str) -> (Value, Value) {
    let order = app.order(order_id).await;
    let txn = order["payments"][0].clone();
    (order, txn)
}

/// Paid exactly (confirmed with the publishable key, as the hosted page
/// does): the sandbox's `crypto.paid` makes the order `paid`, history
/// pending → requires_action → succeeded, one capture entry.
async fn exact_payment_pays_the_order(backend: Backend) {
    let (app, _account) = clock_app(backend).await;
    let id = order(&app, 8925).await;
    let secret = app.order(&id).await["client_secret"].clone();
    let answer = app
        .send(
            "POST",
            &format!("/v1/orders/{id}/confirm"),
            Some(&app.publishable_key.clone()),
            Some(json!({"payment_method": {"type": "crypto"}, "client_secret": secret})),
            &[],
        )
        .await
        .expect(200)
        .clone();
    let invoice = invoice(&app, &answer).await;
    assert!(invoice.html.contains("Sandbox"), "a clear sandbox notice");
    assert!(invoice.html.contains("sbx1q"), "the deposit address");
    assert!(invoice.html.contains("89.25"), "the amount");
    let (_, txn) = payment(&app, &id).await;
    assert_eq!(txn["payment_method"], json!({"type": "crypto"}));
    assert_eq!(txn["kind"], "sale");

    let (status, location) = pay(&invoice, "exact").await;
    assert_eq!(status, 303);
    assert!(
        location.starts_with(&format!("{}/v1/orders/{id}/return?", app.url)),
        "back to the payment's signed return: {location}"
    );
    app.advance(1).await;
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], 8925);
    assert_eq!(statuses(&txn), ["pending", "requires_action", "succeeded"]);
    assert_eq!(
        (txn["amount_received"].clone(), txn["amount_excess"].clone()),
        (json!(8925), json!(0))
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_notifications")
            .await,
        1
    );
    let txn_id = txn["id"].as_str().expect("id");
    assert_eq!(events_about(&app, "transaction.succeeded", txn_id).await, 1);
    assert_eq!(events_about(&app, "order.paid", &id).await, 1);
    assert_eq!(entries(&app, "capture", &id).await, 1);
    assert_eq!(posted(&app, "processor_clearing").await, 8925);
    assert_eq!(posted(&app, "brand_pending").await, -8925);
    assert_eq!(posted(&app, "external").await, 0);
    app.assert_ledger_balanced().await;

    let (status, _) = pay(&invoice, "over").await;
    assert_eq!(status, 400, "an invoice is paid once");
}

/// Underpaid: the payment stays pending (what arrived recorded, the order
/// processing) until the invoice expires; then `payment.failed` fails it
/// `underpaid`, the order is `in_progress` with `last_payment_error` and
/// may be paid again. What arrived is booked as the customer's.
async fn underpaid_invoice_fails_at_its_expiry_and_the_order_stays_payable(backend: Backend) {
    let (app, account) = clock_app(backend).await;
    let id = order(&app, 8925).await;
    let answer = confirm_crypto(&app, &id).await.expect(200).clone();
    let invoice = invoice(&app, &answer).await;
    let (status, _) = pay(&invoice, "under").await;
    assert_eq!(status, 303);
    app.advance(1).await;
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "processing", "{order}");
    assert_eq!(txn["status"], "pending");
    assert_eq!(txn["amount_received"], 4462);
    assert_eq!(txn["failure_reason"], Value::Null);
    assert_eq!(posted(&app, "processor_clearing").await, 0);

    app.advance(INVOICE_TTL_S).await;
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "in_progress", "{order}");
    assert_eq!(order["last_payment_error"]["code"], "underpaid");
    assert_eq!(order["last_payment_error"]["transaction_id"], txn["id"]);
    assert_eq!(txn["status"], "failed");
    assert_eq!(txn["failure_reason"], "underpaid");
    assert_eq!(txn["error"]["code"], "underpaid");
    assert_eq!(txn["amount_received"], 4462);
    assert_eq!(
        statuses(&txn),
        ["pending", "requires_action", "pending", "failed"]
    );
    let txn_id = txn["id"].as_str().expect("id");
    assert_eq!(events_about(&app, "transaction.failed", txn_id).await, 1);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM connector_notifications WHERE event_type = 'payment.failed'"
        )
        .await,
        1,
        "the sandbox tells of the expiry"
    );
    assert_eq!(entries(&app, "underpayment", &id).await, 1);
    assert_eq!(posted(&app, "processor_clearing").await, 4462);
    assert_eq!(posted(&app, "external").await, -4462);
    assert_eq!(posted(&app, "brand_pending").await, 0);
    app.assert_ledger_balanced().await;

    let again = confirm_crypto(&app, &id).await.expect(200).clone();
    assert_eq!(again["status"], "requires_action", "still payable: {again}");
    assert_eq!(again["payments"].as_array().map(Vec::len), Some(2));
    let _ = account;
}

/// Overpaid: the order is paid for its amount; the transaction records
/// what arrived and the excess. The customer's return (a sync) settles it
/// first here; the sandbox's notification then changes nothing. The
/// excess is booked as the customer's, never the brand's.
async fn overpaid_invoice_pays_and_records_the_excess(backend: Backend) {
    let (app, _account) = clock_app(backend).await;
    let id = order(&app, 8925).await;
    let answer = confirm_crypto(&app, &id).await.expect(200).clone();
    let invoice = invoice(&app, &answer).await;
    let (status, location) = pay(&invoice, "over").await;
    assert_eq!(status, 303);
    let landed = no_redirects()
        .get(&location)
        .send()
        .await
        .expect("the return");
    assert_eq!(landed.status(), 303);
    let merchant = landed.headers()["location"]
        .to_str()
        .expect("text")
        .to_owned();
    assert_eq!(merchant, format!("{RETURN_URL}?order_id={id}"));
    app.advance(1).await;
    let (order, txn) = payment(&app, &id).await;
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], 8925);
    assert_eq!(txn["amount"], 8925);
    assert_eq!(txn["amount_received"], 9817);
    assert_eq!(txn["amount_excess"], 892);
    let txn_id = txn["id"].as_str().expect("id");
    assert_eq!(events_about(&app, "transaction.succeeded", txn_id).await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_notifications")
            .await,
        1,
        "the notification came, and changed nothing"
    );
    assert_eq!(entries(&app, "capture", &id).await, 1);
    assert_eq!(posted(&app, "processor_clearing").await, 9817);
    assert_eq!(posted(&app, "brand_pending").await, -8925);
    assert_eq!(posted(&app, "external").await, -892);
    let balance = app.get("/v1/balance").await.expect(200).clone();
    let pending: Vec<_> = balance["pending"]
        .as_array()
        .expect("pending balances")
        .iter()
        .map(|b| (b["currency"].clone(), b["amount"].clone()))
        .collect();
    assert_eq!(
        pending,
        [(json!("EUR"), json!(8925))],
        "the brand is owed the price"
    );
    app.assert_ledger_balanced().await;
}

/// Crypto is a sale: an order held for capture, or a zero-amount mandate
/// set-up, is refused with a clear 400 and no transaction. The account
/// lists crypto among the payment methods.
async fn crypto_is_a_sale_only(backend: Backend) {
    let (app, Account { id: account_id, .. }) = clock_app(backend).await;
    let methods = app
        .get("/v1/payment_methods?currency=EUR&amount=1000")
        .await
        .expect(200)
        .clone();
    let crypto = methods["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|method| method["type"] == "crypto")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        crypto["connector_accounts"],
        json!([account_id]),
        "{methods}"
    );
    // A mandate is the customer's: its setup order names one.
    let customer_id = id_of(&app.create_customer("setup@example.com").await);
    for body in [
        json!({"amount": 5000, "currency": "EUR", "auto_capture": false}),
        json!({"amount": 0, "currency": "EUR", "setup_mandate": true, "customer_id": customer_id}),
    ] {
        let id = id_of(&app.create_order(body.clone()).await);
        let answer = confirm_crypto(&app, &id).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.code(), "operation_unsupported");
        assert_eq!(answer.param(), Some("payment_method[type]"));
        let (order, _) = payment(&app, &id).await;
        assert_eq!(order["status"], "in_progress");
        assert_eq!(order["payments"], json!([]));
    }
}

/// The invoice page in a real headless Chromium at phone width: from the
/// hosted payment page's crypto button to the invoice (a clear sandbox
/// notice, headings, no sideways scrolling, no serious axe-core
/// violation), paid by keyboard, back through the signed return to the
/// merchant's return URL with the order paid.
async fn invoice_page_in_a_browser(backend: Backend) {
    let (app, _account) = clock_app(backend).await;
    // A return URL the browser can load on another origin than the pages
    // (localhost, not 127.0.0.1): the server's own health check.
    let return_url = format!(
        "{}/health?shop=done",
        app.url.replace("127.0.0.1", "localhost")
    );
    let order = app
        .create_order(
            json!({"amount": 8925, "currency": "EUR", "description": "Pro plan",
                             "return_url": return_url}),
        )
        .await;
    let id = id_of(&order);
    let name = format!("crypto-invoice-{backend:?}").to_lowercase();
    let mut browser = Browser::start(&name, PHONE_WIDTH).await;
    browser
        .goto(order["payment_link"].as_str().expect("link"))
        .await;
    browser.click("#crypto-button").await;
    browser.wait_for("#pay-exact").await;
    assert!(browser.url().await.contains("/sandbox/crypto/sbx_pay_"));
    browser.wait_for_text("h1", "Pay with crypto").await;
    browser.wait_for_text(".sandbox-banner", "Sandbox").await;
    browser.wait_for_text(".amount", "€89.25").await;
    assert!(
        browser.fits_width().await,
        "the invoice page scrolls sideways at 360 px"
    );
    browser.assert_accessible("the invoice page").await;
    browser.screenshot("invoice-page").await;
    browser
        .script("document.getElementById('pay-exact').focus(); return true;")
        .await;
    browser.keys("\u{E007}").await;
    let landed = browser.wait_for_url(&return_url).await;
    browser
        .assert_no_csp_violation("the invoice and its return")
        .await;
    assert!(landed.contains(&id), "{landed}");
    browser.screenshot("returned-after-invoice").await;
    assert_eq!(app.order(&id).await["status"], "paid");
    browser
        .goto(&format!(
            "{}/sandbox/crypto/{}",
            app.url,
            app.order(&id).await["payments"][0]["connector_transaction_id"]
                .as_str()
                .expect("id")
        ))
        .await;
    browser.wait_for_text("#invoice-status", "Paid").await;
    browser.assert_accessible("the paid invoice").await;
    browser.screenshot("invoice-paid").await;
    browser.close().await;
}
