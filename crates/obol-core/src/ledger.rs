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

    proptest! {
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
