//! Order, transaction and refund state machines as pure functions: one
//! place decides what is allowed; services apply the result.

use serde::{Deserialize, Serialize};

/// An order's status (api.md's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    InProgress,
    RequiresAction,
    Processing,
    Authorized,
    Paid,
    Completed,
    PartiallyRefunded,
    Refunded,
    Canceled,
    Reversed,
    Expired,
}

pub const ALL_STATUSES: [OrderStatus; 11] = [
    OrderStatus::InProgress,
    OrderStatus::RequiresAction,
    OrderStatus::Processing,
    OrderStatus::Authorized,
    OrderStatus::Paid,
    OrderStatus::Completed,
    OrderStatus::PartiallyRefunded,
    OrderStatus::Refunded,
    OrderStatus::Canceled,
    OrderStatus::Reversed,
    OrderStatus::Expired,
];

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::InProgress => "in_progress",
            OrderStatus::RequiresAction => "requires_action",
            OrderStatus::Processing => "processing",
            OrderStatus::Authorized => "authorized",
            OrderStatus::Paid => "paid",
            OrderStatus::Completed => "completed",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Reversed => "reversed",
            OrderStatus::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        ALL_STATUSES
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// Whether money was captured and not all of it returned.
    pub fn is_captured(self) -> bool {
        matches!(
            self,
            OrderStatus::Paid | OrderStatus::Completed | OrderStatus::PartiallyRefunded
        )
    }
}

/// What a client or job asks of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderCommand {
    Confirm,
    Capture,
    IncrementAuthorization,
    Void,
    Reverse,
    Refund,
    /// PATCH of `amount`/`items`.
    ChangeAmount,
    Expire,
    ExpireAuthorization,
    Clear,
}

pub const ALL_COMMANDS: [OrderCommand; 10] = [
    OrderCommand::Confirm,
    OrderCommand::Capture,
    OrderCommand::IncrementAuthorization,
    OrderCommand::Void,
    OrderCommand::Reverse,
    OrderCommand::Refund,
    OrderCommand::ChangeAmount,
    OrderCommand::Expire,
    OrderCommand::ExpireAuthorization,
    OrderCommand::Clear,
];

impl OrderCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderCommand::Confirm => "confirm",
            OrderCommand::Capture => "capture",
            OrderCommand::IncrementAuthorization => "increment_authorization",
            OrderCommand::Void => "void",
            OrderCommand::Reverse => "reverse",
            OrderCommand::Refund => "refund",
            OrderCommand::ChangeAmount => "change the amount of",
            OrderCommand::Expire => "expire",
            OrderCommand::ExpireAuthorization => "expire the authorization of",
            OrderCommand::Clear => "clear",
        }
    }
}

/// Facts about an order beyond its status that decide what is allowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderFacts {
    /// A connector operation on the order is waiting for its answer.
    pub in_flight: bool,
    /// Clearing has run (`cleared_at` set).
    pub cleared: bool,
    /// A refund exists (pending or succeeded).
    pub has_refunds: bool,
    /// A payment was attempted (any transaction exists).
    pub attempted: bool,
    /// Money was captured: a zero-amount verification pays an order with
    /// nothing captured, so nothing to reverse or refund.
    pub captured: bool,
    /// A payment (authorize, sale, verify) of the order is still open.
    pub payment_open: bool,
}

/// Why a command is refused: `invalid_state`, with a message naming both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub message: String,
}

/// Decides whether `command` may run on an order in `status`.
pub fn check(status: OrderStatus, command: OrderCommand, facts: OrderFacts) -> Result<(), Refused> {
    use OrderCommand as C;
    use OrderStatus as S;
    let allowed = match command {
        C::Confirm => status == S::InProgress && !facts.in_flight,
        C::Capture | C::IncrementAuthorization => status == S::Authorized && !facts.in_flight,
        C::Void => {
            matches!(status, S::InProgress | S::RequiresAction | S::Authorized) && !facts.in_flight
        }
        C::Reverse => {
            status == S::Paid
                && facts.captured
                && !facts.cleared
                && !facts.has_refunds
                && !facts.in_flight
        }
        // Refunds reserve instead of claiming, but never overlap a reverse.
        C::Refund => status.is_captured() && facts.captured && !facts.in_flight,
        C::ChangeAmount => status == S::InProgress && !facts.attempted && !facts.in_flight,
        // A processing order's payment may still succeed: it expires only
        // once nothing is open (a 3-D Secure payment is open with nothing
        // in flight).
        C::Expire => {
            (matches!(status, S::InProgress | S::RequiresAction)
                || (status == S::Processing && !facts.payment_open))
                && !facts.in_flight
        }
        C::ExpireAuthorization => status == S::Authorized && !facts.in_flight,
        C::Clear => {
            matches!(status, S::Paid | S::PartiallyRefunded) && !facts.cleared && !facts.in_flight
        }
    };
    if allowed {
        return Ok(());
    }
    let reason = if facts.in_flight && status != S::Processing {
        format!(
            "another operation on this order is waiting for its connector (status {})",
            status.as_str()
        )
    } else if status.is_captured() && !facts.captured {
        format!(
            "the order is {} by a zero-amount verification: nothing was captured",
            status.as_str()
        )
    } else {
        format!("the order is {}", status.as_str())
    };
    Err(Refused {
        message: format!(
            "cannot {} an order in this state: {reason}",
            command.as_str()
        ),
    })
}

/// Whether a time-driven `command` that `check` refused may be allowed
/// once an open operation settles, so that its step comes back later
/// instead of ending: one waiting for its connector, or for expiry the
/// open payment of a processing order.
pub fn waits_for_connector(status: OrderStatus, command: OrderCommand, facts: OrderFacts) -> bool {
    facts.in_flight
        || (command == OrderCommand::Expire
            && status == OrderStatus::Processing
            && facts.payment_open)
}

/// The kind of a payment transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    Authorize,
    Sale,
    Capture,
    Void,
    Reverse,
    Refund,
    IncrementAuthorization,
    Verify,
}

impl TransactionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Authorize => "authorize",
            TransactionKind::Sale => "sale",
            TransactionKind::Capture => "capture",
            TransactionKind::Void => "void",
            TransactionKind::Reverse => "reverse",
            TransactionKind::Refund => "refund",
            TransactionKind::IncrementAuthorization => "increment_authorization",
            TransactionKind::Verify => "verify",
        }
    }

    pub fn parse(text: &str) -> Option<TransactionKind> {
        [
            TransactionKind::Authorize,
            TransactionKind::Sale,
            TransactionKind::Capture,
            TransactionKind::Void,
            TransactionKind::Reverse,
            TransactionKind::Refund,
            TransactionKind::IncrementAuthorization,
            TransactionKind::Verify,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    /// Whether this kind starts a payment (as opposed to acting on one).
    pub fn is_payment(self) -> bool {
        matches!(
            self,
            TransactionKind::Authorize | TransactionKind::Sale | TransactionKind::Verify
        )
    }
}

/// A transaction's status; `succeeded` and `failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Unknown,
}

impl TransactionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionStatus::Pending => "pending",
            TransactionStatus::RequiresAction => "requires_action",
            TransactionStatus::Succeeded => "succeeded",
            TransactionStatus::Failed => "failed",
            TransactionStatus::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<TransactionStatus> {
        [
            TransactionStatus::Pending,
            TransactionStatus::RequiresAction,
            TransactionStatus::Succeeded,
            TransactionStatus::Failed,
            TransactionStatus::Unknown,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            TransactionStatus::Succeeded | TransactionStatus::Failed
        )
    }

    /// Whether an outcome may still be applied (the writer that wins moves it on).
    pub fn is_open(self) -> bool {
        !self.is_final()
    }
}

/// Whether a transaction may move from `from` to `to`: final states never
/// change; an open one may move to any other state.
pub fn transaction_may_move(from: TransactionStatus, to: TransactionStatus) -> bool {
    from.is_open() && from != to
}

/// The normalized result of a connector call, as the state machines see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    Succeeded,
    Pending,
    RequiresAction,
    Failed,
    /// No answer (5xx, timeout): the outcome is unknown until sync.
    Unknown,
}

impl CallResult {
    pub fn transaction_status(self) -> TransactionStatus {
        match self {
            CallResult::Succeeded => TransactionStatus::Succeeded,
            CallResult::Pending => TransactionStatus::Pending,
            CallResult::RequiresAction => TransactionStatus::RequiresAction,
            CallResult::Failed => TransactionStatus::Failed,
            CallResult::Unknown => TransactionStatus::Unknown,
        }
    }
}

/// The amounts of an order, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    pub amount: i64,
    pub authorized: i64,
    pub captured: i64,
    pub refunded: i64,
    /// Reserved by refunds still waiting for their connector.
    pub refund_pending: i64,
}

impl Amounts {
    /// What may still be refunded: captured − refunded − pending refunds.
    pub fn refundable(self) -> i64 {
        self.captured - self.refunded - self.refund_pending
    }
}

/// Why an amount is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountRefused {
    /// Not a positive amount.
    Invalid(String),
    /// Above what the operation allows: `amount_too_large`.
    TooLarge(String),
}

/// The amount a capture takes: `requested` or all of the authorization.
pub fn capture_amount(amounts: Amounts, requested: Option<i64>) -> Result<i64, AmountRefused> {
    let amount = requested.unwrap_or(amounts.authorized);
    if amount <= 0 {
        return Err(AmountRefused::Invalid(
            "amount must be a positive integer".into(),
        ));
    }
    if amount > amounts.authorized {
        return Err(AmountRefused::TooLarge(format!(
            "amount {amount} is above the authorized {}",
            amounts.authorized
        )));
    }
    Ok(amount)
}

/// The new total of an increment: above the current authorization.
pub fn increment_amount(amounts: Amounts, new_total: i64) -> Result<i64, AmountRefused> {
    if new_total <= amounts.authorized {
        return Err(AmountRefused::Invalid(format!(
            "amount is the new total and must be above the authorized {}",
            amounts.authorized
        )));
    }
    Ok(new_total)
}

/// The amount a refund reserves: `requested` or everything refundable.
pub fn refund_amount(amounts: Amounts, requested: Option<i64>) -> Result<i64, AmountRefused> {
    let refundable = amounts.refundable();
    let amount = requested.unwrap_or(refundable);
    if requested.is_some_and(|value| value <= 0) {
        return Err(AmountRefused::Invalid(
            "amount must be a positive integer".into(),
        ));
    }
    if amount <= 0 || amount > refundable {
        return Err(AmountRefused::TooLarge(format!(
            "amount {amount} is above the refundable {refundable}"
        )));
    }
    Ok(amount)
}

/// The status of a captured order after its refunds.
pub fn status_after_refund(amounts: Amounts, current: OrderStatus) -> OrderStatus {
    if amounts.refunded >= amounts.captured {
        OrderStatus::Refunded
    } else if amounts.refunded > 0 {
        OrderStatus::PartiallyRefunded
    } else {
        current
    }
}

/// The order status after a payment (authorize, sale, verify) call.
pub fn status_after_payment(kind: TransactionKind, result: CallResult) -> OrderStatus {
    match (kind, result) {
        (TransactionKind::Authorize, CallResult::Succeeded) => OrderStatus::Authorized,
        (_, CallResult::Succeeded) => OrderStatus::Paid,
        (_, CallResult::Pending | CallResult::Unknown) => OrderStatus::Processing,
        (_, CallResult::RequiresAction) => OrderStatus::RequiresAction,
        (_, CallResult::Failed) => OrderStatus::InProgress,
    }
}

#[cfg(test)]
mod tests;
