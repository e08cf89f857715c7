//! API key secrets are stored only as hashes; webhook secrets (the brand's,
//! an endpoint's, a rotated one) only as ciphertexts.

use crate::harness::{self, Backend, spawn};
use crate::on_both;
use serde_json::json;

on_both!(secrets_are_stored_hashed);

async fn secrets_are_stored_hashed(backend: Backend) {
    let app = spawn(backend).await;
    let developer = app
        .post("/v1/api_keys", json!({"name": "dev", "role": "developer"}))
        .await
        .expect(200)
        .clone();
    let secrets = [
        app.secret_key.clone(),
        app.publishable_key.clone(),
        developer["secret"].as_str().expect("secret").to_owned(),
    ];
    let brand = app
        .get(&format!("/v1/brands/{}", app.brand_id))
        .await
        .expect(200)
        .clone();
    let endpoint = app
        .post(
            "/v1/webhook_endpoints",
            json!({"url": "http://127.0.0.1:9/obol", "events": ["order.paid"]}),
        )
        .await
        .expect(200)
        .clone();
    let id = endpoint["id"].as_str().expect("id").to_owned();
    let rotated = app
        .post(
            &format!("/v1/webhook_endpoints/{id}/rotate_secret"),
            json!({}),
        )
        .await
        .expect(200)
        .clone();
    let webhook_secrets = [
        brand["webhook_secret"].as_str().expect("secret").to_owned(),
        endpoint["secret"].as_str().expect("secret").to_owned(),
        rotated["secret"].as_str().expect("secret").to_owned(),
    ];
    let plaintext: i64 = app
        .count("SELECT COUNT(*) FROM brands WHERE webhook_secret <> ''")
        .await;
    assert_eq!(
        plaintext, 0,
        "a brand's webhook secret is stored as plaintext"
    );
    let rows: Vec<(String, String)> =
        obol_store::sql::query_as("SELECT secret_hash, secret_prefix FROM api_keys")
            .fetch_all(&app.state.db.pool)
            .await
            .expect("read keys");
    assert_eq!(rows.len(), 3);
    for secret in &secrets {
        let hash = obol_server::auth::hash_secret(secret);
        assert!(
            rows.iter().any(|(stored, _)| *stored == hash),
            "the hash of each key is stored"
        );
        for (stored_hash, prefix) in &rows {
            assert_ne!(stored_hash, secret);
            assert!(
                !secret.starts_with(prefix.as_str()) || prefix.len() < secret.len() / 2,
                "only a short prefix is kept"
            );
        }
    }
    let bytes = app.database_bytes().await;
    for secret in secrets.iter().chain(&webhook_secrets) {
        assert!(
            !harness::contains(&bytes, secret.as_bytes()),
            "a secret is in the database file"
        );
    }
}
