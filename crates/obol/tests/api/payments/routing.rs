//! Routing of payments to connector accounts: priority, currency, explicit
//! choice, disabled accounts, and another brand's accounts.

use super::connector_accounts::{create, currency};
use crate::harness::{Backend, spawn};
use crate::on_both;
use obol_core::ConnectorAccountId;
use obol_server::connector_accounts::{get, route};
use obol_server::error::ApiError;
use serde_json::json;

on_both!(routing_by_priority, tenant_isolation);

async fn routing_by_priority(backend: Backend) {
    let app = spawn(backend).await;
    let sandbox = |priority: i64| json!({"connector": "sandbox", "payment_methods": ["card"], "priority": priority});
    let mut tx = app.state.db.begin().await.expect("begin");
    let nothing = route(
        &mut tx,
        &obol_core::BrandId::from_text(app.brand_id.as_str()),
        "card",
        currency("EUR"),
        None,
        None,
    )
    .await;
    assert_eq!(
        ApiError::from(nothing.expect_err("no account")).code,
        "no_connector_available"
    );
    tx.rollback().await.expect("rollback");

    let late = create(&app, sandbox(5)).await;
    let first = create(&app, sandbox(1)).await;
    let tie = create(&app, sandbox(1)).await;
    let disabled = create(&app, sandbox(0)).await;
    app.delete(&format!("/v1/connector_accounts/{disabled}"))
        .await
        .expect(200);
    let usd = create(
        &app,
        json!({"connector": "sandbox", "payment_methods": ["card"], "currencies": ["USD"], "priority": 0}),
    )
    .await;

    let mut tx = app.state.db.begin().await.expect("begin");
    let brand = app.brand_id.as_str();
    let chosen = |result: Result<obol_store::connector_accounts::ConnectorAccountRow, _>| {
        result
            .map(|row| row.id.to_string())
            .map_err(|error| ApiError::from(error).code)
    };
    // Lowest priority first; of equal priority the oldest; disabled skipped.
    assert_eq!(
        chosen(
            route(
                &mut tx,
                &obol_core::BrandId::from_text(brand.to_string()),
                "card",
                currency("EUR"),
                None,
                None
            )
            .await
        ),
        Ok(first.clone())
    );
    assert_eq!(
        chosen(
            route(
                &mut tx,
                &obol_core::BrandId::from_text(brand.to_string()),
                "card",
                currency("USD"),
                None,
                None
            )
            .await
        ),
        Ok(usd.clone())
    );
    assert_eq!(
        chosen(
            route(
                &mut tx,
                &obol_core::BrandId::from_text(brand.to_string()),
                "crypto",
                currency("EUR"),
                None,
                None
            )
            .await
        ),
        Err("no_connector_available".into())
    );
    assert_eq!(
        chosen(
            route(
                &mut tx,
                &obol_core::BrandId::from_text(brand.to_string()),
                "card",
                currency("EUR"),
                Some(&ConnectorAccountId::from(late.as_str())),
                None
            )
            .await
        ),
        Ok(late.clone())
    );
    for explicit in [&disabled, &usd] {
        let refused = route(
            &mut tx,
            &obol_core::BrandId::from_text(brand.to_string()),
            "card",
            currency("EUR"),
            Some(&ConnectorAccountId::from(explicit.as_str())),
            None,
        )
        .await;
        let refused = ApiError::from(refused.expect_err("not usable"));
        assert_eq!(
            (refused.code.as_str(), refused.param.as_deref()),
            ("no_connector_available", Some("connector_account_id"))
        );
    }
    let unknown = route(
        &mut tx,
        &obol_core::BrandId::from_text(brand.to_string()),
        "card",
        currency("EUR"),
        Some(&ConnectorAccountId::from("cna_unknown")),
        None,
    )
    .await;
    let unknown = ApiError::from(unknown.expect_err("unknown"));
    assert_eq!(
        (unknown.status().as_u16(), unknown.param.as_deref()),
        (404, Some("connector_account_id"))
    );
    // A disabled account is still found for its existing payments.
    assert!(
        get(
            &mut tx,
            &obol_core::BrandId::from_text(brand.to_string()),
            &ConnectorAccountId::from(disabled.as_str())
        )
        .await
        .expect("read")
        .is_some()
    );
    tx.rollback().await.expect("rollback");

    // Priority changes take effect at once; re-enabling brings one back.
    app.patch(
        &format!("/v1/connector_accounts/{tie}"),
        json!({"priority": 0}),
    )
    .await
    .expect(200);
    let mut tx = app.state.db.begin().await.expect("begin");
    assert_eq!(
        chosen(
            route(
                &mut tx,
                &obol_core::BrandId::from_text(brand.to_string()),
                "card",
                currency("EUR"),
                None,
                None
            )
            .await
        ),
        Ok(tie.clone())
    );
    tx.rollback().await.expect("rollback");
    app.patch(
        &format!("/v1/connector_accounts/{disabled}"),
        json!({"status": "enabled"}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/v1/connector_accounts/{tie}"),
        json!({"priority": 2}),
    )
    .await
    .expect(200);
    let mut tx = app.state.db.begin().await.expect("begin");
    assert_eq!(
        chosen(
            route(
                &mut tx,
                &obol_core::BrandId::from_text(brand.to_string()),
                "card",
                currency("EUR"),
                None,
                None
            )
            .await
        ),
        Ok(disabled)
    );
    tx.rollback().await.expect("rollback");
}

async fn tenant_isolation(backend: Backend) {
    let app = spawn(backend).await;
    let id = app.sandbox_account().await;
    let (other_brand, other_key) = app.other_brand("Beta").await;
    let path = format!("/v1/connector_accounts/{id}");
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"label": "stolen"}))),
        ("DELETE", None),
    ] {
        let answer = app.send(method, &path, Some(&other_key), body, &[]).await;
        assert_eq!(
            (answer.status, answer.code()),
            (404, "resource_missing"),
            "{method}"
        );
    }
    let listed = app
        .send("GET", "/v1/connector_accounts", Some(&other_key), None, &[])
        .await;
    assert_eq!(listed.expect(200)["data"], json!([]));
    let cursor = app
        .send(
            "GET",
            &format!("/v1/connector_accounts?starting_after={id}"),
            Some(&other_key),
            None,
            &[],
        )
        .await;
    assert_eq!(cursor.status, 400);
    let methods = app
        .send(
            "GET",
            "/v1/payment_methods?currency=EUR",
            Some(&other_key),
            None,
            &[],
        )
        .await;
    assert_eq!(methods.expect(200)["data"], json!([]));

    let mut tx = app.state.db.begin().await.expect("begin");
    let foreign = route(
        &mut tx,
        &obol_core::BrandId::from_text(other_brand.as_str()),
        "card",
        currency("EUR"),
        Some(&ConnectorAccountId::from(id.as_str())),
        None,
    )
    .await;
    assert_eq!(
        ApiError::from(foreign.expect_err("foreign"))
            .status()
            .as_u16(),
        404
    );
    let any = route(
        &mut tx,
        &obol_core::BrandId::from_text(other_brand.as_str()),
        "card",
        currency("EUR"),
        None,
        None,
    )
    .await;
    assert_eq!(
        ApiError::from(any.expect_err("none")).code,
        "no_connector_available"
    );
    assert!(
        get(
            &mut tx,
            &obol_core::BrandId::from_text(other_brand.as_str()),
            &ConnectorAccountId::from(id.as_str())
        )
        .await
        .expect("read")
        .is_none()
    );
    tx.rollback().await.expect("rollback");
    assert_eq!(app.get(&path).await.expect(200)["status"], "enabled");
}
