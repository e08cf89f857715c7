//! Payment connectors: one trait, normalized outcomes, a registry.
//!
//! A connector translates between Obol and a payment provider; it decides
//! nothing about Obol's state. Every call carries Obol's transaction id as
//! its idempotency key, so a retried call never charges twice.

pub mod bitpay;
pub mod coinpayments;
pub mod decimal;
mod origin;
pub mod sandbox;
pub mod stripe;

use async_trait::async_trait;
use obol_core::card::CardDetails;
use obol_core::{ConnectorAccountId, Currency, Money, OrderId, Timestamp, TransactionId};
use std::collections::HashMap;
use std::sync::Arc;
/// The URL type of `UrlGuard`, for callers building a guard.
pub use url::Url;

/// Checks an account's `api_base` before Obol calls it: the server's
/// outbound policy (no private networks), which a host given as an IP
/// address would otherwise skip.
pub type UrlGuard = Arc<dyn Fn(&Url) -> Result<(), String> + Send + Sync>;

/// What a connector can do.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// Payment method types: `card`, `crypto`.
    pub payment_methods: Vec<&'static str>,
    /// Currencies it takes; `None` means every currency Obol knows.
    pub currencies: Option<Vec<Currency>>,
    pub operations: Vec<Operation>,
}

impl Capabilities {
    pub fn supports(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }

    pub fn supports_currency(&self, currency: Currency) -> bool {
        self.currencies
            .as_ref()
            .is_none_or(|list| list.contains(&currency))
    }
}

/// The operations a connector may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Authorize,
    Sale,
    Verify,
    Capture,
    IncrementAuthorization,
    Void,
    Reverse,
    Refund,
    Sync,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Authorize => "authorize",
            Operation::Sale => "sale",
            Operation::Verify => "verify",
            Operation::Capture => "capture",
            Operation::IncrementAuthorization => "increment_authorization",
            Operation::Void => "void",
            Operation::Reverse => "reverse",
            Operation::Refund => "refund",
            Operation::Sync => "sync",
        }
    }

    pub fn parse(kind: &str) -> Option<Operation> {
        [
            Operation::Authorize,
            Operation::Sale,
            Operation::Verify,
            Operation::Capture,
            Operation::IncrementAuthorization,
            Operation::Void,
            Operation::Reverse,
            Operation::Refund,
            Operation::Sync,
        ]
        .into_iter()
        .find(|op| op.as_str() == kind)
    }
}

/// The connector account a call is made for: its id and decrypted credentials.
#[derive(Clone)]
pub struct AccountContext {
    pub account_id: ConnectorAccountId,
    pub credentials: serde_json::Value,
}

impl std::fmt::Debug for AccountContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountContext")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// Authorize (hold), sale (authorize and capture) or verify (zero amount).
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub account: AccountContext,
    /// Obol's transaction id: the idempotency key at the provider.
    pub transaction_id: TransactionId,
    pub order_id: OrderId,
    pub amount: Money,
    /// `Sale`, `Authorize` or `Verify`.
    pub operation: Operation,
    /// What pays: a card, crypto, or a stored mandate.
    pub instrument: Instrument,
    /// Keep what paid for later charges with no customer present: the
    /// answer carries the mandate (`ConnectorResponse::mandate`).
    pub setup_mandate: bool,
    /// Where a 3-D Secure challenge sends the customer back to.
    pub return_url: String,
    /// The customer paying, when the order has one (a mandate is kept for them).
    pub customer: Option<CustomerRef>,
}

/// The customer of a payment as a provider may keep them.
#[derive(Debug, Clone)]
pub struct CustomerRef {
    /// Obol's customer id; empty for a guest known by email only.
    pub id: String,
    pub email: Option<String>,
}

/// What a payment is made with.
#[derive(Debug, Clone)]
pub enum Instrument {
    /// Card details; dropped after the call.
    Card(CardDetails),
    /// A crypto invoice the customer pays from their wallet.
    Crypto,
    /// A mandate set up earlier: the connector's token for it.
    Mandate { token: String },
}

impl Instrument {
    /// The payment method type it is (`card`, `crypto`, `mandate`).
    pub fn method_type(&self) -> &'static str {
        match self {
            Instrument::Card(_) => "card",
            Instrument::Crypto => "crypto",
            Instrument::Mandate { .. } => "mandate",
        }
    }

    pub fn card(&self) -> Option<&CardDetails> {
        match self {
            Instrument::Card(card) => Some(card),
            _ => None,
        }
    }
}

/// A mandate a connector keeps for later charges: its token (never a card
/// number) and the card as the customer may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMandate {
    pub token: String,
    pub card_brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

/// An operation on an earlier payment: capture, void, reverse, refund, increment.
#[derive(Debug, Clone)]
pub struct FollowUpRequest {
    pub account: AccountContext,
    /// Obol's transaction id of this operation: the idempotency key.
    pub transaction_id: TransactionId,
    /// Obol's transaction id of the payment (authorize/sale) it acts on.
    pub payment_transaction_id: TransactionId,
    /// The provider's id of that payment, when known.
    pub connector_payment_id: Option<String>,
    /// Amount captured, voided, reversed or refunded; for an increment, the
    /// new authorized total.
    pub amount: Money,
}

/// Asks what became of an earlier operation, by its transaction id.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub account: AccountContext,
    pub transaction_id: TransactionId,
    pub operation: Operation,
    pub connector_transaction_id: Option<String>,
    /// For a follow-up (capture, void, refund…): the connector's id of the
    /// payment it acts on, which finds the follow-up when its own answer,
    /// and so its own id, was lost.
    pub payment_connector_transaction_id: Option<String>,
    /// The operation's amount (a crypto payment's received share is read
    /// against it), when the caller has it.
    pub amount: Option<Money>,
}

/// The normalized answer of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Not final yet (asynchronous approval); sync or a notification settles it.
    Pending,
    /// The customer must complete a challenge at `url`.
    RequiresAction {
        url: String,
    },
    /// Refused for good; `code` is one of api.md's decline codes.
    Declined {
        code: String,
        message: String,
    },
    /// Failed for good for a reason that is no card decline (a crypto
    /// invoice that expired `underpaid` or unpaid); `code` names it.
    Failed {
        code: String,
        message: String,
    },
    /// The provider does not know this operation (sync only).
    NotFound,
}

/// A provider's answer: the outcome, its id for the operation, the HTTP code.
#[derive(Debug, Clone)]
pub struct ConnectorResponse {
    pub outcome: Outcome,
    pub connector_transaction_id: Option<String>,
    pub http_code: Option<u16>,
    /// Amount the provider reports (authorized, captured …), when it says.
    pub amount: Option<i64>,
    /// What a customer actually sent, when it can differ from the amount
    /// asked (crypto: under- or overpaid).
    pub amount_received: Option<i64>,
    /// The mandate set up by this payment (`setup_mandate`).
    pub mandate: Option<StoredMandate>,
}

impl ConnectorResponse {
    /// The provider has no record of the operation (sync).
    pub fn not_found() -> ConnectorResponse {
        ConnectorResponse {
            outcome: Outcome::NotFound,
            connector_transaction_id: None,
            http_code: Some(404),
            amount: None,
            amount_received: None,
            mandate: None,
        }
    }
}

/// A call that did not produce an answer about the money.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    /// The provider failed (5xx or similar); the outcome is unknown.
    #[error("the provider failed (HTTP {http_code:?}): {message}")]
    Provider {
        http_code: Option<u16>,
        message: String,
    },
    /// The call took longer than Obol's timeout; the outcome is unknown.
    #[error("the provider did not answer in time")]
    Timeout,
    /// The connector does not offer this operation.
    #[error("the connector does not support {0}")]
    Unsupported(&'static str),
    /// The request was refused as malformed before any money moved.
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl ConnectorError {
    /// A connector's own state failed (`error` says how): to the caller the
    /// outcome is unknown, as with a provider that answered 5xx.
    pub fn state(error: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Provider {
            http_code: None,
            message: format!("connector state: {error}"),
        }
    }
}

pub type ConnectorResult = Result<ConnectorResponse, ConnectorError>;

/// A connector's notification (webhook, IPN), verified and parsed: what the
/// provider says became of one of its payments. The connector only
/// verifies and translates; Obol applies it (step 3) like a call's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The provider's event id: a notification is applied once per id.
    pub event_id: String,
    /// The provider's event type (`payment.succeeded` …), for the record.
    pub event_type: String,
    /// The provider's id of the payment it is about.
    pub connector_transaction_id: String,
    pub outcome: Outcome,
    /// The amount the provider names, in minor units, when it names one.
    pub amount: Option<i64>,
    /// What the customer actually sent (crypto), in minor units.
    pub amount_received: Option<i64>,
    /// Only a hint (the provider does not sign its notifications): Obol
    /// asks the provider (sync) and applies what it answers instead.
    pub fetch_first: bool,
    /// The mandate the payment set up (`setup_mandate`), once it succeeded.
    pub mandate: Option<StoredMandate>,
    /// Obol's transaction id, when the provider echoes it back (Stripe's
    /// metadata): it finds a payment whose answer, and so whose connector
    /// id, was lost.
    pub transaction_id: Option<String>,
}

/// What a verified notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// What became of a payment: applied like a call's answer.
    Payment(Notification),
    /// A dispute (chargeback) opened on a payment.
    Dispute(DisputeNotice),
    /// Verified, but of a type Obol does not act on.
    Ignored {
        event_id: String,
        event_type: String,
    },
}

/// A dispute a provider opened on one of its payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeNotice {
    /// The provider's event id: a notification is applied once per id.
    pub event_id: String,
    pub event_type: String,
    /// The provider's id of the disputed payment.
    pub connector_transaction_id: String,
    /// The provider's id of the dispute.
    pub connector_dispute_id: String,
    pub change: DisputeChange,
}

/// What became of a dispute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisputeChange {
    /// Opened for `amount`, for the provider's `reason` (`fraudulent`,
    /// `general` …); evidence is due by `evidence_due_by`.
    Opened {
        amount: Money,
        reason: String,
        evidence_due_by: Option<Timestamp>,
    },
    /// Closed: won (the money back to the merchant) or lost.
    Closed { won: bool },
}

/// A notification Obol cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// Not signed as the provider signs (a header missing or malformed,
    /// a timestamp outside the tolerance, no signature matching): it may
    /// not come from the provider, so nothing of it is read.
    #[error("the notification's signature does not verify: {0}")]
    Unverified(String),
    /// Signed, but not a notification this connector understands.
    #[error("the notification is malformed: {0}")]
    Malformed(String),
    /// The connector takes no notifications.
    #[error("the connector takes no notifications")]
    Unsupported,
}

/// One payment provider.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The name used in `connector` fields (`sandbox`, `stripe` …).
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;

    /// Whether a payment needs the customer's email (the order's
    /// `customer_email`): an order without one is refused before the call.
    fn needs_customer_email(&self) -> bool {
        false
    }

    async fn authorize(&self, request: AuthorizeRequest) -> ConnectorResult;
    // The follow-ups a connector does not offer (its capabilities list
    // none of them, so Obol does not call them) are refused by default.
    async fn capture(&self, _request: FollowUpRequest) -> ConnectorResult {
        Err(ConnectorError::Unsupported("capture"))
    }
    async fn increment_authorization(&self, _request: FollowUpRequest) -> ConnectorResult {
        Err(ConnectorError::Unsupported("increment_authorization"))
    }
    async fn void(&self, _request: FollowUpRequest) -> ConnectorResult {
        Err(ConnectorError::Unsupported("void"))
    }
    async fn reverse(&self, _request: FollowUpRequest) -> ConnectorResult {
        Err(ConnectorError::Unsupported("reverse"))
    }
    async fn refund(&self, _request: FollowUpRequest) -> ConnectorResult {
        Err(ConnectorError::Unsupported("refund"))
    }
    async fn sync(&self, request: SyncRequest) -> ConnectorResult;

    /// The credentials keys an account of this connector must have, and
    /// those it may have; `None` takes any object (the sandbox).
    fn credential_keys(&self) -> Option<CredentialKeys> {
        None
    }

    /// Checks an account's credentials as it is created (a cheap
    /// authenticated call), so a wrong key is refused now and not at the
    /// first payment. `Invalid` means the provider refused them.
    async fn check_credentials(&self, account: &AccountContext) -> Result<(), ConnectorError> {
        let _ = account;
        Ok(())
    }

    /// Verifies a notification by the provider's own signature scheme,
    /// under the account's credentials or its Obol-made `webhook_secret`,
    /// at `now` (Obol's clock), and parses it. Pure: no IO.
    fn verify_notification(
        &self,
        account: &AccountContext,
        webhook_secret: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Notification, NotificationError> {
        let _ = (account, webhook_secret, headers, body, now);
        Err(NotificationError::Unsupported)
    }

    /// Verifies a notification for `account`, whose credentials may hold
    /// the provider's own signing secret; `webhook_secret` is the one Obol
    /// made for the account. By default, `verify_notification`'s payment.
    fn verify_account_notification(
        &self,
        account: &AccountContext,
        webhook_secret: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Notice, NotificationError> {
        self.verify_notification(account, webhook_secret, headers, body, now)
            .map(Notice::Payment)
    }
}

/// The credentials keys of a connector's accounts (all string values).
#[derive(Debug, Clone, Copy)]
pub struct CredentialKeys {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

/// Connectors by name.
#[derive(Clone, Default)]
pub struct ConnectorRegistry {
    connectors: HashMap<&'static str, Arc<dyn Connector>>,
}

impl ConnectorRegistry {
    pub fn register(&mut self, connector: Arc<dyn Connector>) {
        self.connectors.insert(connector.name(), connector);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.connectors.get(name).cloned()
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.connectors.keys().copied().collect();
        names.sort_unstable();
        names
    }
}
