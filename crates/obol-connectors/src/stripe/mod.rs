//! The Stripe connector: Obol's operations over Stripe's HTTP API
//! (PaymentMethods, PaymentIntents, SetupIntents, Customers, Refunds), in
//! Stripe's form encoding, under one pinned API version.
//!
//! Obol's transaction id is the `Idempotency-Key` of every call that makes
//! something (a sub-call's key is suffixed: `-customer`, `-payment-method`,
//! `-confirm`), with the same parameters on a retry, so that Stripe answers
//! a repeated call as it answered the first; it also sits in the metadata of
//! what the call makes, so that a sync finds an object whose answer was
//! lost. A card's number and CVC go in one request, its PaymentMethod, and
//! nowhere else: calls are logged by path and status only.

mod client;
mod transformers;
pub mod webhook;

pub use client::webhook_secret;
pub use transformers::{TRANSACTION_METADATA, from_stripe_amount, to_stripe_amount};
pub use webhook::{
    EventOutcome, SIGNATURE_TOLERANCE_SECONDS, StripeEvent, WebhookError, verify_webhook,
};

use crate::{
    AccountContext, AuthorizeRequest, Capabilities, Connector, ConnectorError, ConnectorResponse,
    ConnectorResult, CredentialKeys, FollowUpRequest, Instrument, Notice, NotificationError,
    Operation, Outcome, SyncRequest,
};
use async_trait::async_trait;
use client::{
    Answer, Api, Credentials, Failure, answer, locate, locate_refund, path_id, retrieve, sub_key,
};
use obol_core::card::CardDetails;
use transformers::{
    ApiError, Form, Identified, MANDATE_METADATA, PaymentIntent, PaymentMethod, Refund,
    SetupIntent, Tagged, declined, follow_up_outcome, intent_form, mandate_of, mandate_of_card,
    mandate_token, money_of, parse_mandate_token, payment_outcome, refund_outcome, setup_outcome,
};

/// Stripe's API origin, unless an account's `api_base` replaces it.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

pub use crate::UrlGuard;

/// The Stripe connector.
pub struct Stripe {
    client: reqwest::Client,
    /// Obol's public URL: the page running a challenge Stripe leaves to
    /// Stripe.js (`use_stripe_sdk`) lives under it.
    challenge_base_url: String,
    url_guard: Option<UrlGuard>,
}

impl Stripe {
    /// A connector calling Stripe with `client` (whose timeout bounds every
    /// call); challenge pages are linked under `challenge_base_url`.
    pub fn new(client: reqwest::Client, challenge_base_url: String) -> Stripe {
        let challenge_base_url = challenge_base_url.trim_end_matches('/').to_owned();
        Stripe {
            client,
            challenge_base_url,
            url_guard: None,
        }
    }

    /// Checks every account's `api_base` with `guard` before calling it.
    pub fn with_url_guard(mut self, guard: UrlGuard) -> Stripe {
        self.url_guard = Some(guard);
        self
    }

    /// Obol's page for a challenge Stripe answered with `use_stripe_sdk`
    /// and no page of its own.
    pub fn challenge_page(&self, account: &AccountContext, intent_id: &str) -> String {
        format!(
            "{}/stripe/challenge/{}/{intent_id}",
            self.challenge_base_url, account.account_id
        )
    }

    /// Checks an account's credentials with a cheap authenticated call (its
    /// balance), as a connector account is created: a wrong key is refused
    /// then, not at the account's first payment.
    pub async fn check_credentials(&self, account: &AccountContext) -> Result<(), ConnectorError> {
        let api = self.api(account)?;
        api.get::<serde_json::Value>("/v1/balance", &Form::new())
            .await
            .map(|_| ())
            .map_err(Failure::into_error)
    }

    /// The account's view of Stripe: its origin and secret key.
    fn api(&self, account: &AccountContext) -> Result<Api<'_>, ConnectorError> {
        let credentials = Credentials::of(account)?;
        let api_base = credentials.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        Ok(Api {
            client: &self.client,
            origin: self.origin(api_base)?,
            secret_key: credentials.secret_key,
        })
    }

    /// `api_base` as an origin (`https://host:port`), checked.
    fn origin(&self, api_base: &str) -> Result<String, ConnectorError> {
        crate::origin::checked_origin(api_base, self.url_guard.as_ref())
    }

    /// An authorize, sale or verify.
    async fn pay(&self, request: &AuthorizeRequest) -> ConnectorResult {
        check_payment_amount(request)?;
        let api = self.api(&request.account)?;
        match &request.instrument {
            Instrument::Card(card) if request.operation == Operation::Verify => {
                self.verify(&api, request, card).await
            }
            Instrument::Card(card) => self.charge_card(&api, request, card).await,
            Instrument::Mandate { .. } if request.operation == Operation::Verify => Err(
                ConnectorError::Invalid("a mandate is verified already: charge it".into()),
            ),
            Instrument::Mandate { token } => self.charge_mandate(&api, request, token).await,
            Instrument::Crypto => Err(ConnectorError::Invalid(
                "Stripe takes card payments only".into(),
            )),
        }
    }

    /// A PaymentIntent confirmed with a new card; with `setup_mandate`, for
    /// a new Stripe Customer, kept for charges off session.
    async fn charge_card(
        &self,
        api: &Api<'_>,
        request: &AuthorizeRequest,
        card: &CardDetails,
    ) -> ConnectorResult {
        let amount = to_stripe_amount(request.amount)?;
        let sent = match CardAtStripe::send(api, request, card).await? {
            Answer::Made(sent) => sent,
            Answer::Refused(error) => return Ok(declined_response(&error, None)),
        };
        let form = intent_form(request, amount)
            .with("payment_method", &sent.payment_method.id)
            .with("return_url", &request.return_url);
        let form = sent.for_mandate(form, "setup_future_usage");
        let mut response = self.create_intent(api, request, &form).await?;
        sent.keep_mandate(&mut response, card);
        Ok(response)
    }

    /// A PaymentIntent charged off session on a mandate's customer and card.
    async fn charge_mandate(
        &self,
        api: &Api<'_>,
        request: &AuthorizeRequest,
        token: &str,
    ) -> ConnectorResult {
        let (customer, payment_method) = parse_mandate_token(token)?;
        let form = intent_form(request, to_stripe_amount(request.amount)?)
            .with("customer", customer)
            .with("payment_method", payment_method)
            .with("off_session", "true");
        self.create_intent(api, request, &form).await
    }

    /// Creates (and confirms) the PaymentIntent of `form`; a card refusal
    /// is the decline it is.
    async fn create_intent(
        &self,
        api: &Api<'_>,
        request: &AuthorizeRequest,
        form: &Form,
    ) -> ConnectorResult {
        let created = api
            .post::<PaymentIntent>("/v1/payment_intents", form, &request.transaction_id)
            .await;
        match answer(created)? {
            Answer::Made(intent) => self.intent_response(&request.account, &intent),
            Answer::Refused(error) => {
                let intent_id = error
                    .payment_intent
                    .as_ref()
                    .map(|intent| intent.id.clone());
                Ok(declined_response(&error, intent_id))
            }
        }
    }

    /// A zero-amount check of a card: a SetupIntent, confirmed with it;
    /// with `setup_mandate`, for a new Stripe Customer, kept off session.
    async fn verify(
        &self,
        api: &Api<'_>,
        request: &AuthorizeRequest,
        card: &CardDetails,
    ) -> ConnectorResult {
        let sent = match CardAtStripe::send(api, request, card).await? {
            Answer::Made(sent) => sent,
            Answer::Refused(error) => return Ok(declined_response(&error, None)),
        };
        let txn = request.transaction_id.as_str();
        let form = Form::new()
            .with("payment_method_types[0]", "card")
            .with(&format!("metadata[{TRANSACTION_METADATA}]"), txn)
            .with("metadata[obol_order_id]", &request.order_id);
        let form = sent.for_mandate(form, "usage");
        let created: SetupIntent = api
            .post("/v1/setup_intents", &form, txn)
            .await
            .map_err(Failure::into_error)?;
        // Confirmed apart from its creation: localstripe takes no
        // `payment_method` at creation; Stripe takes both ways.
        let confirm = Form::new()
            .with("payment_method", &sent.payment_method.id)
            .with("return_url", &request.return_url);
        let path = format!("/v1/setup_intents/{}/confirm", path_id(&created.id)?);
        let confirmed = api.post(&path, &confirm, &sub_key(txn, "confirm")).await;
        let intent: SetupIntent = match answer(confirmed)? {
            Answer::Made(intent) => intent,
            Answer::Refused(error) => return Ok(declined_response(&error, Some(created.id))),
        };
        let mut response = self.setup_response(&request.account, &intent);
        sent.keep_mandate(&mut response, card);
        Ok(response)
    }

    /// A capture or a void: one call on the payment's intent.
    async fn intent_follow_up(
        &self,
        request: &FollowUpRequest,
        operation: Operation,
    ) -> ConnectorResult {
        let api = self.api(&request.account)?;
        let intent_id = payment_id(request)?;
        let (path, form) = match operation {
            Operation::Capture => {
                let amount = positive_amount(request, operation)?;
                let path = format!("/v1/payment_intents/{intent_id}/capture");
                (path, Form::new().with("amount_to_capture", amount))
            }
            _ => (
                format!("/v1/payment_intents/{intent_id}/cancel"),
                Form::new(),
            ),
        };
        let intent = match answer(
            api.post::<PaymentIntent>(&path, &form, &request.transaction_id)
                .await,
        )? {
            Answer::Made(intent) => intent,
            Answer::Refused(error) => {
                return Ok(declined_response(&error, Some(intent_id.to_owned())));
            }
        };
        let outcome = follow_up_outcome(&intent, operation);
        if outcome == Outcome::NotFound {
            return Err(ConnectorError::Provider {
                http_code: Some(200),
                message: format!(
                    "Stripe answered the {} with the intent {}",
                    operation.as_str(),
                    intent.status
                ),
            });
        }
        let amount = match (operation, intent.amount_received) {
            (Operation::Capture, Some(received)) => {
                money_of(received, &intent.currency)?.amount_minor
            }
            _ => request.amount.amount_minor,
        };
        Ok(answered(outcome, intent.id, Some(amount)))
    }

    /// A refund, or a reverse (Stripe cannot void a capture: a full refund).
    async fn refund_payment(
        &self,
        request: &FollowUpRequest,
        operation: Operation,
    ) -> ConnectorResult {
        let api = self.api(&request.account)?;
        let intent_id = payment_id(request)?;
        let amount = match operation {
            Operation::Refund => Some(positive_amount(request, operation)?),
            // A reverse without an amount refunds whatever is left.
            _ if request.amount.amount_minor == 0 => None,
            _ => Some(positive_amount(request, operation)?),
        };
        let form = Form::new()
            .with("payment_intent", intent_id)
            .with_some("amount", amount)
            .with(
                &format!("metadata[{TRANSACTION_METADATA}]"),
                &request.transaction_id,
            )
            .with(
                "metadata[obol_payment_transaction_id]",
                &request.payment_transaction_id,
            )
            .with("metadata[obol_operation]", operation.as_str());
        match answer(
            api.post::<Refund>("/v1/refunds", &form, &request.transaction_id)
                .await,
        )? {
            Answer::Made(refund) => refund_response(&refund),
            Answer::Refused(error) => Ok(declined_response(&error, None)),
        }
    }

    /// What became of an authorize or sale.
    async fn sync_payment(&self, api: &Api<'_>, request: &SyncRequest) -> ConnectorResult {
        let path = "/v1/payment_intents";
        let Some(id) = locate::<PaymentIntent>(api, path, request, true).await? else {
            return Ok(not_found());
        };
        let expand = Form::new().with("expand[]", "payment_method");
        let Some(intent) = retrieve::<PaymentIntent>(api, path, &id, &expand).await? else {
            return Ok(not_found());
        };
        let mut response = self.intent_response(&request.account, &intent)?;
        if response.outcome == Outcome::Succeeded && intent.keeps_mandate() {
            response.mandate = mandate_of(intent.customer.as_ref(), intent.payment_method.as_ref());
        }
        Ok(response)
    }

    /// What became of a verify.
    async fn sync_setup(&self, api: &Api<'_>, request: &SyncRequest) -> ConnectorResult {
        let path = "/v1/setup_intents";
        let Some(id) = locate::<SetupIntent>(api, path, request, false).await? else {
            return Ok(not_found());
        };
        let expand = Form::new().with("expand[]", "payment_method");
        let Some(intent) = retrieve::<SetupIntent>(api, path, &id, &expand).await? else {
            return Ok(not_found());
        };
        let mut response = self.setup_response(&request.account, &intent);
        if response.outcome == Outcome::Succeeded && intent.keeps_mandate() {
            response.mandate = mandate_of(intent.customer.as_ref(), intent.payment_method.as_ref());
        }
        Ok(response)
    }

    /// The answer an intent gives for the authorize or sale that made it.
    fn intent_response(&self, account: &AccountContext, intent: &PaymentIntent) -> ConnectorResult {
        let outcome = payment_outcome(intent, || self.challenge_page(account, &intent.id));
        let amount = match (intent.status.as_str(), intent.amount_received) {
            ("succeeded", Some(received)) => received,
            _ => intent.amount,
        };
        let amount = money_of(amount, &intent.currency)?.amount_minor;
        Ok(answered(outcome, intent.id.clone(), Some(amount)))
    }

    /// The answer a SetupIntent gives for the verify that made it.
    fn setup_response(&self, account: &AccountContext, intent: &SetupIntent) -> ConnectorResponse {
        let outcome = setup_outcome(intent, || self.challenge_page(account, &intent.id));
        answered(outcome, intent.id.clone(), Some(0))
    }
}

/// The payment's intent id a follow-up acts on.
fn payment_id(request: &FollowUpRequest) -> Result<&str, ConnectorError> {
    let id = request.connector_payment_id.as_deref().ok_or_else(|| {
        ConnectorError::Invalid("the payment has no Stripe PaymentIntent id".into())
    })?;
    path_id(id)
}

/// A follow-up's amount in Stripe's unit; it must be positive.
fn positive_amount(request: &FollowUpRequest, operation: Operation) -> Result<i64, ConnectorError> {
    if request.amount.amount_minor < 1 {
        return Err(ConnectorError::Invalid(format!(
            "the {} amount must be positive",
            operation.as_str()
        )));
    }
    to_stripe_amount(request.amount)
}

/// Checks what Stripe would refuse about a payment's amount.
fn check_payment_amount(request: &AuthorizeRequest) -> Result<(), ConnectorError> {
    let amount = request.amount.amount_minor;
    match request.operation {
        Operation::Verify if amount != 0 => Err(ConnectorError::Invalid(
            "a verify takes a zero amount".into(),
        )),
        Operation::Authorize | Operation::Sale if amount < 1 => Err(ConnectorError::Invalid(
            "the amount must be positive".into(),
        )),
        Operation::Authorize | Operation::Sale | Operation::Verify => Ok(()),
        other => Err(ConnectorError::Invalid(format!(
            "{} is not a payment",
            other.as_str()
        ))),
    }
}

/// A card sent to Stripe: its PaymentMethod and, with `setup_mandate`,
/// the new Customer it is kept for.
struct CardAtStripe {
    customer: Option<Identified>,
    payment_method: PaymentMethod,
}

impl CardAtStripe {
    /// The Customer first (a mandate's), then the card.
    async fn send(
        api: &Api<'_>,
        request: &AuthorizeRequest,
        card: &CardDetails,
    ) -> Result<Answer<CardAtStripe>, ConnectorError> {
        let customer = match request.setup_mandate {
            true => Some(api.create_customer(request).await?),
            false => None,
        };
        Ok(match api.create_payment_method(request, card).await? {
            Answer::Made(payment_method) => Answer::Made(CardAtStripe {
                customer,
                payment_method,
            }),
            Answer::Refused(error) => Answer::Refused(error),
        })
    }

    /// `form` for the customer the card is kept for, off session; `usage`
    /// is the field saying so (`setup_future_usage`, a SetupIntent's `usage`).
    fn for_mandate(&self, form: Form, usage: &str) -> Form {
        match &self.customer {
            Some(customer) => form
                .with("customer", &customer.id)
                .with(usage, "off_session")
                .with(&format!("metadata[{MANDATE_METADATA}]"), "true"),
            None => form,
        }
    }

    /// A succeeded answer carries the mandate kept.
    fn keep_mandate(&self, response: &mut ConnectorResponse, card: &CardDetails) {
        if let Some(customer) = &self.customer
            && response.outcome == Outcome::Succeeded
        {
            let token = mandate_token(&customer.id, &self.payment_method.id);
            response.mandate = Some(mandate_of_card(token, card));
        }
    }
}

/// An answer Stripe gave: `outcome` for the object `id`.
fn answered(outcome: Outcome, id: String, amount: Option<i64>) -> ConnectorResponse {
    ConnectorResponse {
        outcome,
        connector_transaction_id: Some(id),
        http_code: Some(200),
        amount,
        amount_received: None,
        mandate: None,
    }
}

/// A card refused (HTTP 402), and the intent it left, when Stripe names it.
fn declined_response(error: &ApiError, intent_id: Option<String>) -> ConnectorResponse {
    ConnectorResponse {
        outcome: declined(Some(error)),
        connector_transaction_id: intent_id,
        http_code: Some(402),
        amount: None,
        amount_received: None,
        mandate: None,
    }
}

fn refund_response(refund: &Refund) -> ConnectorResult {
    let amount = money_of(refund.amount, &refund.currency)?.amount_minor;
    Ok(answered(
        refund_outcome(refund),
        refund.id.clone(),
        Some(amount),
    ))
}

fn not_found() -> ConnectorResponse {
    ConnectorResponse {
        outcome: Outcome::NotFound,
        connector_transaction_id: None,
        http_code: Some(404),
        amount: None,
        amount_received: None,
        mandate: None,
    }
}

#[async_trait]
impl Connector for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            payment_methods: vec!["card"],
            currencies: None,
            operations: vec![
                Operation::Authorize,
                Operation::Sale,
                Operation::Verify,
                Operation::Capture,
                Operation::Void,
                Operation::Reverse,
                Operation::Refund,
                Operation::Sync,
            ],
        }
    }

    fn credential_keys(&self) -> Option<CredentialKeys> {
        Some(CredentialKeys {
            required: &["secret_key", "webhook_secret"],
            optional: &["api_base"],
        })
    }

    async fn check_credentials(&self, account: &AccountContext) -> Result<(), ConnectorError> {
        Stripe::check_credentials(self, account).await
    }

    /// Stripe signs with the `webhook_secret` of the account's credentials,
    /// against real time: Obol's own secret and clock play no part.
    fn verify_account_notification(
        &self,
        account: &AccountContext,
        _obol_secret: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        _now: obol_core::Timestamp,
    ) -> Result<Notice, NotificationError> {
        webhook::notice(account, headers, body)
    }

    async fn authorize(&self, request: AuthorizeRequest) -> ConnectorResult {
        self.pay(&request).await
    }

    async fn capture(&self, request: FollowUpRequest) -> ConnectorResult {
        self.intent_follow_up(&request, Operation::Capture).await
    }

    async fn increment_authorization(&self, _request: FollowUpRequest) -> ConnectorResult {
        Err(ConnectorError::Unsupported("increment_authorization"))
    }

    async fn void(&self, request: FollowUpRequest) -> ConnectorResult {
        self.intent_follow_up(&request, Operation::Void).await
    }

    async fn reverse(&self, request: FollowUpRequest) -> ConnectorResult {
        self.refund_payment(&request, Operation::Reverse).await
    }

    async fn refund(&self, request: FollowUpRequest) -> ConnectorResult {
        self.refund_payment(&request, Operation::Refund).await
    }

    /// Retrieves what the operation made (found by its transaction id when
    /// Obol has no Stripe id). A capture or void is read off its payment's
    /// intent: `connector_transaction_id` is that intent's id.
    async fn sync(&self, request: SyncRequest) -> ConnectorResult {
        let api = self.api(&request.account)?;
        match request.operation {
            Operation::Authorize | Operation::Sale => self.sync_payment(&api, &request).await,
            Operation::Verify => self.sync_setup(&api, &request).await,
            Operation::Refund | Operation::Reverse => {
                let path = "/v1/refunds";
                let Some(id) = locate_refund::<Refund>(&api, path, &request).await? else {
                    return Ok(not_found());
                };
                match retrieve::<Refund>(&api, path, &id, &Form::new()).await? {
                    Some(refund) => refund_response(&refund),
                    None => Ok(not_found()),
                }
            }
            Operation::Capture | Operation::Void => {
                // Recorded before its answer, a follow-up knows only its
                // payment's intent until Stripe answers.
                let id = request
                    .connector_transaction_id
                    .as_deref()
                    .or(request.payment_connector_transaction_id.as_deref())
                    .ok_or_else(|| {
                        ConnectorError::Invalid(
                            "a capture or void is synced by its PaymentIntent's id".into(),
                        )
                    })?;
                let path = "/v1/payment_intents";
                let Some(intent) = retrieve::<PaymentIntent>(&api, path, id, &Form::new()).await?
                else {
                    return Ok(not_found());
                };
                let outcome = follow_up_outcome(&intent, request.operation);
                let amount = match intent.amount_received {
                    Some(received) => Some(money_of(received, &intent.currency)?.amount_minor),
                    None => None,
                };
                Ok(match outcome {
                    Outcome::NotFound => not_found(),
                    outcome => answered(outcome, intent.id, amount),
                })
            }
            Operation::IncrementAuthorization => {
                Err(ConnectorError::Unsupported("increment_authorization"))
            }
            Operation::Sync => Err(ConnectorError::Invalid(
                "sync is not an operation to sync".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obol_core::ConnectorAccountId;
    use serde_json::json;
    use std::sync::Arc;
    use url::Url;

    /// A test account with these credentials (the client's tests use it too).
    pub(super) fn account(credentials: serde_json::Value) -> AccountContext {
        AccountContext {
            account_id: ConnectorAccountId::from("cna_test"),
            credentials,
        }
    }

    fn stripe() -> Stripe {
        // An error only says that a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Stripe::new(reqwest::Client::new(), "https://obol.test/".into())
    }

    #[test]
    fn api_base_is_an_origin() {
        let stripe = stripe();
        let origin = |base: &str| {
            stripe
                .api(&account(
                    json!({"secret_key": "sk_test_1", "api_base": base}),
                ))
                .map(|api| api.origin)
        };
        assert_eq!(
            origin("http://127.0.0.1:12111").ok().as_deref(),
            Some("http://127.0.0.1:12111")
        );
        assert_eq!(
            origin("https://stripe.example/").ok().as_deref(),
            Some("https://stripe.example")
        );
        for bad in [
            "ftp://x",
            "https://x/v1",
            "https://u:p@x",
            "https://x?a=1",
            "x",
            "",
        ] {
            assert!(
                matches!(origin(bad), Err(ConnectorError::Invalid(_))),
                "{bad}"
            );
        }
        let default = stripe
            .api(&account(json!({"secret_key": "sk_live_1"})))
            .map(|api| api.origin);
        assert_eq!(default.ok().as_deref(), Some(DEFAULT_API_BASE));
    }

    #[test]
    fn the_url_guard_refuses_before_any_call() {
        let guard: UrlGuard = Arc::new(|url: &Url| match url.host_str() {
            Some("10.0.0.1") => Err("a private address".to_owned()),
            _ => Ok(()),
        });
        let stripe = stripe().with_url_guard(guard);
        let refused = stripe.api(&account(
            json!({"secret_key": "sk_1", "api_base": "http://10.0.0.1"}),
        ));
        match refused {
            Err(ConnectorError::Invalid(message)) => {
                assert!(message.contains("private"), "{message}")
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }
}
