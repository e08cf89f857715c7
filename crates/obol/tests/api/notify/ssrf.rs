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

    // A callback to the receiver is attempted and refused: nothing arrives.
    let order = app
        .create_order(
            json!({"amount": 100, "currency": "EUR", "callback_url": receiver.url("/callback")}),
        )
        .await;
    app.confirm_card(&id_of(&order), "4242424242424242")
        .await
        .expect(200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let failed = app
            .count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed' AND http_status IS NULL")
            .await;
        if failed >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the callbacks were never attempted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        receiver.calls().is_empty(),
        "a request reached a loopback address"
    );
}
