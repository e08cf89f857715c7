//! Mandates: a customer's card kept at a connector for charges with no
//! customer present. The one place that decides what a mandate allows.

use crate::order::Refused;

/// Where a mandate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MandateStatus {
    /// May be charged.
    Active,
    /// Revoked for good: never charged again.
    Revoked,
}

impl MandateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MandateStatus::Active => "active",
            MandateStatus::Revoked => "revoked",
        }
    }

    pub fn parse(value: &str) -> Option<MandateStatus> {
        match value {
            "active" => Some(MandateStatus::Active),
            "revoked" => Some(MandateStatus::Revoked),
            _ => None,
        }
    }
}

/// What may be asked of a mandate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MandateCommand {
    Charge,
    Revoke,
}

impl MandateCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            MandateCommand::Charge => "charge",
            MandateCommand::Revoke => "revoke",
        }
    }
}

/// Decides whether `command` may run on a mandate in `status`: only an
/// active mandate is charged or revoked.
pub fn check(status: MandateStatus, command: MandateCommand) -> Result<(), Refused> {
    match status {
        MandateStatus::Active => Ok(()),
        MandateStatus::Revoked => Err(Refused {
            message: format!(
                "cannot {} a mandate in this state: the mandate is {}",
                command.as_str(),
                status.as_str()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_active_mandate_is_charged_or_revoked() {
        for command in [MandateCommand::Charge, MandateCommand::Revoke] {
            assert_eq!(check(MandateStatus::Active, command), Ok(()));
            let refused = check(MandateStatus::Revoked, command).expect_err("revoked");
            assert_eq!(
                refused.message,
                format!(
                    "cannot {} a mandate in this state: the mandate is revoked",
                    command.as_str()
                )
            );
        }
        for status in [MandateStatus::Active, MandateStatus::Revoked] {
            assert_eq!(MandateStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(MandateStatus::parse("paused"), None);
    }
}
