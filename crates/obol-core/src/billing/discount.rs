//! Discounts on an amount: a percentage or a fixed amount off.

use super::rounding::div_half_even;
use crate::ledger::BPS_PER_WHOLE;

/// A discount as a coupon states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// Hundredths of a percent off, `1..=10_000` (10 000 = all of it).
    PercentBps(u32),
    /// Minor units off, in the amount's currency.
    Amount(i64),
}

/// The discount on a non-negative `amount` minor units: a percentage rounds
/// half-even; the result is never negative and never more than the amount
/// (an amount off larger than the amount takes all of it). A negative
/// amount gets no discount.
pub fn discount_of(amount: i64, discount: Discount) -> i64 {
    if amount <= 0 {
        return 0;
    }
    let off = match discount {
        // A product that does not fit an i64 is above the amount anyway.
        Discount::PercentBps(bps) => div_half_even(
            i128::from(amount) * i128::from(bps),
            i128::from(BPS_PER_WHOLE),
        )
        .unwrap_or(amount),
        Discount::Amount(off) => off,
    };
    off.clamp(0, amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percent_examples() {
        assert_eq!(discount_of(1000, Discount::PercentBps(2000)), 200);
        // 12.5 and 13.5: ties go to the even neighbour.
        assert_eq!(discount_of(125, Discount::PercentBps(1000)), 12);
        assert_eq!(discount_of(135, Discount::PercentBps(1000)), 14);
        assert_eq!(discount_of(999, Discount::PercentBps(10_000)), 999);
        // Above 100 % is out of range: capped at the amount.
        assert_eq!(discount_of(999, Discount::PercentBps(u32::MAX)), 999);
    }

    #[test]
    fn amount_examples() {
        assert_eq!(discount_of(1000, Discount::Amount(300)), 300);
        assert_eq!(discount_of(1000, Discount::Amount(5000)), 1000);
        assert_eq!(discount_of(1000, Discount::Amount(-5)), 0);
        assert_eq!(discount_of(0, Discount::Amount(300)), 0);
        assert_eq!(discount_of(-100, Discount::PercentBps(5000)), 0);
    }

    fn any_discount() -> impl Strategy<Value = Discount> {
        prop_oneof![
            any::<u32>().prop_map(Discount::PercentBps),
            any::<i64>().prop_map(Discount::Amount),
        ]
    }

    proptest! {
        #[test]
        fn never_negative_never_above_the_amount(
            amount in 0..=i64::MAX,
            discount in any_discount(),
        ) {
            let off = discount_of(amount, discount);
            prop_assert!(0 <= off && off <= amount);
        }

        #[test]
        fn percent_in_range_is_monotonic(amount in 0..=i64::MAX / 2, bps in 1u32..10_000) {
            let lower = discount_of(amount, Discount::PercentBps(bps));
            let higher = discount_of(amount, Discount::PercentBps(bps + 1));
            prop_assert!(lower <= higher);
        }
    }
}
