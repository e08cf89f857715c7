//! The hosted invoice page in a real headless Chromium at phone width: the
//! invoice as issued, axe-core clean, its Pay button reached by keyboard
//! leading to the payment page, and shown paid after; screenshots kept.

use super::*;
use crate::browser::{Browser, PHONE_WIDTH};
use crate::harness::{Backend, id_of};
use crate::on_both;
use serde_json::json;

on_both!(the_invoice_page_is_paid_by_keyboard);

async fn the_invoice_page_is_paid_by_keyboard(backend: Backend) {
    let app = billing_app(backend).await;
    app.post(
        "/v1/tax_rates",
        json!({"country": "DE", "percentage_bps": 1900}),
    )
    .await
    .expect(200);
    let buyer = customer(&app, "page@example.com", Some("DE")).await;
    let invoice = open_invoice(
        &app,
        &buyer,
        json!([{"description": "Annual support", "quantity": 1, "unit_amount": 12000},
               {"description": "Onboarding", "quantity": 2, "unit_amount": 2500}]),
    )
    .await;
    let page = invoice["hosted_invoice_url"]
        .as_str()
        .expect("page")
        .to_owned();
    let name = format!("invoice-page-{backend:?}").to_lowercase();
    let mut browser = Browser::start(&name, PHONE_WIDTH).await;
    browser.goto(&page).await;
    let number = invoice["number"].as_str().expect("number");
    browser.wait_for_text("h1", number).await;
    browser.wait_for_text("#pay", "€202.30").await;
    assert!(
        browser.fits_width().await,
        "the invoice page scrolls sideways at 360 px"
    );
    browser.assert_accessible("the invoice page").await;
    browser.screenshot("invoice-open").await;
    // By keyboard: past the skip link to the Pay button, and Enter.
    browser
        .script("document.getElementById('pay').focus();")
        .await;
    browser.keys("\u{E007}").await;
    browser.wait_for("#card-form").await;
    browser.fill("#card-number", VISA).await;
    browser.fill("#card-exp", "1234").await;
    browser.fill("#card-cvc", "123").await;
    browser.click("#pay-button").await;
    browser
        .wait_for_text("#result h2", "Payment received")
        .await;
    browser.assert_no_csp_violation("paying the invoice").await;
    browser.goto(&page).await;
    browser.wait_for_text("[role=status]", "Paid").await;
    assert!(
        browser.find("#pay").await.is_none(),
        "a paid invoice offers another payment"
    );
    browser.assert_accessible("the paid invoice page").await;
    browser.screenshot("invoice-paid").await;
    browser.close().await;
    assert_eq!(
        super::invoice(&app, &id_of(&invoice)).await["status"],
        "paid"
    );
}
