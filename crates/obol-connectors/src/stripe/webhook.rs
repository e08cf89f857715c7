//! Stripe's webhook events: the `Stripe-Signature` check, and the event in
//! provider-neutral terms (what happened to which payment).

use super::transformers::{
    Metadata, PaymentIntent, TRANSACTION_METADATA, Tagged, decline, money_of,
};
use crate::{
    AccountContext, ConnectorError, DisputeChange, DisputeNotice, Notice, Notification,
    NotificationError, Outcome,
};
use hmac::{Hmac, Mac};
use obol_core::{Money, Timestamp};
use serde::Deserialize;

/// How far a signature's timestamp may be from now (api.md: 5 minutes).
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 5 * 60;

/// Why a webhook is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the Stripe-Signature header is not `t=…,v1=…`")]
    MalformedHeader,
    #[error("no v1 signature of the Stripe-Signature header matches the body")]
    BadSignature,
    #[error("the signature is {age_seconds} s from now, beyond the tolerance of 300 s")]
    Stale { age_seconds: i64 },
    #[error("the event cannot be read: {0}")]
    Body(String),
}

/// A verified Stripe event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    /// Stripe's event id (`evt_…`): notifications are de-duplicated by it.
    pub id: String,
    /// Stripe's event type (`payment_intent.succeeded` …).
    pub event_type: String,
    /// The PaymentIntent it is about, when it names one.
    pub payment_intent_id: Option<String>,
    /// The charge it is about (refunds and disputes).
    pub charge_id: Option<String>,
    /// Obol's transaction id, from the object's metadata when present.
    pub transaction_id: Option<String>,
    /// The intent sets up a mandate: its event carries no payment method,
    /// so the mandate is read by retrieving the intent.
    pub sets_up_mandate: bool,
    pub outcome: EventOutcome,
}

/// What an event says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// `payment_intent.succeeded`: the amount received, when Stripe says.
    Succeeded { amount: Option<Money> },
    /// `payment_intent.payment_failed`, with Obol's decline code.
    Declined { code: String, message: String },
    /// `payment_intent.canceled`.
    Canceled,
    /// `payment_intent.requires_action`.
    RequiresAction,
    /// `charge.refunded`: everything refunded on the charge so far.
    Refunded { amount_refunded: Money },
    /// `charge.dispute.created`; evidence is due by `evidence_due_by`
    /// (Unix seconds), when Stripe says.
    Disputed {
        dispute_id: String,
        amount: Money,
        reason: String,
        evidence_due_by: Option<i64>,
    },
    /// `charge.dispute.closed`: won (`won`, or an inquiry closed with a
    /// `warning_closed`) or lost.
    DisputeClosed { dispute_id: String, won: bool },
    /// A type Obol does not act on.
    Ignored,
}

/// Checks a webhook's `Stripe-Signature` (hex HMAC-SHA256 over `{t}.{body}`
/// under the whole `whsec_…` secret; any of its `v1` values may match, as
/// while Stripe rolls a secret) and its timestamp against `now_unix`, then
/// reads the event.
pub fn verify_webhook(
    webhook_secret: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<StripeEvent, WebhookError> {
    let (timestamp, signatures) = parse_header(signature_header)?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(webhook_secret.as_bytes())
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    if !signatures
        .iter()
        .any(|signature| mac.clone().verify_slice(signature).is_ok())
    {
        return Err(WebhookError::BadSignature);
    }
    let signed_at: i64 = timestamp
        .parse()
        .map_err(|_| WebhookError::MalformedHeader)?;
    let age_seconds = now_unix.saturating_sub(signed_at);
    if age_seconds.unsigned_abs() > SIGNATURE_TOLERANCE_SECONDS.unsigned_abs() {
        return Err(WebhookError::Stale { age_seconds });
    }
    read_event(body)
}

/// The timestamp (as signed) and the decoded `v1` signatures.
fn parse_header(header: &str) -> Result<(&str, Vec<Vec<u8>>), WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) if timestamp.is_none() => timestamp = Some(value),
            Some(("v1", value)) => {
                if let Ok(signature) = hex::decode(value) {
                    signatures.push(signature);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(WebhookError::MalformedHeader)?;
    if signatures.is_empty() {
        return Err(WebhookError::MalformedHeader);
    }
    Ok((timestamp, signatures))
}

#[derive(Deserialize)]
struct EventWire {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

#[derive(Deserialize)]
struct ChargeWire {
    id: String,
    #[serde(default)]
    payment_intent: Option<String>,
    amount_refunded: i64,
    currency: String,
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Deserialize)]
struct DisputeWire {
    id: String,
    #[serde(default)]
    charge: Option<String>,
    #[serde(default)]
    payment_intent: Option<String>,
    amount: i64,
    currency: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    evidence_details: Option<EvidenceDetails>,
}

#[derive(Deserialize)]
struct EvidenceDetails {
    #[serde(default)]
    due_by: Option<i64>,
}

fn read_event(body: &[u8]) -> Result<StripeEvent, WebhookError> {
    let wire: EventWire = serde_json::from_slice(body).map_err(body_error)?;
    let mut event = StripeEvent {
        id: wire.id,
        event_type: wire.kind,
        payment_intent_id: None,
        charge_id: None,
        transaction_id: None,
        sets_up_mandate: false,
        outcome: EventOutcome::Ignored,
    };
    let object = wire.data.object;
    match event.event_type.as_str() {
        kind @ ("payment_intent.succeeded"
        | "payment_intent.payment_failed"
        | "payment_intent.canceled"
        | "payment_intent.requires_action") => {
            let intent: PaymentIntent = serde_json::from_value(object).map_err(body_error)?;
            event.outcome = intent_outcome(kind, &intent)?;
            event.transaction_id = intent.transaction_id().map(str::to_owned);
            event.sets_up_mandate = intent.keeps_mandate();
            event.payment_intent_id = Some(intent.id);
        }
        "charge.refunded" => {
            let charge: ChargeWire = serde_json::from_value(object).map_err(body_error)?;
            let amount_refunded =
                money_of(charge.amount_refunded, &charge.currency).map_err(amount_error)?;
            event.outcome = EventOutcome::Refunded { amount_refunded };
            event.transaction_id = charge
                .metadata
                .as_ref()
                .and_then(|m| m.get(TRANSACTION_METADATA).cloned());
            event.payment_intent_id = charge.payment_intent;
            event.charge_id = Some(charge.id);
        }
        "charge.dispute.created" => {
            let dispute: DisputeWire = serde_json::from_value(object).map_err(body_error)?;
            event.outcome = EventOutcome::Disputed {
                amount: money_of(dispute.amount, &dispute.currency).map_err(amount_error)?,
                reason: dispute.reason.unwrap_or_else(|| "general".to_owned()),
                evidence_due_by: dispute.evidence_details.and_then(|details| details.due_by),
                dispute_id: dispute.id,
            };
            event.payment_intent_id = dispute.payment_intent;
            event.charge_id = dispute.charge;
        }
        "charge.dispute.closed" => {
            let dispute: DisputeWire = serde_json::from_value(object).map_err(body_error)?;
            let won = match dispute.status.as_deref() {
                Some("won" | "warning_closed") => true,
                Some("lost") => false,
                _ => return Err(WebhookError::Body("a closed dispute is won or lost".into())),
            };
            event.outcome = EventOutcome::DisputeClosed {
                dispute_id: dispute.id,
                won,
            };
            event.payment_intent_id = dispute.payment_intent;
            event.charge_id = dispute.charge;
        }
        _ => {}
    }
    Ok(event)
}

/// Verifies a webhook for `account` under the `webhook_secret` of its
/// Stripe credentials, against real time (Stripe signs with its own clock,
/// not Obol's test clock), as a provider-neutral notice.
pub fn notice(
    account: &AccountContext,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Notice, NotificationError> {
    let secret = super::webhook_secret(account)
        .map_err(|error| NotificationError::Unverified(error.to_string()))?;
    let header = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| NotificationError::Unverified("no Stripe-Signature header".into()))?;
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            elapsed.as_secs().try_into().unwrap_or(i64::MAX)
        });
    let event = verify_webhook(&secret, header, body, now_unix).map_err(|error| match error {
        WebhookError::Body(_) => NotificationError::Malformed(error.to_string()),
        _ => NotificationError::Unverified(error.to_string()),
    })?;
    Ok(notice_of(event))
}

/// A verified event as what Obol acts on: a payment's outcome on its
/// PaymentIntent, or a dispute.
fn notice_of(event: StripeEvent) -> Notice {
    let Some(intent_id) = event.payment_intent_id else {
        return Notice::Ignored {
            event_id: event.id,
            event_type: event.event_type,
        };
    };
    let (outcome, amount) = match event.outcome {
        EventOutcome::Succeeded { amount } => {
            (Outcome::Succeeded, amount.map(|money| money.amount_minor))
        }
        EventOutcome::Declined { code, message } => (Outcome::Declined { code, message }, None),
        EventOutcome::Canceled => (
            Outcome::Failed {
                code: "canceled".into(),
                message: "the payment was canceled at Stripe".into(),
            },
            None,
        ),
        // The challenge's URL came with the confirm's answer: applied as
        // pending, the event would take it off the order.
        EventOutcome::RequiresAction => {
            return Notice::Ignored {
                event_id: event.id,
                event_type: event.event_type,
            };
        }
        // The charge's refunds are Obol's own refund calls, each settled by
        // its answer or a sync; on the payment itself the refund says only
        // that it succeeded.
        EventOutcome::Refunded { .. } => (Outcome::Succeeded, None),
        EventOutcome::Disputed {
            dispute_id,
            amount,
            reason,
            evidence_due_by,
        } => {
            let change = DisputeChange::Opened {
                amount,
                reason,
                evidence_due_by: evidence_due_by
                    .and_then(|seconds| seconds.checked_mul(1000))
                    .map(Timestamp::from_ms),
            };
            return dispute_notice(event.id, event.event_type, intent_id, dispute_id, change);
        }
        EventOutcome::DisputeClosed { dispute_id, won } => {
            let change = DisputeChange::Closed { won };
            return dispute_notice(event.id, event.event_type, intent_id, dispute_id, change);
        }
        EventOutcome::Ignored => {
            return Notice::Ignored {
                event_id: event.id,
                event_type: event.event_type,
            };
        }
    };
    let fetch_first = event.sets_up_mandate && outcome == Outcome::Succeeded;
    Notice::Payment(Notification {
        event_id: event.id,
        event_type: event.event_type,
        connector_transaction_id: intent_id,
        outcome,
        amount,
        amount_received: None,
        // Signed: applied as it says, but for a success that sets up a
        // mandate: the mandate comes from retrieving the intent, so the
        // success is applied as the retrieval answers it, mandate and all.
        fetch_first,
        transaction_id: event.transaction_id,
        mandate: None,
    })
}

fn dispute_notice(
    event_id: String,
    event_type: String,
    connector_transaction_id: String,
    connector_dispute_id: String,
    change: DisputeChange,
) -> Notice {
    Notice::Dispute(DisputeNotice {
        event_id,
        event_type,
        connector_transaction_id,
        connector_dispute_id,
        change,
    })
}

fn intent_outcome(kind: &str, intent: &PaymentIntent) -> Result<EventOutcome, WebhookError> {
    Ok(match kind {
        "payment_intent.succeeded" => {
            let received = intent.amount_received.unwrap_or(intent.amount);
            let amount = money_of(received, &intent.currency).map_err(amount_error)?;
            EventOutcome::Succeeded {
                amount: Some(amount),
            }
        }
        "payment_intent.payment_failed" => {
            let (code, message) = decline(intent.last_payment_error.as_ref());
            EventOutcome::Declined { code, message }
        }
        "payment_intent.canceled" => EventOutcome::Canceled,
        _ => EventOutcome::RequiresAction,
    })
}

fn body_error(error: serde_json::Error) -> WebhookError {
    WebhookError::Body(error.to_string())
}

fn amount_error(error: ConnectorError) -> WebhookError {
    WebhookError::Body(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use obol_core::Currency;

    const SECRET: &str = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH";
    const NOW: i64 = 1_796_220_000;

    fn sign(secret: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
        mac.update(format!("{timestamp}.{body}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn succeeded_body() -> String {
        r#"{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "created": 1796220000,
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 8925,
                "amount_received": 8925, "currency": "eur", "status": "succeeded",
                "metadata": {"obol_transaction_id": "txn_1"}, "latest_charge": "ch_1"}}}"#
            .to_owned()
    }

    fn eur(amount_minor: i64) -> Money {
        Money {
            amount_minor,
            currency: Currency::parse("EUR").expect("known"),
        }
    }

    #[test]
    fn a_good_signature_gives_the_event() {
        let body = succeeded_body();
        let header = format!("t={NOW},v1={}", sign(SECRET, NOW, &body));
        let event = verify_webhook(SECRET, &header, body.as_bytes(), NOW + 10).expect("verified");
        assert_eq!(
            event,
            StripeEvent {
                id: "evt_1".into(),
                event_type: "payment_intent.succeeded".into(),
                payment_intent_id: Some("pi_1".into()),
                charge_id: None,
                transaction_id: Some("txn_1".into()),
                sets_up_mandate: false,
                outcome: EventOutcome::Succeeded {
                    amount: Some(eur(8925))
                },
            }
        );
        // Any of several v1 values (a secret being rolled), other schemes ignored.
        let rolled = format!(
            "t={NOW}, v1={}, v1={}, v0=abc",
            sign("whsec_old", NOW, &body),
            sign(SECRET, NOW, &body)
        );
        assert!(verify_webhook(SECRET, &rolled, body.as_bytes(), NOW).is_ok());
    }

    #[test]
    fn a_bad_signature_is_refused() {
        let body = succeeded_body();
        let good = sign(SECRET, NOW, &body);
        let refused = [
            format!("t={NOW},v1={}", sign("whsec_other", NOW, &body)),
            format!("t={},v1={good}", NOW + 1),
            format!("t={NOW},v1={}", "0".repeat(64)),
            format!("t={NOW},v0={good}"),
        ];
        for header in &refused {
            let error = verify_webhook(SECRET, header, body.as_bytes(), NOW).expect_err(header);
            assert!(
                matches!(
                    error,
                    WebhookError::BadSignature | WebhookError::MalformedHeader
                ),
                "{header}: {error:?}"
            );
        }
        let tampered = body.replace("8925", "1");
        let header = format!("t={NOW},v1={good}");
        assert_eq!(
            verify_webhook(SECRET, &header, tampered.as_bytes(), NOW),
            Err(WebhookError::BadSignature)
        );
        for malformed in ["", "v1=abc", "t=,v1=ab", "t=12a,v1=ab", "t=1"] {
            assert_eq!(
                verify_webhook(SECRET, malformed, body.as_bytes(), NOW),
                Err(WebhookError::MalformedHeader),
                "{malformed}"
            );
        }
    }

    #[test]
    fn a_stale_signature_is_refused() {
        let body = succeeded_body();
        let header = format!("t={NOW},v1={}", sign(SECRET, NOW, &body));
        assert!(verify_webhook(SECRET, &header, body.as_bytes(), NOW + 300).is_ok());
        assert_eq!(
            verify_webhook(SECRET, &header, body.as_bytes(), NOW + 301),
            Err(WebhookError::Stale { age_seconds: 301 })
        );
        assert_eq!(
            verify_webhook(SECRET, &header, body.as_bytes(), NOW - 301),
            Err(WebhookError::Stale { age_seconds: -301 })
        );
    }

    fn event(kind: &str, object: &str) -> StripeEvent {
        let body =
            format!(r#"{{"id": "evt_2", "type": "{kind}", "data": {{"object": {object}}}}}"#);
        let header = format!("t={NOW},v1={}", sign(SECRET, NOW, &body));
        verify_webhook(SECRET, &header, body.as_bytes(), NOW).expect("verified")
    }

    #[test]
    fn events_read_as_outcomes() {
        let failed = event(
            "payment_intent.payment_failed",
            r#"{"id": "pi_2", "amount": 500, "currency": "jpy", "status": "requires_payment_method",
                "metadata": {"obol_transaction_id": "txn_2"},
                "last_payment_error": {"type": "card_error", "code": "card_declined",
                    "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}}"#,
        );
        assert_eq!(failed.transaction_id.as_deref(), Some("txn_2"));
        assert_eq!(
            failed.outcome,
            EventOutcome::Declined {
                code: "insufficient_funds".into(),
                message: "Your card has insufficient funds.".into()
            }
        );
        let canceled = event(
            "payment_intent.canceled",
            r#"{"id": "pi_3", "amount": 500, "currency": "eur", "status": "canceled", "metadata": {}}"#,
        );
        assert_eq!(canceled.outcome, EventOutcome::Canceled);
        assert_eq!(canceled.transaction_id, None);
        let action = event(
            "payment_intent.requires_action",
            r#"{"id": "pi_4", "amount": 500, "currency": "eur", "status": "requires_action"}"#,
        );
        assert_eq!(action.outcome, EventOutcome::RequiresAction);
        let refunded = event(
            "charge.refunded",
            r#"{"id": "ch_5", "object": "charge", "payment_intent": "pi_5", "amount": 5000,
                "amount_refunded": 2000, "currency": "eur", "metadata": {}}"#,
        );
        assert_eq!(refunded.payment_intent_id.as_deref(), Some("pi_5"));
        assert_eq!(refunded.charge_id.as_deref(), Some("ch_5"));
        assert_eq!(
            refunded.outcome,
            EventOutcome::Refunded {
                amount_refunded: eur(2000)
            }
        );
        let disputed = event(
            "charge.dispute.created",
            r#"{"id": "dp_6", "object": "dispute", "charge": "ch_6", "payment_intent": "pi_6",
                "amount": 5000, "currency": "eur", "reason": "fraudulent", "status": "needs_response"}"#,
        );
        assert_eq!(
            disputed.outcome,
            EventOutcome::Disputed {
                dispute_id: "dp_6".into(),
                amount: eur(5000),
                reason: "fraudulent".into(),
                evidence_due_by: None,
            }
        );
        let other = event("customer.created", r#"{"id": "cus_7"}"#);
        assert_eq!(other.outcome, EventOutcome::Ignored);
        assert_eq!(other.event_type, "customer.created");
    }

    #[test]
    fn an_unreadable_event_is_refused() {
        let body =
            r#"{"id": "evt_3", "type": "payment_intent.succeeded", "data": {"object": {"id": 5}}}"#;
        let header = format!("t={NOW},v1={}", sign(SECRET, NOW, body));
        assert!(matches!(
            verify_webhook(SECRET, &header, body.as_bytes(), NOW),
            Err(WebhookError::Body(_))
        ));
    }
}
