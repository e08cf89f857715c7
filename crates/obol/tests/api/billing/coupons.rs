//! Coupons on subscriptions: percent off forever, an amount off once, a
//! discount repeating for three periods, an expired and an inapplicable
//! one refused saying why, and `max_redemptions` never exceeded under
//! concurrent subscriptions.

use super::*;
use crate::harness::{Backend, TestApp, id_of};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    durations_discount_the_invoices_they_cover,
    invalid_coupons_are_refused_saying_why,
    max_redemptions_hold_under_concurrent_subscriptions,
    a_coupon_on_an_order_takes_its_discount_off,
);

async fn coupon(app: &TestApp, body: Value) -> Value {
    app.post("/v1/coupons", body).await.expect(200).clone()
}

/// The totals of a subscription's first `periods` invoices, on a 1000 plan.
async fn totals_with(app: &TestApp, price: &str, coupon: &str, periods: usize) -> Vec<i64> {
    let email = format!(
        "{}@example.com",
        obol_core::id::random_token(8).to_lowercase()
    );
    let (customer, mandate) = customer_with_mandate(app, &email, VISA).await;
    let sub = app
        .post(
            "/v1/subscriptions",
            json!({"customer_id": customer, "price_id": price, "mandate_id": mandate, "coupon": coupon}),
        )
        .await
        .expect(200)
        .clone();
    let id = id_of(&sub);
    assert_eq!(
        sub["coupon_id"].as_str().map(|c| c.starts_with("cpn_")),
        Some(true)
    );
    for _ in 1..periods {
        let end = time_of(&subscription(app, &id).await, "current_period_end");
        jump_then_advance_to(app, end).await;
    }
    let invoices = invoices_of(app, &id).await;
    for invoice in &invoices {
        assert_eq!(invoice["status"], "paid", "{invoice}");
    }
    invoices
        .iter()
        .map(|invoice| invoice["total"].as_i64().expect("total"))
        .collect()
}

async fn durations_discount_the_invoices_they_cover(backend: Backend) {
    let app = billing_app(backend).await;
    let price = plan(&app, "Plan", 1000, 0).await;
    coupon(
        &app,
        json!({"code": "TWENTY", "percent_off": 20, "duration": "forever"}),
    )
    .await;
    let once = coupon(
        &app,
        json!({"amount_off": 500, "currency": "EUR", "duration": "once"}),
    )
    .await;
    coupon(&app, json!({"code": "THREE", "percent_off": 12.5, "duration": "repeating", "duration_in_periods": 3})).await;
    // By code or by id.
    assert_eq!(
        totals_with(&app, &price, "TWENTY", 3).await,
        [800, 800, 800]
    );
    assert_eq!(
        totals_with(&app, &price, &id_of(&once), 2).await,
        [500, 1000]
    );
    // 12.5 % of 1000 is 125.
    assert_eq!(
        totals_with(&app, &price, "THREE", 4).await,
        [875, 875, 875, 1000]
    );
    let first = app
        .get(&format!("/v1/coupons/{}", id_of(&once)))
        .await
        .expect(200)
        .clone();
    assert_eq!(first["times_redeemed"], 1);
    // Never below zero: 1500 off a 1000 plan leaves 0, paid at once.
    coupon(
        &app,
        json!({"code": "ALL", "amount_off": 1500, "currency": "EUR", "duration": "once"}),
    )
    .await;
    assert_eq!(totals_with(&app, &price, "ALL", 1).await, [0]);
}

async fn invalid_coupons_are_refused_saying_why(backend: Backend) {
    let app = billing_app(backend).await;
    let price = plan(&app, "Plan", 1000, 0).await;
    let other_package = package(&app, "Other").await;
    let (customer, mandate) = customer_with_mandate(&app, "bad@example.com", VISA).await;
    let soon = now(&app).await.plus_ms(3_600_000).to_rfc3339();
    coupon(
        &app,
        json!({"code": "SOON", "percent_off": 10, "duration": "once", "redeem_by": soon}),
    )
    .await;
    coupon(&app, json!({"code": "OTHER", "percent_off": 10, "duration": "once", "applies_to": [other_package]})).await;
    coupon(
        &app,
        json!({"code": "USD", "amount_off": 100, "currency": "USD", "duration": "once"}),
    )
    .await;
    let off = coupon(
        &app,
        json!({"code": "OFF", "percent_off": 10, "duration": "once"}),
    )
    .await;
    app.post(&format!("/v1/coupons/{}/disable", id_of(&off)), json!({}))
        .await
        .expect(200);
    app.advance(2 * 3600).await;
    let try_coupon = async |code: &str| {
        app.post(
            "/v1/subscriptions",
            json!({"customer_id": customer, "price_id": price, "mandate_id": mandate, "coupon": code}),
        )
        .await
    };
    for (code, why) in [
        ("SOON", "expired"),
        ("OTHER", "does not apply"),
        ("USD", "USD"),
        ("OFF", "disabled"),
        ("NOPE", "no coupon"),
    ] {
        let refused = try_coupon(code).await;
        assert_eq!(
            (refused.status, refused.code()),
            (400, "coupon_invalid"),
            "{code}: {}",
            refused.body
        );
        let message = refused.body["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(why), "{code}: {message}");
    }
    // Nothing was made by the refusals.
    let subs = app.get("/v1/subscriptions").await.expect(200).clone();
    assert_eq!(subs["data"], json!([]));
    // Bad coupons are refused at creation, naming the field.
    for (body, param) in [
        (json!({"percent_off": 0, "duration": "once"}), "percent_off"),
        (
            json!({"percent_off": 100.001, "duration": "once"}),
            "percent_off",
        ),
        (json!({"amount_off": 100, "duration": "once"}), "currency"),
        (
            json!({"percent_off": 10, "duration": "repeating"}),
            "duration_in_periods",
        ),
        (json!({"percent_off": 10, "duration": "weekly"}), "duration"),
        (
            json!({"percent_off": 10, "duration": "once", "max_redemptions": 0}),
            "max_redemptions",
        ),
    ] {
        let refused = app.post("/v1/coupons", body.clone()).await;
        assert_eq!(
            (refused.status, refused.param()),
            (400, Some(param)),
            "{body}: {}",
            refused.body
        );
    }
}

async fn max_redemptions_hold_under_concurrent_subscriptions(backend: Backend) {
    let app = billing_app(backend).await;
    let price = plan(&app, "Plan", 1000, 0).await;
    let limited = coupon(
        &app,
        json!({"code": "FIRST3", "percent_off": 50, "duration": "once", "max_redemptions": 3}),
    )
    .await;
    let mut customers = Vec::new();
    for n in 0..10 {
        customers.push(customer_with_mandate(&app, &format!("c{n}@example.com"), VISA).await);
    }
    let answers = futures_util::future::join_all(customers.iter().map(|(customer, mandate)| {
        let app = &app;
        let price = &price;
        async move {
            app.post(
                "/v1/subscriptions",
                json!({"customer_id": customer, "price_id": price, "mandate_id": mandate, "coupon": "FIRST3"}),
            )
            .await
        }
    }))
    .await;
    let made = answers.iter().filter(|answer| answer.status == 200).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|answer| answer.status != 200)
        .collect();
    assert_eq!(made, 3, "{answers:#?}");
    for answer in refused {
        assert_eq!(
            (answer.status, answer.code()),
            (400, "coupon_invalid"),
            "{}",
            answer.body
        );
    }
    let coupon = app
        .get(&format!("/v1/coupons/{}", id_of(&limited)))
        .await
        .expect(200)
        .clone();
    assert_eq!(coupon["times_redeemed"], 3);
    let subs = app
        .get("/v1/subscriptions?limit=100")
        .await
        .expect(200)
        .clone();
    assert_eq!(subs["data"].as_array().expect("data").len(), 3);
}

async fn a_coupon_on_an_order_takes_its_discount_off(backend: Backend) {
    let app = billing_app(backend).await;
    let tools = package(&app, "Tools").await;
    let price = app
        .post("/v1/prices", json!({"package_id": tools, "currency": "EUR", "unit_amount": 5000, "type": "one_time"}))
        .await
        .expect(200)
        .clone();
    let save = coupon(
        &app,
        json!({"code": "SAVE10", "percent_off": 10, "duration": "once"}),
    )
    .await;
    coupon(
        &app,
        json!({"code": "TOOLS20", "percent_off": 20, "duration": "once", "applies_to": [tools]}),
    )
    .await;
    coupon(
        &app,
        json!({"code": "FREE", "percent_off": 100, "duration": "once"}),
    )
    .await;
    let items = json!([{"price_id": id_of(&price), "quantity": 1},
                       {"name": "Shipping", "quantity": 1, "unit_amount": 500}]);
    let body =
        |code: &str| json!({"amount": 5500, "currency": "EUR", "items": items, "coupon": code});
    // 10 % of each line: 500 + 50.
    let order = app
        .post_idempotent("/v1/orders", "order-with-coupon", body("SAVE10"))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (order["amount"].as_i64(), order["amount_discount"].as_i64()),
        (Some(4950), Some(550))
    );
    assert_eq!(order["coupon_id"], save["id"]);
    // A retry with the same key is the same order: one redemption.
    let again = app
        .post_idempotent("/v1/orders", "order-with-coupon", body("SAVE10"))
        .await
        .expect(200)
        .clone();
    assert_eq!(again["id"], order["id"]);
    let redeemed = app
        .get(&format!("/v1/coupons/{}", id_of(&save)))
        .await
        .expect(200)
        .clone();
    assert_eq!(redeemed["times_redeemed"], 1);
    let paid = app
        .confirm_card(&id_of(&order), VISA)
        .await
        .expect(200)
        .clone();
    assert_eq!(paid["amount_captured"], 4950);
    let changed = app
        .patch(
            &format!("/v1/orders/{}", id_of(&order)),
            json!({"amount": 100}),
        )
        .await;
    assert!(
        changed.status == 400 || changed.status == 409,
        "{}",
        changed.body
    );

    // Limited to a package: only its line is discounted.
    let tools_only = app
        .post("/v1/orders", body("TOOLS20"))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (
            tools_only["amount"].as_i64(),
            tools_only["amount_discount"].as_i64()
        ),
        (Some(4500), Some(1000))
    );

    // Refused, saying why, with no order made.
    let before = app.count("SELECT COUNT(*) FROM orders").await;
    for (code, why) in [("NOPE", "no coupon"), ("FREE", "whole amount")] {
        let refused = app.post("/v1/orders", body(code)).await;
        assert_eq!(
            (refused.status, refused.code()),
            (400, "coupon_invalid"),
            "{}",
            refused.body
        );
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(why),
            "{}",
            refused.body
        );
    }
    let top_up = app
        .post("/v1/orders", json!({"amount": 500, "currency": "EUR", "type": "credit_top_up",
               "customer_id": id_of(&app.create_customer("t@example.com").await), "coupon": "SAVE10"}))
        .await;
    assert_eq!((top_up.status, top_up.code()), (400, "coupon_invalid"));
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, before);
    let free = app.get("/v1/coupons?limit=10").await.expect(200).clone();
    let free = free["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|c| c["code"] == "FREE")
        .cloned()
        .expect("FREE");
    assert_eq!(free["times_redeemed"], 0, "a refused order redeems nothing");
}
