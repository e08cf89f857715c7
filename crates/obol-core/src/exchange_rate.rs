//! Exchange rates and the conversion of amounts between currencies, in exact
//! decimal arithmetic: a rate is an integer mantissa and a power of ten, an
//! amount is integer minor units, and a conversion rounds half-even once, at
//! the end. Never floating point.

use crate::money::Currency;

/// The most significant digits a rate may have.
pub const RATE_DIGITS_MAX: u32 = 12;
/// The most digits after the decimal point a rate may have (after trailing
/// zeros are dropped): a rate down to 10^-18.
pub const RATE_SCALE_MAX: u32 = 18;
/// The longest text a rate may be given as.
const RATE_TEXT_MAX: usize = 40;

/// A positive exchange rate: `mantissa / 10^scale` units of the quote
/// currency for one unit of the base currency, with at most
/// [`RATE_DIGITS_MAX`] significant digits. Kept normalized (no trailing
/// zeros after the point), so equal rates are equal values and one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    mantissa: u64,
    scale: u32,
}

impl Rate {
    /// Reads a plain decimal: digits with at most one point between digits
    /// (`1.0835`, `0.0067`, `150`); no sign, exponent or spaces; above zero.
    /// `Err` says what is wrong, for the caller's message.
    pub fn parse(text: &str) -> Result<Rate, &'static str> {
        const SHAPE: &str = "must be a decimal string such as \"1.0835\": digits and at most one point, no sign or exponent";
        if text.is_empty() || text.len() > RATE_TEXT_MAX {
            return Err(SHAPE);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits_only(whole)
            || !digits_only(fraction)
            || (text.contains('.') && fraction.is_empty())
        {
            return Err(SHAPE);
        }
        let fraction = fraction.trim_end_matches('0');
        let digits = format!("{whole}{fraction}");
        let significant = digits.trim_start_matches('0');
        if significant.is_empty() {
            return Err("must be greater than zero");
        }
        if significant.len() > RATE_DIGITS_MAX as usize {
            return Err("may have at most 12 significant digits");
        }
        let scale = u32::try_from(fraction.len()).map_err(|_| SHAPE)?;
        if scale > RATE_SCALE_MAX {
            return Err("may have at most 18 digits after the decimal point");
        }
        let mantissa = significant.parse::<u64>().map_err(|_| SHAPE)?;
        Ok(Rate { mantissa, scale })
    }

    /// The significant digits, as an integer.
    pub fn mantissa(self) -> u64 {
        self.mantissa
    }

    /// The digits after the point: the rate is `mantissa / 10^scale`.
    pub fn scale(self) -> u32 {
        self.scale
    }
}

impl std::fmt::Display for Rate {
    /// The normalized text: `1.0835`, `0.0067`, `150`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scale = self.scale as usize;
        let digits = format!("{:0>width$}", self.mantissa, width = scale + 1);
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        if fraction.is_empty() {
            f.write_str(whole)
        } else {
            write!(f, "{whole}.{fraction}")
        }
    }
}

/// Which way a rate is applied: `Direct` for a rate of `from → to`,
/// `Inverse` for a rate of `to → from` (one unit of `from` is then
/// `1 / rate` of `to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Direct,
    Inverse,
}

/// `amount_minor` of `from` in minor units of `to` at `rate` applied in
/// `direction`, rounded half-even to `to`'s minor unit: 1000 JPY at
/// 0.0067 USD/JPY is 670 (USD 6.70). `None` when the result does not fit
/// an `i64`.
pub fn convert(
    amount_minor: i64,
    from: Currency,
    to: Currency,
    rate: Rate,
    direction: Direction,
) -> Option<i64> {
    // amount / 10^e_from units of `from`, times the rate, times 10^e_to
    // minor units of `to` per unit: one fraction of integers.
    let pow = |exponent: u32| 10i128.checked_pow(exponent);
    let mantissa = i128::from(rate.mantissa);
    let scale = pow(rate.scale)?;
    let (rate_numerator, rate_denominator) = match direction {
        Direction::Direct => (mantissa, scale),
        Direction::Inverse => (scale, mantissa),
    };
    let numerator = i128::from(amount_minor)
        .checked_mul(rate_numerator)?
        .checked_mul(pow(u32::from(to.exponent()))?)?;
    let denominator = rate_denominator.checked_mul(pow(u32::from(from.exponent()))?)?;
    i64::try_from(divide_half_even(numerator, denominator)?).ok()
}

/// `numerator / denominator` rounded to the nearest integer, a tie to the
/// even one; `None` for a denominator that is not positive.
pub fn divide_half_even(numerator: i128, denominator: i128) -> Option<i128> {
    if denominator <= 0 {
        return None;
    }
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder == 0 {
        return Some(quotient);
    }
    // |remainder| < denominator, so twice it cannot overflow unless the
    // denominator is above i128::MAX / 2: compare without doubling.
    let remainder = remainder.unsigned_abs();
    let rest = denominator.unsigned_abs() - remainder;
    let away = match remainder.cmp(&rest) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => quotient % 2 != 0,
    };
    Some(match (away, numerator < 0) {
        (false, _) => quotient,
        (true, false) => quotient + 1,
        (true, true) => quotient - 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).expect("a known code")
    }

    fn rate(text: &str) -> Rate {
        Rate::parse(text).expect("a valid rate")
    }

    #[test]
    fn rates_read_as_plain_decimals() {
        assert_eq!(rate("1.0835").to_string(), "1.0835");
        assert_eq!(rate("0.0067").to_string(), "0.0067");
        assert_eq!(rate("150").to_string(), "150");
        assert_eq!(rate("1.50").to_string(), "1.5");
        assert_eq!(rate("2.000").to_string(), "2");
        assert_eq!(rate("007.25").to_string(), "7.25");
        assert_eq!(rate("123456789012").to_string(), "123456789012");
        assert_eq!(
            rate("0.000000123456789012").to_string(),
            "0.000000123456789012"
        );
        assert_eq!(rate("1.0835"), rate("1.08350"));
        for bad in [
            "",
            "0",
            "0.000",
            "-1",
            "+1",
            "1e5",
            "1E5",
            ".5",
            "5.",
            "1..2",
            "1.2.3",
            " 1",
            "1,5",
            "0x10",
            "NaN",
            "inf",
            "1234567890123",
            "1.234567890123",
            "0.0000000000000000001",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Rate::parse("0"), Err("must be greater than zero"));
        assert_eq!(
            Rate::parse("1.234567890123"),
            Err("may have at most 12 significant digits")
        );
    }

    #[test]
    fn conversions_respect_both_minor_units() {
        let (jpy, usd, eur, kwd) = (
            currency("JPY"),
            currency("USD"),
            currency("EUR"),
            currency("KWD"),
        );
        // 1000 JPY at 0.0067 = USD 6.70.
        assert_eq!(
            convert(1000, jpy, usd, rate("0.0067"), Direction::Direct),
            Some(670)
        );
        // USD 6.70 back through the same JPY → USD rate: 1000 JPY.
        assert_eq!(
            convert(670, usd, jpy, rate("0.0067"), Direction::Inverse),
            Some(1000)
        );
        // EUR 10.00 at 1.0835 = USD 10.835 → 10.84 (half-even: 10.835 → 10.84).
        assert_eq!(
            convert(1000, eur, usd, rate("1.0835"), Direction::Direct),
            Some(1084)
        );
        // EUR 10.00 at 1.0825 = USD 10.825 → 10.82 (tie to even).
        assert_eq!(
            convert(1000, eur, usd, rate("1.0825"), Direction::Direct),
            Some(1082)
        );
        assert_eq!(
            convert(-1000, eur, usd, rate("1.0825"), Direction::Direct),
            Some(-1082)
        );
        // EUR 1.00 at 0.33 KWD = KWD 0.330.
        assert_eq!(
            convert(100, eur, kwd, rate("0.33"), Direction::Direct),
            Some(330)
        );
        // KWD 1.000 at 150 JPY = 150 JPY; KWD 0.005 at 150 = 0.75 → 1.
        assert_eq!(
            convert(1000, kwd, jpy, rate("150"), Direction::Direct),
            Some(150)
        );
        assert_eq!(
            convert(5, kwd, jpy, rate("150"), Direction::Direct),
            Some(1)
        );
        assert_eq!(
            convert(0, eur, usd, rate("1.1"), Direction::Direct),
            Some(0)
        );
        assert_eq!(
            convert(i64::MAX, eur, usd, rate("999999999999"), Direction::Direct),
            None
        );
    }

    #[test]
    fn half_even_division() {
        assert_eq!(divide_half_even(5, 2), Some(2));
        assert_eq!(divide_half_even(7, 2), Some(4));
        assert_eq!(divide_half_even(-5, 2), Some(-2));
        assert_eq!(divide_half_even(-7, 2), Some(-4));
        assert_eq!(divide_half_even(26, 10), Some(3));
        assert_eq!(divide_half_even(-24, 10), Some(-2));
        assert_eq!(divide_half_even(1, 0), None);
    }

    proptest! {
        /// The result is the nearest integer to the exact quotient, a tie
        /// going to the even one.
        #[test]
        fn division_is_nearest_with_ties_to_even(
            numerator in -1_000_000_000_000i128..1_000_000_000_000,
            denominator in 1i128..1_000_000,
        ) {
            let q = divide_half_even(numerator, denominator).unwrap();
            let distance = (numerator - q * denominator).abs() * 2;
            prop_assert!(distance <= denominator);
            if distance == denominator {
                prop_assert_eq!(q % 2, 0);
            }
        }

        /// Converting is odd-symmetric and monotonic in the amount.
        #[test]
        fn conversion_is_symmetric_and_monotonic(
            a in -(1i64 << 50)..(1i64 << 50),
            b in -(1i64 << 50)..(1i64 << 50),
            mantissa in 1u64..1_000_000_000_000,
            scale in 0u32..=RATE_SCALE_MAX,
            inverse in any::<bool>(),
        ) {
            let text = Rate { mantissa, scale }.to_string();
            let rate = Rate::parse(&text).unwrap();
            let direction = if inverse { Direction::Inverse } else { Direction::Direct };
            let (from, to) = (currency("JPY"), currency("KWD"));
            let at = |amount| convert(amount, from, to, rate, direction);
            if let (Some(x), Some(y), Some(minus_x)) = (at(a), at(b), at(-a)) {
                prop_assert_eq!(minus_x, -x);
                if a <= b {
                    prop_assert!(x <= y);
                }
            }
        }

        /// A rate's text reads back as the same rate.
        #[test]
        fn rate_text_round_trips(mantissa in 1u64..1_000_000_000_000, scale in 0u32..=RATE_SCALE_MAX) {
            let normalized = Rate::parse(&Rate { mantissa, scale }.to_string()).unwrap();
            prop_assert_eq!(Rate::parse(&normalized.to_string()).unwrap(), normalized);
        }
    }
}
