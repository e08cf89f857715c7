//! Connector accounts, the payment-method listing and routing.

use crate::harness::{Backend, TestApp, spawn};
use crate::on_both;
use obol_core::ConnectorAccountId;
use obol_core::Currency;
use obol_server::connector_accounts::{connector_for, get, route, webhook_secret};
use serde_json::{Value, json};

on_both!(
    crud_and_disable,
    credentials_are_write_only_and_encrypted,
    validation_errors,
    payment_methods_listing,
    read_only_cannot_write,
    first_start_gives_the_demo_brand_a_sandbox_account,
);

pub(super) fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("known currency")
}

fn ids(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| item["id"].as_str().unwrap_or_default())
        .collect()
}

pub(super) async fn create(app: &TestApp, body: Value) -> String {
    let created = app.post("/v1/connector_accounts", body).await;
    created.expect(200)["id"].as_str().expect("id").to_owned()
}

async fn event_types(app: &TestApp) -> Vec<String> {
    app.get("/v1/events?limit=100").await.expect(200)["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|event| event["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn crud_and_disable(backend: Backend) {
    let app = spawn(backend).await;
    let created = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "sandbox", "label": "Main", "payment_methods": ["card", "card"],
                   "currencies": ["EUR", "USD"], "priority": 3}),
        )
        .await;
    let created = created.expect(200).clone();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("cna_"));
    assert_eq!(created["object"], "connector_account");
    assert_eq!(created["connector"], "sandbox");
    assert_eq!(created["label"], "Main");
    assert_eq!(created["payment_methods"], json!(["card"]));
    assert_eq!(created["currencies"], json!(["EUR", "USD"]));
    assert_eq!(created["priority"], 3);
    assert_eq!(created["status"], "enabled");
    let secret = created["webhook_secret"].as_str().expect("webhook secret");
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );

    let fetched = app.get(&format!("/v1/connector_accounts/{id}")).await;
    let fetched = fetched.expect(200);
    assert!(fetched.get("webhook_secret").is_none(), "{fetched}");
    let mut without_secret = created.clone();
    without_secret
        .as_object_mut()
        .expect("object")
        .remove("webhook_secret");
    assert_eq!(fetched, &without_secret);

    let second = app.sandbox_account().await;
    let listed = app.get("/v1/connector_accounts").await;
    let listed = listed.expect(200);
    assert_eq!(ids(listed), [second.as_str(), id.as_str()]);
    assert_eq!(listed["has_more"], false);
    assert!(!listed.to_string().contains("whsec_"));
    let first_page = app.get("/v1/connector_accounts?limit=1").await;
    assert_eq!(first_page.expect(200)["has_more"], true);
    let next = app
        .get(&format!(
            "/v1/connector_accounts?limit=1&starting_after={second}"
        ))
        .await;
    assert_eq!(ids(next.expect(200)), [id.as_str()]);
    let unknown = app
        .get("/v1/connector_accounts?starting_after=cna_unknown")
        .await;
    assert_eq!(
        (unknown.status, unknown.param()),
        (400, Some("starting_after"))
    );

    let patched = app
        .patch(
            &format!("/v1/connector_accounts/{id}"),
            json!({"label": null, "priority": 7, "currencies": null}),
        )
        .await;
    let patched = patched.expect(200);
    assert_eq!(patched["label"], Value::Null);
    assert_eq!(patched["priority"], 7);
    assert_eq!(patched["currencies"], Value::Null);
    assert!(patched.get("webhook_secret").is_none());

    let deleted = app.delete(&format!("/v1/connector_accounts/{id}")).await;
    assert_eq!(deleted.expect(200)["status"], "disabled");
    let again = app.delete(&format!("/v1/connector_accounts/{id}")).await;
    assert_eq!(again.expect(200)["status"], "disabled");
    let still_listed = app.get("/v1/connector_accounts").await;
    assert_eq!(ids(still_listed.expect(200)).len(), 2);
    let enabled = app
        .patch(
            &format!("/v1/connector_accounts/{id}"),
            json!({"status": "enabled"}),
        )
        .await;
    assert_eq!(enabled.expect(200)["status"], "enabled");

    assert_eq!(
        event_types(&app).await,
        [
            "connector_account.updated",
            "connector_account.disabled",
            "connector_account.updated",
            "connector_account.created",
            "connector_account.created",
        ]
    );
    let events = app.get("/v1/events?limit=100").await;
    assert!(!events.expect(200).to_string().contains("whsec_"));
}

async fn credentials_are_write_only_and_encrypted(backend: Backend) {
    let app = spawn(backend).await;
    let plaintext = "sk_live_very_secret_credential_42";
    let created = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "sandbox", "payment_methods": ["card"],
                   "credentials": {"api_key": plaintext}}),
        )
        .await;
    let created = created.expect(200).clone();
    assert!(created.get("credentials").is_none());
    assert!(!created.to_string().contains(plaintext));
    let id = created["id"].as_str().expect("id");
    let secret = created["webhook_secret"].as_str().expect("secret");

    let (credentials_text, secret_text): (String, String) = obol_store::sql::query_as(
        "SELECT credentials_ciphertext, webhook_secret_ciphertext FROM connector_accounts WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.state.db.pool)
    .await
    .expect("row");
    assert!(!credentials_text.contains(plaintext));
    assert!(!credentials_text.contains("api_key"));
    assert!(!secret_text.contains(secret));
    let events: Vec<String> = obol_store::sql::query_scalar("SELECT data FROM events")
        .fetch_all(&app.state.db.pool)
        .await
        .expect("events");
    assert!(
        events
            .iter()
            .all(|data| !data.contains(plaintext) && !data.contains(secret))
    );

    for path in [
        format!("/v1/connector_accounts/{id}"),
        "/v1/connector_accounts".into(),
    ] {
        let body = app.get(&path).await.expect(200).to_string();
        assert!(
            !body.contains(plaintext) && !body.contains("credentials"),
            "{body}"
        );
    }

    // The server, and only the server, reads them back.
    let mut conn = app.state.db.pool.acquire().await.expect("connection");
    let row = get(
        &mut conn,
        &obol_core::BrandId::from_text(app.brand_id.as_str()),
        &ConnectorAccountId::from(id),
    )
    .await
    .expect("read")
    .expect("row");
    let (connector, context) = connector_for(&app.state, &row).expect("context");
    assert_eq!(connector.name(), "sandbox");
    assert_eq!(context.account_id, id);
    assert_eq!(context.credentials, json!({"api_key": plaintext}));
    assert!(!format!("{context:?}").contains(plaintext));
    assert_eq!(webhook_secret(&app.state, &row).expect("secret"), secret);

    let patched = app
        .patch(
            &format!("/v1/connector_accounts/{id}"),
            json!({"credentials": {"api_key": "rotated"}}),
        )
        .await;
    assert!(!patched.expect(200).to_string().contains("rotated"));
    let row = get(
        &mut conn,
        &obol_core::BrandId::from_text(app.brand_id.as_str()),
        &ConnectorAccountId::from(id),
    )
    .await
    .expect("read")
    .expect("row");
    let (_, context) = connector_for(&app.state, &row).expect("context");
    assert_eq!(context.credentials, json!({"api_key": "rotated"}));
    let cleared = app
        .patch(
            &format!("/v1/connector_accounts/{id}"),
            json!({"credentials": null}),
        )
        .await;
    cleared.expect(200);
    let row = get(
        &mut conn,
        &obol_core::BrandId::from_text(app.brand_id.as_str()),
        &ConnectorAccountId::from(id),
    )
    .await
    .expect("read")
    .expect("row");
    assert!(row.credentials_ciphertext.is_none());
    assert_eq!(
        connector_for(&app.state, &row)
            .expect("context")
            .1
            .credentials,
        json!({})
    );
}

async fn validation_errors(backend: Backend) {
    let app = spawn(backend).await;
    let cases = [
        (
            json!({"connector": "paypal", "payment_methods": ["card"]}),
            "parameter_invalid",
            "connector",
        ),
        (
            json!({"connector": "sandbox"}),
            "parameter_missing",
            "payment_methods",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": []}),
            "parameter_invalid",
            "payment_methods",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["cash"]}),
            "parameter_invalid",
            "payment_methods[0]",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["card", "wallet"]}),
            "parameter_invalid",
            "payment_methods[1]",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["card"], "currencies": ["eur"]}),
            "parameter_invalid",
            "currencies[0]",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["card"], "currencies": ["EUR", "XXX"]}),
            "parameter_invalid",
            "currencies[1]",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["card"], "currencies": []}),
            "parameter_invalid",
            "currencies",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["card"], "priority": -1}),
            "parameter_invalid",
            "priority",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["card"], "credentials": "sk_x"}),
            "parameter_invalid",
            "credentials",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["card"], "label": ""}),
            "parameter_invalid",
            "label",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["card"], "secret": "x"}),
            "parameter_unknown",
            "secret",
        ),
        (
            json!({"connector": "sandbox", "payment_methods": ["card"], "status": "enabled"}),
            "parameter_unknown",
            "status",
        ),
    ];
    for (body, code, param) in cases {
        let answer = app.post("/v1/connector_accounts", body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(
            (answer.code(), answer.param()),
            (code, Some(param)),
            "{body}"
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_accounts").await,
        0
    );

    let id = app.sandbox_account().await;
    let path = format!("/v1/connector_accounts/{id}");
    for (body, param) in [
        (json!({"status": "paused"}), "status"),
        (json!({"payment_methods": []}), "payment_methods"),
        (json!({"currencies": ["usd"]}), "currencies[0]"),
        (json!({"priority": 1_000_001}), "priority"),
        (json!({"connector": "sandbox"}), "connector"),
    ] {
        let answer = app.patch(&path, body.clone()).await;
        assert_eq!(
            (answer.status, answer.param()),
            (400, Some(param)),
            "{body}: {}",
            answer.body
        );
    }
    let unknown = app.get("/v1/connector_accounts/cna_unknown").await;
    assert_eq!((unknown.status, unknown.code()), (404, "resource_missing"));
}

async fn payment_methods_listing(backend: Backend) {
    let app = spawn(backend).await;
    let none = app
        .get("/v1/payment_methods?currency=EUR&amount=1000")
        .await;
    assert_eq!(
        none.expect(200),
        &json!({"object": "list", "has_more": false, "data": []})
    );

    let cheap = create(
        &app,
        json!({"connector": "sandbox", "payment_methods": ["card"], "priority": 5}),
    )
    .await;
    let usd_only = create(
        &app,
        json!({"connector": "sandbox", "payment_methods": ["card"], "currencies": ["USD"], "priority": 1}),
    )
    .await;
    let disabled = create(
        &app,
        json!({"connector": "sandbox", "payment_methods": ["card"]}),
    )
    .await;
    app.delete(&format!("/v1/connector_accounts/{disabled}"))
        .await
        .expect(200);

    let eur = app
        .get("/v1/payment_methods?currency=EUR&amount=1000")
        .await;
    assert_eq!(
        eur.expect(200),
        &json!({"object": "list", "has_more": false,
                "data": [{"type": "card", "connector_accounts": [cheap]}]})
    );
    let usd = app.get("/v1/payment_methods?currency=USD").await;
    assert_eq!(
        usd.expect(200)["data"],
        json!([{"type": "card", "connector_accounts": [usd_only, cheap]}])
    );

    let customer = app.create_customer("wallet@example.com").await;
    let customer_id = customer["id"].as_str().expect("id");
    let with_customer = app
        .get(&format!(
            "/v1/payment_methods?currency=EUR&amount=1000&customer_id={customer_id}"
        ))
        .await;
    assert_eq!(
        with_customer.expect(200)["data"],
        json!([{"type": "card", "connector_accounts": [cheap]}, {"type": "wallet"}])
    );
    let (_, other_key) = app.other_brand("Beta").await;
    let foreign = app
        .send(
            "GET",
            &format!("/v1/payment_methods?currency=EUR&customer_id={customer_id}"),
            Some(&other_key),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (foreign.status, foreign.param()),
        (404, Some("customer_id"))
    );
    assert_eq!(foreign.code(), "resource_missing");
    let unknown = app
        .get("/v1/payment_methods?currency=EUR&customer_id=cus_unknown")
        .await;
    assert_eq!(
        (unknown.status, unknown.param()),
        (404, Some("customer_id"))
    );
    app.delete(&format!("/v1/customers/{customer_id}"))
        .await
        .expect(200);
    let deleted = app
        .get(&format!(
            "/v1/payment_methods?currency=EUR&customer_id={customer_id}"
        ))
        .await;
    assert_eq!(
        deleted.expect(200)["data"].as_array().map(Vec::len),
        Some(1)
    );

    for (query, code, param) in [
        ("", "parameter_missing", "currency"),
        ("currency=eur", "parameter_invalid", "currency"),
        ("currency=EUR&amount=0", "parameter_invalid", "amount"),
        ("currency=EUR&amount=ten", "parameter_invalid", "amount"),
        ("currency=EUR&country=DE", "parameter_unknown", "country"),
    ] {
        let answer = app.get(&format!("/v1/payment_methods?{query}")).await;
        assert_eq!(
            (answer.status, answer.code(), answer.param()),
            (400, code, Some(param)),
            "{query}"
        );
    }
}

async fn read_only_cannot_write(backend: Backend) {
    let app = spawn(backend).await;
    let id = app.sandbox_account().await;
    let read_only = app.key_with_role("read_only").await;
    let path = format!("/v1/connector_accounts/{id}");
    let body = json!({"connector": "sandbox", "payment_methods": ["card"]});
    for (method, path, body) in [
        ("POST", "/v1/connector_accounts", Some(body)),
        ("PATCH", path.as_str(), Some(json!({"priority": 1}))),
        ("DELETE", path.as_str(), None),
    ] {
        let answer = app.send(method, path, Some(&read_only), body, &[]).await;
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.body);
    }
    for path in [
        path.as_str(),
        "/v1/connector_accounts",
        "/v1/payment_methods?currency=EUR",
    ] {
        app.send("GET", path, Some(&read_only), None, &[])
            .await
            .expect(200);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_accounts").await,
        1
    );
}

async fn first_start_gives_the_demo_brand_a_sandbox_account(backend: Backend) {
    let app = spawn(backend).await;
    let first = obol_server::bootstrap::first_start(&app.state, true)
        .await
        .expect("first start")
        .expect("first time");
    let listed = app
        .send(
            "GET",
            "/v1/connector_accounts",
            Some(&first.demo.secret_key),
            None,
            &[],
        )
        .await;
    let data = listed.expect(200)["data"].clone();
    assert_eq!(data.as_array().map(Vec::len), Some(1));
    assert_eq!(data[0]["connector"], "sandbox");
    assert_eq!(data[0]["payment_methods"], json!(["card"]));
    assert_eq!(data[0]["currencies"], Value::Null);
    assert_eq!(data[0]["status"], "enabled");
    let mut tx = app.state.db.begin().await.expect("begin");
    let routed = route(
        &mut tx,
        &obol_core::BrandId::from_text(first.demo.brand.id.as_str()),
        "card",
        currency("JPY"),
        None,
        None,
    )
    .await;
    assert_eq!(
        routed.expect("routed").id,
        data[0]["id"].as_str().expect("id")
    );
    tx.rollback().await.expect("rollback");
    let again = obol_server::bootstrap::first_start(&app.state, true).await;
    assert!(again.expect("second start").is_none());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM connector_accounts").await,
        1
    );
}
