//! Mandates at the sandbox: kept by a payment made with `setup_mandate`,
//! given in its answers once it succeeded, charged by token with no card.

use super::*;

impl Env {
    /// A payment with `number` that sets up a mandate.
    async fn set_up(
        &self,
        transaction_id: &str,
        number: &str,
        operation: Operation,
        amount: i64,
    ) -> Result<ConnectorResponse, ConnectorError> {
        let mut request = authorize_request(transaction_id, number, operation, amount, self.now());
        request.setup_mandate = true;
        self.sandbox.authorize(request).await
    }

    /// A charge of the mandate `token` on `account_id`.
    async fn charge(
        &self,
        account_id: &str,
        transaction_id: &str,
        token: &str,
        amount: i64,
    ) -> Result<ConnectorResponse, ConnectorError> {
        let mut request = authorize_request(
            transaction_id,
            "4242424242424242",
            Operation::Sale,
            amount,
            self.now(),
        );
        request.account = account(account_id);
        request.instrument = Instrument::Mandate {
            token: token.to_owned(),
        };
        self.sandbox.authorize(request).await
    }
}

/// The mandate of an answer that must carry one.
#[track_caller]
fn mandate_of(response: &ConnectorResponse) -> obol_connectors::StoredMandate {
    response
        .mandate
        .clone()
        .unwrap_or_else(|| panic!("no mandate in {response:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verification_sets_up_a_mandate_that_pays_by_token() {
    on_each_backend(|env| async move {
        let setup = new_id("txn");
        let response = ok(
            env.set_up(&setup, "4242424242424242", Operation::Verify, 0)
                .await,
            "setup",
        );
        assert_eq!(response.outcome, Outcome::Succeeded);
        let mandate = mandate_of(&response);
        assert!(mandate.token.starts_with("sbx_mdt_"), "{}", mandate.token);
        assert_eq!(
            (
                mandate.card_brand.as_str(),
                mandate.last4.as_str(),
                mandate.exp_month,
                mandate.exp_year
            ),
            ("visa", "4242", 12, 2030)
        );
        assert_eq!(
            mandate_of(&env.sync(&setup, Operation::Verify).await),
            mandate
        );
        // A repeated call answers with the same mandate, and keeps one.
        let again = ok(
            env.set_up(&setup, "4242424242424242", Operation::Verify, 0)
                .await,
            "repeat",
        );
        assert_eq!(mandate_of(&again), mandate);
        let kept = env
            .count(
                "SELECT COUNT(*) FROM sandbox_mandates WHERE token = $1 \
                 AND card_last4 = '4242' AND charge_decline_code IS NULL",
                &mandate.token,
            )
            .await;
        assert_eq!(kept, 1);

        let charge = new_id("txn");
        let paid = ok(
            env.charge(ACCOUNT, &charge, &mandate.token, 1500).await,
            "charge",
        );
        assert_eq!(
            (paid.outcome, paid.amount),
            (Outcome::Succeeded, Some(1500))
        );
        assert_eq!(paid.mandate, None);
        let stored = env.stored(&charge).await;
        assert_eq!(
            (
                stored.state.as_str(),
                stored.captured,
                stored.card_last4.as_str()
            ),
            ("captured", 1500, "4242")
        );
        let repeat = ok(
            env.charge(ACCOUNT, &charge, &mandate.token, 1500).await,
            "repeat",
        );
        assert_eq!(
            repeat.connector_transaction_id,
            paid.connector_transaction_id
        );

        // A payment without setup_mandate leaves none.
        let plain = new_id("txn");
        let response = ok(
            env.pay(&plain, "4242424242424242", Operation::Sale, 100)
                .await,
            "plain",
        );
        assert_eq!(response.mandate, None);
        assert_eq!(env.sync(&plain, Operation::Sale).await.mandate, None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_succeeded_setup_leaves_a_usable_mandate() {
    on_each_backend(|env| async move {
        let declined_setup = new_id("txn");
        let response = ok(
            env.set_up(&declined_setup, "4000000000000002", Operation::Verify, 0)
                .await,
            "declined",
        );
        assert!(declined("generic_decline")(&response.outcome));
        assert_eq!(response.mandate, None);
        let rows = env
            .count(
                "SELECT COUNT(*) FROM sandbox_mandates WHERE transaction_id = $1",
                &declined_setup,
            )
            .await;
        assert_eq!(rows, 0);

        // 3-D Secure: the mandate comes with the challenge's success.
        let secure = new_id("txn");
        let response = ok(
            env.set_up(&secure, "4000000000003220", Operation::Verify, 0)
                .await,
            "3ds",
        );
        assert!(matches!(response.outcome, Outcome::RequiresAction { .. }));
        assert_eq!(response.mandate, None);
        let pending = env.sync(&secure, Operation::Verify).await;
        assert_eq!(pending.mandate, None);
        let token: String = {
            let mut conn = env.db.pool.acquire().await.expect("connection");
            obol_store::sql::query_scalar(
                "SELECT token FROM sandbox_mandates WHERE transaction_id = $1",
            )
            .bind(secure.as_str())
            .fetch_one(&mut conn)
            .await
            .expect("kept while the challenge is open")
        };
        assert_invalid(
            env.charge(ACCOUNT, &new_id("txn"), &token, 100).await,
            "a charge before the challenge",
        );
        let id = response.connector_transaction_id.expect("an id");
        env.sandbox
            .complete_challenge(&id, true)
            .await
            .expect("challenge passed");
        let mandate = mandate_of(&env.sync(&secure, Operation::Verify).await);
        assert_eq!(mandate.token, token);
        let charge = ok(
            env.charge(ACCOUNT, &new_id("txn"), &token, 100).await,
            "charge",
        );
        assert_eq!(charge.outcome, Outcome::Succeeded);

        // Asynchronous approval: the mandate comes once it settles.
        let slow = new_id("txn");
        let response = ok(
            env.set_up(&slow, "4000000000000077", Operation::Sale, 800)
                .await,
            "async",
        );
        assert_eq!(
            (response.outcome, response.mandate),
            (Outcome::Pending, None)
        );
        env.clock.advance_ms(ASYNC_APPROVAL_DELAY_MS);
        let settled = env.sync(&slow, Operation::Sale).await;
        assert_eq!(settled.outcome, Outcome::Succeeded);
        let mandate = mandate_of(&settled);
        // Its notification carries the mandate too; a failed one carries none.
        let payment_id = settled.connector_transaction_id.expect("an id");
        let told = env.notification(&payment_id).await;
        assert_eq!(
            (told.outcome, told.mandate),
            (Outcome::Succeeded, Some(mandate))
        );
        let declined_id = env.stored(&declined_setup).await.id;
        assert_eq!(env.notification(&declined_id).await.mandate, None);

        // Unknown tokens, and another account's, pay nothing.
        assert_invalid(
            env.charge(ACCOUNT, &new_id("txn"), "sbx_mdt_unknown", 100)
                .await,
            "an unknown token",
        );
        assert_invalid(
            env.charge("cna_other", &new_id("txn"), &token, 100).await,
            "another account's token",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_only_card_declines_every_charge() {
    on_each_backend(|env| async move {
        let setup = new_id("txn");
        let response = ok(
            env.set_up(&setup, "4000000000000341", Operation::Verify, 0)
                .await,
            "setup",
        );
        assert_eq!(response.outcome, Outcome::Succeeded);
        let mandate = mandate_of(&response);
        assert_eq!(mandate.last4, "0341");
        for _ in 0..2 {
            let charge = new_id("txn");
            let answer = ok(
                env.charge(ACCOUNT, &charge, &mandate.token, 1500).await,
                "charge",
            );
            assert!(declined("generic_decline")(&answer.outcome), "{answer:?}");
            assert_eq!(env.stored(&charge).await.captured, 0);
        }
        for operation in [Operation::Sale, Operation::Authorize] {
            let direct = ok(
                env.pay(&new_id("txn"), "4000000000000341", operation, 1500)
                    .await,
                "direct",
            );
            assert!(
                declined("generic_decline")(&direct.outcome),
                "{operation:?}"
            );
        }
        let by_sale = ok(
            env.set_up(&new_id("txn"), "4000000000000341", Operation::Sale, 1500)
                .await,
            "setup by sale",
        );
        assert!(declined("generic_decline")(&by_sale.outcome));
        assert_eq!(by_sale.mandate, None);
    })
    .await;
}
