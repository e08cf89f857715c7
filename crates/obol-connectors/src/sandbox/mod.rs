//! The sandbox connector: a processor simulator with its own persistent
//! state, kept behind [`SandboxState`] (over the database, its payments and
//! operations tables).
//!
//! It keeps authorizations, captures and refunds as a real processor does
//! and enforces the same rules (no capture above the authorized amount, no
//! refund above the captured amount, no double void). The card number picks
//! the outcome, as api.md's test-card table says. Card numbers and CVCs are
//! never stored nor logged: only brand and last four digits are kept (and
//! for a mandate, the expiry).

pub mod crypto;
mod mandates;
pub mod notifications;
pub mod state;

pub use crypto::{INVOICE_TTL_MS, InvoicePayment};
pub use state::SandboxState;

use crate::{
    AccountContext, AuthorizeRequest, Capabilities, Connector, ConnectorError, ConnectorResponse,
    ConnectorResult, FollowUpRequest, Instrument, Notification, NotificationError, Operation,
    Outcome, SyncRequest,
};
use async_trait::async_trait;
use obol_core::Timestamp;
use obol_core::card::{CardDetails, luhn_valid};
use obol_core::clock::Clock;
use obol_core::new_id;
use obol_core::time::SECOND_MS;
use state::{FollowUp, FollowUpOutcome, NewPayment, OperationRow, PaymentRow, Rule};
use std::sync::Arc;
use std::time::Duration;

/// How long after creation the asynchronously approved card settles as
/// succeeded, on the clock.
pub const ASYNC_APPROVAL_DELAY_MS: i64 = 10 * SECOND_MS;

/// How long the timeout card makes its caller wait: far beyond any sane
/// connector timeout, so that the caller's own timeout fires first.
const TIMEOUT_CARD_DELAY: Duration = Duration::from_secs(300);

/// The decline code a processor failure reads as, once synced.
const PROCESSING_ERROR: &str = "processing_error";

/// The built-in simulator.
pub struct Sandbox {
    state: Arc<dyn SandboxState>,
    clock: Arc<dyn Clock>,
    /// Obol's public URL; the challenge and invoice pages live under it.
    challenge_base_url: String,
}

/// What a test card makes the sandbox do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Approve,
    Decline(&'static str),
    /// Approved for a verification (a mandate is set up), declined for any
    /// charge, and so is every charge of its mandate.
    VerifyOnly,
    Challenge,
    AsyncApproval,
    ProcessorError,
    Timeout,
}

impl Scenario {
    /// api.md's test-card table; any other Luhn-valid number is approved.
    fn for_card(digits: &str) -> Scenario {
        match digits {
            "4000000000000002" => Scenario::Decline("generic_decline"),
            "4000000000009995" => Scenario::Decline("insufficient_funds"),
            "4000000000000069" => Scenario::Decline("expired_card"),
            "4000000000000127" => Scenario::Decline("incorrect_cvc"),
            "4000000000003220" => Scenario::Challenge,
            "4000000000000077" => Scenario::AsyncApproval,
            "4000000000000119" => Scenario::ProcessorError,
            "4000000000006975" => Scenario::Timeout,
            "4000000000000341" => Scenario::VerifyOnly,
            _ => Scenario::Approve,
        }
    }
}

impl Sandbox {
    /// A sandbox keeping its payments in `state`, reading time from `clock`;
    /// challenge pages are linked under `challenge_base_url` (Obol's public URL).
    pub fn new(
        state: Arc<dyn SandboxState>,
        clock: Arc<dyn Clock>,
        challenge_base_url: String,
    ) -> Sandbox {
        let challenge_base_url = challenge_base_url.trim_end_matches('/').to_owned();
        Sandbox {
            state,
            clock,
            challenge_base_url,
        }
    }

    /// Settles a payment awaiting its 3-D Secure challenge: succeeded, or
    /// declined when the customer failed it. Repeating the same answer is a
    /// no-op; anything else about a payment not awaiting one is refused.
    pub async fn complete_challenge(
        &self,
        payment_id: &str,
        succeed: bool,
    ) -> Result<(), ConnectorError> {
        let now_ms = self.clock.now().as_ms();
        let decline_code = (!succeed).then_some("generic_decline");
        if self
            .state
            .finish_challenge(payment_id, decline_code, now_ms)
            .await?
        {
            return Ok(());
        }
        let Some(payment) = self.state.payment_by_id(payment_id).await? else {
            return Err(ConnectorError::Invalid(format!(
                "the sandbox has no payment {payment_id}"
            )));
        };
        let settled_as_asked = if succeed { "succeeded" } else { "declined" };
        if payment.status == settled_as_asked {
            return Ok(());
        }
        let state = describe(&payment);
        Err(ConnectorError::Invalid(format!(
            "the payment is {state}, not awaiting a challenge"
        )))
    }

    /// A payment by the sandbox's id, as it stands now (its challenge and
    /// invoice pages show it).
    pub async fn payment(&self, payment_id: &str) -> Result<Option<PaymentRow>, ConnectorError> {
        match self.state.payment_by_id(payment_id).await? {
            Some(payment) => self.current(payment).await.map(Some),
            None => Ok(None),
        }
    }

    /// The payment as it stands now: a pending one (or an open invoice)
    /// whose time has come is settled first.
    async fn current(&self, payment: PaymentRow) -> Result<PaymentRow, ConnectorError> {
        let now_ms = self.clock.now().as_ms();
        let may_be_due = matches!(payment.status.as_str(), "pending" | "requires_action");
        if may_be_due && self.state.settle_due(&payment.id, now_ms).await? {
            // Just written: a payment that is gone means the state is lost.
            let reloaded = self.state.payment_by_id(&payment.id).await?;
            return reloaded.ok_or_else(missing_row);
        }
        Ok(payment)
    }

    /// The answer a payment's recorded outcome gives.
    fn payment_response(&self, payment: &PaymentRow) -> ConnectorResponse {
        if payment.method == "crypto" {
            return self.invoice_response(payment);
        }
        self.response(
            &payment.id,
            &payment.status,
            payment.decline_code.as_deref(),
            payment.amount,
        )
    }

    /// The answer for a payment in `status`.
    fn response(
        &self,
        id: &str,
        status: &str,
        decline_code: Option<&str>,
        amount: i64,
    ) -> ConnectorResponse {
        let outcome = match status {
            "succeeded" => Outcome::Succeeded,
            "pending" => Outcome::Pending,
            "requires_action" => {
                let url = format!("{}/sandbox/challenge/{id}", self.challenge_base_url);
                Outcome::RequiresAction { url }
            }
            _ => {
                let code = decline_code.unwrap_or("generic_decline");
                let message = decline_message(code).to_owned();
                Outcome::Declined {
                    code: code.to_owned(),
                    message,
                }
            }
        };
        ConnectorResponse {
            http_code: Some(http_code(&outcome)),
            outcome,
            connector_transaction_id: Some(id.to_owned()),
            amount: Some(amount),
            amount_received: None,
            mandate: None,
        }
    }

    /// A repeated authorize answers as the first one did, moving nothing.
    async fn replay_payment(&self, payment: PaymentRow) -> ConnectorResult {
        if payment.status == "failed" {
            return Err(processor_failure());
        }
        let payment = self.current(payment).await?;
        let (account_id, transaction_id) = (&payment.account_id, &payment.transaction_id);
        let answer = self.payment_response(&payment);
        self.with_mandate(answer, &payment.status, account_id, transaction_id)
            .await
    }

    /// Records a new payment; when a call with the same transaction id came
    /// first (the unique key catches it, even a concurrent one), the answer
    /// that call gives.
    async fn first_call(&self, payment: &NewPayment<'_>) -> Option<ConnectorResult> {
        match self.state.insert_payment(payment).await {
            Ok(true) => None,
            Ok(false) => Some(self.replay_first(payment).await),
            Err(error) => Some(Err(error)),
        }
    }

    /// The answer of the call that recorded `payment`'s transaction id first.
    async fn replay_first(&self, payment: &NewPayment<'_>) -> ConnectorResult {
        let (account_id, transaction_id) = (payment.account_id, payment.transaction_id);
        let first = self
            .state
            .payment_by_transaction(account_id, transaction_id)
            .await?;
        self.replay_payment(first.ok_or_else(missing_row)?).await
    }

    /// Records a new authorize, sale or verify with the outcome its card
    /// decides; when a call with the same transaction id came first (even
    /// concurrently), answers as that one did.
    async fn record_payment(
        &self,
        request: &AuthorizeRequest,
        card: &CardDetails,
        digits: &str,
    ) -> ConnectorResult {
        let (account_id, transaction_id) = (
            request.account.account_id.as_str(),
            request.transaction_id.as_str(),
        );
        // The unique (account, transaction) key catches a repeat: no read first.
        let scenario = Scenario::for_card(digits);
        let id = new_id("sbx_pay");
        let shown = (card.brand.as_str(), card.last4.as_str());
        let payment = new_payment(request, shown, scenario, &id, self.clock.now().as_ms());
        self.keep_mandate(request, card, scenario, &payment).await?;
        if let Some(first) = self.first_call(&payment).await {
            return first;
        }
        tracing::debug!(payment_id = %id, account_id, status = payment.status, "sandbox payment");
        if let Some(settle_at_ms) = payment.settle_at_ms {
            // Approved asynchronously: the sandbox says so when it settles.
            self.notify_at(&id, settle_at_ms).await;
        }
        let answer = self.response(&id, payment.status, payment.decline_code, payment.amount);
        let answer = if request.setup_mandate {
            self.with_mandate(answer, payment.status, account_id, transaction_id)
                .await?
        } else {
            answer
        };
        match scenario {
            Scenario::ProcessorError => Err(processor_failure()),
            Scenario::Timeout => {
                // The money is taken (recorded above), but the caller's own
                // timeout fires long before this answer.
                tokio::time::sleep(TIMEOUT_CARD_DELAY).await;
                Ok(answer)
            }
            _ => Ok(answer),
        }
    }

    /// Capture, increment, void, reverse or refund, race-free: in one
    /// transaction of the state, the follow-up row claims the transaction
    /// id (a unique key), then one conditional update applies the processor
    /// rule; a refusal rolls both back.
    async fn follow_up(&self, operation: Operation, request: FollowUpRequest) -> ConnectorResult {
        check_follow_up_amount(operation, request.amount.amount_minor)?;
        let rule = Rule::of(operation)?;
        let id = new_id("sbx_op");
        let amount = request.amount.amount_minor;
        let follow_up = FollowUp {
            id: &id,
            account_id: &request.account.account_id,
            transaction_id: &request.transaction_id,
            payment_transaction_id: &request.payment_transaction_id,
            connector_payment_id: request.connector_payment_id.as_deref(),
            currency: request.amount.currency.code(),
            rule,
            amount,
            now_ms: self.clock.now().as_ms(),
        };
        match self.state.follow_up(&follow_up).await? {
            FollowUpOutcome::Applied { payment_id, acted } => {
                tracing::debug!(operation_id = %id, %payment_id, kind = operation.as_str(), acted, "sandbox operation");
                Ok(succeeded(id, acted))
            }
            FollowUpOutcome::AlreadyDone(done) => replay_operation(operation, &done),
            FollowUpOutcome::ClaimTaken => self.replay_after_race(operation, &request).await,
            FollowUpOutcome::NoPayment => Err(ConnectorError::Invalid(format!(
                "the sandbox has no payment {}",
                request.payment_transaction_id
            ))),
            FollowUpOutcome::OtherCurrency(currency) => Err(ConnectorError::Invalid(format!(
                "the payment is in {currency}"
            ))),
            FollowUpOutcome::Refused(payment) => Err(ConnectorError::Invalid(refusal(
                operation, &payment, amount,
            ))),
        }
    }

    /// Schedules the sandbox's notification about `payment_id` at `at_ms`.
    /// One that cannot be scheduled is only logged: sync still settles the
    /// payment, as for a processor whose webhook never arrives.
    async fn notify_at(&self, payment_id: &str, at_ms: i64) {
        let now_ms = self.clock.now().as_ms();
        if let Err(error) = self
            .state
            .schedule_notification(payment_id, at_ms, now_ms)
            .await
        {
            tracing::warn!(payment_id, %error, "the sandbox could not schedule its notification");
        }
    }

    /// Another call with this transaction id committed first: answer as it did.
    async fn replay_after_race(
        &self,
        operation: Operation,
        request: &FollowUpRequest,
    ) -> ConnectorResult {
        let (account_id, transaction_id) = (&request.account.account_id, &request.transaction_id);
        let done = self
            .state
            .operation_by_transaction(account_id, transaction_id)
            .await?;
        replay_operation(operation, &done.ok_or_else(missing_row)?)
    }
}

/// The row of a new payment: what its card (shown as brand and last four
/// digits) makes of the operation.
fn new_payment<'a>(
    request: &'a AuthorizeRequest,
    (card_brand, card_last4): (&'a str, &'a str),
    scenario: Scenario,
    id: &'a str,
    now_ms: i64,
) -> NewPayment<'a> {
    let amount = request.amount.amount_minor;
    let mut payment = NewPayment {
        id,
        account_id: &request.account.account_id,
        transaction_id: &request.transaction_id,
        operation: request.operation.as_str(),
        currency: request.amount.currency.code(),
        amount,
        status: "succeeded",
        decline_code: None,
        state: "none",
        authorized: 0,
        captured: 0,
        card_brand,
        card_last4,
        settle_at_ms: None,
        return_url: &request.return_url,
        now_ms,
        method: "card",
        invoice_expires_at_ms: None,
    };
    match (scenario, request.operation) {
        (Scenario::Approve | Scenario::Timeout, Operation::Authorize) => {
            (payment.state, payment.authorized) = ("authorized", amount);
        }
        (Scenario::Approve | Scenario::Timeout, Operation::Sale) => {
            (payment.state, payment.authorized, payment.captured) = ("captured", amount, amount);
        }
        (Scenario::Approve | Scenario::Timeout, _) | (Scenario::VerifyOnly, Operation::Verify) => {}
        (Scenario::VerifyOnly, _) => {
            (payment.status, payment.decline_code) = ("declined", Some("generic_decline"))
        }
        (Scenario::Decline(code), _) => {
            (payment.status, payment.decline_code) = ("declined", Some(code))
        }
        (Scenario::Challenge, _) => payment.status = "requires_action",
        (Scenario::AsyncApproval, _) => {
            (payment.status, payment.settle_at_ms) =
                ("pending", Some(now_ms + ASYNC_APPROVAL_DELAY_MS));
        }
        (Scenario::ProcessorError, _) => {
            (payment.status, payment.decline_code) = ("failed", Some(PROCESSING_ERROR));
        }
    }
    payment
}

/// A row the state just had is gone: the state is lost.
fn missing_row() -> ConnectorError {
    ConnectorError::state("row not found")
}

/// Checks what any processor would refuse before looking at state; returns
/// the card and its digits.
fn check_authorize(request: &AuthorizeRequest) -> Result<(&CardDetails, String), ConnectorError> {
    let card = request.instrument.card().ok_or_else(|| {
        ConnectorError::Invalid("the sandbox takes card or crypto payments: card missing".into())
    })?;
    check_operation(request)?;
    let digits: String = card
        .number
        .expose()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !luhn_valid(&digits) {
        return Err(ConnectorError::Invalid(
            "the card number fails the Luhn check".into(),
        ));
    }
    Ok((card, digits))
}

/// A zero-amount verify, a positive authorize or sale; nothing else pays.
fn check_operation(request: &AuthorizeRequest) -> Result<(), ConnectorError> {
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

fn check_follow_up_amount(operation: Operation, amount: i64) -> Result<(), ConnectorError> {
    let needs_amount = matches!(
        operation,
        Operation::Capture | Operation::IncrementAuthorization | Operation::Refund
    );
    if (needs_amount && amount < 1) || amount < 0 {
        return Err(ConnectorError::Invalid(format!(
            "the {} amount must be positive",
            operation.as_str()
        )));
    }
    Ok(())
}

/// A repeated follow-up answers as the first one did, moving nothing.
fn replay_operation(operation: Operation, done: &OperationRow) -> ConnectorResult {
    if done.kind != operation.as_str() {
        let message = format!("the transaction id was already used for a {}", done.kind);
        return Err(ConnectorError::Invalid(message));
    }
    Ok(succeeded(done.id.clone(), done.amount))
}

/// A follow-up that moved `amount`.
fn succeeded(operation_id: String, amount: i64) -> ConnectorResponse {
    ConnectorResponse {
        outcome: Outcome::Succeeded,
        connector_transaction_id: Some(operation_id),
        http_code: Some(200),
        amount: Some(amount),
        amount_received: None,
        mandate: None,
    }
}

/// Why the processor refuses `operation` on `payment` as it stands.
fn refusal(operation: Operation, payment: &PaymentRow, amount: i64) -> String {
    let (state, authorized) = (describe(payment), payment.authorized);
    match (operation, payment.state.as_str()) {
        (Operation::Capture, "authorized") => {
            format!("the capture amount {amount} exceeds the authorized amount {authorized}")
        }
        (Operation::IncrementAuthorization, "authorized") => {
            format!("the new total {amount} must exceed the authorized amount {authorized}")
        }
        (Operation::Reverse, "captured") => "a capture with refunds cannot be reversed".to_owned(),
        (Operation::Refund, "captured") => {
            let refundable = payment.captured - payment.refunded;
            format!("the refund amount {amount} exceeds the refundable amount {refundable}")
        }
        (Operation::Reverse, _) => {
            format!("only a captured payment can be reversed; the payment is {state}")
        }
        (Operation::Refund, _) => {
            format!("only a captured payment can be refunded; the payment is {state}")
        }
        _ => {
            let kind = operation.as_str();
            format!("only an uncaptured authorization allows {kind}; the payment is {state}")
        }
    }
}

/// A payment's standing, in words.
fn describe(payment: &PaymentRow) -> &str {
    match (payment.status.as_str(), payment.state.as_str()) {
        ("requires_action", _) if payment.method == "crypto" => "awaiting its payment",
        ("pending", _) if payment.method == "crypto" => "underpaid, awaiting its expiry",
        ("succeeded", _) if payment.method == "crypto" => "paid",
        ("succeeded", "none") => "a verification",
        ("succeeded", state) => state,
        ("requires_action", _) => "awaiting 3-D Secure",
        (status, _) => status,
    }
}

pub(crate) fn decline_message(code: &str) -> &'static str {
    match code {
        "insufficient_funds" => "Your card has insufficient funds.",
        "expired_card" => "Your card has expired.",
        "incorrect_cvc" => "Your card's security code is incorrect.",
        PROCESSING_ERROR => "An error occurred while processing your card.",
        _ => "Your card was declined.",
    }
}

/// The HTTP code the sandbox answers an outcome with: 402 for a refusal.
fn http_code(outcome: &Outcome) -> u16 {
    match outcome {
        Outcome::Declined { .. } | Outcome::Failed { .. } => 402,
        _ => 200,
    }
}

fn processor_failure() -> ConnectorError {
    let message = "the sandbox processor failed".to_owned();
    ConnectorError::Provider {
        http_code: Some(500),
        message,
    }
}

#[async_trait]
impl Connector for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            payment_methods: vec!["card", "crypto"],
            currencies: None,
            operations: vec![
                Operation::Authorize,
                Operation::Sale,
                Operation::Verify,
                Operation::Capture,
                Operation::IncrementAuthorization,
                Operation::Void,
                Operation::Reverse,
                Operation::Refund,
                Operation::Sync,
            ],
        }
    }

    async fn authorize(&self, request: AuthorizeRequest) -> ConnectorResult {
        match &request.instrument {
            Instrument::Mandate { token } => return self.charge_mandate(&request, token).await,
            Instrument::Crypto => return self.record_invoice(&request).await,
            Instrument::Card(_) => {}
        }
        let (card, digits) = check_authorize(&request)?;
        self.record_payment(&request, card, &digits).await
    }

    async fn capture(&self, request: FollowUpRequest) -> ConnectorResult {
        self.follow_up(Operation::Capture, request).await
    }

    async fn increment_authorization(&self, request: FollowUpRequest) -> ConnectorResult {
        self.follow_up(Operation::IncrementAuthorization, request)
            .await
    }

    async fn void(&self, request: FollowUpRequest) -> ConnectorResult {
        self.follow_up(Operation::Void, request).await
    }

    async fn reverse(&self, request: FollowUpRequest) -> ConnectorResult {
        self.follow_up(Operation::Reverse, request).await
    }

    async fn refund(&self, request: FollowUpRequest) -> ConnectorResult {
        self.follow_up(Operation::Refund, request).await
    }

    /// The recorded outcome of the operation with this transaction id; a
    /// due asynchronous approval settles here.
    async fn sync(&self, request: SyncRequest) -> ConnectorResult {
        let (account_id, transaction_id) =
            (request.account.account_id.as_str(), &request.transaction_id);
        if let Some(payment) = self
            .state
            .payment_by_transaction(account_id, transaction_id)
            .await?
        {
            let payment = self.current(payment).await?;
            let answer = self.payment_response(&payment);
            return self
                .with_mandate(answer, &payment.status, account_id, transaction_id)
                .await;
        }
        match self
            .state
            .operation_by_transaction(account_id, transaction_id)
            .await?
        {
            Some(done) => Ok(succeeded(done.id, done.amount)),
            None => Ok(ConnectorResponse {
                outcome: Outcome::NotFound,
                connector_transaction_id: None,
                http_code: Some(404),
                amount: None,
                amount_received: None,
                mandate: None,
            }),
        }
    }

    /// Standard Webhooks over the sandbox's body (see `notifications`).
    fn verify_notification(
        &self,
        _account: &AccountContext,
        webhook_secret: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Notification, NotificationError> {
        notifications::verify(webhook_secret, headers, body, now)
    }
}
