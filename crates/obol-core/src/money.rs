//! Money: integer minor units of an ISO 4217 currency. Never floating point.

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency this server accepts, with its minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// Active ISO 4217 codes and their minor-unit digits.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

impl Currency {
    /// The currency with this upper-case ISO 4217 code, if it is one.
    pub fn parse(code: &str) -> Option<Currency> {
        CURRENCIES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|(code, exponent)| Currency {
                code,
                exponent: *exponent,
            })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn exponent(self) -> u8 {
        self.exponent
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unsupported currency {code}: use an upper-case ISO 4217 code"
            ))
        })
    }
}

/// An amount of money: minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

/// Symbols written before the amount; every other currency is written as
/// its code and a space.
const SYMBOLS: &[(&str, &str)] = &[("EUR", "€"), ("USD", "$"), ("GBP", "£"), ("JPY", "¥")];

/// An amount as a customer reads it: `€89.25`, `¥500`, `KWD 1.000`,
/// `-$1,234.50`. Every minor-unit digit of the currency is shown, and whole
/// units are grouped by thousands with commas (one format for every reader:
/// emails are not localized yet).
pub fn format_amount(amount_minor: i64, currency: Currency) -> String {
    let digits = amount_minor.unsigned_abs().to_string();
    let exponent = usize::from(currency.exponent());
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (whole, fraction) = padded.split_at(padded.len() - exponent);
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let number = if fraction.is_empty() {
        grouped
    } else {
        format!("{grouped}.{fraction}")
    };
    let sign = if amount_minor < 0 { "-" } else { "" };
    match SYMBOLS.iter().find(|(code, _)| *code == currency.code()) {
        Some((_, symbol)) => format!("{sign}{symbol}{number}"),
        None => format!("{sign}{} {number}", currency.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(amount_minor: i64, code: &str) -> String {
        format_amount(amount_minor, Currency::parse(code).expect("a known code"))
    }

    #[test]
    fn amounts_read_as_customers_expect() {
        assert_eq!(formatted(8925, "EUR"), "€89.25");
        assert_eq!(formatted(500, "JPY"), "¥500");
        assert_eq!(formatted(1000, "KWD"), "KWD 1.000");
        assert_eq!(formatted(5, "USD"), "$0.05");
        assert_eq!(formatted(0, "GBP"), "£0.00");
        assert_eq!(formatted(7, "KWD"), "KWD 0.007");
        assert_eq!(formatted(123_456_789, "EUR"), "€1,234,567.89");
        assert_eq!(formatted(1_000_000, "JPY"), "¥1,000,000");
        assert_eq!(formatted(100_000, "CHF"), "CHF 1,000.00");
        assert_eq!(formatted(-123_450, "USD"), "-$1,234.50");
        assert_eq!(formatted(-1, "KWD"), "-KWD 0.001");
        assert_eq!(formatted(i64::MIN, "JPY"), "-¥9,223,372,036,854,775,808");
    }

    #[test]
    fn exponents() {
        assert_eq!(Currency::parse("EUR").map(Currency::exponent), Some(2));
        assert_eq!(Currency::parse("JPY").map(Currency::exponent), Some(0));
        assert_eq!(Currency::parse("KWD").map(Currency::exponent), Some(3));
        assert!(Currency::parse("eur").is_none());
        assert!(Currency::parse("XXX").is_none());
    }
}
