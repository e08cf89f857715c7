//! Retries, lost answers, rate limits and failures.

use super::*;

#[tokio::test]
async fn a_retried_sale_charges_once() {
    let world = World::start().await;
    let txn = new_id("txn");
    let first = ok(
        world
            .connector
            .authorize(world.payment(&txn, card(VISA), Operation::Sale, 3000))
            .await,
        "first",
    );
    let again = ok(
        world
            .connector
            .authorize(world.payment(&txn, card(VISA), Operation::Sale, 3000))
            .await,
        "again",
    );
    assert_eq!(first.outcome, Outcome::Succeeded);
    assert_eq!(
        (again.outcome, again.connector_transaction_id),
        (Outcome::Succeeded, first.connector_transaction_id.clone())
    );
    assert_eq!(world.intents_of(&txn).await.len(), 1);
    let charges = world.stripe.list("/v1/charges").await;
    assert_eq!(charges.len(), 1, "{charges:#?}");

    // The same key with another amount: Stripe refuses it, and the first
    // call's outcome stands, unknown to this one.
    let other = world
        .connector
        .authorize(world.payment(&txn, card(VISA), Operation::Sale, 3100))
        .await;
    assert!(
        matches!(
            other,
            Err(ConnectorError::Provider {
                http_code: Some(400),
                ..
            })
        ),
        "{other:?}"
    );
    assert_eq!(world.intents_of(&txn).await.len(), 1);
}

#[tokio::test]
async fn a_lost_answer_is_found_by_sync_and_never_charged_twice() {
    let world = World::start().await;
    let txn = new_id("txn");
    world
        .stripe
        .fail_next("POST", "/v1/payment_intents", Fault::LoseAnswer);
    let lost = world
        .connector
        .authorize(world.payment(&txn, card(VISA), Operation::Sale, 4200))
        .await;
    assert!(
        matches!(
            lost,
            Err(ConnectorError::Provider {
                http_code: Some(502),
                ..
            })
        ),
        "{lost:?}"
    );

    let synced = world.sync(&txn, Operation::Sale, None).await;
    assert_eq!(
        (&synced.outcome, synced.amount),
        (&Outcome::Succeeded, Some(4200))
    );
    let id = id_of(&synced);
    let retried = ok(
        world
            .connector
            .authorize(world.payment(&txn, card(VISA), Operation::Sale, 4200))
            .await,
        "retry",
    );
    assert_eq!(
        retried.connector_transaction_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(world.intents_of(&txn).await.len(), 1);
    assert_eq!(world.stripe.list("/v1/charges").await.len(), 1);

    // A refund's lost answer too.
    let refund = world.follow_up(&txn, &id, 1000);
    world
        .stripe
        .fail_next("POST", "/v1/refunds", Fault::LoseAnswer);
    let lost = world.connector.refund(refund.clone()).await;
    assert!(
        matches!(lost, Err(ConnectorError::Provider { .. })),
        "{lost:?}"
    );
    let synced = world
        .sync(&refund.transaction_id, Operation::Refund, None)
        .await;
    assert_eq!(
        (synced.outcome, synced.amount),
        (Outcome::Succeeded, Some(1000))
    );
    let unknown = world.sync(&new_id("txn"), Operation::Sale, None).await;
    assert_eq!(unknown.outcome, Outcome::NotFound);
}

#[tokio::test]
async fn rate_limits_are_retried_within_a_small_budget() {
    let world = World::start().await;
    for _ in 0..2 {
        world
            .stripe
            .fail_next("POST", "/v1/payment_intents", Fault::RateLimited);
    }
    let (_, sale) = world.pay(VISA, Operation::Sale, 1000).await;
    assert_eq!(sale.outcome, Outcome::Succeeded);
    assert_eq!(world.requests_to("POST", "/v1/payment_intents").len(), 3);

    for _ in 0..3 {
        world
            .stripe
            .fail_next("POST", "/v1/payment_intents", Fault::RateLimited);
    }
    let txn = new_id("txn");
    let limited = world
        .connector
        .authorize(world.payment(&txn, card(VISA), Operation::Sale, 1000))
        .await;
    assert!(
        matches!(
            limited,
            Err(ConnectorError::Provider {
                http_code: Some(429),
                ..
            })
        ),
        "{limited:?}"
    );
    assert_eq!(world.intents_of(&txn).await.len(), 0);
}

#[tokio::test]
async fn failures_are_unknown_outcomes_and_refusals_are_invalid() {
    let world = World::start().await;
    world
        .stripe
        .fail_next("POST", "/v1/payment_intents", Fault::ServerError);
    let failed = world
        .connector
        .authorize(world.payment(&new_id("txn"), card(VISA), Operation::Sale, 1000))
        .await;
    assert!(
        matches!(
            failed,
            Err(ConnectorError::Provider {
                http_code: Some(500),
                ..
            })
        ),
        "{failed:?}"
    );

    assert!(
        world
            .connector
            .check_credentials(&world.account)
            .await
            .is_ok()
    );
    // localstripe takes any `sk_…` key: only another shape is refused.
    let wrong_key = account(json!({"secret_key": "wrong", "api_base": world.stripe.api_base()}));
    match world.connector.check_credentials(&wrong_key).await {
        Err(ConnectorError::Invalid(message)) => assert!(!message.contains("wrong"), "{message}"),
        other => panic!("{other:?}"),
    }
    let mut request = world.payment(&new_id("txn"), card(VISA), Operation::Sale, 1000);
    request.account = wrong_key;
    match world.connector.authorize(request).await {
        Err(ConnectorError::Invalid(message)) => assert!(!message.contains("wrong"), "{message}"),
        other => panic!("{other:?}"),
    }

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("address").port();
    drop(closed);
    let mut request = world.payment(&new_id("txn"), card(VISA), Operation::Sale, 1000);
    request.account = account(
        json!({"secret_key": SECRET_KEY, "api_base": format!("http://127.0.0.1:{closed_port}")}),
    );
    let unreachable = world.connector.authorize(request).await;
    assert!(
        matches!(
            unreachable,
            Err(ConnectorError::Provider {
                http_code: None,
                ..
            })
        ),
        "{unreachable:?}"
    );

    let (txn, sale) = world.pay(VISA, Operation::Sale, 1000).await;
    let increment = world
        .connector
        .increment_authorization(world.follow_up(&txn, &id_of(&sale), 2000))
        .await;
    assert!(matches!(
        increment,
        Err(ConnectorError::Unsupported("increment_authorization"))
    ));
    let missing = world
        .sync(&txn, Operation::Sale, Some("pi_doesnotexist"))
        .await;
    assert_eq!(missing.outcome, Outcome::NotFound);
    let mut no_id = world.follow_up(&txn, "pi_x", 1000);
    no_id.connector_payment_id = None;
    assert!(matches!(
        world.connector.refund(no_id).await,
        Err(ConnectorError::Invalid(_))
    ));
    let crypto = world
        .connector
        .authorize(world.payment(&new_id("txn"), Instrument::Crypto, Operation::Sale, 1000))
        .await;
    assert!(matches!(crypto, Err(ConnectorError::Invalid(_))));
    let verify_with_amount = world
        .connector
        .authorize(world.payment(&new_id("txn"), card(VISA), Operation::Verify, 100))
        .await;
    assert!(matches!(
        verify_with_amount,
        Err(ConnectorError::Invalid(_))
    ));
}
