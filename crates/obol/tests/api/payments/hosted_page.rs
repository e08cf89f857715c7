//! Acceptance: the hosted payment page in a real headless Chromium at
//! phone width — a card payment, a 3-D Secure challenge, a decline and
//! then another card — each landing on the merchant's return URL, with
//! axe-core run on the payment, challenge and result pages, and a
//! screenshot of each step under `target/screenshots/hosted-page-*`; and
//! Obol's page for a Stripe payment the bank confirms out of band.

use crate::browser::{Browser, PHONE_WIDTH};
use crate::harness::{Backend, TestApp, spawn_paying};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    pays_on_the_hosted_page,
    confirms_with_the_bank_on_obols_stripe_page
);

async fn order_to_pay(app: &TestApp, description: &str, return_url: &str) -> Value {
    app.create_order(json!({
        "amount": 8925, "currency": "EUR", "description": description,
        "customer_email": "buyer@example.com",
        "items": [{"name": "Pro", "quantity": 1, "unit_amount": 8000},
                  {"name": "Support", "quantity": 1, "unit_amount": 925}],
        "return_url": return_url}))
        .await
}

async fn fill_card(browser: &Browser, number: &str) {
    browser.fill("#card-number", number).await;
    // The digits alone, as a phone's number pad types them.
    browser.fill("#card-exp", "1234").await;
    browser.fill("#card-cvc", "123").await;
}

fn link(order: &Value) -> String {
    order["payment_link"].as_str().expect("link").to_owned()
}

async fn pays_on_the_hosted_page(backend: Backend) {
    let app = spawn_paying(backend, Default::default()).await;
    app.patch(
        &format!("/v1/brands/{}", app.brand_id),
        json!({"display_name": "Acme Tools", "primary_color": "#1d4ed8"}),
    )
    .await
    .expect(200);
    // A return URL the browser can load on another origin than the pages
    // (localhost, not 127.0.0.1): the server's own health check.
    let return_url = format!(
        "{}/health?shop=done",
        app.url.replace("127.0.0.1", "localhost")
    );
    let name = format!("hosted-page-{backend:?}").to_lowercase();
    let mut browser = Browser::start(&name, PHONE_WIDTH).await;

    // A card payment.
    let order = order_to_pay(&app, "Pro plan", &return_url).await;
    browser.goto(&link(&order)).await;
    browser.wait_for("#card-form").await;
    let heading = browser.wait_for_text("h1", "Pro plan").await;
    assert_eq!(heading, "Pro plan");
    browser.wait_for_text(".amount", "€89.25").await;
    browser.wait_for_text("header.brand", "Acme Tools").await;
    assert!(
        browser.fits_width().await,
        "the payment page scrolls sideways at 360 px"
    );
    browser.assert_accessible("the payment page").await;
    browser.screenshot("payment-page").await;
    // By keyboard: the card number, then Tab through expiry, security
    // code and name to the button, and Enter.
    browser.click("#card-number").await;
    browser
        .keys("4242424242424242\u{E004}12/34\u{E004}123\u{E004}A Buyer\u{E004}")
        .await;
    let focused = browser.script("return document.activeElement.id;").await;
    assert_eq!(focused, "pay-button", "Tab does not reach the pay button");
    browser.screenshot("card-entered").await;
    browser.keys("\u{E007}").await;
    let landed = browser.wait_for_url(&return_url).await;
    browser.assert_no_csp_violation("the card payment").await;
    assert!(
        landed.contains(&format!("order_id={}", order["id"].as_str().unwrap())),
        "{landed}"
    );
    browser.screenshot("returned-after-card").await;
    assert_eq!(
        app.order(order["id"].as_str().unwrap()).await["status"],
        "paid"
    );

    // The paid order's page: the result, and no second payment.
    browser.goto(&link(&order)).await;
    browser
        .wait_for_text("#result h2", "Payment received")
        .await;
    assert!(
        browser.find("#card-form").await.is_none(),
        "a paid order offers another payment"
    );
    browser.assert_accessible("the result page").await;
    browser.screenshot("result-page").await;

    // Through the 3-D Secure challenge, by keyboard on the challenge page.
    let order = order_to_pay(&app, "Team plan", &return_url).await;
    browser.goto(&link(&order)).await;
    fill_card(&browser, "4000 0000 0000 3220").await;
    browser.click("#pay-button").await;
    browser.wait_for("#complete").await;
    assert!(browser.url().await.contains("/sandbox/challenge/"));
    assert!(
        browser.fits_width().await,
        "the challenge page scrolls sideways at 360 px"
    );
    browser.assert_accessible("the challenge page").await;
    browser.screenshot("challenge-page").await;
    browser
        .script("document.getElementById('complete').focus(); return true;")
        .await;
    browser.keys("\u{E007}").await;
    let landed = browser.wait_for_url(&return_url).await;
    browser
        .assert_no_csp_violation("the challenge and its return")
        .await;
    assert!(landed.contains(order["id"].as_str().unwrap()), "{landed}");
    browser.screenshot("returned-after-challenge").await;
    let paid = app.order(order["id"].as_str().unwrap()).await;
    assert_eq!(paid["status"], "paid");
    let history: Vec<&str> = paid["payments"][0]["status_history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|change| change["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending", "requires_action", "succeeded"]);

    // A decline, its reason shown, then another card.
    let order = order_to_pay(&app, "Agency plan", &return_url).await;
    browser.goto(&link(&order)).await;
    fill_card(&browser, "4000000000000002").await;
    // The script answers in the page: a marker set now survives the decline.
    browser
        .script("window.stillHere = true; return true;")
        .await;
    browser.click("#pay-button").await;
    let said = browser.wait_for_text("#status", "declined").await;
    let same_page = browser.script("return window.stillHere === true;").await;
    assert_eq!(
        same_page, true,
        "the decline reloaded the page: the script did not pay"
    );
    assert!(said.contains("try another card"), "{said}");
    browser
        .assert_accessible("the payment page after a decline")
        .await;
    browser.screenshot("declined").await;
    let order_now = app.order(order["id"].as_str().unwrap()).await;
    assert_eq!(order_now["status"], "in_progress");
    fill_card(&browser, "4242424242424242").await;
    browser.click("#pay-button").await;
    browser.wait_for_url(&return_url).await;
    browser.screenshot("returned-after-second-card").await;
    let paid = app.order(order["id"].as_str().unwrap()).await;
    assert_eq!(paid["status"], "paid");
    let statuses: Vec<&str> = paid["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "succeeded"]);
    browser.close().await;
}

/// A Stripe payment whose challenge Stripe leaves to Stripe.js: Obol's
/// page, by keyboard at phone width, then on to the merchant.
async fn confirms_with_the_bank_on_obols_stripe_page(backend: Backend) {
    let world = super::stripe::World::start(backend).await;
    let return_url = format!(
        "{}/health?shop=done",
        world.app.url.replace("127.0.0.1", "localhost")
    );
    let order = order_to_pay(&world.app, "Studio plan", &return_url).await;
    let order_id = order["id"].as_str().expect("id").to_owned();
    let answer = world
        .confirm(&order_id, super::stripe::CHALLENGE, &world.stripe_account)
        .await;
    let url = answer.expect(200)["next_action"]["url"]
        .as_str()
        .expect("the page")
        .to_owned();
    assert!(url.contains("/stripe/challenge/"), "{url}");
    let name = format!("stripe-bank-{backend:?}").to_lowercase();
    let mut browser = Browser::start(&name, PHONE_WIDTH).await;
    browser.goto(&url).await;
    browser.wait_for("#continue").await;
    browser.wait_for_text("strong", "€89.25").await;
    assert!(
        browser.fits_width().await,
        "the bank approval page scrolls sideways at 360 px"
    );
    browser.assert_accessible("the bank approval page").await;
    browser.screenshot("bank-approval").await;
    world.authenticate(&order_id).await;
    browser
        .script("document.getElementById('continue').focus(); return true;")
        .await;
    browser.keys("\u{E007}").await;
    let landed = browser.wait_for_url(&return_url).await;
    browser
        .assert_no_csp_violation("the bank approval and its return")
        .await;
    assert!(landed.contains(&order_id), "{landed}");
    assert_eq!(world.app.order(&order_id).await["status"], "paid");
}
