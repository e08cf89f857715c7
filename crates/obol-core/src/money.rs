//! Money: integer minor units of an ISO 4217 currency. Never floating point.

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency this server accepts, with its minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// Whether the standard's entry is money a brand can hold: it has minor
/// units and is neither a fund code (BOV, CLF …) nor a special one (XAU,
/// XDR, XTS, XXX …). A superseded currency (HRK, BGN …) stays accepted, so
/// that money and rows once recorded in it still read back.
fn is_money(iso: iso_currency::Currency) -> bool {
    iso.exponent().is_some() && !iso.is_fund() && !iso.is_special()
}

/// Withdrawn codes that the data package no longer lists but that Obol
/// accepted before it took its table from the package: money recorded in
/// them still reads back. (code, minor units, name, the code replacing it.)
const WITHDRAWN: &[(&str, u8, &str, &str)] = &[("ANG", 2, "Netherlands Antillean guilder", "XCG")];

fn withdrawn(code: &str) -> Option<&'static (&'static str, u8, &'static str, &'static str)> {
    WITHDRAWN.iter().find(|entry| entry.0 == code)
}

impl Currency {
    /// The currency with this upper-case ISO 4217 code, if it is one.
    pub fn parse(code: &str) -> Option<Currency> {
        if let Some(&(code, exponent, ..)) = withdrawn(code) {
            return Some(Currency { code, exponent });
        }
        let iso = iso_currency::Currency::from_code(code).filter(|iso| is_money(*iso))?;
        let exponent = u8::try_from(iso.exponent()?).ok()?;
        Some(Currency {
            code: iso.code(),
            exponent,
        })
    }

    /// Every currency `parse` accepts, in code order.
    pub fn all() -> Vec<Currency> {
        // The standard's numeric codes are three digits: every entry is one
        // of them (the crate lists its variants only behind a feature that
        // pulls in a derive macro).
        let mut all: Vec<Currency> = (1..=999)
            .filter_map(iso_currency::Currency::from_numeric)
            .filter_map(|iso| Currency::parse(iso.code()))
            .collect();
        all.extend(
            WITHDRAWN
                .iter()
                .filter_map(|entry| Currency::parse(entry.0)),
        );
        all.sort_by_key(|currency| currency.code);
        all.dedup();
        all
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn exponent(self) -> u8 {
        self.exponent
    }

    /// The package's entry; `None` for a code it no longer lists.
    fn iso(self) -> Option<iso_currency::Currency> {
        iso_currency::Currency::from_code(self.code)
    }

    /// The currency's English name: "Euro", "Japanese yen".
    pub fn name(self) -> String {
        match (self.iso(), withdrawn(self.code)) {
            (Some(iso), _) => iso.name().to_owned(),
            (None, Some(entry)) => entry.2.to_owned(),
            (None, None) => self.code.to_owned(),
        }
    }

    /// The symbol it is written with (`€`, `¥`, `د.ك`); none where the
    /// standard's table has only the generic sign `¤`. Several currencies
    /// share a symbol (`$`).
    pub fn symbol(self) -> Option<String> {
        let symbol = self.iso()?.symbol().symbol;
        (symbol != "\u{a4}").then_some(symbol)
    }

    /// The code that replaces this one (`EUR` for `HRK`), if the standard
    /// withdrew it.
    pub fn superseded_by(self) -> Option<&'static str> {
        match self.iso() {
            Some(iso) => iso.is_superseded().map(|iso| iso.code()),
            None => withdrawn(self.code).map(|entry| entry.3),
        }
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
        assert!(Currency::parse("XAU").is_none());
        assert!(Currency::parse("CLF").is_none());
        assert_eq!(
            Currency::parse("HRK").map(Currency::superseded_by),
            Some(Some("EUR"))
        );
        // Withdrawn from the package's table, still read back.
        let ang = Currency::parse("ANG").expect("ANG");
        assert_eq!(
            (ang.exponent(), ang.superseded_by(), ang.symbol()),
            (2, Some("XCG"), None)
        );
        assert_eq!(ang.name(), "Netherlands Antillean guilder");
    }

    #[test]
    fn every_currency_is_listed_once_with_its_name() {
        let all = Currency::all();
        assert!(all.len() > 150, "{}", all.len());
        assert!(all.windows(2).all(|pair| pair[0].code() < pair[1].code()));
        let jpy = Currency::parse("JPY").expect("JPY");
        assert!(all.contains(&jpy));
        assert_eq!(jpy.name(), "Japanese yen");
        assert_eq!(jpy.symbol().as_deref(), Some("¥"));
        assert_eq!(Currency::parse("ZWG").and_then(Currency::symbol), None);
    }
}
