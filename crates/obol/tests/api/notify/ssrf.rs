//! Outbound requests stay off private networks unless the server allows
//! them: endpoint URLs are refused at save time, and a callback to such an
//! address is never sent.

use super::receiver::Receiver;
use crate::harness::{self, Backend, Options, id_of};
use crate::on_both;
use serde_json::json;
use std::time::Duration;

on_both!(private_addresses_are_refused);

async fn private_addresses_are_refused(backend: Backend) {
    let app = harness::spawn_paying(
        backend,
        Options {
            refuse_private_network: true,
            ..Options::default()
        },
    )
    .await;
    let receiver = Receiver::start().await;
    for url in [
        receiver.url("/hooks"),
        "http://127.0.0.1:9/hooks".to_owned(),
        "http://10.1.2.3/hooks".to_owned(),
        "http://192.168.0.10/hooks".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::1]:9/hooks".to_owned(),
        "http://[fd00::1]/hooks".to_owned(),
        "http://[::ffff:127.0.0.1]/hooks".to_owned(),
        "http://224.0.0.1/hooks".to_owned(),
        format!("http://localhost:{}/hooks", receiver.port),
    ] {
        let answer = app
            .post(
                "/v1/webhook_endpoints",
                json!({"url": url, "events": ["*"]}),
            )
            .await;
        assert_eq!(
            (answer.status, answer.param()),
            (400, Some("url")),
            "{url}: {}",
            answer.body
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_endpoints").await, 0);

    // An order's callback URL is checked the same way, on PATCH too.
    let refused = app
        .post(
            "/v1/orders",
            json!({"amount": 100, "currency": "EUR", "callback_url": receiver.url("/callback")}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.param()),
        (400, Some("callback_url")),
        "{}",
        refused.body
    );
    let order = app
        .create_order(json!({"amount": 100, "currency": "EUR"}))
        .await;
    let refused = app
        .patch(
            &format!("/v1/orders/{}", id_of(&order)),
            json!({"callback_url": "http://169.254.169.254/latest"}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.param()),
        (400, Some("callback_url"))
    );

    // An endpoint whose name resolved elsewhere when it was saved (written
    // here past the API) is still never reached: the address connected to
    // is checked at every attempt.
    let now = app.state.now().as_ms();
    let endpoint = obol_store::webhooks::EndpointRow {
        id: obol_core::WebhookEndpointId::new(),
        brand_id: obol_core::BrandId::from(app.brand_id.as_str()),
        url: format!("http://localhost:{}/rebound", receiver.port),
        description: None,
        events: r#"["order.paid"]"#.into(),
        status: "enabled".into(),
        secret_ciphertext: app
            .state
            .master_key
            .encrypt(obol_server::crypto::new_webhook_secret().as_bytes()),
        previous_secret_ciphertext: None,
        previous_secret_expires_at: None,
        deleted_at: None,
        created_at: now,
        updated_at: now,
    };
    let mut conn = app.state.db.write_conn().await.expect("connection");
    obol_store::webhooks::insert_endpoint(&mut conn, &endpoint)
        .await
        .expect("insert");
    drop(conn);
    app.confirm_card(&id_of(&order), "4242424242424242")
        .await
        .expect(200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let attempt = loop {
        let list = app
            .get(&format!("/v1/webhook_endpoints/{}/deliveries", endpoint.id))
            .await
            .expect(200)
            .clone();
        let failed = list["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|attempt| attempt["status"] == "failed")
            .cloned();
        if let Some(failed) = failed {
            break failed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never attempted: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(attempt["http_status"].is_null());
    assert!(
        attempt["error"]
            .as_str()
            .is_some_and(|e| e.contains("loopback")),
        "{attempt}"
    );
    assert!(
        receiver.calls().is_empty(),
        "a request reached a loopback address"
    );
}
