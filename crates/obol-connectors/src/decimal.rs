//! Exact decimal amounts, as crypto processors write them (`"89.25"`,
//! `"0.00123400"`): to and from Obol's minor units without floating point.

use obol_core::{Currency, Money};

/// Most digits after the point a provider's decimal may carry (coins
/// use 8 or 18; more is refused rather than guessed).
const SCALE_MAX: u32 = 24;

/// A non-negative decimal read exactly: `units` × 10^-`scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    pub units: i128,
    pub scale: u32,
}

impl Decimal {
    /// Parses `123`, `89.25` or `0.00123400` (no sign, exponent or
    /// separators); `None` for anything else.
    pub fn parse(text: &str) -> Option<Decimal> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) {
            return None;
        }
        if text.contains('.') && fraction.is_empty() {
            return None;
        }
        let scale = u32::try_from(fraction.len()).ok()?;
        if scale > SCALE_MAX {
            return None;
        }
        let units = format!("{whole}{fraction}").parse::<i128>().ok()?;
        Some(Decimal { units, scale })
    }

    /// The value in minor units of `currency`, when it has no more digits
    /// than the currency has (trailing zeros aside): `"89.250"` EUR → 8925.
    pub fn to_minor(self, currency: Currency) -> Option<i64> {
        let exponent = u32::from(currency.exponent());
        let units = if self.scale <= exponent {
            self.units
                .checked_mul(10_i128.checked_pow(exponent - self.scale)?)?
        } else {
            let divisor = 10_i128.checked_pow(self.scale - exponent)?;
            if self.units % divisor != 0 {
                return None;
            }
            self.units / divisor
        };
        i64::try_from(units).ok()
    }

    /// `self` and `other` at one scale, for comparing and dividing.
    fn aligned(self, other: Decimal) -> Option<(i128, i128)> {
        let scale = self.scale.max(other.scale);
        let lift = |d: Decimal| d.units.checked_mul(10_i128.checked_pow(scale - d.scale)?);
        Some((lift(self)?, lift(other)?))
    }
}

/// `money` as a decimal string in its currency's major unit: 8925 EUR →
/// `"89.25"`, 500 JPY → `"500"`, 1000 KWD → `"1.000"`. Negative amounts
/// carry a `-`.
pub fn to_decimal(money: Money) -> String {
    let digits = money.amount_minor.unsigned_abs().to_string();
    let exponent = usize::from(money.currency.exponent());
    let sign = if money.amount_minor < 0 { "-" } else { "" };
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (whole, fraction) = padded.split_at(padded.len() - exponent);
    format!("{sign}{whole}.{fraction}")
}

/// What `received` of an invoice asking `asked` (both in the coin paid) is
/// worth of the invoice's `amount_minor`, in its minor units, rounded down:
/// the rate the processor fixed for the invoice, applied exactly.
pub fn share_of(amount_minor: i64, received: Decimal, asked: Decimal) -> Option<i64> {
    let (received, asked) = received.aligned(asked)?;
    if asked <= 0 {
        return None;
    }
    if received == asked {
        return Some(amount_minor);
    }
    let share = i128::from(amount_minor).checked_mul(received)? / asked;
    i64::try_from(share).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount_minor: i64, code: &str) -> Money {
        Money {
            amount_minor,
            currency: Currency::parse(code).expect("a currency"),
        }
    }

    fn parse(text: &str) -> Decimal {
        Decimal::parse(text).expect("a decimal")
    }

    #[test]
    fn minor_units_become_decimal_strings_by_the_currencys_exponent() {
        assert_eq!(to_decimal(money(8925, "EUR")), "89.25");
        assert_eq!(to_decimal(money(5, "EUR")), "0.05");
        assert_eq!(to_decimal(money(100, "EUR")), "1.00");
        assert_eq!(to_decimal(money(500, "JPY")), "500");
        assert_eq!(to_decimal(money(1000, "KWD")), "1.000");
        assert_eq!(to_decimal(money(1, "KWD")), "0.001");
        assert_eq!(to_decimal(money(-250, "EUR")), "-2.50");
        assert_eq!(to_decimal(money(i64::MAX, "EUR")), "92233720368547758.07");
    }

    #[test]
    fn decimal_strings_become_minor_units_exactly() {
        let eur = Currency::parse("EUR").expect("EUR");
        let jpy = Currency::parse("JPY").expect("JPY");
        let kwd = Currency::parse("KWD").expect("KWD");
        assert_eq!(parse("89.25").to_minor(eur), Some(8925));
        assert_eq!(parse("89.25000000").to_minor(eur), Some(8925));
        assert_eq!(parse("89").to_minor(eur), Some(8900));
        assert_eq!(parse("0.1").to_minor(eur), Some(10));
        assert_eq!(parse("89.255").to_minor(eur), None, "no rounding");
        assert_eq!(parse("500").to_minor(jpy), Some(500));
        assert_eq!(parse("500.0").to_minor(jpy), Some(500));
        assert_eq!(parse("500.5").to_minor(jpy), None);
        assert_eq!(parse("1.234").to_minor(kwd), Some(1234));
        assert_eq!(parse("0.001").to_minor(kwd), Some(1));
        assert_eq!(parse("92233720368547758.08").to_minor(eur), None);
        for bad in [
            "", ".5", "5.", "-1", "1e3", "1,5", "0x10", " 1", "1.2.3", "NaN",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
        // 0.1 + 0.2 as floats is 0.30000000000000004: not here.
        assert_eq!(parse("0.30").to_minor(eur), Some(30));
    }

    #[test]
    fn a_share_of_an_invoice_is_exact_and_rounds_down() {
        let asked = parse("0.00297500");
        assert_eq!(share_of(8925, parse("0.002975"), asked), Some(8925));
        assert_eq!(share_of(8925, parse("0.0014875"), asked), Some(4462));
        assert_eq!(share_of(8925, parse("0.0032725"), asked), Some(9817));
        assert_eq!(share_of(8925, parse("0"), asked), Some(0));
        assert_eq!(share_of(8925, parse("1"), parse("0")), None);
        assert_eq!(share_of(1000, parse("1"), parse("3")), Some(333));
    }
}
