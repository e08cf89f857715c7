//! The subscription state machine as a pure function: one place decides
//! which status a command leads to and which event it emits; services
//! apply the result.

use serde::{Deserialize, Serialize};

/// A subscription's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Created without a trial; its first invoice is not paid yet.
    Incomplete,
    Trialing,
    Active,
    /// A renewal payment failed and is being retried.
    PastDue,
    /// Every retry failed; the subscription stays until paid or canceled.
    Unpaid,
    Paused,
    Canceled,
    /// The first invoice expired unpaid.
    IncompleteExpired,
}

/// Every status, for parsing and tests.
pub const ALL_STATUSES: [SubscriptionStatus; 8] = [
    SubscriptionStatus::Incomplete,
    SubscriptionStatus::Trialing,
    SubscriptionStatus::Active,
    SubscriptionStatus::PastDue,
    SubscriptionStatus::Unpaid,
    SubscriptionStatus::Paused,
    SubscriptionStatus::Canceled,
    SubscriptionStatus::IncompleteExpired,
];

impl SubscriptionStatus {
    /// The status's name in the API (`past_due`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Unpaid => "unpaid",
            SubscriptionStatus::Paused => "paused",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
        }
    }

    /// The status named `text`, as [`SubscriptionStatus::as_str`] spells it.
    pub fn parse(text: &str) -> Option<SubscriptionStatus> {
        ALL_STATUSES
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// Whether the subscription has ended: no command applies any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
        )
    }
}

/// The status a new subscription starts in.
pub fn initial_status(has_trial: bool) -> SubscriptionStatus {
    if has_trial {
        SubscriptionStatus::Trialing
    } else {
        SubscriptionStatus::Incomplete
    }
}

/// Whether the subscription's price may be changed (an upgrade or
/// downgrade) in `status`.
pub fn may_change_price(status: SubscriptionStatus) -> bool {
    use SubscriptionStatus as S;
    matches!(status, S::Active | S::Trialing | S::PastDue)
}

/// Whether renewals raise invoices in `status`: not while paused, before
/// the first payment, or once ended.
pub fn bills(status: SubscriptionStatus) -> bool {
    use SubscriptionStatus as S;
    matches!(status, S::Trialing | S::Active | S::PastDue | S::Unpaid)
}

/// What a payment outcome, a job or a client asks of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionCommand {
    /// One of its invoices was paid.
    InvoicePaid,
    /// A payment of one of its invoices failed.
    PaymentFailed,
    /// Dunning made its last retry, and it failed.
    RetriesExhausted,
    /// The first invoice of an incomplete subscription expired unpaid.
    FirstInvoiceExpired,
    Pause,
    Resume,
    Cancel,
}

/// Every command, for tests.
pub const ALL_COMMANDS: [SubscriptionCommand; 7] = [
    SubscriptionCommand::InvoicePaid,
    SubscriptionCommand::PaymentFailed,
    SubscriptionCommand::RetriesExhausted,
    SubscriptionCommand::FirstInvoiceExpired,
    SubscriptionCommand::Pause,
    SubscriptionCommand::Resume,
    SubscriptionCommand::Cancel,
];

/// The outcome of an allowed command: the new status and the event to
/// emit, if any (`None` also when the caller records the change itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionTransition {
    pub to: SubscriptionStatus,
    pub event: Option<&'static str>,
}

/// Why a command is refused in a status, in words for the API's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", refusal(*.from, *.command))]
pub struct SubscriptionError {
    pub from: SubscriptionStatus,
    pub command: SubscriptionCommand,
}

/// Where `command` takes a subscription in `from`, or why it may not.
pub fn transition(
    from: SubscriptionStatus,
    command: SubscriptionCommand,
) -> Result<SubscriptionTransition, SubscriptionError> {
    use SubscriptionCommand as C;
    use SubscriptionStatus as S;
    let (to, event) = match (command, from) {
        (C::InvoicePaid, S::Incomplete | S::Trialing | S::PastDue | S::Unpaid) => {
            (S::Active, Some("subscription.activated"))
        }
        // A renewal paid: the caller emits its own renewal event.
        (C::InvoicePaid, S::Active) => (S::Active, None),
        (C::PaymentFailed, S::Active | S::Trialing) => (S::PastDue, Some("subscription.past_due")),
        // Already failing: another failed attempt changes nothing.
        (C::PaymentFailed, S::PastDue | S::Incomplete | S::Unpaid) => (from, None),
        (C::RetriesExhausted, S::PastDue) => (S::Unpaid, Some("subscription.unpaid")),
        // Never started, so there is nothing to announce as canceled.
        (C::FirstInvoiceExpired, S::Incomplete) => (S::IncompleteExpired, None),
        (C::Pause, S::Active | S::Trialing | S::PastDue) => {
            (S::Paused, Some("subscription.paused"))
        }
        (C::Resume, S::Paused) => (S::Active, Some("subscription.resumed")),
        (C::Cancel, _) if !from.is_terminal() => (S::Canceled, Some("subscription.canceled")),
        _ => return Err(SubscriptionError { from, command }),
    };
    Ok(SubscriptionTransition { to, event })
}

fn refusal(from: SubscriptionStatus, command: SubscriptionCommand) -> String {
    use SubscriptionCommand as C;
    use SubscriptionStatus as S;
    let status = from.as_str();
    match (command, from) {
        (C::Pause, S::Paused) => "the subscription is already paused".into(),
        (C::Cancel, S::Canceled) => "the subscription is already canceled".into(),
        (C::Resume, _) => {
            format!("only a paused subscription can be resumed; this one is {status}")
        }
        (C::RetriesExhausted, _) => format!(
            "only a past_due subscription can run out of payment retries; this one is {status}"
        ),
        (C::FirstInvoiceExpired, _) => format!(
            "only an incomplete subscription's first invoice can expire; this one is {status}"
        ),
        (C::InvoicePaid, _) => format!("{} cannot be activated by a payment", phrase(from)),
        (C::PaymentFailed, _) => format!("{} cannot record a failed payment", phrase(from)),
        (C::Pause, _) => format!("{} cannot be paused", phrase(from)),
        (C::Cancel, _) => format!("{} cannot be canceled", phrase(from)),
    }
}

/// "a canceled subscription", with the right article.
fn phrase(status: SubscriptionStatus) -> String {
    let article = match status {
        SubscriptionStatus::Incomplete
        | SubscriptionStatus::Active
        | SubscriptionStatus::Unpaid
        | SubscriptionStatus::IncompleteExpired => "an",
        _ => "a",
    };
    format!("{article} {} subscription", status.as_str())
}

#[cfg(test)]
mod tests;
