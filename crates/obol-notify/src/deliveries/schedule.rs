//! When a failed attempt is made again.

use obol_core::time::{HOUR_MS, MINUTE_MS, SECOND_MS};

/// The wait before each retry: growing, then every 12 hours, so that the
/// last attempt comes more than 3 days after the first (77 h 35 min 5 s).
pub const RETRY_DELAYS_MS: [i64; 11] = [
    5 * SECOND_MS,
    5 * MINUTE_MS,
    30 * MINUTE_MS,
    2 * HOUR_MS,
    5 * HOUR_MS,
    10 * HOUR_MS,
    12 * HOUR_MS,
    12 * HOUR_MS,
    12 * HOUR_MS,
    12 * HOUR_MS,
    12 * HOUR_MS,
];

/// How long a receiver has to answer one attempt.
pub const ATTEMPT_TIMEOUT_MS: i64 = 10 * SECOND_MS;

/// The wait before the attempt after attempt `attempt` (1 for the first)
/// failed; `None` when that was the last.
pub fn retry_delay_ms(attempt: i64) -> Option<i64> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    RETRY_DELAYS_MS.get(index).copied()
}

/// How long retries go on: at least 3 days, as the contract says.
pub fn retry_span_ms() -> i64 {
    RETRY_DELAYS_MS.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use obol_core::time::DAY_MS;

    #[test]
    fn retries_grow_then_last_beyond_three_days() {
        assert_eq!(retry_delay_ms(1), Some(5 * SECOND_MS));
        assert_eq!(retry_delay_ms(2), Some(5 * MINUTE_MS));
        assert_eq!(retry_delay_ms(7), Some(12 * HOUR_MS));
        assert_eq!(retry_delay_ms(11), Some(12 * HOUR_MS));
        assert_eq!(retry_delay_ms(12), None);
        assert_eq!(retry_delay_ms(0), None);
        assert!(RETRY_DELAYS_MS.windows(2).all(|w| w[0] <= w[1]));
        assert!(retry_span_ms() >= 3 * DAY_MS);
        assert!(retry_span_ms() < 4 * DAY_MS);
    }
}
