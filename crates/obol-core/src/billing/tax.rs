//! Tax on a price, exclusive (added on top) or inclusive (carved out).

use super::rounding::div_half_even;
use crate::ledger::BPS_PER_WHOLE;

/// The tax on `net` minor units at `rate_bps` basis points, added on top of
/// a tax-exclusive price: `net × rate / 10 000`, rounded half-even. `None`
/// when the result does not fit an `i64`.
pub fn exclusive_tax(net: i64, rate_bps: u32) -> Option<i64> {
    div_half_even(
        i128::from(net) * i128::from(rate_bps),
        i128::from(BPS_PER_WHOLE),
    )
}

/// The tax contained in a tax-inclusive `gross` at `rate_bps` basis points:
/// `gross × rate / (10 000 + rate)`, rounded half-even; the net is
/// `gross − tax`. Never above `gross` in magnitude, so always `Some` today;
/// `Option` keeps it in step with [`exclusive_tax`].
pub fn inclusive_tax(gross: i64, rate_bps: u32) -> Option<i64> {
    div_half_even(
        i128::from(gross) * i128::from(rate_bps),
        i128::from(BPS_PER_WHOLE) + i128::from(rate_bps),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_examples() {
        assert_eq!(exclusive_tax(1000, 1900), Some(190));
        // 189.81 rounds up to 190.
        assert_eq!(exclusive_tax(999, 1900), Some(190));
        // 2.5 and 3.5: ties go to the even neighbour.
        assert_eq!(exclusive_tax(25, 1000), Some(2));
        assert_eq!(exclusive_tax(35, 1000), Some(4));
        assert_eq!(exclusive_tax(1000, 0), Some(0));
        // A credit's tax mirrors the charge's.
        assert_eq!(exclusive_tax(-999, 1900), Some(-190));
        assert_eq!(exclusive_tax(i64::MAX, 20_000), None);
    }

    #[test]
    fn inclusive_examples() {
        assert_eq!(inclusive_tax(1190, 1900), Some(190));
        // 1000 gross at 19 %: 159.66 of tax, net 840.
        assert_eq!(inclusive_tax(1000, 1900), Some(160));
        // At 100 % half of the gross is tax: 2.5 and 3.5 are ties.
        assert_eq!(inclusive_tax(5, 10_000), Some(2));
        assert_eq!(inclusive_tax(7, 10_000), Some(4));
        assert_eq!(inclusive_tax(1190, 0), Some(0));
        assert_eq!(inclusive_tax(i64::MAX, u32::MAX).map(|t| t > 0), Some(true));
    }
}
