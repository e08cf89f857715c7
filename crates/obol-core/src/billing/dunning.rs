//! Dunning: when a failed renewal payment is tried again.

use crate::time::{DAY_MS, Timestamp};

/// Days after the first failure at which its payment is retried: day 1,
/// 3, 5 and 7, then the retries are exhausted.
pub const DEFAULT_RETRY_DAYS: [u32; 4] = [1, 3, 5, 7];

/// When the next retry after `attempts_made` retries runs:
/// `failed_at + retry_days[attempts_made]` days, every offset counted from
/// the first failure (not from the previous retry). `None` once every
/// retry was made, or when the instant does not fit.
pub fn retry_at(
    failed_at: Timestamp,
    retry_days: &[u32],
    attempts_made: usize,
) -> Option<Timestamp> {
    let days = i64::from(*retry_days.get(attempts_made)?);
    let delay_ms = days.checked_mul(DAY_MS)?;
    failed_at
        .as_ms()
        .checked_add(delay_ms)
        .map(Timestamp::from_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule() {
        let failed_at = Timestamp::from_ms(1_700_000_000_000);
        let at = |attempts| retry_at(failed_at, &DEFAULT_RETRY_DAYS, attempts);
        assert_eq!(at(0), Some(failed_at.plus_ms(DAY_MS)));
        assert_eq!(at(1), Some(failed_at.plus_ms(3 * DAY_MS)));
        assert_eq!(at(2), Some(failed_at.plus_ms(5 * DAY_MS)));
        assert_eq!(at(3), Some(failed_at.plus_ms(7 * DAY_MS)));
        assert_eq!(at(4), None);
        assert_eq!(at(usize::MAX), None);
    }

    #[test]
    fn empty_schedule_and_overflow() {
        assert_eq!(retry_at(Timestamp::from_ms(0), &[], 0), None);
        assert_eq!(retry_at(Timestamp::from_ms(i64::MAX - 1), &[1], 0), None);
    }
}
