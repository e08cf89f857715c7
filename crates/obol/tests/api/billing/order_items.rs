//! Order items naming the catalog's prices: filled in from the price and
//! its package; a recurring, foreign-currency or unknown price refused
//! naming the line.

use crate::harness::{self, Backend, TestApp, id_of};
use crate::on_both;
use serde_json::{Value, json};

on_both!(order_items_name_prices);

async fn made(app: &TestApp, path: &str, body: Value) -> Value {
    app.post(path, body).await.expect(200).clone()
}

async fn order_items_name_prices(backend: Backend) {
    let app = harness::spawn_paying(backend, harness::Options::default()).await;
    let product = made(&app, "/v1/products", json!({"name": "Studio"})).await;
    let package = id_of(
        &made(
            &app,
            "/v1/packages",
            json!({"product_id": id_of(&product), "name": "Team", "features": {}}),
        )
        .await,
    );
    let price = made(
        &app,
        "/v1/prices",
        json!({"package_id": package, "currency": "EUR", "unit_amount": 4900, "type": "one_time"}),
    )
    .await;
    let order = app
        .create_order(json!({"amount": 10300, "currency": "EUR", "items": [
            {"price_id": id_of(&price), "quantity": 2},
            {"name": "Shipping", "quantity": 1, "unit_amount": 500}]}))
        .await;
    assert_eq!(order["items"][0]["name"], "Team");
    assert_eq!(order["items"][0]["unit_amount"], 4900);
    assert_eq!(order["items"][0]["price_id"], price["id"]);
    assert_eq!(order["items"][1]["name"], "Shipping");
    let paid = app
        .confirm_card(&id_of(&order), "4242424242424242")
        .await
        .expect(200)
        .clone();
    assert_eq!(paid["status"], "paid");
    // The price is used: its amount never changes.
    let changed = app
        .patch(
            &format!("/v1/prices/{}", id_of(&price)),
            json!({"unit_amount": 1}),
        )
        .await;
    assert_eq!(changed.status, 400);

    let recurring = made(
        &app,
        "/v1/prices",
        json!({"package_id": package, "currency": "EUR", "unit_amount": 900, "type": "recurring", "interval": "month"}),
    )
    .await;
    let usd = made(
        &app,
        "/v1/prices",
        json!({"package_id": package, "currency": "USD", "unit_amount": 900, "type": "one_time"}),
    )
    .await;
    for (items, amount, param) in [
        (
            json!([{"price_id": id_of(&recurring), "quantity": 1}]),
            900,
            "items[0][price_id]",
        ),
        (
            json!([{"price_id": id_of(&usd), "quantity": 1}]),
            900,
            "items[0][price_id]",
        ),
        (
            json!([{"price_id": id_of(&price), "quantity": 1, "unit_amount": 1}]),
            4900,
            "items[0][unit_amount]",
        ),
        (
            json!([{"price_id": id_of(&price), "quantity": 1}]),
            4000,
            "items",
        ),
        (
            json!([{"quantity": 1, "unit_amount": 100}]),
            100,
            "items[0][name]",
        ),
    ] {
        let refused = app
            .post(
                "/v1/orders",
                json!({"amount": amount, "currency": "EUR", "items": items}),
            )
            .await;
        assert_eq!(
            (refused.status, refused.param()),
            (400, Some(param)),
            "{items}: {}",
            refused.body
        );
    }
    let unknown = app
        .post(
            "/v1/orders",
            json!({"amount": 100, "currency": "EUR",
               "items": [{"price_id": "prc_nope", "quantity": 1}]}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.param()),
        (404, Some("items[0][price_id]"))
    );
}
