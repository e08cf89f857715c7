//! A connector's answer (to a call, a sync or a notification), normalized
//! for step 3 and the state machines.

use obol_connectors::{
    ConnectorError, ConnectorResponse, ConnectorResult, Notification, Outcome, StoredMandate,
};
use obol_core::order::CallResult;
use serde_json::{Value, json};

/// A connector's answer, normalized for the state machines.
#[derive(Debug, Clone)]
pub struct Report {
    pub result: CallResult,
    pub connector_transaction_id: Option<String>,
    pub http_code: Option<u16>,
    /// `{code, decline_code?, message}` for failures and unknown outcomes.
    pub error: Option<Value>,
    pub action_url: Option<String>,
    /// The connector has no record of the operation.
    pub not_found: bool,
    /// The mandate a successful `setup_mandate` payment set up.
    pub mandate: Option<StoredMandate>,
    /// What the customer actually sent (crypto), when the connector says.
    pub amount_received: Option<i64>,
}

impl Report {
    /// A call never sent: its time ran out before it could start. Its
    /// outcome is unknown to the caller, as after a timeout; sync settles it.
    pub(crate) fn not_sent() -> Report {
        Report {
            result: CallResult::Unknown,
            connector_transaction_id: None,
            http_code: None,
            error: Some(
                json!({"code": "connector_error", "message": "the connector call was not sent: its time ran out before it started"}),
            ),
            action_url: None,
            not_found: false,
            mandate: None,
            amount_received: None,
        }
    }

    /// Normalizes a call's result; `None` means Obol's timeout fired.
    pub fn from_call(result: Option<ConnectorResult>) -> Report {
        let unknown = |http_code, message: String| Report {
            result: CallResult::Unknown,
            connector_transaction_id: None,
            http_code,
            error: Some(json!({"code": "connector_error", "message": message})),
            action_url: None,
            not_found: false,
            mandate: None,
            amount_received: None,
        };
        let response = match result {
            None => return unknown(None, "the connector did not answer in time".into()),
            Some(Err(ConnectorError::Timeout)) => {
                return unknown(None, "the connector did not answer in time".into());
            }
            Some(Err(ConnectorError::Provider { http_code, message })) => {
                return unknown(http_code, message);
            }
            Some(Err(error @ (ConnectorError::Invalid(_) | ConnectorError::Unsupported(_)))) => {
                // The provider's own words, without Obol's prefix.
                let message = match error {
                    ConnectorError::Invalid(message) => message,
                    other => other.to_string(),
                };
                return Report {
                    result: CallResult::Failed,
                    connector_transaction_id: None,
                    http_code: Some(400),
                    error: Some(
                        json!({"code": super::payment::CONNECTOR_REFUSED, "message": message}),
                    ),
                    action_url: None,
                    not_found: false,
                    mandate: None,
                    amount_received: None,
                };
            }
            Some(Ok(response)) => response,
        };
        Report::of(response)
    }

    /// Normalizes a sync's result. A refused question (a 4xx: a rolled key,
    /// a lookup the provider cannot answer) says nothing about the money,
    /// so it never fails the operation: it stays unknown for the next sync.
    pub fn from_sync(result: Option<ConnectorResult>) -> Report {
        match result {
            Some(Err(error @ (ConnectorError::Invalid(_) | ConnectorError::Unsupported(_)))) => {
                tracing::warn!(%error, "the connector refused a sync; the operation stays open");
                Report::from_call(Some(Err(ConnectorError::Provider {
                    http_code: Some(400),
                    message: format!("the connector refused the sync: {error}"),
                })))
            }
            other => Report::from_call(other),
        }
    }

    /// Normalizes a verified connector notification, as the answer it is.
    pub fn from_notification(notification: Notification) -> Report {
        Report::of(ConnectorResponse {
            outcome: notification.outcome,
            connector_transaction_id: Some(notification.connector_transaction_id),
            http_code: None,
            amount: notification.amount,
            amount_received: notification.amount_received,
            mandate: notification.mandate,
        })
    }

    /// Normalizes a provider's answer about the money.
    fn of(response: ConnectorResponse) -> Report {
        let not_found = response.outcome == Outcome::NotFound;
        let (result, error, action_url) = match response.outcome {
            Outcome::Succeeded => (CallResult::Succeeded, None, None),
            Outcome::Pending => (CallResult::Pending, None, None),
            Outcome::RequiresAction { url } => (CallResult::RequiresAction, None, Some(url)),
            Outcome::Declined { code, message } => (
                CallResult::Failed,
                Some(json!({"code": "card_declined", "decline_code": code, "message": message})),
                None,
            ),
            Outcome::Failed { code, message } => (
                CallResult::Failed,
                Some(json!({"code": code, "message": message})),
                None,
            ),
            Outcome::NotFound => (
                CallResult::Failed,
                Some(
                    json!({"code": "not_found_at_connector", "message": "the connector has no record of this operation"}),
                ),
                None,
            ),
        };
        Report {
            result,
            connector_transaction_id: response.connector_transaction_id,
            http_code: response.http_code,
            error,
            action_url,
            not_found,
            mandate: response.mandate,
            amount_received: response.amount_received,
        }
    }
}
