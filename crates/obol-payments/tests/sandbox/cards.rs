//! Payments at the sandbox: its test cards, 3-D Secure, pending and
//! failing calls.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn approved_cards_and_capabilities() {
    on_each_backend(|env| async move {
        let capabilities = env.sandbox.capabilities();
        assert_eq!(capabilities.payment_methods, vec!["card", "crypto"]);
        assert!(capabilities.currencies.is_none());
        for operation in [
            Operation::Authorize,
            Operation::Sale,
            Operation::Verify,
            Operation::Capture,
            Operation::IncrementAuthorization,
            Operation::Void,
            Operation::Reverse,
            Operation::Refund,
            Operation::Sync,
        ] {
            assert!(capabilities.supports(operation), "{operation:?}");
        }
        for (number, operation, brand) in [
            ("4242424242424242", Operation::Sale, "visa"),
            ("5555555555554444", Operation::Authorize, "mastercard"),
            ("378282246310005", Operation::Sale, "amex"),
            ("6011111111111117", Operation::Authorize, "discover"),
        ] {
            let txn = new_id("txn");
            let response = ok(env.pay(&txn, number, operation, 8925).await, number);
            assert_eq!(response.outcome, Outcome::Succeeded, "{number}");
            assert_eq!(response.http_code, Some(200));
            assert_eq!(response.amount, Some(8925));
            let id = response.connector_transaction_id.expect("an id");
            assert!(id.starts_with("sbx_pay_"), "{id}");
            let stored = env.stored(&txn).await;
            assert_eq!(stored.id, id);
            assert_eq!(
                (stored.card_brand.as_str(), stored.card_last4.as_str()),
                (brand, &number[number.len() - 4..])
            );
            // The number is kept nowhere in the row (there is no CVC column).
            let row = format!("{stored:?}");
            assert!(!row.contains(number), "{row}");
            assert_eq!(env.sync(&txn, operation).await.outcome, Outcome::Succeeded);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_holds_nothing() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let response = ok(
            env.pay(&txn, "4242424242424242", Operation::Verify, 0)
                .await,
            "verify",
        );
        assert_eq!(
            (response.outcome, response.amount),
            (Outcome::Succeeded, Some(0))
        );
        let stored = env.stored(&txn).await;
        assert_eq!((stored.authorized, stored.captured), (0, 0));
        assert_invalid(
            env.follow(Operation::Capture, &txn, 1).await,
            "capture of a verify",
        );
        assert_invalid(
            env.follow(Operation::Void, &txn, 0).await,
            "void of a verify",
        );
        assert_invalid(
            env.pay(&new_id("txn"), "4242424242424242", Operation::Verify, 100)
                .await,
            "verify with an amount",
        );
        let declined_verify = ok(
            env.pay(&new_id("txn"), "4000000000000002", Operation::Verify, 0)
                .await,
            "declined verify",
        );
        assert!(declined("generic_decline")(&declined_verify.outcome));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_refused() {
    on_each_backend(|env| async move {
        let now = env.now();
        let mut bad_luhn = authorize_request(
            &new_id("txn"),
            "4242424242424242",
            Operation::Sale,
            100,
            now,
        );
        if let Instrument::Card(card) = &mut bad_luhn.instrument {
            card.number = obol_core::card::Secret::new("4242424242424241".to_owned());
        }
        assert_invalid(
            env.sandbox.authorize(bad_luhn).await,
            "a Luhn-invalid number",
        );
        let mut held_crypto = authorize_request(
            &new_id("txn"),
            "4242424242424242",
            Operation::Authorize,
            100,
            now,
        );
        held_crypto.instrument = Instrument::Crypto;
        assert_invalid(
            env.sandbox.authorize(held_crypto).await,
            "crypto held for a capture",
        );
        assert_invalid(
            env.pay(&new_id("txn"), "4242424242424242", Operation::Sale, 0)
                .await,
            "a zero sale",
        );
        assert_invalid(
            env.pay(&new_id("txn"), "4242424242424242", Operation::Refund, 100)
                .await,
            "a refund as payment",
        );
        assert_invalid(
            env.follow(Operation::Refund, "txn_unknown", 100).await,
            "a follow-up on no payment",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn declined_cards() {
    on_each_backend(|env| async move {
        for (number, code) in [
            ("4000000000000002", "generic_decline"),
            ("4000000000009995", "insufficient_funds"),
            ("4000000000000069", "expired_card"),
            ("4000000000000127", "incorrect_cvc"),
        ] {
            let txn = new_id("txn");
            let response = ok(env.pay(&txn, number, Operation::Sale, 1000).await, number);
            assert!(
                declined(code)(&response.outcome),
                "{number}: {:?}",
                response.outcome
            );
            assert_eq!(response.http_code, Some(402));
            let again = ok(env.pay(&txn, number, Operation::Sale, 1000).await, "repeat");
            assert_eq!(again.outcome, response.outcome);
            assert_eq!(
                again.connector_transaction_id,
                response.connector_transaction_id
            );
            assert!(declined(code)(
                &env.sync(&txn, Operation::Sale).await.outcome
            ));
            assert_invalid(
                env.follow(Operation::Refund, &txn, 100).await,
                "refund of a decline",
            );
            assert_eq!(env.stored(&txn).await.captured, 0);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn challenge_card() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let response = ok(
            env.pay(&txn, "4000000000003220", Operation::Authorize, 5000)
                .await,
            "3ds",
        );
        let id = response.connector_transaction_id.clone().expect("an id");
        let url = format!("{BASE_URL}/sandbox/challenge/{id}");
        assert_eq!(
            response.outcome,
            Outcome::RequiresAction { url: url.clone() }
        );
        assert_eq!(
            env.sync(&txn, Operation::Authorize).await.outcome,
            Outcome::RequiresAction { url }
        );
        assert_invalid(
            env.follow(Operation::Capture, &txn, 5000).await,
            "capture before the challenge",
        );
        env.sandbox
            .complete_challenge(&id, true)
            .await
            .expect("challenge passed");
        env.sandbox
            .complete_challenge(&id, true)
            .await
            .expect("the same answer again is a no-op");
        assert!(env.sandbox.complete_challenge(&id, false).await.is_err());
        assert_eq!(
            env.sync(&txn, Operation::Authorize).await.outcome,
            Outcome::Succeeded
        );
        ok(
            env.follow(Operation::Capture, &txn, 5000).await,
            "capture after the challenge",
        );

        let failed = new_id("txn");
        let response = ok(
            env.pay(&failed, "4000000000003220", Operation::Sale, 5000)
                .await,
            "3ds sale",
        );
        let id = response.connector_transaction_id.expect("an id");
        env.sandbox
            .complete_challenge(&id, false)
            .await
            .expect("challenge failed");
        assert!(declined("generic_decline")(
            &env.sync(&failed, Operation::Sale).await.outcome
        ));
        assert_eq!(env.stored(&failed).await.captured, 0);
        assert!(
            env.sandbox
                .complete_challenge("sbx_pay_unknown", true)
                .await
                .is_err()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn void_cancels_a_pending_challenge() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let response = ok(
            env.pay(&txn, "4000000000003220", Operation::Authorize, 5000)
                .await,
            "3ds",
        );
        let id = response.connector_transaction_id.expect("an id");
        let void = ok(env.follow(Operation::Void, &txn, 5000).await, "void");
        assert_eq!(
            (void.outcome, void.amount),
            (Outcome::Succeeded, Some(5000))
        );
        assert!(
            void.connector_transaction_id
                .expect("an id")
                .starts_with("sbx_op_")
        );
        assert!(matches!(
            env.sync(&txn, Operation::Authorize).await.outcome,
            Outcome::Declined { .. }
        ));
        assert!(env.sandbox.complete_challenge(&id, true).await.is_err());
        assert_invalid(env.follow(Operation::Void, &txn, 5000).await, "second void");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn async_card_settles_after_ten_seconds() {
    on_each_backend(|env| async move {
        let sale = new_id("txn");
        let response = ok(
            env.pay(&sale, "4000000000000077", Operation::Sale, 3000)
                .await,
            "async sale",
        );
        assert_eq!(response.outcome, Outcome::Pending);
        env.clock.advance_ms(ASYNC_APPROVAL_DELAY_MS - 1);
        assert_eq!(
            env.sync(&sale, Operation::Sale).await.outcome,
            Outcome::Pending
        );
        assert_invalid(
            env.follow(Operation::Refund, &sale, 100).await,
            "refund while pending",
        );
        env.clock.advance_ms(1);
        let synced = env.sync(&sale, Operation::Sale).await;
        assert_eq!(
            (synced.outcome, synced.amount),
            (Outcome::Succeeded, Some(3000))
        );
        assert_eq!(env.stored(&sale).await.status, "succeeded");
        ok(
            env.follow(Operation::Refund, &sale, 3000).await,
            "refund once settled",
        );

        // A due authorization settles on the follow-up too, without a sync.
        let hold = new_id("txn");
        assert_eq!(
            ok(
                env.pay(&hold, "4000000000000077", Operation::Authorize, 3000)
                    .await,
                "async hold"
            )
            .outcome,
            Outcome::Pending
        );
        env.clock.advance_ms(ASYNC_APPROVAL_DELAY_MS);
        ok(
            env.follow(Operation::Capture, &hold, 3000).await,
            "capture once due",
        );
        assert_eq!(
            env.sync(&hold, Operation::Authorize).await.outcome,
            Outcome::Succeeded
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn processor_error_card() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        for attempt in ["first", "repeat"] {
            match env
                .pay(&txn, "4000000000000119", Operation::Sale, 1000)
                .await
            {
                Err(ConnectorError::Provider {
                    http_code: Some(500),
                    ..
                }) => {}
                other => panic!("{attempt}: expected a 500, got {other:?}"),
            }
        }
        let synced = env.sync(&txn, Operation::Sale).await;
        assert!(
            declined("processing_error")(&synced.outcome),
            "{:?}",
            synced.outcome
        );
        assert_eq!(env.stored(&txn).await.status, "failed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_card_takes_the_money() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let call = env.pay(&txn, "4000000000006975", Operation::Sale, 4000);
        assert!(
            tokio::time::timeout(Duration::from_millis(200), call)
                .await
                .is_err(),
            "the call must time out"
        );
        let synced = env.sync(&txn, Operation::Sale).await;
        assert_eq!(
            (synced.outcome, synced.amount),
            (Outcome::Succeeded, Some(4000))
        );
        assert_eq!(env.stored(&txn).await.captured, 4000);
        // A retry with the same key answers at once with what happened.
        let retry = env.pay(&txn, "4000000000006975", Operation::Sale, 4000);
        let retry = tokio::time::timeout(Duration::from_millis(2000), retry)
            .await
            .expect("a replay answers at once");
        assert_eq!(ok(retry, "replay").outcome, Outcome::Succeeded);
    })
    .await;
}
