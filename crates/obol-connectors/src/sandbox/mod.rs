//! The sandbox connector: a processor simulator with its own persistent
//! state (`sandbox_payments`, `sandbox_operations`).
//!
//! It keeps authorizations, captures and refunds as a real processor does
//! and enforces the same rules (no capture above the authorized amount, no
//! refund above the captured amount, no double void). The card number picks
//! the outcome, as api.md's test-card table says. Card numbers and CVCs are
//! never stored nor logged: only brand and last four digits are kept.

use crate::{
    AuthorizeRequest, Capabilities, Connector, ConnectorError, ConnectorResponse, ConnectorResult,
    FollowUpRequest, Operation, Outcome, SyncRequest,
};
use async_trait::async_trait;
use obol_core::card::{CardDetails, luhn_valid};
use obol_core::clock::Clock;
use obol_core::new_id;
use obol_core::time::SECOND_MS;
use obol_store::sandbox::{self as store, NewOperation, NewPayment, OperationRow, PaymentRow};
use obol_store::{Conn, Db, StoreError};

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
    db: Db,
    clock: Arc<dyn Clock>,
    /// Obol's public URL; the challenge page lives under it.
    challenge_base_url: String,
}

/// What a test card makes the sandbox do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Approve,
    Decline(&'static str),
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
            _ => Scenario::Approve,
        }
    }
}

impl Sandbox {
    /// A sandbox over Obol's database, reading time from `clock`; challenge
    /// pages are linked under `challenge_base_url` (Obol's public URL).
    pub fn new(db: Db, clock: Arc<dyn Clock>, challenge_base_url: String) -> Sandbox {
        let challenge_base_url = challenge_base_url.trim_end_matches('/').to_owned();
        Sandbox {
            db,
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
        let mut conn = self.connection().await?;
        let decline_code = (!succeed).then_some("generic_decline");
        if store::finish_challenge(&mut conn, payment_id, decline_code, now_ms).await? {
            return Ok(());
        }
        let Some(payment) = store::payment_by_id(&mut conn, payment_id).await? else {
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

    async fn connection(&self) -> Result<obol_store::PoolConn, ConnectorError> {
        // Its reads may settle a payment (a write): use the writer.
        Ok(self.db.write_conn().await?)
    }

    /// The payment as it stands now: a pending one whose time has come is
    /// settled first.
    async fn current(
        &self,
        conn: &mut Conn,
        payment: PaymentRow,
    ) -> Result<PaymentRow, ConnectorError> {
        let now_ms = self.clock.now().as_ms();
        if payment.status == "pending" && store::settle_due(conn, &payment.id, now_ms).await? {
            return reload(conn, &payment.id).await;
        }
        Ok(payment)
    }

    /// The answer a payment's recorded outcome gives.
    fn payment_response(&self, payment: &PaymentRow) -> ConnectorResponse {
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
        let http_code = if matches!(outcome, Outcome::Declined { .. }) {
            402
        } else {
            200
        };
        ConnectorResponse {
            outcome,
            connector_transaction_id: Some(id.to_owned()),
            http_code: Some(http_code),
            amount: Some(amount),
        }
    }

    /// A repeated authorize answers as the first one did, moving nothing.
    async fn replay_payment(&self, conn: &mut Conn, payment: PaymentRow) -> ConnectorResult {
        if payment.status == "failed" {
            return Err(processor_failure());
        }
        let payment = self.current(conn, payment).await?;
        Ok(self.payment_response(&payment))
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
        let mut conn = self.connection().await?;
        let (account_id, transaction_id) = (
            request.account.account_id.as_str(),
            request.transaction_id.as_str(),
        );
        // The unique (account, transaction) key catches a repeat: no read first.
        let scenario = Scenario::for_card(digits);
        let id = new_id("sbx_pay");
        let payment = new_payment(request, card, scenario, &id, self.clock.now().as_ms());
        match store::insert_payment(&mut conn, &payment).await {
            Ok(()) => {
                tracing::debug!(payment_id = %id, account_id, status = payment.status, "sandbox payment")
            }
            Err(StoreError::UniqueViolation) => {
                let first =
                    store::payment_by_transaction(&mut conn, account_id, transaction_id).await?;
                return self
                    .replay_payment(&mut conn, first.ok_or(StoreError::NotFound)?)
                    .await;
            }
            Err(error) => return Err(error.into()),
        }
        drop(conn);
        let answer = self.response(&id, payment.status, payment.decline_code, payment.amount);
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

    /// Capture, increment, void, reverse or refund, race-free: the follow-up
    /// row claims the transaction id (a unique key), then one conditional
    /// update applies the processor rule; a refusal rolls both back.
    async fn follow_up(&self, operation: Operation, request: FollowUpRequest) -> ConnectorResult {
        check_follow_up_amount(operation, request.amount.amount_minor)?;
        let account_id = request.account.account_id.as_str();
        let mut tx = self.db.begin().await?;
        if let Some(done) =
            store::operation_by_transaction(&mut tx, account_id, &request.transaction_id).await?
        {
            return replay_operation(operation, &done);
        }
        let payment = payment_to_act_on(&mut tx, &request).await?;
        let now_ms = self.clock.now().as_ms();
        // A due asynchronous approval counts as settled for what follows.
        store::settle_due(&mut tx, &payment.id, now_ms).await?;
        let id = new_id("sbx_op");
        let amount = request.amount.amount_minor;
        let claim = NewOperation {
            id: &id,
            account_id,
            transaction_id: &request.transaction_id,
            payment_id: &payment.id,
            kind: operation.as_str(),
            amount,
            now_ms,
        };
        match store::insert_operation(&mut tx, &claim).await {
            Ok(()) => {}
            Err(StoreError::UniqueViolation) => {
                drop(tx);
                return self.replay_after_race(operation, &request).await;
            }
            Err(error) => return Err(error.into()),
        }
        let acted = apply_rule(&mut tx, operation, &payment.id, amount, now_ms).await?;
        if acted != amount {
            store::set_operation_amount(&mut tx, &id, acted).await?;
        }
        tx.commit().await?;
        tracing::debug!(operation_id = %id, payment_id = %payment.id, kind = operation.as_str(), acted, "sandbox operation");
        Ok(succeeded(id, acted))
    }

    /// Another call with this transaction id committed first: answer as it did.
    async fn replay_after_race(
        &self,
        operation: Operation,
        request: &FollowUpRequest,
    ) -> ConnectorResult {
        let mut conn = self.connection().await?;
        let (account_id, transaction_id) = (&request.account.account_id, &request.transaction_id);
        let done = store::operation_by_transaction(&mut conn, account_id, transaction_id).await?;
        replay_operation(operation, &done.ok_or(StoreError::NotFound)?)
    }
}

/// The row of a new payment: what its card makes of the operation.
fn new_payment<'a>(
    request: &'a AuthorizeRequest,
    card: &'a CardDetails,
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
        card_brand: card.brand.as_str(),
        card_last4: &card.last4,
        settle_at_ms: None,
        now_ms,
    };
    match (scenario, request.operation) {
        (Scenario::Approve | Scenario::Timeout, Operation::Authorize) => {
            (payment.state, payment.authorized) = ("authorized", amount);
        }
        (Scenario::Approve | Scenario::Timeout, Operation::Sale) => {
            (payment.state, payment.authorized, payment.captured) = ("captured", amount, amount);
        }
        (Scenario::Approve | Scenario::Timeout, _) => {}
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

/// Applies the processor rule of `operation` with one conditional update;
/// the amount it acted on, or `Invalid` saying why not.
async fn apply_rule(
    tx: &mut Conn,
    operation: Operation,
    payment_id: &str,
    amount: i64,
    now_ms: i64,
) -> Result<i64, ConnectorError> {
    let acted = match operation {
        Operation::Capture => store::capture(tx, payment_id, amount, now_ms)
            .await?
            .then_some(amount),
        Operation::IncrementAuthorization => store::increment(tx, payment_id, amount, now_ms)
            .await?
            .then_some(amount),
        Operation::Void => match store::void_authorization(tx, payment_id, now_ms).await? {
            Some(released) => Some(released),
            None => store::cancel_challenge(tx, payment_id, now_ms).await?,
        },
        Operation::Reverse => store::reverse(tx, payment_id, now_ms).await?,
        Operation::Refund => store::refund(tx, payment_id, amount, now_ms)
            .await?
            .then_some(amount),
        _ => return Err(ConnectorError::Unsupported(operation.as_str())),
    };
    match acted {
        Some(acted) => Ok(acted),
        None => {
            let payment = reload(tx, payment_id).await?;
            Err(ConnectorError::Invalid(refusal(
                operation, &payment, amount,
            )))
        }
    }
}

/// A payment known to exist (just written, or found in this transaction).
async fn reload(conn: &mut Conn, id: &str) -> Result<PaymentRow, ConnectorError> {
    Ok(store::payment_by_id(conn, id)
        .await?
        .ok_or(StoreError::NotFound)?)
}

/// Checks what any processor would refuse before looking at state; returns
/// the card and its digits.
fn check_authorize(request: &AuthorizeRequest) -> Result<(&CardDetails, String), ConnectorError> {
    let card = request.card.as_ref().ok_or_else(|| {
        ConnectorError::Invalid("the sandbox takes card payments only: card missing".into())
    })?;
    let amount = request.amount.amount_minor;
    match request.operation {
        Operation::Verify if amount != 0 => {
            return Err(ConnectorError::Invalid(
                "a verify takes a zero amount".into(),
            ));
        }
        Operation::Authorize | Operation::Sale if amount < 1 => {
            return Err(ConnectorError::Invalid(
                "the amount must be positive".into(),
            ));
        }
        Operation::Authorize | Operation::Sale | Operation::Verify => {}
        other => {
            return Err(ConnectorError::Invalid(format!(
                "{} is not a payment",
                other.as_str()
            )));
        }
    }
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

/// The payment a follow-up acts on: by Obol's transaction id of it, else by
/// the sandbox's own id; only among the calling account's payments, and
/// only in its currency.
async fn payment_to_act_on(
    conn: &mut Conn,
    request: &FollowUpRequest,
) -> Result<PaymentRow, ConnectorError> {
    let (account_id, payment_txn) = (
        request.account.account_id.as_str(),
        &request.payment_transaction_id,
    );
    let mut payment = store::payment_by_transaction(conn, account_id, payment_txn).await?;
    if let (None, Some(id)) = (&payment, &request.connector_payment_id) {
        payment = store::payment_for_account(conn, account_id, id).await?;
    }
    let payment = payment.ok_or_else(|| {
        ConnectorError::Invalid(format!("the sandbox has no payment {payment_txn}"))
    })?;
    if payment.currency != request.amount.currency.code() {
        return Err(ConnectorError::Invalid(format!(
            "the payment is in {}",
            payment.currency
        )));
    }
    Ok(payment)
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
        ("succeeded", "none") => "a verification",
        ("succeeded", state) => state,
        ("requires_action", _) => "awaiting 3-D Secure",
        (status, _) => status,
    }
}

fn decline_message(code: &str) -> &'static str {
    match code {
        "insufficient_funds" => "Your card has insufficient funds.",
        "expired_card" => "Your card has expired.",
        "incorrect_cvc" => "Your card's security code is incorrect.",
        PROCESSING_ERROR => "An error occurred while processing your card.",
        _ => "Your card was declined.",
    }
}

fn processor_failure() -> ConnectorError {
    let message = "the sandbox processor failed".to_owned();
    ConnectorError::Provider {
        http_code: Some(500),
        message,
    }
}

/// A connector's own storage failed: to the caller the outcome is unknown,
/// as with a provider that answered 5xx.
impl From<StoreError> for ConnectorError {
    fn from(error: StoreError) -> Self {
        ConnectorError::Provider {
            http_code: None,
            message: format!("connector state: {error}"),
        }
    }
}

#[async_trait]
impl Connector for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
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
                Operation::IncrementAuthorization,
                Operation::Void,
                Operation::Reverse,
                Operation::Refund,
                Operation::Sync,
            ],
        }
    }

    async fn authorize(&self, request: AuthorizeRequest) -> ConnectorResult {
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
        let mut conn = self.connection().await?;
        if let Some(payment) =
            store::payment_by_transaction(&mut conn, account_id, transaction_id).await?
        {
            let payment = self.current(&mut conn, payment).await?;
            return Ok(self.payment_response(&payment));
        }
        match store::operation_by_transaction(&mut conn, account_id, transaction_id).await? {
            Some(done) => Ok(succeeded(done.id, done.amount)),
            None => Ok(ConnectorResponse {
                outcome: Outcome::NotFound,
                connector_transaction_id: None,
                http_code: Some(404),
                amount: None,
            }),
        }
    }
}
