//! The Stripe connector against localstripe (a stateful fake of Stripe's
//! API from PyPI), one process per test on a free port, behind a proxy that
//! adds Stripe's idempotency keys and can lose an answer
//! (tests/support/localstripe.rs). Where localstripe differs from Stripe
//! (its test cards decline at other steps and without a `decline_code`),
//! the assertions follow localstripe and say so; the mapping of Stripe's
//! own answers is unit-tested in src/stripe.

#[path = "../support/localstripe.rs"]
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

mod mandates;
mod payments;
mod recovery;
mod webhooks;
