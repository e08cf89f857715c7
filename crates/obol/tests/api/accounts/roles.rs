//! The role matrix: for each role one allowed and one forbidden action per
//! route family; unknown and revoked keys are 401.

use crate::harness::{ADMIN_KEY, Backend, spawn};
use crate::on_both;
use serde_json::{Value, json};

on_both!(role_matrix, unknown_and_revoked_keys);

/// (role, method, path, body, expected status)
type Case = (&'static str, &'static str, String, Option<Value>, u16);

async fn role_matrix(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.create_customer("seed@example.com").await;
    let customer_path = format!("/v1/customers/{}", customer["id"].as_str().expect("id"));
    let brand_path = format!("/v1/brands/{}", app.brand_id);
    let mut keys = std::collections::HashMap::new();
    for role in ["owner", "developer", "support", "read_only"] {
        keys.insert(role, app.key_with_role(role).await);
    }
    keys.insert("admin", ADMIN_KEY.to_owned());
    let new_customer = |email: &str| Some(json!({"email": email}));
    let new_key = Some(json!({"name": "k", "role": "read_only"}));
    let cases: Vec<Case> = vec![
        // owner: everything
        ("owner", "POST", "/v1/api_keys".into(), new_key.clone(), 200),
        (
            "owner",
            "PATCH",
            brand_path.clone(),
            Some(json!({"support_email": "help@acme.example"})),
            200,
        ),
        (
            "owner",
            "POST",
            "/v1/test_clock/advance".into(),
            Some(json!({"seconds": 1})),
            403,
        ),
        (
            "owner",
            "POST",
            "/v1/brands".into(),
            Some(json!({"name": "x"})),
            403,
        ),
        // developer: everything but keys and brand settings
        (
            "developer",
            "POST",
            "/v1/customers".into(),
            new_customer("dev@example.com"),
            200,
        ),
        ("developer", "GET", "/v1/events".into(), None, 200),
        ("developer", "GET", brand_path.clone(), None, 200),
        (
            "developer",
            "POST",
            "/v1/api_keys".into(),
            new_key.clone(),
            403,
        ),
        ("developer", "GET", "/v1/api_keys".into(), None, 403),
        (
            "developer",
            "PATCH",
            brand_path.clone(),
            Some(json!({"name": "x"})),
            403,
        ),
        // support: reads everything, writes nothing but refunds
        ("support", "GET", customer_path.clone(), None, 200),
        ("support", "GET", "/v1/events".into(), None, 200),
        ("support", "GET", brand_path.clone(), None, 200),
        (
            "support",
            "POST",
            "/v1/customers".into(),
            new_customer("sup@example.com"),
            403,
        ),
        ("support", "DELETE", customer_path.clone(), None, 403),
        ("support", "GET", "/v1/api_keys".into(), None, 403),
        (
            "support",
            "PATCH",
            brand_path.clone(),
            Some(json!({"name": "x"})),
            403,
        ),
        // read_only: GET only
        ("read_only", "GET", "/v1/customers".into(), None, 200),
        ("read_only", "GET", "/v1/events".into(), None, 200),
        ("read_only", "GET", brand_path.clone(), None, 200),
        (
            "read_only",
            "PATCH",
            customer_path.clone(),
            Some(json!({"name": "x"})),
            403,
        ),
        (
            "read_only",
            "POST",
            "/v1/customers".into(),
            new_customer("ro@example.com"),
            403,
        ),
        (
            "read_only",
            "DELETE",
            "/v1/api_keys/key_x".into(),
            None,
            403,
        ),
        // admin: brands and the test clock only
        (
            "admin",
            "POST",
            "/v1/brands".into(),
            Some(json!({"name": "Gamma"})),
            200,
        ),
        ("admin", "GET", brand_path.clone(), None, 200),
        (
            "admin",
            "PATCH",
            brand_path.clone(),
            Some(json!({"display_name": "Acme Inc"})),
            200,
        ),
        ("admin", "GET", "/v1/customers".into(), None, 403),
        ("admin", "POST", "/v1/api_keys".into(), new_key.clone(), 403),
        ("admin", "GET", "/v1/events".into(), None, 403),
    ];
    for (role, method, path, body, expected) in cases {
        let answer = app.send(method, &path, Some(&keys[role]), body, &[]).await;
        assert_eq!(
            answer.status, expected,
            "{role} {method} {path}: {}",
            answer.body
        );
        if expected == 403 {
            assert_eq!(
                answer.body["error"]["type"], "permission_error",
                "{role} {method} {path}"
            );
        }
    }
    // The forbidden writes changed nothing.
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 2);
    let brand = app.get(&brand_path).await;
    assert_eq!(brand.body["name"], "Acme");
    assert_eq!(brand.body["support_email"], "help@acme.example");
    // The webhook secret is for owners and the admin only.
    assert!(
        brand.body["webhook_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    let as_developer = app
        .send("GET", &brand_path, Some(&keys["developer"]), None, &[])
        .await;
    assert!(as_developer.body["webhook_secret"].is_null());
    // A publishable key is not a secret key.
    let publishable = app
        .send(
            "GET",
            "/v1/customers",
            Some(&app.publishable_key.clone()),
            None,
            &[],
        )
        .await;
    assert_eq!(publishable.status, 401);
}

async fn unknown_and_revoked_keys(backend: Backend) {
    let app = spawn(backend).await;
    for key in ["sk_nonexistent", "garbage", "adm_wrong"] {
        let answer = app.send("GET", "/v1/customers", Some(key), None, &[]).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body["error"]["type"], "authentication_error");
    }
    let missing = app.send("GET", "/v1/customers", None, None, &[]).await;
    assert_eq!(missing.status, 401);
    let malformed = app
        .send(
            "GET",
            "/v1/customers",
            None,
            None,
            &[("Authorization", "Basic abc")],
        )
        .await;
    assert_eq!(malformed.status, 401);

    let created = app
        .post("/v1/api_keys", json!({"name": "temp", "role": "developer"}))
        .await
        .expect(200)
        .clone();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert_eq!(
        app.send("GET", "/v1/customers", Some(&secret), None, &[])
            .await
            .status,
        200
    );
    let listed = app.get("/v1/api_keys").await.expect(200).clone();
    assert!(
        listed["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|k| k.get("secret").is_none())
    );
    let revoked = app
        .delete(&format!(
            "/v1/api_keys/{}",
            created["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(revoked.expect(200)["status"], "revoked");
    assert_eq!(
        app.send("GET", "/v1/customers", Some(&secret), None, &[])
            .await
            .status,
        401
    );
    let (_, other_key) = app.other_brand("Other").await;
    let foreign = app
        .send(
            "DELETE",
            &format!("/v1/api_keys/{}", created["id"].as_str().expect("id")),
            Some(&other_key),
            None,
            &[],
        )
        .await;
    assert_eq!(foreign.status, 404);
}
