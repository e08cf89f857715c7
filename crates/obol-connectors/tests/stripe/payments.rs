//! Sales, authorizations, captures, voids, refunds, declines and 3-D Secure.

use super::*;

#[tokio::test]
async fn a_sale_is_charged_and_its_card_goes_only_to_its_payment_method() {
    let world = World::start().await;
    let (txn, sale) = world.pay(VISA, Operation::Sale, 8925).await;
    assert_eq!(sale.outcome, Outcome::Succeeded);
    assert_eq!(
        (sale.amount, sale.http_code, &sale.mandate),
        (Some(8925), Some(200), &None)
    );
    let id = id_of(&sale);
    assert!(id.starts_with("pi_"), "{id}");

    let intent = world.intent(&id).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(
        (intent["amount"].as_i64(), intent["currency"].as_str()),
        (Some(8925), Some("eur"))
    );
    assert_eq!(intent["capture_method"], "automatic");
    assert_eq!(intent["metadata"]["obol_transaction_id"], txn.as_str());

    let recorded = world.stripe.recorded();
    let with_number: Vec<_> = recorded.iter().filter(|r| r.body.contains(VISA)).collect();
    assert_eq!(with_number.len(), 1, "{recorded:#?}");
    assert_eq!(with_number[0].path, "/v1/payment_methods");
    assert_eq!(
        with_number[0].idempotency_key,
        Some(format!("{txn}-payment-method"))
    );
    assert!(
        recorded
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {SECRET_KEY}")))
    );
    let create = &world.requests_to("POST", "/v1/payment_intents")[0];
    assert_eq!(create.idempotency_key.as_deref(), Some(txn.as_str()));
    assert_eq!(create.param("amount").as_deref(), Some("8925"));
    assert_eq!(create.param("confirm").as_deref(), Some("true"));
    assert_eq!(create.param("return_url").as_deref(), Some(RETURN_URL));
    assert_eq!(create.param("card[cvc]"), None);
    assert_eq!(with_number[0].param("card[cvc]").as_deref(), Some("123"));
}

#[tokio::test]
async fn an_authorization_is_captured_in_part() {
    let world = World::start().await;
    let (txn, authorized) = world.pay(VISA, Operation::Authorize, 5000).await;
    assert_eq!(
        (authorized.outcome.clone(), authorized.amount),
        (Outcome::Succeeded, Some(5000))
    );
    let id = id_of(&authorized);
    let intent = world.intent(&id).await;
    assert_eq!(
        (intent["status"].as_str(), intent["capture_method"].as_str()),
        (Some("requires_capture"), Some("manual"))
    );

    let capture = world.follow_up(&txn, &id, 3000);
    let captured = ok(world.connector.capture(capture.clone()).await, "capture");
    assert_eq!(captured.outcome, Outcome::Succeeded);
    assert_eq!(
        (
            captured.amount,
            captured.connector_transaction_id.as_deref()
        ),
        (Some(3000), Some(id.as_str()))
    );
    let intent = world.intent(&id).await;
    assert_eq!(intent["status"], "succeeded");
    // localstripe captures in part by refunding the rest of the charge.
    let charge = &intent["latest_charge"];
    assert_eq!(
        charge["amount"]
            .as_i64()
            .zip(charge["amount_refunded"].as_i64())
            .map(|(a, r)| a - r),
        Some(3000)
    );
    let capture_call = &world.requests_to("POST", &format!("/v1/payment_intents/{id}/capture"))[0];
    assert_eq!(
        capture_call.param("amount_to_capture").as_deref(),
        Some("3000")
    );
    assert_eq!(
        capture_call.idempotency_key.as_deref(),
        Some(capture.transaction_id.as_str())
    );

    // The capture, synced by its intent, stands; an uncaptured one does not.
    let synced = world
        .sync(&capture.transaction_id, Operation::Capture, Some(&id))
        .await;
    assert_eq!(synced.outcome, Outcome::Succeeded);
    let (other_txn, other) = world.pay(VISA, Operation::Authorize, 1000).await;
    let not_yet = world
        .sync(&new_id("txn"), Operation::Capture, Some(&id_of(&other)))
        .await;
    assert_eq!(not_yet.outcome, Outcome::NotFound);

    let too_much = world
        .connector
        .capture(world.follow_up(&other_txn, &id_of(&other), 2000))
        .await;
    assert!(
        matches!(too_much, Err(ConnectorError::Invalid(_))),
        "{too_much:?}"
    );
}

#[tokio::test]
async fn an_authorization_is_voided_once() {
    let world = World::start().await;
    let (txn, authorized) = world.pay(VISA, Operation::Authorize, 5000).await;
    let id = id_of(&authorized);
    let void = world.follow_up(&txn, &id, 5000);
    let voided = ok(world.connector.void(void.clone()).await, "void");
    assert_eq!(
        (voided.outcome, voided.amount),
        (Outcome::Succeeded, Some(5000))
    );
    assert_eq!(world.intent(&id).await["status"], "canceled");

    // The same void again is answered as the first; another one is refused.
    let again = ok(world.connector.void(void.clone()).await, "repeated void");
    assert_eq!(again.outcome, Outcome::Succeeded);
    let other = world.connector.void(world.follow_up(&txn, &id, 5000)).await;
    assert!(
        matches!(other, Err(ConnectorError::Invalid(_))),
        "{other:?}"
    );
    // localstripe captures a canceled intent's charge and answers the
    // intent canceled: not a capture Obol can count on.
    let capture = world
        .connector
        .capture(world.follow_up(&txn, &id, 5000))
        .await;
    assert!(capture.is_err(), "{capture:?}");
    let synced = world
        .sync(&void.transaction_id, Operation::Void, Some(&id))
        .await;
    assert_eq!(synced.outcome, Outcome::Succeeded);
}

#[tokio::test]
async fn refunds_in_part_then_in_full_and_a_reverse() {
    let world = World::start().await;
    let (txn, sale) = world.pay(VISA, Operation::Sale, 5000).await;
    let id = id_of(&sale);
    let first = world.follow_up(&txn, &id, 2000);
    let refunded = ok(
        world.connector.refund(first.clone()).await,
        "partial refund",
    );
    assert_eq!(
        (refunded.outcome.clone(), refunded.amount),
        (Outcome::Succeeded, Some(2000))
    );
    let refund_id = id_of(&refunded);
    assert!(refund_id.starts_with("re_"), "{refund_id}");
    let rest = ok(
        world
            .connector
            .refund(world.follow_up(&txn, &id, 3000))
            .await,
        "full refund",
    );
    assert_eq!(
        (rest.outcome, rest.amount),
        (Outcome::Succeeded, Some(3000))
    );
    assert_eq!(
        world.intent(&id).await["latest_charge"]["amount_refunded"],
        5000
    );

    let refund = world.stripe.get(&format!("/v1/refunds/{refund_id}")).await;
    assert_eq!(
        refund["metadata"]["obol_transaction_id"],
        first.transaction_id.as_str()
    );
    assert_eq!(refund["metadata"]["obol_operation"], "refund");
    let by_id = world
        .sync(&first.transaction_id, Operation::Refund, Some(&refund_id))
        .await;
    assert_eq!(
        (by_id.outcome, by_id.amount),
        (Outcome::Succeeded, Some(2000))
    );
    let by_txn = world
        .sync(&first.transaction_id, Operation::Refund, None)
        .await;
    assert_eq!(
        by_txn.connector_transaction_id.as_deref(),
        Some(refund_id.as_str())
    );

    // A reverse is a full refund, kept as a reverse in its metadata.
    let (txn, sale) = world.pay(VISA, Operation::Sale, 4000).await;
    let id = id_of(&sale);
    let reverse = world.follow_up(&txn, &id, 4000);
    let reversed = ok(world.connector.reverse(reverse.clone()).await, "reverse");
    assert_eq!(
        (&reversed.outcome, reversed.amount),
        (&Outcome::Succeeded, Some(4000))
    );
    let refund = world
        .stripe
        .get(&format!("/v1/refunds/{}", id_of(&reversed)))
        .await;
    assert_eq!(
        (
            refund["amount"].as_i64(),
            refund["metadata"]["obol_operation"].as_str()
        ),
        (Some(4000), Some("reverse"))
    );
    assert_eq!(
        world.intent(&id).await["latest_charge"]["amount_refunded"],
        4000
    );
    let synced = world
        .sync(&reverse.transaction_id, Operation::Reverse, None)
        .await;
    assert_eq!(
        synced.connector_transaction_id,
        reversed.connector_transaction_id
    );
}

#[tokio::test]
async fn declines_carry_obols_decline_code() {
    let world = World::start().await;
    // localstripe declines with `card_declined` and no `decline_code`:
    // Obol's generic_decline (Stripe's decline codes are unit-tested).
    let (txn, sale) = world.pay(DECLINES_CHARGES, Operation::Sale, 1000).await;
    assert!(declined("generic_decline")(&sale.outcome), "{sale:?}");
    assert_eq!(sale.http_code, Some(402));
    let intents = world.intents_of(&txn).await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["status"], "requires_payment_method");
    let synced = world.sync(&txn, Operation::Sale, None).await;
    assert!(declined("generic_decline")(&synced.outcome), "{synced:?}");

    let txn = new_id("txn");
    let mut verify = world.payment(&txn, card(DECLINES_SETUPS), Operation::Verify, 0);
    verify.setup_mandate = true;
    let refused = ok(world.connector.authorize(verify).await, "verify");
    assert!(declined("generic_decline")(&refused.outcome), "{refused:?}");
    assert_eq!(refused.mandate, None);
    assert!(id_of(&refused).starts_with("seti_"));
}

#[tokio::test]
async fn three_d_secure_is_completed_through_localstripe_then_synced() {
    let world = World::start().await;
    let (txn, sale) = world.pay(CHALLENGE, Operation::Sale, 2500).await;
    let id = id_of(&sale);
    // localstripe asks for Stripe.js (`use_stripe_sdk`): Obol's own page.
    let page = format!("{OBOL_URL}/stripe/challenge/cna_stripe_test/{id}");
    assert_eq!(sale.outcome, Outcome::RequiresAction { url: page });
    let intent = world.intent(&id).await;
    assert_eq!(intent["status"], "requires_action");
    let pending = world.sync(&txn, Operation::Sale, Some(&id)).await;
    assert!(
        matches!(pending.outcome, Outcome::RequiresAction { .. }),
        "{pending:?}"
    );

    let secret = intent["client_secret"].as_str().expect("a client secret");
    let (status, _) = world
        .stripe
        .post(
            &format!("/v1/payment_intents/{id}/_authenticate"),
            &[("client_secret", secret), ("success", "true")],
        )
        .await;
    assert_eq!(status, 200);
    let synced = world.sync(&txn, Operation::Sale, Some(&id)).await;
    assert_eq!(
        (synced.outcome, synced.amount),
        (Outcome::Succeeded, Some(2500))
    );

    // A failed challenge declines the payment, as with the sandbox.
    let (txn, sale) = world.pay(CHALLENGE, Operation::Sale, 2500).await;
    let id = id_of(&sale);
    let secret = world.intent(&id).await["client_secret"]
        .as_str()
        .map(str::to_owned)
        .expect("secret");
    let (status, _) = world
        .stripe
        .post(
            &format!("/v1/payment_intents/{id}/_authenticate"),
            &[("client_secret", &secret), ("success", "false")],
        )
        .await;
    assert_eq!(status, 200);
    let synced = world.sync(&txn, Operation::Sale, None).await;
    assert!(declined("generic_decline")(&synced.outcome), "{synced:?}");
}
