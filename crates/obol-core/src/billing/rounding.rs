//! Half-even division to whole minor units, the one rounding billing uses.

use crate::exchange_rate::divide_half_even;

/// `numerator / denominator` rounded to the nearest integer, a tie to the
/// even one (no bias over many invoices, unlike half-up), for either sign
/// of either operand. `None` for a zero denominator or a result outside
/// `i64`.
pub fn div_half_even(numerator: i128, denominator: i128) -> Option<i64> {
    // divide_half_even wants a positive denominator: move the sign up.
    let (numerator, denominator) = if denominator < 0 {
        (numerator.checked_neg()?, denominator.checked_neg()?)
    } else {
        (numerator, denominator)
    };
    i64::try_from(divide_half_even(numerator, denominator)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_even() {
        assert_eq!(div_half_even(5, 2), Some(2));
        assert_eq!(div_half_even(7, 2), Some(4));
        assert_eq!(div_half_even(-5, 2), Some(-2));
        assert_eq!(div_half_even(-7, 2), Some(-4));
        assert_eq!(div_half_even(1, 2), Some(0));
        assert_eq!(div_half_even(3, 2), Some(2));
    }

    #[test]
    fn non_ties_go_to_nearest() {
        assert_eq!(div_half_even(1, 3), Some(0));
        assert_eq!(div_half_even(2, 3), Some(1));
        assert_eq!(div_half_even(-1, 3), Some(0));
        assert_eq!(div_half_even(-2, 3), Some(-1));
        assert_eq!(div_half_even(6, 3), Some(2));
        assert_eq!(div_half_even(0, 7), Some(0));
    }

    #[test]
    fn negative_denominator_moves_the_sign() {
        assert_eq!(div_half_even(5, -2), Some(-2));
        assert_eq!(div_half_even(-7, -2), Some(4));
        assert_eq!(div_half_even(2, -3), Some(-1));
    }

    #[test]
    fn refuses_zero_denominator_and_overflow() {
        assert_eq!(div_half_even(1, 0), None);
        assert_eq!(div_half_even(i128::from(i64::MAX) + 1, 1), None);
        assert_eq!(div_half_even(i128::from(i64::MIN) - 1, 1), None);
        assert_eq!(div_half_even(i128::from(i64::MIN), 1), Some(i64::MIN));
        assert_eq!(div_half_even(i128::MIN, -1), None);
    }
}
