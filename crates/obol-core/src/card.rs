//! Card data: validation (Luhn, expiry, CVC), brand detection, and the
//! `Secret` type that keeps PAN and CVC out of `Debug` and logs.

use crate::Timestamp;
use crate::validate::InvalidParam;

/// A value that must never be logged or stored: `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value so that it never shows in `Debug` output.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret value, for the one place that must send it on.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Card networks Obol recognizes by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    DinersClub,
    UnionPay,
    Unknown,
}

impl CardBrand {
    /// As in the API: `visa`, `mastercard`, `amex`, `discover`, `jcb`,
    /// `diners`, `unionpay`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Jcb => "jcb",
            CardBrand::DinersClub => "diners",
            CardBrand::UnionPay => "unionpay",
            CardBrand::Unknown => "unknown",
        }
    }
}

/// A card that passed Obol's checks, ready for one connector call.
#[derive(Debug, Clone)]
pub struct CardDetails {
    pub number: Secret<String>,
    pub cvc: Option<Secret<String>>,
    pub exp_month: u8,
    pub exp_year: u16,
    pub holder_name: Option<String>,
    pub brand: CardBrand,
    pub last4: String,
}

/// Card numbers have 12 to 19 digits (ISO/IEC 7812).
const NUMBER_MIN_DIGITS: usize = 12;
const NUMBER_MAX_DIGITS: usize = 19;

const PARAM_NUMBER: &str = "payment_method[card][number]";
const PARAM_EXP_MONTH: &str = "payment_method[card][exp_month]";
const PARAM_EXP_YEAR: &str = "payment_method[card][exp_year]";
const PARAM_CVC: &str = "payment_method[card][cvc]";
const PARAM_HOLDER_NAME: &str = "payment_method[card][holder_name]";
const HOLDER_NAME_MAX_CHARS: usize = 200;

/// Whether `digits` (ASCII digits only, at least one) passes the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(index, byte)| {
            let digit = u32::from(byte - b'0');
            match index % 2 {
                0 => digit,
                _ if digit * 2 > 9 => digit * 2 - 9,
                _ => digit * 2,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The network of a card number, from its leading digits (IIN ranges).
pub fn detect_brand(digits: &str) -> CardBrand {
    let starts_in = |len: usize, low: u32, high: u32| {
        digits
            .get(..len)
            .filter(|prefix| prefix.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|prefix| prefix.parse::<u32>().ok())
            .is_some_and(|prefix| (low..=high).contains(&prefix))
    };
    if starts_in(1, 4, 4) {
        CardBrand::Visa
    } else if starts_in(2, 51, 55) || starts_in(4, 2221, 2720) {
        CardBrand::Mastercard
    } else if starts_in(2, 34, 34) || starts_in(2, 37, 37) {
        CardBrand::Amex
    } else if starts_in(4, 6011, 6011) || starts_in(2, 65, 65) || starts_in(3, 644, 649) {
        CardBrand::Discover
    } else if starts_in(4, 3528, 3589) {
        CardBrand::Jcb
    } else if starts_in(2, 36, 36) || starts_in(3, 300, 305) || starts_in(2, 38, 38) {
        CardBrand::DinersClub
    } else if starts_in(2, 62, 62) {
        CardBrand::UnionPay
    } else {
        CardBrand::Unknown
    }
}

/// Checks card input at the API edge and returns it as `CardDetails`.
///
/// Spaces in `number` are ignored. No error message ever contains the
/// number or the CVC, so errors may be logged and returned as they are.
pub fn parse_card(
    number: &str,
    exp_month: i64,
    exp_year: i64,
    cvc: Option<&str>,
    holder_name: Option<&str>,
    now: Timestamp,
) -> Result<CardDetails, InvalidParam> {
    let digits = parse_number(number)?;
    let (exp_month, exp_year) = parse_expiry(exp_month, exp_year, now)?;
    let brand = detect_brand(&digits);
    let cvc = cvc.map(|cvc| parse_cvc(cvc, brand)).transpose()?;
    let holder_name = holder_name.map(parse_holder_name).transpose()?.flatten();
    let last4 = digits[digits.len() - 4..].to_owned();
    Ok(CardDetails {
        number: Secret::new(digits),
        cvc,
        exp_month,
        exp_year,
        holder_name,
        brand,
        last4,
    })
}

/// The keyed fingerprint of a card number: hex HMAC-SHA256 under `key`, so
/// that the same card is recognizable without the number being kept.
pub fn fingerprint(key: &[u8], number_digits: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC-SHA256 takes a key of any length");
    mac.update(number_digits.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn parse_number(number: &str) -> Result<String, InvalidParam> {
    let digits: String = number.chars().filter(|c| *c != ' ').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit())
        || !(NUMBER_MIN_DIGITS..=NUMBER_MAX_DIGITS).contains(&digits.len())
    {
        return Err(InvalidParam::new(
            PARAM_NUMBER,
            format!("{PARAM_NUMBER} must be {NUMBER_MIN_DIGITS} to {NUMBER_MAX_DIGITS} digits"),
        ));
    }
    if !luhn_valid(&digits) {
        return Err(InvalidParam::new(
            PARAM_NUMBER,
            format!("{PARAM_NUMBER} is not a valid card number"),
        ));
    }
    Ok(digits)
}

/// Checks month and year; a card is valid through the last instant of its
/// expiry month, in UTC.
fn parse_expiry(exp_month: i64, exp_year: i64, now: Timestamp) -> Result<(u8, u16), InvalidParam> {
    let month = u8::try_from(exp_month)
        .ok()
        .filter(|month| (1..=12).contains(month))
        .ok_or_else(|| {
            InvalidParam::new(
                PARAM_EXP_MONTH,
                format!("{PARAM_EXP_MONTH} must be 1 to 12"),
            )
        })?;
    let year = u16::try_from(exp_year)
        .ok()
        .filter(|year| (1000..=9999).contains(year))
        .ok_or_else(|| {
            InvalidParam::new(
                PARAM_EXP_YEAR,
                format!("{PARAM_EXP_YEAR} must be a four-digit year"),
            )
        })?;
    if (year, month) < year_month(now) {
        return Err(InvalidParam::new(PARAM_EXP_YEAR, "the card has expired"));
    }
    Ok((month, year))
}

/// The UTC (year, month) of an instant. An instant outside the calendar the
/// `time` crate knows (a clock gone mad) counts as the earliest month, so
/// that it never rejects a card on its own.
fn year_month(now: Timestamp) -> (u16, u8) {
    let nanos = i128::from(now.as_ms()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|at| Some((u16::try_from(at.year()).ok()?, u8::from(at.month()))))
        .unwrap_or((0, 0))
}

/// A trimmed holder name; blank means none.
fn parse_holder_name(name: &str) -> Result<Option<String>, InvalidParam> {
    let name = name.trim();
    if name.chars().count() > HOLDER_NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(InvalidParam::new(
            PARAM_HOLDER_NAME,
            format!(
                "{PARAM_HOLDER_NAME} must be at most {HOLDER_NAME_MAX_CHARS} printable characters"
            ),
        ));
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

fn parse_cvc(cvc: &str, brand: CardBrand) -> Result<Secret<String>, InvalidParam> {
    let len = if brand == CardBrand::Amex { 4 } else { 3 };
    if cvc.len() != len || !cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidParam::new(
            PARAM_CVC,
            format!("{PARAM_CVC} must be {len} digits for this card"),
        ));
    }
    Ok(Secret::new(cvc.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).expect("test timestamps are valid")
    }

    fn now() -> Timestamp {
        at("2026-11-23T10:00:00Z")
    }

    fn card(number: &str) -> Result<CardDetails, InvalidParam> {
        parse_card(number, 12, 2030, None, None, now())
    }

    #[test]
    fn good_numbers_and_brands() {
        let table = [
            ("4242424242424242", CardBrand::Visa),
            ("4242 4242 4242 4242", CardBrand::Visa),
            ("4000000000003220", CardBrand::Visa),
            ("5555555555554444", CardBrand::Mastercard),
            ("2223003122003222", CardBrand::Mastercard),
            ("378282246310005", CardBrand::Amex),
            ("371449635398431", CardBrand::Amex),
            ("6011111111111117", CardBrand::Discover),
            ("6445644564456445", CardBrand::Discover),
            ("3566002020360505", CardBrand::Jcb),
            ("30569309025904", CardBrand::DinersClub),
            ("36227206271667", CardBrand::DinersClub),
            ("6200000000000005", CardBrand::UnionPay),
            ("9999999999999995", CardBrand::Unknown),
        ];
        for (number, brand) in table {
            let parsed = card(number).unwrap_or_else(|e| panic!("{number}: {e}"));
            assert_eq!(parsed.brand, brand, "{number}");
            assert_eq!(parsed.number.expose(), &number.replace(' ', ""));
            assert_eq!(parsed.last4, number[number.len() - 4..]);
        }
    }

    #[test]
    fn bad_numbers() {
        for number in [
            "",
            "4242424242424241",
            "42424242424",
            "42424242424242424242",
            "4242-4242-4242-4242",
            "424242424242424a",
            "４２４２４２４２４２４２４２４２",
        ] {
            let error = card(number).expect_err(number);
            assert_eq!(error.param, "payment_method[card][number]", "{number}");
        }
    }

    #[test]
    fn luhn_table() {
        assert!(luhn_valid("0"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4242 4242 4242 4242"));
    }

    #[test]
    fn brand_boundaries() {
        let table = [
            ("2220999999999999", CardBrand::Unknown),
            ("2221000000000000", CardBrand::Mastercard),
            ("2720999999999999", CardBrand::Mastercard),
            ("2721000000000000", CardBrand::Unknown),
            ("5099999999999999", CardBrand::Unknown),
            ("3527999999999999", CardBrand::Unknown),
            ("3589999999999999", CardBrand::Jcb),
            ("3060000000000000", CardBrand::Unknown),
            ("3800000000000000", CardBrand::DinersClub),
            ("6439999999999999", CardBrand::Unknown),
            ("6500000000000000", CardBrand::Discover),
            ("", CardBrand::Unknown),
        ];
        for (number, brand) in table {
            assert_eq!(detect_brand(number), brand, "{number}");
        }
    }

    #[test]
    fn expiry() {
        let parse = |month, year, now| parse_card("4242424242424242", month, year, None, None, now);
        assert!(parse(11, 2026, now()).is_ok());
        assert!(parse(11, 2026, at("2026-11-30T23:59:59.999Z")).is_ok());
        let expired = parse(11, 2026, at("2026-12-01T00:00:00Z")).expect_err("expired");
        assert_eq!(expired.param, "payment_method[card][exp_year]");
        assert!(expired.message.contains("expired"));
        assert!(parse(10, 2026, now()).is_err());
        assert!(parse(1, 2027, now()).is_ok());
        for month in [0, 13, -1] {
            let error = parse(month, 2030, now()).expect_err("bad month");
            assert_eq!(error.param, "payment_method[card][exp_month]");
        }
        for year in [30, 999, 10000, -2030] {
            let error = parse(12, year, now()).expect_err("bad year");
            assert_eq!(error.param, "payment_method[card][exp_year]");
        }
    }

    #[test]
    fn cvc_shape() {
        let parse = |number, cvc| parse_card(number, 12, 2030, Some(cvc), None, now());
        assert!(parse("4242424242424242", "123").is_ok());
        assert!(parse("378282246310005", "1234").is_ok());
        for (number, cvc) in [
            ("4242424242424242", "12"),
            ("4242424242424242", "1234"),
            ("4242424242424242", "12a"),
            ("378282246310005", "123"),
        ] {
            let error = parse(number, cvc).expect_err(cvc);
            assert_eq!(error.param, "payment_method[card][cvc]");
            assert!(!error.message.contains(cvc));
        }
    }

    #[test]
    fn holder_name() {
        let parse = |name| parse_card("4242424242424242", 12, 2030, None, Some(name), now());
        assert_eq!(
            parse("  A B ").map(|c| c.holder_name),
            Ok(Some("A B".to_owned()))
        );
        assert_eq!(parse("   ").map(|c| c.holder_name), Ok(None));
        assert!(parse("A\nB").is_err());
        assert!(parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug_and_messages() {
        let number = "4000056655665556";
        let cvc = "987";
        let card = parse_card(number, 12, 2030, Some(cvc), Some("A B"), now()).expect("valid");
        let debug = format!("{card:?}");
        assert!(!debug.contains(number), "{debug}");
        assert!(!debug.contains(cvc), "{debug}");
        assert!(debug.contains("5556"));
        for bad in [
            parse_card("4000056655665557", 12, 2030, Some(cvc), None, now()),
            parse_card(number, 13, 2030, Some(cvc), None, now()),
            parse_card(number, 12, 2020, Some(cvc), None, now()),
            parse_card(number, 12, 2030, Some("98"), None, now()),
        ] {
            let error = bad.expect_err("invalid");
            assert!(!error.message.contains("400005665566555"), "{error:?}");
            assert!(!format!("{error:?}").contains("98"), "{error:?}");
        }
    }

    #[test]
    fn fingerprints() {
        // RFC 4231, test case 2.
        assert_eq!(
            fingerprint(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let one = fingerprint(b"key one", "4242424242424242");
        assert_eq!(one, fingerprint(b"key one", "4242424242424242"));
        assert_ne!(one, fingerprint(b"key two", "4242424242424242"));
        assert_ne!(one, fingerprint(b"key one", "5555555555554444"));
    }
}
