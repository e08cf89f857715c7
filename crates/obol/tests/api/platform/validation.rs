//! Bad input: every case is a 400 with `code` and `param`, and writes nothing.

use crate::harness::{Backend, spawn};
use crate::on_both;
use serde_json::json;

on_both!(
    bad_bodies_are_400_and_write_nothing,
    bad_list_parameters,
    unknown_routes_and_methods
);

async fn bad_bodies_are_400_and_write_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let key = app.secret_key.clone();
    let malformed = app
        .send_raw("POST", "/v1/customers", &key, "{\"email\": ")
        .await;
    malformed.expect(400);
    assert_eq!(malformed.code(), "json_invalid");
    assert!(
        malformed.body["error"]
            .as_object()
            .expect("error")
            .contains_key("param")
    );
    let not_object = app.send_raw("POST", "/v1/customers", &key, "[1, 2]").await;
    assert_eq!(
        (not_object.status, not_object.code()),
        (400, "json_invalid")
    );

    let long_key = "k".repeat(41);
    let many: serde_json::Map<String, serde_json::Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (json!({"email": 5}), "parameter_invalid", "email"),
        (
            json!({"email": "a@example.com", "name": ["x"]}),
            "parameter_invalid",
            "name",
        ),
        (
            json!({"email": "a@example.com", "nickname": "x"}),
            "parameter_unknown",
            "nickname",
        ),
        (json!({"name": "No Email"}), "parameter_missing", "email"),
        (
            json!({"email": "not-an-email"}),
            "parameter_invalid",
            "email",
        ),
        (
            json!({"email": "a@example.com", "country": "Germany"}),
            "parameter_invalid",
            "country",
        ),
        (
            json!({"email": "a@example.com", "metadata": {"k": 1}}),
            "parameter_invalid",
            "metadata[k]",
        ),
        (
            json!({"email": "a@example.com", "metadata": {long_key.clone(): "v"}}),
            "parameter_invalid",
            &format!("metadata[{long_key}]"),
        ),
        (
            json!({"email": "a@example.com", "metadata": {"k": "v".repeat(501)}}),
            "parameter_invalid",
            "metadata[k]",
        ),
        (
            json!({"email": "a@example.com", "metadata": many}),
            "parameter_invalid",
            "metadata",
        ),
        (
            json!({"email": "a@example.com", "metadata": "x"}),
            "parameter_invalid",
            "metadata",
        ),
    ];
    for (body, code, param) in cases {
        let answer = app.post("/v1/customers", body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.code(), code, "{body}: {}", answer.body);
        assert_eq!(answer.param(), Some(param), "{body}: {}", answer.body);
        assert_eq!(answer.body["error"]["type"], "invalid_request_error");
    }
    let nested = app.post("/v1/brands", json!({"name": "x"})).await;
    assert_eq!(nested.status, 403, "a brand key cannot create brands");
    let bad_brand = app
        .admin_post("/v1/brands", json!({"name": "x", "clearing_days": "two"}))
        .await;
    assert_eq!(
        (bad_brand.status, bad_brand.param()),
        (400, Some("clearing_days"))
    );
    let bad_currency = app
        .admin_post(
            "/v1/brands",
            json!({"name": "x", "default_currency": "eur"}),
        )
        .await;
    assert_eq!(
        (bad_currency.status, bad_currency.code()),
        (400, "currency_unsupported")
    );
    let bad_role = app
        .post("/v1/api_keys", json!({"name": "x", "role": "god"}))
        .await;
    assert_eq!((bad_role.status, bad_role.param()), (400, Some("role")));

    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM brands").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM idempotency_keys").await, 0);

    let customer = app.create_customer("a@example.com").await;
    let path = format!("/v1/customers/{}", customer["id"].as_str().expect("id"));
    let bad_patch = app.patch(&path, json!({"status": "gone"})).await;
    assert_eq!((bad_patch.status, bad_patch.param()), (400, Some("status")));
    let unknown_patch = app.patch(&path, json!({"id": "cus_x"})).await;
    assert_eq!(
        (unknown_patch.status, unknown_patch.code()),
        (400, "parameter_unknown")
    );
    assert_eq!(app.get(&path).await.body, customer);
}

async fn bad_list_parameters(backend: Backend) {
    let app = spawn(backend).await;
    app.create_customer("a@example.com").await;
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        (
            "starting_after=cus_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "starting_after",
        ),
        ("colour=red", "colour"),
        ("email=nope", "email"),
    ] {
        let answer = app.get(&format!("/v1/customers?{query}")).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
        assert_eq!(answer.param(), Some(param), "{query}");
        assert!(!answer.code().is_empty());
    }
    let events = app
        .get("/v1/events?starting_after=evt_01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await;
    assert_eq!(
        (events.status, events.param()),
        (400, Some("starting_after"))
    );
    let keys = app.get("/v1/api_keys?limit=101").await;
    assert_eq!((keys.status, keys.param()), (400, Some("limit")));
    let fine = app.get("/v1/customers?limit=100").await;
    fine.expect(200);
}

async fn unknown_routes_and_methods(backend: Backend) {
    let app = spawn(backend).await;
    let missing = app.get("/v1/nothing").await;
    assert_eq!((missing.status, missing.code()), (404, "resource_missing"));
    let wrong_method = app
        .send(
            "PUT",
            "/v1/customers",
            Some(&app.secret_key.clone()),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(wrong_method.status, 405);
    let unknown_customer = app
        .get("/v1/customers/cus_01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await;
    assert_eq!(
        (unknown_customer.status, unknown_customer.code()),
        (404, "resource_missing")
    );
    let health = app.send("GET", "/health", None, None, &[]).await;
    assert_eq!(health.expect(200), &json!({"status": "ok"}));
}
