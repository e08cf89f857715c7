//! The catalog: products, features, packages and prices made, read, listed
//! and changed, each with its event; bad input refused naming the field
//! with nothing written; a brand sees only its own; `read_only` cannot write.

use crate::harness::{self, Backend, TestApp, id_of, spawn};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    products_are_made_read_listed_and_changed,
    feature_keys_are_unique_per_brand,
    packages_grant_the_brands_features,
    prices_are_checked_and_keep_their_amount,
    another_brand_sees_nothing_and_read_only_cannot_write,
    webhook_endpoints_take_the_catalog_events,
);

async fn made(app: &TestApp, path: &str, body: Value) -> Value {
    app.post(path, body).await.expect(200).clone()
}

/// A product, a boolean feature `sso`, a limit feature `seats` and a
/// package granting both: (product id, package id).
async fn catalog(app: &TestApp) -> (String, String) {
    let product = made(app, "/v1/products", json!({"name": "Studio"})).await;
    made(
        app,
        "/v1/features",
        json!({"key": "sso", "name": "Single sign-on", "kind": "boolean"}),
    )
    .await;
    made(
        app,
        "/v1/features",
        json!({"key": "seats", "name": "Seats", "kind": "limit"}),
    )
    .await;
    let package = made(
        app,
        "/v1/packages",
        json!({"product_id": id_of(&product), "name": "Team",
               "features": {"sso": true, "seats": 10},
               "license": {"device_limit": 3, "duration_days": null}}),
    )
    .await;
    (id_of(&product), id_of(&package))
}

async fn events_of(app: &TestApp, event_type: &str) -> Vec<Value> {
    let listed = app
        .get(&format!("/v1/events?type={event_type}"))
        .await
        .expect(200)
        .clone();
    listed["data"].as_array().expect("data").clone()
}

/// Posts each body to `path` and expects 400 naming its param, with no
/// row of `table` written.
async fn refused(app: &TestApp, path: &str, table: &'static str, cases: Vec<(Value, &str)>) {
    let before = app.count(table).await;
    for (body, param) in cases {
        let answer = app.post(path, body.clone()).await;
        answer.expect(400);
        assert_eq!(answer.param(), Some(param), "{body}: {}", answer.body);
    }
    assert_eq!(app.count(table).await, before, "{table} written");
}

async fn products_are_made_read_listed_and_changed(backend: Backend) {
    let app = spawn(backend).await;
    let first = made(&app, "/v1/products", json!({"name": "Studio"})).await;
    assert_eq!(first["object"], "product");
    assert_eq!(first["active"], true);
    assert_eq!(first["description"], Value::Null);
    assert_eq!(first["metadata"], json!({}));
    assert!(id_of(&first).starts_with("prd_"));
    let second = made(
        &app,
        "/v1/products",
        json!({"name": "Cloud", "description": "Hosted", "active": false,
               "metadata": {"tier": "pro"}}),
    )
    .await;
    let got = app
        .get(&format!("/v1/products/{}", id_of(&second)))
        .await
        .expect(200)
        .clone();
    assert_eq!(got, second);
    let listed = app.get("/v1/products").await.expect(200).clone();
    assert_eq!(harness::ids(&listed), [id_of(&second), id_of(&first)]);
    let page = app.get("/v1/products?limit=1").await.expect(200).clone();
    assert_eq!(page["has_more"], true);
    let rest = app
        .get(&format!("/v1/products?starting_after={}", id_of(&second)))
        .await
        .expect(200)
        .clone();
    assert_eq!(harness::ids(&rest), [id_of(&first)]);

    let patched = app
        .patch(
            &format!("/v1/products/{}", id_of(&second)),
            json!({"name": "Cloud 2", "description": null, "active": true,
                   "metadata": {"tier": "", "region": "eu"}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(patched["name"], "Cloud 2");
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["active"], true);
    assert_eq!(patched["metadata"], json!({"region": "eu"}));
    assert_eq!(events_of(&app, "product.created").await.len(), 2);
    let updated = events_of(&app, "product.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["object"]["name"], "Cloud 2");

    refused(
        &app,
        "/v1/products",
        "SELECT COUNT(*) FROM products",
        vec![
            (json!({"name": ""}), "name"),
            (json!({}), "name"),
            (json!({"name": "x", "active": "yes"}), "active"),
            (json!({"name": "x", "metadata": {"a": 1}}), "metadata[a]"),
            (json!({"name": "x", "price": 5}), "price"),
        ],
    )
    .await;
    let bad = app
        .patch(
            &format!("/v1/products/{}", id_of(&first)),
            json!({"name": "  "}),
        )
        .await;
    bad.expect(400);
    assert_eq!(bad.param(), Some("name"));
    app.get("/v1/products/prd_00000000000000000000000000")
        .await
        .expect(404);
}

async fn feature_keys_are_unique_per_brand(backend: Backend) {
    let app = spawn(backend).await;
    let feature = made(
        &app,
        "/v1/features",
        json!({"key": "sso", "name": "Single sign-on", "kind": "boolean"}),
    )
    .await;
    assert_eq!(feature["object"], "feature");
    assert_eq!(feature["kind"], "boolean");
    assert!(id_of(&feature).starts_with("fea_"));
    let again = app
        .post(
            "/v1/features",
            json!({"key": "sso", "name": "Again", "kind": "limit"}),
        )
        .await;
    again.expect(409);
    assert_eq!(again.param(), Some("key"));
    let seats = made(
        &app,
        "/v1/features",
        json!({"key": "seats_2", "name": "Seats", "kind": "limit"}),
    )
    .await;
    let got = app
        .get(&format!("/v1/features/{}", id_of(&seats)))
        .await
        .expect(200)
        .clone();
    assert_eq!(got, seats);
    let listed = app.get("/v1/features").await.expect(200).clone();
    assert_eq!(harness::ids(&listed), [id_of(&seats), id_of(&feature)]);
    assert_eq!(events_of(&app, "feature.created").await.len(), 2);
    refused(
        &app,
        "/v1/features",
        "SELECT COUNT(*) FROM features",
        vec![
            (json!({"key": "SSO", "name": "x", "kind": "boolean"}), "key"),
            (json!({"key": "a-b", "name": "x", "kind": "boolean"}), "key"),
            (json!({"key": "", "name": "x", "kind": "boolean"}), "key"),
            (json!({"key": "ok", "name": "x", "kind": "toggle"}), "kind"),
            (json!({"key": "ok", "name": "", "kind": "limit"}), "name"),
        ],
    )
    .await;
    // Another brand may use the same key.
    let (_, other_key) = app.other_brand("Other").await;
    app.send(
        "POST",
        "/v1/features",
        Some(&other_key),
        Some(json!({"key": "sso", "name": "SSO", "kind": "boolean"})),
        &[],
    )
    .await
    .expect(200);
}

async fn packages_grant_the_brands_features(backend: Backend) {
    let app = spawn(backend).await;
    let (product_id, package_id) = catalog(&app).await;
    let package = app
        .get(&format!("/v1/packages/{package_id}"))
        .await
        .expect(200)
        .clone();
    assert!(package_id.starts_with("pkg_"));
    assert_eq!(package["object"], "package");
    assert_eq!(package["product_id"], product_id.as_str());
    assert_eq!(package["features"], json!({"sso": true, "seats": 10}));
    assert_eq!(
        package["license"],
        json!({"device_limit": 3, "duration_days": null})
    );
    let bare = made(
        &app,
        "/v1/packages",
        json!({"product_id": product_id, "name": "Free"}),
    )
    .await;
    assert_eq!(bare["features"], json!({}));
    assert_eq!(bare["license"], Value::Null);
    let listed = app.get("/v1/packages").await.expect(200).clone();
    assert_eq!(harness::ids(&listed), [id_of(&bare), package_id.clone()]);

    let patched = app
        .patch(
            &format!("/v1/packages/{package_id}"),
            json!({"name": "Team+", "features": {"seats": 0},
                   "license": {"device_limit": 5, "duration_days": 365}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(patched["name"], "Team+");
    assert_eq!(patched["features"], json!({"seats": 0}));
    assert_eq!(patched["license"]["duration_days"], 365);
    let unlicensed = app
        .patch(
            &format!("/v1/packages/{package_id}"),
            json!({"license": null}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(unlicensed["license"], Value::Null);
    assert_eq!(unlicensed["features"], json!({"seats": 0}));
    assert_eq!(events_of(&app, "package.created").await.len(), 2);
    assert_eq!(events_of(&app, "package.updated").await.len(), 2);

    let body =
        |features: Value| json!({"product_id": product_id, "name": "x", "features": features});
    refused(
        &app,
        "/v1/packages",
        "SELECT COUNT(*) FROM packages",
        vec![
            (body(json!({"unknown": true})), "features[unknown]"),
            (body(json!({"sso": 1})), "features[sso]"),
            (body(json!({"sso": false})), "features[sso]"),
            (body(json!({"seats": true})), "features[seats]"),
            (body(json!({"seats": -1})), "features[seats]"),
            (body(json!({"seats": 1.5})), "features[seats]"),
            (body(json!(["sso"])), "features"),
            (
                json!({"product_id": product_id, "name": "x",
                       "license": {"device_limit": 0, "duration_days": null}}),
                "license[device_limit]",
            ),
            (
                json!({"product_id": product_id, "name": "x",
                       "license": {"device_limit": 1, "duration_days": 0}}),
                "license[duration_days]",
            ),
            (json!({"product_id": product_id, "name": ""}), "name"),
        ],
    )
    .await;
    let missing = app
        .post(
            "/v1/packages",
            json!({"product_id": "prd_00000000000000000000000000", "name": "x"}),
        )
        .await;
    missing.expect(404);
    assert_eq!(missing.param(), Some("product_id"));
    let bad_patch = app
        .patch(
            &format!("/v1/packages/{package_id}"),
            json!({"features": {"nope": true}}),
        )
        .await;
    bad_patch.expect(400);
    assert_eq!(bad_patch.param(), Some("features[nope]"));
    let kept = app
        .get(&format!("/v1/packages/{package_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(kept["features"], json!({"seats": 0}));
}

async fn prices_are_checked_and_keep_their_amount(backend: Backend) {
    let app = spawn(backend).await;
    let (_, package_id) = catalog(&app).await;
    let once = made(
        &app,
        "/v1/prices",
        json!({"package_id": package_id, "currency": "EUR", "unit_amount": 4900,
               "type": "one_time"}),
    )
    .await;
    assert!(id_of(&once).starts_with("prc_"));
    assert_eq!(once["object"], "price");
    assert_eq!(once["type"], "one_time");
    assert_eq!(once["interval"], Value::Null);
    assert_eq!(once["active"], true);
    let monthly = made(
        &app,
        "/v1/prices",
        json!({"package_id": package_id, "currency": "USD", "unit_amount": 0,
               "type": "recurring", "interval": "month"}),
    )
    .await;
    assert_eq!(monthly["currency"], "USD");
    assert_eq!(monthly["interval"], "month");
    assert_eq!(monthly["interval_count"], 1);
    assert_eq!(monthly["trial_days"], 0);
    let yearly = made(
        &app,
        "/v1/prices",
        json!({"package_id": package_id, "currency": "EUR", "unit_amount": 9_007_199_254_740_991_i64,
               "type": "recurring", "interval": "year", "interval_count": 2, "trial_days": 14}),
    )
    .await;
    let got = app
        .get(&format!("/v1/prices/{}", id_of(&yearly)))
        .await
        .expect(200)
        .clone();
    assert_eq!(got, yearly);
    let listed = app.get("/v1/prices").await.expect(200).clone();
    assert_eq!(
        harness::ids(&listed),
        [id_of(&yearly), id_of(&monthly), id_of(&once)]
    );

    let price = |extra: Value| {
        let mut body = json!({"package_id": package_id, "currency": "EUR", "unit_amount": 100,
                              "type": "recurring", "interval": "month"});
        for (key, value) in extra.as_object().expect("object") {
            body[key] = value.clone();
        }
        body
    };
    refused(
        &app,
        "/v1/prices",
        "SELECT COUNT(*) FROM prices",
        vec![
            (price(json!({"interval": null})), "interval"),
            (price(json!({"interval": "fortnight"})), "interval"),
            (price(json!({"unit_amount": -1})), "unit_amount"),
            (
                price(json!({"unit_amount": 9_007_199_254_740_992_i64})),
                "unit_amount",
            ),
            (price(json!({"unit_amount": 1.5})), "unit_amount"),
            (price(json!({"currency": "EURO"})), "currency"),
            (price(json!({"type": "weekly"})), "type"),
            (price(json!({"interval_count": 0})), "interval_count"),
            (price(json!({"interval_count": 366})), "interval_count"),
            (price(json!({"trial_days": -1})), "trial_days"),
            (
                price(json!({"type": "one_time", "interval": null, "trial_days": 3})),
                "trial_days",
            ),
            (price(json!({"type": "one_time"})), "interval"),
        ],
    )
    .await;
    let missing = app
        .post(
            "/v1/prices",
            price(json!({"package_id": "pkg_00000000000000000000000000"})),
        )
        .await;
    missing.expect(404);
    assert_eq!(missing.param(), Some("package_id"));

    let path = format!("/v1/prices/{}", id_of(&once));
    for (body, param) in [
        (json!({"unit_amount": 1}), "unit_amount"),
        (json!({"unit_amount": null}), "unit_amount"),
        (json!({"currency": "USD"}), "currency"),
        (json!({"type": "recurring"}), "type"),
        (json!({"active": false, "unit_amount": 5000}), "unit_amount"),
    ] {
        let answer = app.patch(&path, body.clone()).await;
        answer.expect(400);
        assert_eq!(answer.param(), Some(param), "{body}");
    }
    let deactivated = app
        .patch(&path, json!({"active": false, "metadata": {"note": "old"}}))
        .await
        .expect(200)
        .clone();
    assert_eq!(deactivated["active"], false);
    assert_eq!(deactivated["unit_amount"], 4900);
    assert_eq!(deactivated["metadata"], json!({"note": "old"}));
    assert_eq!(events_of(&app, "price.created").await.len(), 3);
    let updated = events_of(&app, "price.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["object"]["active"], false);
}

async fn another_brand_sees_nothing_and_read_only_cannot_write(backend: Backend) {
    let app = spawn(backend).await;
    let (product_id, package_id) = catalog(&app).await;
    let price = made(
        &app,
        "/v1/prices",
        json!({"package_id": package_id, "currency": "EUR", "unit_amount": 100,
               "type": "one_time"}),
    )
    .await;
    let feature_id = id_of(&app.get("/v1/features").await.expect(200)["data"][0]);
    let (_, other) = app.other_brand("Other").await;
    let other_key = Some(other.as_str());
    for path in [
        format!("/v1/products/{product_id}"),
        format!("/v1/features/{feature_id}"),
        format!("/v1/packages/{package_id}"),
        format!("/v1/prices/{}", id_of(&price)),
    ] {
        app.send("GET", &path, other_key, None, &[])
            .await
            .expect(404);
        if !path.starts_with("/v1/features") {
            app.send("PATCH", &path, other_key, Some(json!({})), &[])
                .await
                .expect(404);
        }
    }
    for path in ["/v1/products", "/v1/features", "/v1/packages", "/v1/prices"] {
        let listed = app
            .send("GET", path, other_key, None, &[])
            .await
            .expect(200)
            .clone();
        assert_eq!(listed["data"], json!([]), "{path}");
    }
    // Their features do not count for another brand's package, nor their
    // products and packages for its packages and prices.
    app.send(
        "POST",
        "/v1/products",
        other_key,
        Some(json!({"name": "Theirs"})),
        &[],
    )
    .await
    .expect(200);
    let package = app
        .send(
            "POST",
            "/v1/packages",
            other_key,
            Some(json!({"product_id": product_id, "name": "x"})),
            &[],
        )
        .await;
    package.expect(404);
    let price_of_theirs = app
        .send(
            "POST",
            "/v1/prices",
            other_key,
            Some(
                json!({"package_id": package_id, "currency": "EUR", "unit_amount": 1,
                        "type": "one_time"}),
            ),
            &[],
        )
        .await;
    price_of_theirs.expect(404);

    let read_only = app.key_with_role("read_only").await;
    let key = Some(read_only.as_str());
    for (method, path, body) in [
        ("POST", "/v1/products".to_owned(), json!({"name": "x"})),
        (
            "POST",
            "/v1/features".to_owned(),
            json!({"key": "k", "name": "k", "kind": "boolean"}),
        ),
        (
            "POST",
            "/v1/packages".to_owned(),
            json!({"product_id": product_id, "name": "x"}),
        ),
        (
            "PATCH",
            format!("/v1/products/{product_id}"),
            json!({"name": "y"}),
        ),
        (
            "PATCH",
            format!("/v1/prices/{}", id_of(&price)),
            json!({"active": false}),
        ),
    ] {
        app.send(method, &path, key, Some(body), &[])
            .await
            .expect(403);
    }
    app.send("GET", "/v1/prices", key, None, &[])
        .await
        .expect(200);
    let developer = app.key_with_role("developer").await;
    app.send(
        "POST",
        "/v1/products",
        Some(&developer),
        Some(json!({"name": "By a developer"})),
        &[],
    )
    .await
    .expect(200);
}

async fn webhook_endpoints_take_the_catalog_events(backend: Backend) {
    let app = spawn(backend).await;
    app.post(
        "/v1/webhook_endpoints",
        json!({"url": "https://example.com/hook",
               "events": ["product.created", "feature.created", "package.updated", "price.updated"]}),
    )
    .await
    .expect(200);
    // The types are checked: one nobody records is refused.
    app.post(
        "/v1/webhook_endpoints",
        json!({"url": "https://example.com/hook", "events": ["product.deleted"]}),
    )
    .await
    .expect(400);
}
