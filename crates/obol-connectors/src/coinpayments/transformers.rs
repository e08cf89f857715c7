//! CoinPayments' wire format: the account's credentials, the form bodies
//! of its API (`create_transaction`, `get_tx_info`) signed with HMAC-SHA512,
//! its answers, its IPN, and their mapping to Obol's outcomes.

use crate::decimal::{Decimal, share_of, to_decimal};
use crate::{AccountContext, AuthorizeRequest, ConnectorError, Notification, Outcome};
use hmac::{Hmac, Mac};
use obol_core::{Currency, Money};
use serde::Deserialize;
use sha2::Sha512;

/// The coin asked for when the account names none.
pub const DEFAULT_COIN: &str = "BTC";

/// The credentials keys an account must have.
pub const REQUIRED_CREDENTIALS: &[&str] =
    &["public_key", "private_key", "ipn_secret", "merchant_id"];

/// An account's CoinPayments credentials. Never shown: `Debug` names no value.
#[derive(Deserialize)]
pub(super) struct Credentials {
    pub(super) public_key: String,
    pub(super) private_key: String,
    pub(super) ipn_secret: String,
    pub(super) merchant_id: String,
    #[serde(default)]
    pub(super) coin: Option<String>,
    #[serde(default)]
    pub(super) api_base: Option<String>,
}

impl Credentials {
    pub(super) fn of(account: &AccountContext) -> Result<Credentials, ConnectorError> {
        // serde's own message could quote a value: a fixed one instead.
        serde_json::from_value::<Credentials>(account.credentials.clone())
            .ok()
            .filter(|c| {
                [&c.public_key, &c.private_key, &c.ipn_secret, &c.merchant_id]
                    .iter()
                    .all(|value| !value.is_empty())
            })
            .ok_or_else(|| {
                ConnectorError::Invalid(
                    "the CoinPayments credentials take public_key, private_key, ipn_secret and merchant_id (and coin, api_base) as strings"
                        .into(),
                )
            })
    }

    pub(super) fn coin(&self) -> &str {
        self.coin
            .as_deref()
            .filter(|coin| !coin.is_empty())
            .unwrap_or(DEFAULT_COIN)
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

/// Hex HMAC-SHA512 of `body` under `key`: CoinPayments' `HMAC` header.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature` (hex) is the HMAC-SHA512 of `body` under `key`,
/// compared in constant time.
pub fn verify(key: &str, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// A form body in the order its fields were added.
pub(super) fn encode(fields: &[(&str, &str)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        form.append_pair(name, value);
    }
    form.finish()
}

/// The `create_transaction` form of a crypto sale, paid in `coin`, its
/// IPN sent to `ipn_url`.
pub(super) fn create_form(
    credentials: &Credentials,
    request: &AuthorizeRequest,
    buyer_email: &str,
    ipn_url: &str,
) -> String {
    let amount = to_decimal(request.amount);
    let txn = request.transaction_id.as_str();
    encode(&[
        ("version", "1"),
        ("cmd", "create_transaction"),
        ("key", &credentials.public_key),
        ("amount", &amount),
        ("currency1", request.amount.currency.code()),
        ("currency2", credentials.coin()),
        ("buyer_email", buyer_email),
        ("invoice", txn),
        ("custom", txn),
        ("item_name", request.order_id.as_str()),
        ("ipn_url", ipn_url),
        ("success_url", &request.return_url),
        ("cancel_url", &request.return_url),
    ])
}

/// The `get_tx_info` form of transaction `txid`.
pub(super) fn tx_info_form(credentials: &Credentials, txid: &str) -> String {
    encode(&[
        ("version", "1"),
        ("cmd", "get_tx_info"),
        ("key", &credentials.public_key),
        ("txid", txid),
    ])
}

/// Every answer: `error` is `"ok"` or what went wrong; `result` is the
/// command's answer (an empty list on an error).
#[derive(Debug, Deserialize)]
pub(super) struct Envelope<T> {
    pub(super) error: String,
    #[serde(default)]
    pub(super) result: Option<T>,
}

/// `create_transaction`'s result (amounts in the coin).
#[derive(Debug, Deserialize)]
pub(super) struct Created {
    pub(super) txn_id: String,
    pub(super) checkout_url: String,
    #[serde(default)]
    pub(super) status_url: Option<String>,
}

/// `get_tx_info`'s result: `amountf` and `receivedf` in the coin.
#[derive(Debug, Deserialize)]
pub(super) struct TxInfo {
    pub(super) status: i64,
    #[serde(default)]
    pub(super) status_text: String,
    pub(super) amountf: String,
    pub(super) receivedf: String,
}

/// How a CoinPayments payment stands, read off its status: ≥ 100 or 2
/// (queued for a nightly payout) complete, < 0 canceled or timed out,
/// otherwise waiting (for funds, or for their confirmations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Paid,
    Failed,
    Waiting,
}

pub(super) fn stage(status: i64) -> Stage {
    match status {
        s if s >= 100 || s == 2 => Stage::Paid,
        s if s < 0 => Stage::Failed,
        _ => Stage::Waiting,
    }
}

/// What a payment of `amount` stands as: its stage, what arrived in the
/// order currency (`received` of `asked`, in the coin), and the page the
/// customer pays at while nothing arrived.
pub(super) fn outcome(
    stage: Stage,
    amount: Money,
    received_minor: i64,
    status_text: &str,
    page_url: String,
) -> Outcome {
    match stage {
        Stage::Paid => Outcome::Succeeded,
        Stage::Waiting if received_minor > 0 => Outcome::Pending,
        Stage::Waiting => Outcome::RequiresAction { url: page_url },
        Stage::Failed if received_minor > 0 => Outcome::Failed {
            code: "underpaid".into(),
            message: format!(
                "The payment expired underpaid: {} of {} {} arrived ({status_text}).",
                to_decimal(Money {
                    amount_minor: received_minor,
                    ..amount
                }),
                to_decimal(amount),
                amount.currency.code()
            ),
        },
        Stage::Failed => Outcome::Failed {
            code: "expired".into(),
            message: format!("The payment expired before it was paid ({status_text})."),
        },
    }
}

/// What `received` of `asked` (decimal strings in the coin) is worth of
/// `amount_minor`.
pub(super) fn received_minor(
    amount_minor: i64,
    received: &str,
    asked: &str,
) -> Result<i64, ConnectorError> {
    let unreadable = || ConnectorError::Provider {
        http_code: Some(200),
        message: "CoinPayments answered amounts Obol cannot read".into(),
    };
    let received = Decimal::parse(received).ok_or_else(unreadable)?;
    let asked = Decimal::parse(asked).ok_or_else(unreadable)?;
    share_of(amount_minor, received, asked).ok_or_else(unreadable)
}

/// An IPN of `ipn_type=api` (a payment made with `create_transaction`),
/// as form fields: `amount1`/`currency1` is the price, `amount2`/
/// `currency2` the coin asked and `received_amount` what arrived of it.
#[derive(Debug, Deserialize)]
pub(super) struct Ipn {
    pub(super) ipn_id: String,
    #[serde(default)]
    pub(super) ipn_type: String,
    pub(super) merchant: String,
    pub(super) txn_id: String,
    pub(super) status: String,
    #[serde(default)]
    pub(super) status_text: String,
    pub(super) amount1: String,
    pub(super) currency1: String,
    pub(super) amount2: String,
    #[serde(default)]
    pub(super) received_amount: Option<String>,
}

/// The IPN as Obol's notification: the price it names, what arrived of it.
pub(super) fn ipn_notification(ipn: Ipn, page_url: String) -> Result<Notification, String> {
    let status: i64 = ipn
        .status
        .trim()
        .parse()
        .map_err(|_| "status is not an integer".to_owned())?;
    let currency = Currency::parse(&ipn.currency1).ok_or("currency1 is no currency Obol knows")?;
    let amount_minor = Decimal::parse(&ipn.amount1)
        .and_then(|amount| amount.to_minor(currency))
        .ok_or("amount1 is not an amount of currency1")?;
    let received = ipn.received_amount.as_deref().unwrap_or("0");
    let received_minor = received_minor(amount_minor, received, &ipn.amount2)
        .map_err(|_| "received_amount or amount2 is not a decimal".to_owned())?;
    let amount = Money {
        amount_minor,
        currency,
    };
    let stage = stage(status);
    let outcome = outcome(stage, amount, received_minor, &ipn.status_text, page_url);
    let kind = if ipn.ipn_type.is_empty() {
        "api"
    } else {
        &ipn.ipn_type
    };
    Ok(Notification {
        event_id: ipn.ipn_id,
        event_type: format!("{kind}.status.{status}"),
        connector_transaction_id: ipn.txn_id,
        outcome,
        amount: Some(amount_minor),
        amount_received: Some(received_minor),
        fetch_first: false,
        transaction_id: None,
        mandate: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hmac_is_hex_sha512_of_the_exact_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        let body = b"version=1&cmd=get_tx_info&key=pub&txid=CPX";
        let signature = sign("private", body);
        assert!(verify("private", body, &signature));
        assert!(verify("private", body, &signature.to_uppercase()));
        assert!(!verify("other", body, &signature));
        assert!(!verify(
            "private",
            b"version=1&cmd=get_tx_info&key=pub&txid=CPY",
            &signature
        ));
        assert!(!verify("private", body, "not hex"));
        assert!(!verify("private", body, ""));
        assert!(!verify("private", body, &signature[..64]));
    }

    #[test]
    fn statuses_map_as_the_contract_says() {
        assert_eq!(stage(100), Stage::Paid);
        assert_eq!(stage(2), Stage::Paid);
        assert_eq!(stage(0), Stage::Waiting);
        assert_eq!(stage(1), Stage::Waiting);
        assert_eq!(stage(3), Stage::Waiting);
        assert_eq!(stage(-1), Stage::Failed);
        assert_eq!(stage(-2), Stage::Failed);
        let eur = Money {
            amount_minor: 8925,
            currency: Currency::parse("EUR").expect("EUR"),
        };
        let page = || "https://pay.example".to_owned();
        assert!(matches!(
            outcome(Stage::Failed, eur, 4462, "Cancelled / Timed Out", page()),
            Outcome::Failed { ref code, ref message } if code == "underpaid" && message.contains("44.62 of 89.25 EUR")
        ));
        assert!(matches!(
            outcome(Stage::Failed, eur, 0, "Timed Out", page()),
            Outcome::Failed { ref code, .. } if code == "expired"
        ));
        assert_eq!(
            outcome(Stage::Waiting, eur, 1, "", page()),
            Outcome::Pending
        );
        assert_eq!(
            outcome(Stage::Waiting, eur, 0, "", page()),
            Outcome::RequiresAction { url: page() }
        );
        assert_eq!(
            outcome(Stage::Paid, eur, 9817, "", page()),
            Outcome::Succeeded
        );
    }
}
