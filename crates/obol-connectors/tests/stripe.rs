//! The Stripe connector against localstripe (a stateful fake of Stripe's
//! API from PyPI), one process per test on a free port, behind a proxy that
//! adds Stripe's idempotency keys and can lose an answer
//! (tests/support/localstripe.rs). Where localstripe differs from Stripe
//! (its test cards decline at other steps and without a `decline_code`),
//! the assertions follow localstripe and say so; the mapping of Stripe's
//! own answers is unit-tested in src/stripe.

#[path = "support/localstripe.rs"]
mod localstripe;

use localstripe::{Fault, LocalStripe, Recorded, SECRET_KEY};
use obol_connectors::stripe::{EventOutcome, Stripe, WebhookError, verify_webhook};
use obol_connectors::{
    AccountContext, AuthorizeRequest, Connector, ConnectorError, ConnectorResponse, CustomerRef,
    FollowUpRequest, Instrument, Operation, Outcome, StoredMandate, SyncRequest,
};
use obol_core::card::parse_card;
use obol_core::{ConnectorAccountId, Currency, Money, Timestamp, new_id};
use serde_json::{Value, json};

const OBOL_URL: &str = "https://obol.test";
const WEBHOOK_SECRET: &str = "whsec_test_obol";
const RETURN_URL: &str = "https://obol.test/checkout/return?sig=abc";
const NOW: &str = "2026-11-23T10:00:00Z";

const VISA: &str = "4242424242424242";
/// localstripe: attaches (a setup succeeds), then declines every charge.
const DECLINES_CHARGES: &str = "4000000000000341";
/// localstripe: declines when attached (a setup); a plain charge succeeds.
const DECLINES_SETUPS: &str = "4000000000009995";
/// localstripe: every confirm asks for 3-D Secure.
const CHALLENGE: &str = "4000000000003220";

/// One test's localstripe and a connector pointed at it.
struct World {
    stripe: LocalStripe,
    connector: Stripe,
    account: AccountContext,
}

impl World {
    async fn start() -> World {
        let stripe = LocalStripe::start().await;
        let connector = Stripe::new(localstripe::http_client(), format!("{OBOL_URL}/"));
        let account = account(json!({
            "secret_key": SECRET_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "api_base": stripe.api_base(),
        }));
        World {
            stripe,
            connector,
            account,
        }
    }

    fn payment(
        &self,
        txn: &str,
        instrument: Instrument,
        operation: Operation,
        amount: i64,
    ) -> AuthorizeRequest {
        AuthorizeRequest {
            account: self.account.clone(),
            transaction_id: txn.into(),
            // The same for every call of a transaction, as in Obol.
            order_id: format!("ord_of_{txn}").into(),
            amount: eur(amount),
            operation,
            instrument,
            setup_mandate: false,
            return_url: RETURN_URL.to_owned(),
            customer: None,
        }
    }

    /// A payment of `amount` with the card `number`, under a new transaction id.
    async fn pay(
        &self,
        number: &str,
        operation: Operation,
        amount: i64,
    ) -> (String, ConnectorResponse) {
        let txn = new_id("txn");
        let request = self.payment(&txn, card(number), operation, amount);
        let response = ok(self.connector.authorize(request).await, "payment");
        (txn, response)
    }

    fn follow_up(&self, payment_txn: &str, intent_id: &str, amount: i64) -> FollowUpRequest {
        FollowUpRequest {
            account: self.account.clone(),
            transaction_id: new_id("txn").into(),
            payment_transaction_id: payment_txn.into(),
            connector_payment_id: Some(intent_id.to_owned()),
            amount: eur(amount),
        }
    }

    async fn sync(
        &self,
        txn: &str,
        operation: Operation,
        connector_id: Option<&str>,
    ) -> ConnectorResponse {
        let request = SyncRequest {
            account: self.account.clone(),
            transaction_id: txn.into(),
            operation,
            connector_transaction_id: connector_id.map(str::to_owned),
            payment_connector_transaction_id: None,
            amount: None,
        };
        ok(self.connector.sync(request).await, "sync")
    }

    async fn intent(&self, id: &str) -> Value {
        self.stripe.get(&format!("/v1/payment_intents/{id}")).await
    }

    /// The intents localstripe holds for Obol's transaction `txn`.
    async fn intents_of(&self, txn: &str) -> Vec<Value> {
        let all = self.stripe.list("/v1/payment_intents").await;
        all.into_iter()
            .filter(|intent| intent["metadata"]["obol_transaction_id"] == txn)
            .collect()
    }

    /// The recorded requests to `path` (no query).
    fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.stripe
            .recorded()
            .into_iter()
            .filter(|r| r.method == method && r.path.split('?').next() == Some(path))
            .collect()
    }
}

fn account(credentials: Value) -> AccountContext {
    AccountContext {
        account_id: ConnectorAccountId::from("cna_stripe_test"),
        credentials,
    }
}

fn eur(amount_minor: i64) -> Money {
    Money {
        amount_minor,
        currency: Currency::parse("EUR").expect("known"),
    }
}

fn card(number: &str) -> Instrument {
    let now = Timestamp::parse_rfc3339(NOW).expect("valid");
    let card =
        parse_card(number, 12, 2030, Some("123"), Some("A B"), now).expect("test cards are valid");
    Instrument::Card(card)
}

fn ok(result: Result<ConnectorResponse, ConnectorError>, what: &str) -> ConnectorResponse {
    result.unwrap_or_else(|error| panic!("{what}: {error}"))
}

fn id_of(response: &ConnectorResponse) -> String {
    response
        .connector_transaction_id
        .clone()
        .expect("Stripe's id in the answer")
}

fn declined(code: &str) -> impl Fn(&Outcome) -> bool + '_ {
    move |outcome| matches!(outcome, Outcome::Declined { code: got, .. } if got == code)
}

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

#[tokio::test]
async fn a_mandate_is_set_up_then_charged_off_session_twice() {
    let world = World::start().await;
    let txn = new_id("txn");
    let mut verify = world.payment(&txn, card(VISA), Operation::Verify, 0);
    verify.setup_mandate = true;
    verify.customer = Some(CustomerRef {
        id: "cus_obol_1".into(),
        email: Some("ada@example.com".into()),
    });
    let verified = ok(world.connector.authorize(verify).await, "verify");
    assert_eq!(
        (verified.outcome.clone(), verified.amount),
        (Outcome::Succeeded, Some(0))
    );
    assert!(id_of(&verified).starts_with("seti_"));
    let mandate = verified.mandate.clone().expect("a mandate");
    let (customer_id, payment_method_id) = mandate.token.split_once('/').expect("cus/pm");
    assert!(
        customer_id.starts_with("cus_") && payment_method_id.starts_with("pm_"),
        "{mandate:?}"
    );
    assert_eq!(
        mandate,
        StoredMandate {
            token: mandate.token.clone(),
            card_brand: "visa".into(),
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2030,
        }
    );
    let customer = world
        .stripe
        .get(&format!("/v1/customers/{customer_id}"))
        .await;
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["metadata"]["obol_customer_id"], "cus_obol_1");
    // A lost verify is found by its transaction id, mandate and all.
    let synced = world.sync(&txn, Operation::Verify, None).await;
    assert_eq!(
        (synced.outcome, synced.mandate),
        (Outcome::Succeeded, Some(mandate.clone()))
    );

    for amount in [1000, 2000] {
        let txn = new_id("txn");
        let instrument = Instrument::Mandate {
            token: mandate.token.clone(),
        };
        let charged = ok(
            world
                .connector
                .authorize(world.payment(&txn, instrument, Operation::Sale, amount))
                .await,
            "charge",
        );
        assert_eq!(
            (charged.outcome.clone(), charged.amount),
            (Outcome::Succeeded, Some(amount))
        );
        let intent = world.intent(&id_of(&charged)).await;
        assert_eq!(
            (intent["status"].as_str(), intent["customer"].as_str()),
            (Some("succeeded"), Some(customer_id))
        );
        assert_eq!(intent["payment_method"], payment_method_id);
    }
    let charges = world.requests_to("POST", "/v1/payment_intents");
    assert_eq!(charges.len(), 2);
    assert!(
        charges
            .iter()
            .all(|c| c.param("off_session").as_deref() == Some("true"))
    );
    let with_number = world
        .stripe
        .recorded()
        .into_iter()
        .filter(|r| r.body.contains(VISA))
        .count();
    assert_eq!(with_number, 1);

    // Renewals that fail: set up fine, declined on every charge.
    let txn = new_id("txn");
    let mut verify = world.payment(&txn, card(DECLINES_CHARGES), Operation::Verify, 0);
    verify.setup_mandate = true;
    let verified = ok(world.connector.authorize(verify).await, "verify");
    let token = verified.mandate.expect("a mandate").token;
    let instrument = Instrument::Mandate { token };
    let renewal = ok(
        world
            .connector
            .authorize(world.payment(&new_id("txn"), instrument, Operation::Sale, 1000))
            .await,
        "renewal",
    );
    assert!(declined("generic_decline")(&renewal.outcome), "{renewal:?}");
}

#[tokio::test]
async fn a_sale_can_keep_its_card_as_a_mandate() {
    let world = World::start().await;
    let txn = new_id("txn");
    let mut sale = world.payment(&txn, card(VISA), Operation::Sale, 1500);
    sale.setup_mandate = true;
    let paid = ok(world.connector.authorize(sale).await, "sale");
    assert_eq!(paid.outcome, Outcome::Succeeded);
    let mandate = paid.mandate.expect("a mandate");
    let create = &world.requests_to("POST", "/v1/payment_intents")[0];
    assert_eq!(
        create.param("setup_future_usage").as_deref(),
        Some("off_session")
    );
    assert_eq!(
        create.param("customer").as_deref(),
        mandate.token.split('/').next()
    );
    let synced = world.sync(&txn, Operation::Sale, None).await;
    assert_eq!(synced.mandate, Some(mandate.clone()));

    let instrument = Instrument::Mandate {
        token: mandate.token,
    };
    let renewal = ok(
        world
            .connector
            .authorize(world.payment(&new_id("txn"), instrument, Operation::Sale, 1500))
            .await,
        "renewal",
    );
    assert_eq!(renewal.outcome, Outcome::Succeeded);
}

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
