//! Tenant isolation: another brand's objects are 404, never 403.

use crate::harness::{Backend, spawn};
use crate::on_both;
use serde_json::json;
use std::time::Duration;

on_both!(other_brand_sees_nothing, another_brands_lock_holds_nothing);

async fn other_brand_sees_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.create_customer("a@example.com").await;
    let id = customer["id"].as_str().expect("id");
    let (other_brand, other_key) = app.other_brand("Beta").await;
    let as_other = |method: &'static str, path: String, body: Option<serde_json::Value>| {
        let key = other_key.clone();
        let app = &app;
        async move { app.send(method, &path, Some(&key), body, &[]).await }
    };
    let path = format!("/v1/customers/{id}");
    for answer in [
        as_other("GET", path.clone(), None).await,
        as_other("PATCH", path.clone(), Some(json!({"name": "stolen"}))).await,
        as_other("DELETE", path.clone(), None).await,
        as_other("GET", format!("/v1/events?customer_id={id}"), None).await,
        as_other("GET", format!("/v1/brands/{}", app.brand_id), None).await,
        as_other(
            "PATCH",
            format!("/v1/brands/{}", app.brand_id),
            Some(json!({"name": "stolen"})),
        )
        .await,
    ] {
        assert_eq!(answer.status, 404, "{}", answer.body);
        assert_eq!(answer.code(), "resource_missing");
    }
    let by_email = as_other("GET", "/v1/customers?email=a@example.com".into(), None).await;
    assert_eq!(by_email.expect(200)["data"], json!([]));
    let events = as_other("GET", "/v1/events".into(), None).await;
    assert_eq!(events.expect(200)["data"], json!([]));
    let event_id = app.get("/v1/events").await.body["data"][0]["id"]
        .as_str()
        .expect("event")
        .to_owned();
    assert_eq!(
        as_other("GET", format!("/v1/events/{event_id}"), None)
            .await
            .status,
        404
    );
    let cursor = as_other("GET", format!("/v1/customers?starting_after={id}"), None).await;
    assert_eq!(cursor.status, 400);
    let own = as_other("GET", format!("/v1/brands/{other_brand}"), None).await;
    assert_eq!(own.expect(200)["id"], other_brand.as_str());
    // The same email is free in another brand.
    as_other(
        "POST",
        "/v1/customers".into(),
        Some(json!({"email": "a@example.com"})),
    )
    .await
    .expect(200);

    let unchanged = app.get(&path).await;
    assert_eq!(unchanged.expect(200), &customer);
    assert_eq!(
        app.get(&format!("/v1/brands/{}", app.brand_id)).await.body["name"],
        "Acme"
    );
}

/// A lock asked for another brand finds nothing and locks nothing: the
/// owner's own lock, while that transaction is still open, does not wait
/// (nor could its wait tell another tenant that the id exists).
async fn another_brands_lock_holds_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let order = app
        .create_order(json!({"amount": 100, "currency": "EUR"}))
        .await;
    let id = order["id"].as_str().expect("id").to_owned();
    let (other_brand, _) = app.other_brand("Beta").await;
    let state = &app.state;
    let mut intruder = state.db.begin().await.expect("begin");
    let refused = obol_server::orders::lock(
        state,
        &mut intruder,
        &obol_core::BrandId::from_text(other_brand.as_str()),
        &obol_core::OrderId::from(id.as_str()),
    )
    .await
    .map_err(obol_server::error::ApiError::from)
    .expect_err("another brand's order is not found");
    assert_eq!(refused.status().as_u16(), 404);
    let (found, _) = obol_store::orders::lock_order_with_routes(
        &mut intruder,
        state.db.backend,
        &obol_core::OrderId::from(id.as_str()),
        &obol_core::BrandId::from_text(other_brand.as_str()),
    )
    .await
    .expect("lock with routes");
    assert!(found.is_none(), "another brand's order was found");
    if backend == Backend::Sqlite {
        // One writer at a time: SQLite has no row locks to hold.
        intruder.rollback().await.expect("rollback");
        return;
    }
    let mut owner = state.db.begin().await.expect("begin");
    let locked = tokio::time::timeout(
        Duration::from_secs(5),
        obol_server::orders::lock(
            state,
            &mut owner,
            &obol_core::BrandId::from_text(app.brand_id.as_str()),
            &obol_core::OrderId::from(id.as_str()),
        ),
    )
    .await
    .expect("the owner's lock waited for another brand's transaction");
    assert_eq!(locked.expect("the owner's order").id, id);
    owner.rollback().await.expect("rollback");
    intruder.rollback().await.expect("rollback");
}
