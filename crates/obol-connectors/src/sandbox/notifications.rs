//! The sandbox's notifications, as a processor sends its webhooks: a JSON
//! body signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 over "id.timestamp.body">`)
//! under the connector account's webhook secret.
//!
//! The body is `{"id": "sbx_evt_…", "type": "payment.succeeded" |
//! "payment.failed" | "crypto.paid", "connector_transaction_id": "sbx_pay_…",
//! "amount": 8925, "currency": "EUR"}`; `crypto.paid` adds
//! `amount_received`, `payment.failed` adds `failure_code` (the decline
//! code, or `underpaid`/`expired` for an invoice), and each names its
//! `payment_method` (`card` or `crypto`). A succeeded payment that set up a
//! mandate adds it: `"mandate": {"token", "card_brand", "last4",
//! "exp_month", "exp_year"}`.

use super::state::{MandateRow, PaymentRow};
use crate::{Notification, NotificationError, Outcome, StoredMandate};
use obol_core::Timestamp;
use serde::{Deserialize, Serialize};
use standardwebhooks::Webhook;

/// How far a notification's timestamp may be from Obol's clock.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// A notification the sandbox sends: its event id and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxEvent {
    /// Stable for a payment and what it tells, so that a resent one is
    /// recognized as the same event.
    pub id: String,
    pub body: String,
}

/// The body as sent.
#[derive(Debug, Serialize, Deserialize)]
struct Body {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    connector_transaction_id: String,
    amount: i64,
    currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amount_received: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mandate: Option<BodyMandate>,
}

/// The mandate a payment set up, as a notification names it.
#[derive(Debug, Serialize, Deserialize)]
struct BodyMandate {
    token: String,
    card_brand: String,
    last4: String,
    exp_month: i64,
    exp_year: i64,
}

/// What the sandbox tells about `payment` as it stands, with the mandate it
/// set up (`Sandbox::mandate_of`): `None` while there is nothing to tell
/// (awaiting a challenge or an invoice's payment, not yet settled, or
/// canceled by Obol itself).
pub fn event_for(payment: &PaymentRow, mandate: Option<&MandateRow>) -> Option<SandboxEvent> {
    let crypto = payment.method == "crypto";
    let (event_type, suffix) = match payment.status.as_str() {
        "succeeded" if crypto => ("crypto.paid", "paid"),
        "succeeded" => ("payment.succeeded", "succeeded"),
        "pending" if crypto && payment.amount_received.is_some() => ("crypto.paid", "paid"),
        "declined" | "failed" => ("payment.failed", "failed"),
        _ => return None,
    };
    let id = format!(
        "sbx_evt_{}_{suffix}",
        payment.id.trim_start_matches("sbx_pay_")
    );
    let body = Body {
        id: id.clone(),
        event_type: event_type.to_owned(),
        connector_transaction_id: payment.id.clone(),
        amount: payment.amount,
        currency: payment.currency.clone(),
        amount_received: payment.amount_received.filter(|_| crypto),
        failure_code: (suffix == "failed").then(|| {
            let fallback = if crypto { "expired" } else { "generic_decline" };
            payment
                .decline_code
                .clone()
                .unwrap_or_else(|| fallback.into())
        }),
        payment_method: Some(payment.method.clone()),
        mandate: mandate
            .filter(|_| suffix == "succeeded")
            .map(|row| BodyMandate {
                token: row.token.clone(),
                card_brand: row.card_brand.clone(),
                last4: row.card_last4.clone(),
                exp_month: row.exp_month,
                exp_year: row.exp_year,
            }),
    };
    let body = serde_json::to_string(&body).ok()?;
    Some(SandboxEvent { id, body })
}

/// The `webhook-signature` header of `event` sent at `timestamp_secs`.
pub fn signature(
    webhook_secret: &str,
    event: &SandboxEvent,
    timestamp_secs: i64,
) -> Result<String, String> {
    let webhook =
        Webhook::new(webhook_secret).map_err(|error| format!("webhook secret: {error}"))?;
    webhook
        .sign(&event.id, timestamp_secs, event.body.as_bytes())
        .map_err(|error| format!("signing: {error}"))
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Result<&'a str, NotificationError> {
    headers
        .get(name)
        .ok_or_else(|| NotificationError::Unverified(format!("the {name} header is missing")))?
        .to_str()
        .map_err(|_| NotificationError::Unverified(format!("the {name} header is not text")))
}

/// Compares without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the Standard Webhooks signature of `body` at `now`: the library
/// computes the signature; the timestamp is checked here against Obol's
/// clock (the library's own check reads the system time, which the test
/// clock does not move).
fn verify_signature(
    webhook_secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Result<(), NotificationError> {
    let id = header(headers, "webhook-id")?;
    let timestamp = header(headers, "webhook-timestamp")?;
    let signatures = header(headers, "webhook-signature")?;
    let timestamp: i64 = timestamp.parse().map_err(|_| {
        NotificationError::Unverified("the webhook-timestamp header is not unix seconds".into())
    })?;
    let now_secs = now.as_ms().div_euclid(1000);
    if now_secs.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(NotificationError::Unverified(format!(
            "the timestamp is more than {TOLERANCE_SECS} seconds from now"
        )));
    }
    let unverified = |what: &str| NotificationError::Unverified(what.to_owned());
    let webhook = Webhook::new(webhook_secret).map_err(|_| unverified("no usable secret"))?;
    let expected = webhook
        .sign(id, timestamp, body)
        .map_err(|_| unverified("the body is not UTF-8"))?;
    let expected = expected.split_once(',').map_or("", |(_, sig)| sig);
    let matches = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .any(|(version, sig)| {
            version == "v1" && constant_time_eq(sig.as_bytes(), expected.as_bytes())
        });
    if matches {
        Ok(())
    } else {
        Err(unverified("no v1 signature matches"))
    }
}

/// Verifies and parses a sandbox notification (see the module's doc).
pub fn verify(
    webhook_secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Result<Notification, NotificationError> {
    verify_signature(webhook_secret, headers, body, now)?;
    let malformed = |what: String| NotificationError::Malformed(what);
    // Where it fails, not what it read: nothing of the body is echoed.
    let parsed: Body = serde_json::from_slice(body).map_err(|error| {
        malformed(format!(
            "not a sandbox notification (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    if parsed.amount < 0 || parsed.amount_received.is_some_and(|received| received < 0) {
        return Err(malformed("an amount is negative".into()));
    }
    let crypto = parsed.payment_method.as_deref() == Some("crypto");
    let outcome = match parsed.event_type.as_str() {
        "payment.succeeded" => Outcome::Succeeded,
        "crypto.paid" => match parsed.amount_received {
            Some(received) if received >= parsed.amount => Outcome::Succeeded,
            Some(_) => Outcome::Pending,
            None => return Err(malformed("crypto.paid needs amount_received".into())),
        },
        "payment.failed" => {
            let default = if crypto { "expired" } else { "generic_decline" };
            let code = parsed.failure_code.unwrap_or_else(|| default.into());
            if crypto {
                let message = super::crypto::failure_message(
                    &code,
                    parsed.amount_received,
                    parsed.amount,
                    &parsed.currency,
                );
                Outcome::Failed { code, message }
            } else {
                Outcome::Declined {
                    message: super::decline_message(&code).to_owned(),
                    code,
                }
            }
        }
        other => return Err(malformed(format!("unknown event type {other}"))),
    };
    Ok(Notification {
        event_id: parsed.id,
        event_type: parsed.event_type,
        connector_transaction_id: parsed.connector_transaction_id,
        outcome,
        amount: Some(parsed.amount),
        amount_received: parsed.amount_received,
        fetch_first: false,
        transaction_id: None,
        mandate: parsed.mandate.map(|mandate| StoredMandate {
            token: mandate.token,
            card_brand: mandate.card_brand,
            last4: mandate.last4,
            exp_month: mandate.exp_month,
            exp_year: mandate.exp_year,
        }),
    })
}
