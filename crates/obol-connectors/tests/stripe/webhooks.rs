//! Stripe's own signed events, received and read.

use super::*;

/// A webhook receiver on a free port: its URL and each delivery's
/// `Stripe-Signature` header and body.
async fn receive_webhooks() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, deliveries) = tokio::sync::mpsc::unbounded_channel();
    let receive = move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let sender = sender.clone();
        async move {
            let signature = headers
                .get("stripe-signature")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let _ = sender.send((signature, body.to_vec()));
            "ok"
        }
    };
    let router = axum::Router::new().route("/hook", axum::routing::post(receive));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, deliveries, server)
}

fn now_unix() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since_epoch.as_secs()).expect("in range")
}

#[tokio::test]
async fn localstripes_signed_events_verify_and_read_as_outcomes() {
    let world = World::start().await;
    let (url, mut deliveries, _server) = receive_webhooks().await;
    let types = ["payment_intent.succeeded", "payment_intent.payment_failed"];
    world
        .stripe
        .send_events_to(&url, WEBHOOK_SECRET, &types)
        .await;
    let (paid_txn, paid) = world.pay(VISA, Operation::Sale, 8925).await;
    let (failed_txn, failed) = world.pay(DECLINES_CHARGES, Operation::Sale, 1000).await;

    let mut events = Vec::new();
    let mut last = None;
    while events.len() < 2 {
        let delivery = tokio::time::timeout(std::time::Duration::from_secs(15), deliveries.recv());
        let (signature, body) = delivery
            .await
            .expect("localstripe sends its events")
            .expect("open");
        let event = verify_webhook(WEBHOOK_SECRET, &signature, &body, now_unix())
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&body)));
        events.push(event);
        last = Some((signature, body));
    }
    let paid_event = events
        .iter()
        .find(|event| event.payment_intent_id == paid.connector_transaction_id)
        .expect("the sale's event");
    assert_eq!(paid_event.event_type, "payment_intent.succeeded");
    assert!(paid_event.id.starts_with("evt_"), "{paid_event:?}");
    assert_eq!(
        paid_event.transaction_id.as_deref(),
        Some(paid_txn.as_str())
    );
    assert_eq!(
        paid_event.outcome,
        EventOutcome::Succeeded {
            amount: Some(eur(8925))
        }
    );
    let failed_event = events
        .iter()
        .find(|event| event.transaction_id.as_deref() == Some(failed_txn.as_str()))
        .expect("the decline's event");
    assert_eq!(failed_event.event_type, "payment_intent.payment_failed");
    assert!(
        matches!(&failed_event.outcome, EventOutcome::Declined { code, .. } if code == "generic_decline"),
        "{failed_event:?}"
    );
    assert_eq!(
        failed.connector_transaction_id, None,
        "localstripe names no intent in a decline"
    );

    // The same delivery under another secret, altered, or late, is refused.
    let (signature, body) = last.expect("a delivery");
    let refused = verify_webhook("whsec_other", &signature, &body, now_unix());
    assert_eq!(refused, Err(WebhookError::BadSignature));
    let mut altered = body.clone();
    altered.push(b' ');
    assert_eq!(
        verify_webhook(WEBHOOK_SECRET, &signature, &altered, now_unix()),
        Err(WebhookError::BadSignature)
    );
    let late = verify_webhook(WEBHOOK_SECRET, &signature, &body, now_unix() + 400);
    assert!(matches!(late, Err(WebhookError::Stale { .. })), "{late:?}");
}
