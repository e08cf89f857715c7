//! Ledger rules: balanced entries and commission rounding, pure.

use crate::money::Currency;

/// Basis points in one whole: 10 000 bps = 100 %.
pub const BPS_PER_WHOLE: i64 = 10_000;

/// Whether signed postings (positive = debit) sum to zero in every currency.
/// A sum that overflows `i64` is not balanced: such an entry is a bug, never
/// something to wrap around.
pub fn is_balanced(postings: &[(Currency, i64)]) -> bool {
    // Entries have a handful of legs: a small vector beats a map here.
    let mut sums: Vec<(Currency, i64)> = Vec::with_capacity(2);
    for &(currency, amount_minor) in postings {
        match sums.iter_mut().find(|(known, _)| *known == currency) {
            Some((_, sum)) => match sum.checked_add(amount_minor) {
                Some(next) => *sum = next,
                None => return false,
            },
            None => sums.push((currency, amount_minor)),
        }
    }
    sums.iter().all(|&(_, sum)| sum == 0)
}

/// The commission on `net_minor` at `rate_bps` basis points, rounded half to
/// even to the minor unit (no bias over many payments, unlike half-up).
///
/// `rate_bps` must lie in `0..=10_000` (the schema checks the brand's rate);
/// a rate outside is a bug, asserted in debug builds and clamped in release,
/// so the commission can never exceed the net amount.
pub fn commission_minor(net_minor: i64, rate_bps: i64) -> i64 {
    debug_assert!(
        (0..=BPS_PER_WHOLE).contains(&rate_bps),
        "commission rate {rate_bps} bps out of range"
    );
    let rate_bps = rate_bps.clamp(0, BPS_PER_WHOLE);
    // i128: the product of two i64 cannot overflow it.
    let product = i128::from(net_minor) * i128::from(rate_bps);
    let whole = i128::from(BPS_PER_WHOLE);
    let quotient = product.div_euclid(whole);
    let twice_remainder = 2 * product.rem_euclid(whole);
    let rounded = if twice_remainder > whole || (twice_remainder == whole && quotient % 2 != 0) {
        quotient + 1
    } else {
        quotient
    };
    // |rounded| <= |net_minor| because the rate is at most one whole.
    i64::try_from(rounded).expect("a commission at most 100 % of an i64 fits an i64")
}

/// The commission a refund after clearing claws back from the reseller.
///
/// `unrefunded_minor` is what the order still has of its cleared payment
/// before this refund (captured − refunded so far), `refund_minor` the
/// refund. Clawing back `commission(unrefunded) − commission(unrefunded −
/// refund)` makes the clawbacks telescope: after refunds of R out of a
/// cleared N the reseller has returned exactly `commission(N) −
/// commission(N − R)`, so a full refund nets its commission to zero and it
/// never returns more than it earned, whatever the refunds' sizes (rounding
/// each refund's commission on its own drifts by up to half a unit a
/// refund). `rate_bps` must be the rate the payment cleared at. `None` when
/// the amounts overflow, which no stored order can make them do.
pub fn commission_clawback_minor(
    unrefunded_minor: i64,
    refund_minor: i64,
    rate_bps: i64,
) -> Option<i64> {
    let after_minor = unrefunded_minor.checked_sub(refund_minor)?;
    commission_minor(unrefunded_minor, rate_bps)
        .checked_sub(commission_minor(after_minor, rate_bps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur() -> Currency {
        Currency::parse("EUR").expect("EUR is supported")
    }

    fn usd() -> Currency {
        Currency::parse("USD").expect("USD is supported")
    }

    #[test]
    fn balanced_examples() {
        assert!(is_balanced(&[]));
        assert!(is_balanced(&[(eur(), 8925), (eur(), -8925)]));
        assert!(is_balanced(&[
            (eur(), 100),
            (usd(), 50),
            (eur(), -100),
            (usd(), -50)
        ]));
        assert!(!is_balanced(&[(eur(), 100), (usd(), -100)]));
        assert!(!is_balanced(&[(eur(), 100), (eur(), -99)]));
        assert!(!is_balanced(&[
            (eur(), i64::MAX),
            (eur(), 1),
            (eur(), i64::MIN)
        ]));
    }

    #[test]
    fn commission_examples() {
        assert_eq!(commission_minor(8925, 1000), 892); // 892.5 -> 892 (even)
        assert_eq!(commission_minor(8935, 1000), 894); // 893.5 -> 894 (even)
        assert_eq!(commission_minor(8925, 0), 0);
        assert_eq!(commission_minor(8925, 10_000), 8925);
        assert_eq!(commission_minor(1, 5000), 0); // 0.5 -> 0 (even)
        assert_eq!(commission_minor(3, 5000), 2); // 1.5 -> 2 (even)
        assert_eq!(commission_minor(-3, 5000), -2);
        assert_eq!(commission_minor(i64::MAX, 10_000), i64::MAX);
        assert_eq!(commission_minor(i64::MIN, 10_000), i64::MIN);
    }

    #[test]
    fn clawback_examples() {
        // 8925 cleared at 10 %: 892 earned. Refunded in 15 × 595 or
        // 5 × 1785, rounding each refund would return 900 or 890.
        for (refunds, amount) in [(15, 595), (5, 1785)] {
            let mut unrefunded = 8925;
            let mut clawed_back = 0;
            for _ in 0..refunds {
                clawed_back += commission_clawback_minor(unrefunded, amount, 1000).expect("fits");
                unrefunded -= amount;
            }
            assert_eq!((unrefunded, clawed_back), (0, 892));
        }
        // 595 alone would round 59.5 up to 60.
        assert_eq!(commission_clawback_minor(8925, 595, 1000), Some(59)); // 892 - 833
        assert_eq!(commission_clawback_minor(8330, 595, 1000), Some(59)); // 833 - 774 (773.5)
        assert_eq!(commission_clawback_minor(595, 595, 1000), Some(60)); // the last one: 60 - 0
        assert_eq!(commission_clawback_minor(i64::MIN, 1, 10_000), None);
    }

    /// Clears `captured − refunded_before_clearing`, then refunds the rest
    /// in the pieces `cuts` make of it, checking after every refund that the
    /// total clawed back is commission(N) − commission(N − R) and never more
    /// than commission(N), and at the end that all of it came back.
    fn check_clawbacks(
        rate: i64,
        captured: i64,
        refunded_before_clearing: i64,
        mut cuts: Vec<i64>,
    ) -> Result<(), TestCaseError> {
        let cleared = captured - refunded_before_clearing;
        let earned = commission_minor(cleared, rate);
        cuts.retain(|cut| (1..cleared).contains(cut));
        cuts.sort_unstable();
        cuts.dedup();
        cuts.push(cleared);
        let (mut refunded, mut clawed_back) = (0i64, 0i64);
        for cut in cuts {
            let refund = cut - refunded;
            let unrefunded = captured - refunded_before_clearing - refunded;
            let clawback = commission_clawback_minor(unrefunded, refund, rate)
                .ok_or_else(|| TestCaseError::fail("clawback overflowed"))?;
            prop_assert!(clawback >= 0, "a refund never pays the reseller");
            refunded += refund;
            clawed_back += clawback;
            prop_assert_eq!(
                clawed_back,
                earned - commission_minor(cleared - refunded, rate)
            );
            prop_assert!(clawed_back <= earned);
        }
        prop_assert_eq!(refunded, cleared);
        prop_assert_eq!(clawed_back, earned);
        Ok(())
    }

    /// A captured amount in `amounts`, what was refunded of it before
    /// clearing (less than all of it), and up to 30 cut points.
    fn refund_sequences(
        amounts: std::ops::RangeInclusive<i64>,
    ) -> impl Strategy<Value = (i64, i64, i64, Vec<i64>)> {
        (0..=BPS_PER_WHOLE, amounts).prop_flat_map(|(rate, captured)| {
            let before = prop_oneof![Just(0), 0..captured];
            (Just(rate), Just(captured), before).prop_flat_map(|(rate, captured, before)| {
                let cuts = proptest::collection::vec(1..=captured - before, 0..30);
                (Just(rate), Just(captured), Just(before), cuts)
            })
        })
    }

    proptest! {
        #[test]
        fn clawbacks_of_large_payments_add_up(
            (rate, captured, before, cuts) in refund_sequences(1..=i64::MAX),
        ) {
            check_clawbacks(rate, captured, before, cuts)?;
        }

        #[test]
        fn clawbacks_of_small_payments_add_up(
            // Small amounts, where rounding ties are frequent.
            (rate, captured, before, cuts) in refund_sequences(1..=100_000),
        ) {
            check_clawbacks(rate, captured, before, cuts)?;
        }

        #[test]
        fn commission_never_exceeds_net(net in any::<i64>(), rate in 0..=BPS_PER_WHOLE) {
            let commission = commission_minor(net, rate);
            prop_assert!(commission.unsigned_abs() <= net.unsigned_abs());
            prop_assert!(commission == 0 || (commission < 0) == (net < 0));
        }

        #[test]
        fn commission_is_within_half_a_unit(net in any::<i64>(), rate in 0..=BPS_PER_WHOLE) {
            let exact_times_whole = i128::from(net) * i128::from(rate);
            let error = i128::from(commission_minor(net, rate)) * 10_000 - exact_times_whole;
            prop_assert!(2 * error.abs() <= 10_000);
        }

        #[test]
        fn commission_ties_go_to_even(half_units in -1_000_000_000i64..1_000_000_000) {
            // 50 % of an odd amount is always a tie: x.5.
            let net = 2 * half_units + 1;
            let commission = commission_minor(net, 5000);
            prop_assert_eq!(commission % 2, 0);
            prop_assert!((i128::from(commission) * 2 - i128::from(net)).abs() == 1);
        }

        #[test]
        fn commission_is_symmetric_and_monotonic(
            net in -1_000_000_000_000i64..1_000_000_000_000,
            rate in 0..BPS_PER_WHOLE,
        ) {
            prop_assert_eq!(commission_minor(-net, rate), -commission_minor(net, rate));
            if net >= 0 {
                prop_assert!(commission_minor(net, rate) <= commission_minor(net, rate + 1));
            }
        }

        #[test]
        fn an_entry_closed_by_its_negated_sum_is_balanced(
            amounts in proptest::collection::vec(-1_000_000_000i64..1_000_000_000, 1..8),
        ) {
            let mut postings: Vec<(Currency, i64)> = amounts.iter().map(|&a| (eur(), a)).collect();
            let sum: i64 = amounts.iter().sum();
            postings.push((eur(), -sum));
            prop_assert!(is_balanced(&postings));
            // Any change of one leg unbalances it.
            postings[0].1 += 1;
            prop_assert!(!is_balanced(&postings));
            // The same legs in another currency never balance it.
            postings[0].1 -= 1;
            postings.push((usd(), 1));
            prop_assert!(!is_balanced(&postings));
        }
    }
}
