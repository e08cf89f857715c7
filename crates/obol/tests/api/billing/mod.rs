//! Billing: the catalog, coupons, tax rates, invoices and subscriptions.

mod catalog;
mod coupons;
mod invoice_page;
mod invoices;
mod order_items;
mod renewals;
mod settling;
mod subscriptions;

use crate::harness::{Backend, Options, TestApp, id_of, spawn_paying};
use obol_core::Timestamp;
use serde_json::{Value, json};

pub const VISA: &str = "4242424242424242";
/// Approved for a zero-amount verification, declined on every charge after.
pub const VERIFY_ONLY: &str = "4000000000000341";

/// A server on the test clock with a sandbox card account.
pub async fn billing_app(backend: Backend) -> TestApp {
    spawn_paying(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await
}

/// A product with a package `name`: the package's id.
pub async fn package(app: &TestApp, name: &str) -> String {
    let product = app
        .post("/v1/products", json!({"name": format!("{name} product")}))
        .await
        .expect(200)
        .clone();
    let package = app
        .post(
            "/v1/packages",
            json!({"product_id": id_of(&product), "name": name, "features": {}}),
        )
        .await
        .expect(200)
        .clone();
    id_of(&package)
}

/// A recurring EUR price of `amount` on `package_id`: its id.
pub async fn price(
    app: &TestApp,
    package_id: &str,
    amount: i64,
    interval: &str,
    trial_days: i64,
) -> String {
    let price = app
        .post(
            "/v1/prices",
            json!({"package_id": package_id, "currency": "EUR", "unit_amount": amount,
                   "type": "recurring", "interval": interval, "trial_days": trial_days}),
        )
        .await
        .expect(200)
        .clone();
    id_of(&price)
}

/// A monthly EUR plan of `amount` (its own package): the price's id.
pub async fn plan(app: &TestApp, name: &str, amount: i64, trial_days: i64) -> String {
    let package = package(app, name).await;
    price(app, &package, amount, "month", trial_days).await
}

/// A customer with a mandate set up by a zero-amount verification of
/// `card`: (customer id, mandate id).
pub async fn customer_with_mandate(app: &TestApp, email: &str, card: &str) -> (String, String) {
    let customer = id_of(&app.create_customer(email).await);
    let order = app
        .create_order(
            json!({"amount": 0, "currency": "EUR", "setup_mandate": true,
                             "customer_id": customer}),
        )
        .await;
    let paid = app
        .confirm_card(&id_of(&order), card)
        .await
        .expect(200)
        .clone();
    let mandate = paid["mandate_id"].as_str().expect("a mandate").to_owned();
    (customer, mandate)
}

/// The test clock's time.
pub async fn now(app: &TestApp) -> Timestamp {
    app.state.now()
}

/// Advances the test clock to `at` (running what falls due on the way).
pub async fn advance_to(app: &TestApp, at: Timestamp) {
    let seconds = (at.as_ms() - now(app).await.as_ms() + 999) / 1000;
    if seconds > 0 {
        app.advance(seconds).await;
    }
}

/// Sets the test clock forward to `at` without running what fell due on
/// the way (it runs, late, at the next advance): to skip months a test does
/// not look at. Periods count from their anchor, so a late renewal still
/// bills the right period.
pub async fn jump_to(app: &TestApp, at: Timestamp) {
    let clock = app.state.test_clock.as_ref().expect("a test clock");
    assert!(at >= now(app).await, "the clock only moves forward");
    clock.set(&app.state.db, at).await.expect("set the clock");
}

/// Jumps to a minute before `at`, then advances to it: a renewal on time
/// without the months before it.
pub async fn jump_then_advance_to(app: &TestApp, at: Timestamp) {
    let before = at.plus_ms(-60_000);
    if before > now(app).await {
        jump_to(app, before).await;
    }
    advance_to(app, at).await;
}

/// The time an object's field names.
pub fn time_of(object: &Value, field: &str) -> Timestamp {
    Timestamp::parse_rfc3339(
        object[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {object}")),
    )
    .expect("a time")
}

pub async fn subscription(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/subscriptions/{id}"))
        .await
        .expect(200)
        .clone()
}

pub async fn invoice(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/invoices/{id}"))
        .await
        .expect(200)
        .clone()
}

/// The subscription's invoices, oldest first.
pub async fn invoices_of(app: &TestApp, subscription_id: &str) -> Vec<Value> {
    let listed = app
        .get(&format!(
            "/v1/invoices?subscription_id={subscription_id}&limit=100"
        ))
        .await
        .expect(200)
        .clone();
    let mut invoices = listed["data"].as_array().expect("data").clone();
    invoices.reverse();
    invoices
}

/// Types of the events about `object_id`, in sequence order.
pub async fn event_types(app: &TestApp, object_id: &str) -> Vec<String> {
    let listed = app.get("/v1/events?limit=100").await.expect(200).clone();
    let mut events: Vec<&Value> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|event| event["data"]["object"]["id"] == object_id)
        .collect();
    events.sort_by_key(|event| event["sequence"].as_i64());
    events
        .iter()
        .map(|event| event["type"].as_str().expect("type").to_owned())
        .collect()
}

/// How many events of `event_type` the brand has.
pub async fn count_events(app: &TestApp, event_type: &str) -> usize {
    let listed = app
        .get(&format!("/v1/events?type={event_type}&limit=100"))
        .await
        .expect(200)
        .clone();
    listed["data"].as_array().expect("data").len()
}

/// A customer (of `country`, when given): its id.
pub async fn customer(app: &TestApp, email: &str, country: Option<&str>) -> String {
    let body = match country {
        Some(country) => json!({"email": email, "country": country}),
        None => json!({"email": email}),
    };
    id_of(app.post("/v1/customers", body).await.expect(200))
}

/// A finalized one-off invoice of the lines for `customer_id`.
pub async fn open_invoice(app: &TestApp, customer_id: &str, lines: Value) -> Value {
    let draft = app
        .post(
            "/v1/invoices",
            json!({"customer_id": customer_id, "currency": "EUR", "lines": lines}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["number"], Value::Null);
    app.post(
        &format!("/v1/invoices/{}/finalize", id_of(&draft)),
        json!({}),
    )
    .await
    .expect(200)
    .clone()
}

/// Starts a subscription of `customer` on `price` charged with `mandate`.
pub async fn subscribe(app: &TestApp, customer: &str, price: &str, mandate: &str) -> Value {
    app.post(
        "/v1/subscriptions",
        json!({"customer_id": customer, "price_id": price, "mandate_id": mandate}),
    )
    .await
    .expect(200)
    .clone()
}

/// numerator / denominator, rounded half to even.
pub fn half_even(numerator: i128, denominator: i128) -> i64 {
    let quotient = numerator.div_euclid(denominator);
    let remainder = numerator.rem_euclid(denominator);
    let rounded = match (2 * remainder).cmp(&denominator) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + (quotient & 1),
    };
    i64::try_from(rounded).expect("in range")
}
