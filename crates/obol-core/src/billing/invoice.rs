//! The invoice state machine as a pure function.

use serde::{Deserialize, Serialize};

/// An invoice's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Still editable; not yet owed.
    Draft,
    /// Finalized and owed.
    Open,
    Paid,
    /// Canceled; a void invoice is never owed again.
    Void,
    /// Written off as unlikely to be paid; may still be paid or voided.
    Uncollectible,
}

/// Every status, for parsing and tests.
pub const ALL_STATUSES: [InvoiceStatus; 5] = [
    InvoiceStatus::Draft,
    InvoiceStatus::Open,
    InvoiceStatus::Paid,
    InvoiceStatus::Void,
    InvoiceStatus::Uncollectible,
];

impl InvoiceStatus {
    /// The status's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
        }
    }

    /// The status named `text`, as [`InvoiceStatus::as_str`] spells it.
    pub fn parse(text: &str) -> Option<InvoiceStatus> {
        ALL_STATUSES
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// What a client, job or payment outcome asks of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvoiceCommand {
    Finalize,
    Pay,
    Void,
    MarkUncollectible,
}

/// Every command, for tests.
pub const ALL_COMMANDS: [InvoiceCommand; 4] = [
    InvoiceCommand::Finalize,
    InvoiceCommand::Pay,
    InvoiceCommand::Void,
    InvoiceCommand::MarkUncollectible,
];

/// Why a command is refused in a status, in words for the API's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", refusal(*.from, *.command))]
pub struct InvoiceError {
    pub from: InvoiceStatus,
    pub command: InvoiceCommand,
}

/// The status `command` takes an invoice in `from` to, or why it may not.
pub fn invoice_transition(
    from: InvoiceStatus,
    command: InvoiceCommand,
) -> Result<InvoiceStatus, InvoiceError> {
    use InvoiceCommand as C;
    use InvoiceStatus as S;
    match (command, from) {
        (C::Finalize, S::Draft) => Ok(S::Open),
        (C::Pay, S::Open | S::Uncollectible) => Ok(S::Paid),
        (C::Void, S::Draft | S::Open | S::Uncollectible) => Ok(S::Void),
        (C::MarkUncollectible, S::Open) => Ok(S::Uncollectible),
        _ => Err(InvoiceError { from, command }),
    }
}

fn refusal(from: InvoiceStatus, command: InvoiceCommand) -> String {
    use InvoiceCommand as C;
    use InvoiceStatus as S;
    let status = from.as_str();
    match (command, from) {
        (C::Finalize, _) => format!("only a draft invoice can be finalized; this one is {status}"),
        (C::Pay, S::Draft) => "a draft invoice must be finalized before it is paid".into(),
        (C::Pay, S::Paid) => "the invoice is already paid".into(),
        (C::Pay, _) => format!("a {status} invoice cannot be paid"),
        // Paid money is returned by a credit note, never by voiding.
        (C::Void, S::Paid) => "a paid invoice cannot be voided; issue a credit note".into(),
        (C::Void, S::Void) => "the invoice is already void".into(),
        (C::Void, _) => format!("a {status} invoice cannot be voided"),
        (C::MarkUncollectible, _) => {
            format!("only an open invoice can be marked uncollectible; this one is {status}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_and_print() {
        for status in ALL_STATUSES {
            assert_eq!(InvoiceStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(InvoiceStatus::parse("deleted"), None);
    }

    #[test]
    fn table_of_transitions() {
        use InvoiceCommand as C;
        use InvoiceStatus as S;
        let allowed: Vec<(S, C, S)> = ALL_STATUSES
            .iter()
            .flat_map(|&from| ALL_COMMANDS.iter().map(move |&command| (from, command)))
            .filter_map(|(from, command)| {
                invoice_transition(from, command)
                    .ok()
                    .map(|to| (from, command, to))
            })
            .collect();
        let expected = vec![
            (S::Draft, C::Finalize, S::Open),
            (S::Draft, C::Void, S::Void),
            (S::Open, C::Pay, S::Paid),
            (S::Open, C::Void, S::Void),
            (S::Open, C::MarkUncollectible, S::Uncollectible),
            (S::Uncollectible, C::Pay, S::Paid),
            (S::Uncollectible, C::Void, S::Void),
        ];
        assert_eq!(allowed, expected);
    }

    #[test]
    fn refusals_say_why() {
        use InvoiceCommand as C;
        use InvoiceStatus as S;
        let message = |from, command| {
            invoice_transition(from, command)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            message(S::Open, C::Finalize),
            "only a draft invoice can be finalized; this one is open"
        );
        assert_eq!(
            message(S::Paid, C::Void),
            "a paid invoice cannot be voided; issue a credit note"
        );
        assert_eq!(
            message(S::Draft, C::Pay),
            "a draft invoice must be finalized before it is paid"
        );
        assert_eq!(message(S::Paid, C::Pay), "the invoice is already paid");
        assert_eq!(message(S::Void, C::Pay), "a void invoice cannot be paid");
        assert_eq!(message(S::Void, C::Void), "the invoice is already void");
        assert_eq!(
            message(S::Draft, C::MarkUncollectible),
            "only an open invoice can be marked uncollectible; this one is draft"
        );
    }
}
