//! The sandbox's persistent state, behind a trait: the simulator decides
//! every answer, its state keeps the payments, follow-ups and mandates a
//! processor would keep. The connector crate stays free of any store; the
//! server plugs in one over Obol's database.
//!
//! Each method is one atomic step: a single statement, or for a follow-up
//! one transaction, so concurrent calls cannot both pass a rule that only
//! one of them may pass. A failure of the state itself is an error whose
//! outcome is unknown to the caller (`ConnectorError::state`).

use crate::{ConnectorError, Operation};
use async_trait::async_trait;

/// A payment to record: the outcome of an authorize, sale or verify call.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub transaction_id: &'a str,
    /// `authorize`, `sale` or `verify`.
    pub operation: &'a str,
    pub currency: &'a str,
    pub amount: i64,
    /// `succeeded`, `pending`, `requires_action`, `declined` or `failed`.
    pub status: &'a str,
    pub decline_code: Option<&'a str>,
    /// `none`, `authorized` or `captured`.
    pub state: &'a str,
    pub authorized: i64,
    pub captured: i64,
    pub card_brand: &'a str,
    pub card_last4: &'a str,
    /// When a pending (asynchronous) payment succeeds on its own.
    pub settle_at_ms: Option<i64>,
    /// Where the customer goes back to after a challenge or an invoice.
    pub return_url: &'a str,
    pub now_ms: i64,
    /// `card` or `crypto` (an invoice; `card_brand` and `card_last4` empty).
    pub method: &'a str,
    /// When a crypto invoice not paid in full fails.
    pub invoice_expires_at_ms: Option<i64>,
}

/// A recorded sandbox payment.
#[derive(Debug, Clone)]
pub struct PaymentRow {
    pub id: String,
    pub account_id: String,
    pub transaction_id: String,
    pub operation: String,
    pub currency: String,
    pub amount: i64,
    pub status: String,
    pub decline_code: Option<String>,
    /// `none`, `authorized`, `captured`, `voided` or `reversed`.
    pub state: String,
    pub authorized: i64,
    pub captured: i64,
    pub refunded: i64,
    pub card_brand: String,
    pub card_last4: String,
    pub settle_at: Option<i64>,
    pub return_url: Option<String>,
    pub created_at: i64,
    /// `card` or `crypto`.
    pub method: String,
    /// When a crypto invoice not paid in full fails.
    pub invoice_expires_at: Option<i64>,
    /// What a crypto invoice received, once paid.
    pub amount_received: Option<i64>,
}

/// A recorded follow-up operation.
#[derive(Debug, Clone)]
pub struct OperationRow {
    pub id: String,
    pub account_id: String,
    pub transaction_id: String,
    pub payment_id: String,
    /// `capture`, `increment_authorization`, `void`, `reverse` or `refund`.
    pub kind: String,
    pub amount: i64,
    pub created_at: i64,
}

/// The processor rule a follow-up applies, each one conditional update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Captures the amount of an uncaptured authorization that covers it;
    /// the rest of the hold is released.
    Capture,
    /// Raises an uncaptured authorization to the amount, which must exceed it.
    IncrementAuthorization,
    /// Voids an uncaptured authorization (acting on all of it), else cancels
    /// a payment awaiting its 3-D Secure challenge (acting on its amount).
    Void,
    /// Voids a capture that has no refunds, returning all of it.
    Reverse,
    /// Refunds the amount of a capture if that much is still unrefunded.
    Refund,
}

impl Rule {
    /// The rule of a follow-up operation; `Unsupported` for a payment or sync.
    pub fn of(operation: Operation) -> Result<Rule, ConnectorError> {
        match operation {
            Operation::Capture => Ok(Rule::Capture),
            Operation::IncrementAuthorization => Ok(Rule::IncrementAuthorization),
            Operation::Void => Ok(Rule::Void),
            Operation::Reverse => Ok(Rule::Reverse),
            Operation::Refund => Ok(Rule::Refund),
            other => Err(ConnectorError::Unsupported(other.as_str())),
        }
    }

    pub fn operation(self) -> Operation {
        match self {
            Rule::Capture => Operation::Capture,
            Rule::IncrementAuthorization => Operation::IncrementAuthorization,
            Rule::Void => Operation::Void,
            Rule::Reverse => Operation::Reverse,
            Rule::Refund => Operation::Refund,
        }
    }
}

/// A follow-up to apply: the operation row that claims the transaction id,
/// and the payment it acts on.
#[derive(Debug, Clone)]
pub struct FollowUp<'a> {
    /// The sandbox's id for the new operation.
    pub id: &'a str,
    pub account_id: &'a str,
    /// Obol's transaction id of the follow-up: the claimed key.
    pub transaction_id: &'a str,
    /// Obol's transaction id of the payment acted on, looked up first.
    pub payment_transaction_id: &'a str,
    /// The sandbox's id of that payment, looked up when the first finds none.
    pub connector_payment_id: Option<&'a str>,
    /// The payment must be in this currency.
    pub currency: &'a str,
    pub rule: Rule,
    /// The amount asked (for an increment, the new authorized total).
    pub amount: i64,
    pub now_ms: i64,
}

/// What became of a follow-up; only `Applied` wrote anything.
#[derive(Debug, Clone)]
pub enum FollowUpOutcome {
    /// The rule passed on the payment `payment_id`, and the operation is
    /// recorded with the amount it acted on.
    Applied { payment_id: String, acted: i64 },
    /// The account already has an operation with this transaction id.
    AlreadyDone(OperationRow),
    /// A concurrent call with this transaction id claimed it first; it is
    /// to be read back once that call has committed.
    ClaimTaken,
    /// The account has no such payment.
    NoPayment,
    /// The payment is in this other currency.
    OtherCurrency(String),
    /// The rule refused; the payment as it stands.
    Refused(Box<PaymentRow>),
}

/// A mandate the sandbox keeps for later charges: the card as shown, and
/// what those charges do — never the card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandateRow {
    pub token: String,
    pub account_id: String,
    /// Obol's transaction id of the payment that sets it up: the mandate
    /// may be charged once that payment succeeded.
    pub transaction_id: String,
    pub card_brand: String,
    pub card_last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    /// How every later charge is declined; `None`: approved.
    pub charge_decline_code: Option<String>,
    pub created_at: i64,
}

/// Where the sandbox keeps its payments and operations.
#[async_trait]
pub trait SandboxState: Send + Sync {
    /// Records a payment; false when the account already has one with this
    /// transaction id (the unique key catches a repeat, even a concurrent one).
    async fn insert_payment(&self, payment: &NewPayment<'_>) -> Result<bool, ConnectorError>;

    /// The account's payment made with this Obol transaction id.
    async fn payment_by_transaction(
        &self,
        account_id: &str,
        transaction_id: &str,
    ) -> Result<Option<PaymentRow>, ConnectorError>;

    /// The payment with this sandbox id, whatever its account (the challenge
    /// page knows only the id).
    async fn payment_by_id(&self, id: &str) -> Result<Option<PaymentRow>, ConnectorError>;

    /// Settles what has come due on a payment: a pending asynchronous
    /// approval succeeds (the money moves as its operation says); a crypto
    /// invoice past its expiry and not paid in full is declined,
    /// `underpaid` when it received something, else `expired`. False when
    /// nothing was due.
    async fn settle_due(&self, id: &str, now_ms: i64) -> Result<bool, ConnectorError>;

    /// Records what an open, unexpired crypto invoice received: in full or
    /// more, the sale succeeds (captured); less, it stays pending until its
    /// expiry. False when the invoice is not open for payment.
    async fn pay_invoice(
        &self,
        id: &str,
        received: i64,
        now_ms: i64,
    ) -> Result<bool, ConnectorError>;

    /// Schedules the sandbox's own notification about payment `id` at
    /// `at_ms`: it then tells Obol how the payment stands, signed.
    async fn schedule_notification(
        &self,
        id: &str,
        at_ms: i64,
        now_ms: i64,
    ) -> Result<(), ConnectorError>;

    /// Ends a 3-D Secure challenge: succeeded (the money moves as the
    /// operation says) or declined with `decline_code`; false unless the
    /// payment awaited one.
    async fn finish_challenge(
        &self,
        id: &str,
        decline_code: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, ConnectorError>;

    /// The account's follow-up made with this Obol transaction id.
    async fn operation_by_transaction(
        &self,
        account_id: &str,
        transaction_id: &str,
    ) -> Result<Option<OperationRow>, ConnectorError>;

    /// Applies a follow-up in one transaction, in this order: an operation
    /// already made with its transaction id stops it; the payment is found
    /// (by Obol's transaction id, else by the sandbox's id, among the
    /// account's payments) and must be in its currency; a due asynchronous
    /// approval settles; the operation row claims the transaction id; the
    /// rule's conditional update runs, and the row records what it acted
    /// on. Anything but `Applied` rolls all of it back.
    async fn follow_up(&self, follow_up: &FollowUp<'_>) -> Result<FollowUpOutcome, ConnectorError>;

    /// Records the mandate a payment sets up, before that payment is
    /// recorded; a second one for the same payment (a repeated call) is
    /// dropped and the first kept.
    async fn insert_mandate(&self, mandate: &MandateRow) -> Result<(), ConnectorError>;

    /// The mandate that the account's payment with this Obol transaction id
    /// sets up.
    async fn mandate_of_payment(
        &self,
        account_id: &str,
        transaction_id: &str,
    ) -> Result<Option<MandateRow>, ConnectorError>;

    /// The account's mandate with this token.
    async fn mandate_by_token(
        &self,
        account_id: &str,
        token: &str,
    ) -> Result<Option<MandateRow>, ConnectorError>;
}
