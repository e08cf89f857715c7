//! Follow-ups at the sandbox: capture, increment, void, reverse, refund,
//! repeats, concurrency and accounts.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn capture_and_increment_rules() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        ok(
            env.pay(&txn, "4242424242424242", Operation::Authorize, 10000)
                .await,
            "authorize",
        );
        assert_invalid(
            env.follow(Operation::Capture, &txn, 10001).await,
            "capture above authorized",
        );
        assert_invalid(
            env.follow(Operation::Capture, &txn, 0).await,
            "capture of nothing",
        );
        assert_invalid(
            env.follow(Operation::Reverse, &txn, 10000).await,
            "reverse of an authorization",
        );
        assert_invalid(
            env.follow(Operation::Refund, &txn, 100).await,
            "refund of an authorization",
        );
        assert_invalid(
            env.follow(Operation::IncrementAuthorization, &txn, 10000)
                .await,
            "increment to the same total",
        );
        let increment = ok(
            env.follow(Operation::IncrementAuthorization, &txn, 12000)
                .await,
            "increment",
        );
        assert_eq!(increment.amount, Some(12000));
        let capture = ok(env.follow(Operation::Capture, &txn, 11000).await, "capture");
        assert_eq!(capture.amount, Some(11000));
        assert_invalid(
            env.follow(Operation::Capture, &txn, 100).await,
            "second capture",
        );
        assert_invalid(
            env.follow(Operation::IncrementAuthorization, &txn, 13000)
                .await,
            "increment after capture",
        );
        assert_invalid(
            env.follow(Operation::Void, &txn, 0).await,
            "void after capture",
        );
        assert_invalid(
            env.follow(Operation::Refund, &txn, 11001).await,
            "refund above captured",
        );
        ok(
            env.follow(Operation::Refund, &txn, 5000).await,
            "partial refund",
        );
        ok(
            env.follow(Operation::Refund, &txn, 6000).await,
            "rest refunded",
        );
        assert_invalid(
            env.follow(Operation::Refund, &txn, 1).await,
            "refund beyond captured",
        );
        let stored = env.stored(&txn).await;
        assert_eq!(
            (stored.authorized, stored.captured, stored.refunded),
            (12000, 11000, 11000)
        );

        let sale = new_id("txn");
        ok(
            env.pay(&sale, "4242424242424242", Operation::Sale, 1000)
                .await,
            "sale",
        );
        assert_invalid(
            env.follow(Operation::Capture, &sale, 1000).await,
            "capture of a sale",
        );
        let mut usd = follow_up_request(ACCOUNT, &new_id("txn"), &sale, 100);
        usd.amount.currency = Currency::parse("USD").expect("USD is known");
        assert_invalid(env.sandbox.refund(usd).await, "refund in another currency");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn void_and_reverse_rules() {
    on_each_backend(|env| async move {
        let hold = new_id("txn");
        ok(
            env.pay(&hold, "5555555555554444", Operation::Authorize, 10000)
                .await,
            "authorize",
        );
        let void = ok(env.follow(Operation::Void, &hold, 10000).await, "void");
        assert_eq!(void.amount, Some(10000));
        assert_invalid(
            env.follow(Operation::Void, &hold, 10000).await,
            "double void",
        );
        assert_invalid(
            env.follow(Operation::Capture, &hold, 100).await,
            "capture after void",
        );
        assert_eq!(
            env.sync(&hold, Operation::Authorize).await.outcome,
            Outcome::Succeeded
        );

        let sale = new_id("txn");
        ok(
            env.pay(&sale, "4242424242424242", Operation::Sale, 7000)
                .await,
            "sale",
        );
        let reverse = ok(env.follow(Operation::Reverse, &sale, 7000).await, "reverse");
        assert_eq!(reverse.amount, Some(7000));
        assert_invalid(
            env.follow(Operation::Reverse, &sale, 7000).await,
            "second reverse",
        );
        assert_invalid(
            env.follow(Operation::Refund, &sale, 100).await,
            "refund after reverse",
        );

        let refunded = new_id("txn");
        ok(
            env.pay(&refunded, "4242424242424242", Operation::Sale, 7000)
                .await,
            "sale",
        );
        ok(
            env.follow(Operation::Refund, &refunded, 1000).await,
            "refund",
        );
        assert_invalid(
            env.follow(Operation::Reverse, &refunded, 7000).await,
            "reverse after refund",
        );
        assert_eq!(env.stored(&refunded).await.state, "captured");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeats_are_idempotent() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let first = ok(
            env.pay(&txn, "4242424242424242", Operation::Sale, 5000)
                .await,
            "sale",
        );
        let again = ok(
            env.pay(&txn, "4242424242424242", Operation::Sale, 5000)
                .await,
            "repeat",
        );
        assert_eq!(
            first.connector_transaction_id,
            again.connector_transaction_id
        );
        let payment_id = first.connector_transaction_id.expect("an id");
        let refund_txn = new_id("txn");
        let refund = ok(
            env.follow_with(Operation::Refund, &refund_txn, &txn, 1000)
                .await,
            "refund",
        );
        let repeat = ok(
            env.follow_with(Operation::Refund, &refund_txn, &txn, 1000)
                .await,
            "repeat",
        );
        assert_eq!(
            refund.connector_transaction_id,
            repeat.connector_transaction_id
        );
        assert_eq!(env.stored(&txn).await.refunded, 1000);
        assert_invalid(
            env.follow_with(Operation::Reverse, &refund_txn, &txn, 0)
                .await,
            "the key of a refund reused",
        );
        let synced = env.sync(&refund_txn, Operation::Refund).await;
        assert_eq!(
            (synced.outcome, synced.amount),
            (Outcome::Succeeded, Some(1000))
        );
        assert_eq!(
            synced.connector_transaction_id,
            refund.connector_transaction_id
        );
        assert_eq!(
            env.sync("txn_never_seen", Operation::Refund).await.outcome,
            Outcome::NotFound
        );
        assert_eq!(
            env.sync("txn_never_seen", Operation::Sale).await.outcome,
            Outcome::NotFound
        );

        // The same keys in parallel: still one payment, one refund.
        let parallel = new_id("txn");
        let calls = (0..10).map(|_| {
            let env = env.clone();
            let parallel = parallel.clone();
            tokio::spawn(async move {
                env.pay(&parallel, "4242424242424242", Operation::Sale, 5000)
                    .await
            })
        });
        let mut ids = Vec::new();
        for call in calls.collect::<Vec<_>>() {
            ids.push(ok(call.await.expect("task"), "parallel sale").connector_transaction_id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1);
        let refund_txn = new_id("txn");
        let calls: Vec<_> = (0..10)
            .map(|_| {
                let env = env.clone();
                let (refund_txn, parallel) = (refund_txn.clone(), parallel.clone());
                tokio::spawn(async move {
                    env.follow_with(Operation::Refund, &refund_txn, &parallel, 700)
                        .await
                })
            })
            .collect();
        for call in calls {
            ok(call.await.expect("task"), "parallel refund repeat");
        }
        assert_eq!(env.stored(&parallel).await.refunded, 700);
        let payment = env.stored(&parallel).await.id;
        assert_eq!(
            env.count(
                "SELECT COUNT(*) FROM sandbox_operations WHERE payment_id = $1",
                &payment
            )
            .await,
            1
        );
        assert_eq!(
            env.count(
                "SELECT COUNT(*) FROM sandbox_operations WHERE payment_id = $1",
                &payment_id
            )
            .await,
            1
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refunds_never_exceed_the_capture() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        ok(
            env.pay(&txn, "4242424242424242", Operation::Sale, 10000)
                .await,
            "sale",
        );
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let (env, txn) = (env.clone(), txn.clone());
                tokio::spawn(async move { env.follow(Operation::Refund, &txn, 1000).await })
            })
            .collect();
        let (mut succeeded, mut refused) = (0, 0);
        for call in calls {
            match call.await.expect("task") {
                Ok(response) if response.outcome == Outcome::Succeeded => succeeded += 1,
                Err(ConnectorError::Invalid(_)) => refused += 1,
                other => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!((succeeded, refused), (10, 10));
        let stored = env.stored(&txn).await;
        assert_eq!(stored.refunded, 10000);
        assert_eq!(
            env.count(
                "SELECT COUNT(*) FROM sandbox_operations WHERE payment_id = $1",
                &stored.id
            )
            .await,
            10
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_are_isolated_and_ids_work_too() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let sale = ok(
            env.pay(&txn, "4242424242424242", Operation::Sale, 2000)
                .await,
            "sale",
        );
        let other = follow_up_request("cna_other", &new_id("txn"), &txn, 100);
        assert_invalid(env.sandbox.refund(other).await, "another account's payment");
        let sync = env.sandbox.sync(SyncRequest {
            account: account("cna_other"),
            transaction_id: txn.as_str().into(),
            operation: Operation::Sale,
            connector_transaction_id: None,
            payment_connector_transaction_id: None,
            amount: None,
        });
        assert_eq!(sync.await.expect("sync").outcome, Outcome::NotFound);
        let mut by_id = follow_up_request(ACCOUNT, &new_id("txn"), "txn_not_the_key", 500);
        by_id.connector_payment_id = sale.connector_transaction_id;
        assert_eq!(
            ok(env.sandbox.refund(by_id).await, "refund by sandbox id").amount,
            Some(500)
        );
    })
    .await;
}
