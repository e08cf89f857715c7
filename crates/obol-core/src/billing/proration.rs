//! Proration: the share of a period's amount for the time left in it.

use super::rounding::div_half_even;
use crate::time::{SECOND_MS, Timestamp};

/// `amount × remaining_seconds / period_seconds`, rounded half-even: what
/// the unused (or the newly bought) rest of a period is worth. `None`
/// unless `0 <= remaining_seconds <= period_seconds` and the period is
/// positive.
pub fn prorate(amount: i64, remaining_seconds: i64, period_seconds: i64) -> Option<i64> {
    if period_seconds <= 0 || !(0..=period_seconds).contains(&remaining_seconds) {
        return None;
    }
    div_half_even(
        i128::from(amount) * i128::from(remaining_seconds),
        i128::from(period_seconds),
    )
}

/// Whole seconds from `from` to `to`, rounded down; zero when `to` is not
/// after `from`.
pub fn seconds_between(from: Timestamp, to: Timestamp) -> i64 {
    to.as_ms().saturating_sub(from.as_ms()).max(0) / SECOND_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const THIRTY_DAYS_SECONDS: i64 = 30 * 24 * 60 * 60;

    #[test]
    fn worked_examples() {
        assert_eq!(THIRTY_DAYS_SECONDS, 2_592_000);
        assert_eq!(prorate(3000, 1_296_000, THIRTY_DAYS_SECONDS), Some(1500));
        assert_eq!(prorate(1000, 1, 3), Some(333));
        assert_eq!(prorate(1000, 2, 3), Some(667));
        assert_eq!(prorate(1000, 0, 3), Some(0));
        assert_eq!(prorate(1000, 3, 3), Some(1000));
        // 2.5 is a tie: to the even 2.
        assert_eq!(prorate(5, 1, 2), Some(2));
        assert_eq!(prorate(-1000, 1, 3), Some(-333));
    }

    #[test]
    fn refuses_out_of_range() {
        assert_eq!(prorate(1000, 4, 3), None);
        assert_eq!(prorate(1000, -1, 3), None);
        assert_eq!(prorate(1000, 0, 0), None);
        assert_eq!(prorate(1000, 0, -5), None);
    }

    #[test]
    fn seconds_floor_and_never_negative() {
        let start = Timestamp::from_ms(1_000);
        assert_eq!(seconds_between(start, Timestamp::from_ms(2_999)), 1);
        assert_eq!(seconds_between(start, Timestamp::from_ms(3_000)), 2);
        assert_eq!(seconds_between(start, start), 0);
        assert_eq!(seconds_between(Timestamp::from_ms(5_000), start), 0);
        assert_eq!(
            seconds_between(Timestamp::from_ms(i64::MIN), Timestamp::from_ms(i64::MAX)),
            i64::MAX / SECOND_MS
        );
    }
}
