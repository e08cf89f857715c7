//! What a payments service fails with, in payments terms. No variant names
//! an HTTP status: `From<Error> for ApiError` below is the one place they
//! become the contract's error answers, through the kernel's constructors
//! (whose kinds the kernel alone maps to statuses).

use obol_core::OrderId;
use obol_core::validate::InvalidParam;
use obol_kernel::error::ApiError;
use obol_store::StoreError;
use serde_json::json;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such order, transaction, refund or connector account of the
    /// brand (or customer that a field names); `param` is the field that
    /// named it, if a field did.
    #[error("no such {what}: '{id}'")]
    NotFound {
        what: &'static str,
        id: String,
        param: Option<String>,
    },
    /// A field or the request is wrong; `code` says how
    /// (`parameter_invalid`, `parameter_missing`, `amount_too_large`,
    /// `operation_unsupported`, `no_connector_available`, …).
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        param: Option<String>,
    },
    /// The object's state does not allow the operation; the message names
    /// the status and the operation.
    #[error("{0}")]
    InvalidState(String),
    /// The payment was declined or failed at its connector.
    #[error("{message}")]
    PaymentFailed {
        code: String,
        message: String,
        order_id: String,
        transaction_id: String,
        decline_code: Option<String>,
    },
    /// The provider refused the request as malformed (its 4xx) before any
    /// money moved: 400 with its message; the failed transaction is kept.
    #[error("{message}")]
    ConnectorRefused {
        message: String,
        order_id: String,
        transaction_id: String,
    },
    /// The connector failed or did not answer: the outcome is unknown, and
    /// the transaction is kept for sync.
    #[error("{message}")]
    ConnectorFailed {
        message: String,
        order_id: String,
        transaction_id: String,
        refund_id: Option<String>,
    },
    /// The request's Idempotency-Key made another request's object.
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    /// What the request's Idempotency-Key made may still be in the making:
    /// only the same request may ask again.
    #[error("a request with this Idempotency-Key is still being processed")]
    InProgress,
    /// A fault of the server (corrupt or vanished rows, a connector this
    /// build lacks): logged, never shown.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What a kernel function failed with (events, lists, idempotency):
    /// every such error comes in here, through `From`.
    #[error("{}", .0.message)]
    Kernel(ApiError),
    /// What an accounts service failed with (the ledger, brands, customers).
    #[error(transparent)]
    Accounts(#[from] obol_accounts::Error),
}

impl Error {
    /// A field that is wrong: `parameter_invalid` naming `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            code: "parameter_invalid",
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// A request refused for the reason `code` names (no field unless
    /// `with_param` adds one).
    pub fn invalid_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
            param: None,
        }
    }

    /// `not_found("order", id)`.
    pub fn not_found(what: &'static str, id: &str) -> Self {
        Error::NotFound {
            what,
            id: id.to_owned(),
            param: None,
        }
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Error::InvalidState(message.into())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }

    /// The connector's outcome of `transaction_id` is not known.
    pub fn connector_failed(
        message: impl Into<String>,
        order_id: &OrderId,
        transaction_id: &str,
        refund_id: Option<&str>,
    ) -> Self {
        Error::ConnectorFailed {
            message: format!(
                "{}; the transaction is kept as unknown and resolved by sync",
                message.into()
            ),
            order_id: order_id.to_string(),
            transaction_id: transaction_id.to_owned(),
            refund_id: refund_id.map(str::to_owned),
        }
    }

    /// Names the field at fault, on every error (a server fault's answer
    /// names it too, as it always has).
    pub fn with_param(self, param: impl Into<String>) -> Self {
        match self {
            Error::NotFound { what, id, .. } => Error::NotFound {
                what,
                id,
                param: Some(param.into()),
            },
            Error::Invalid { code, message, .. } => Error::Invalid {
                code,
                message,
                param: Some(param.into()),
            },
            Error::Kernel(error) => Error::Kernel(error.with_param(param)),
            other => Error::Kernel(ApiError::from(other).with_param(param)),
        }
    }

    /// Whether this is a fault of the server (a store failure, a broken
    /// invariant), here or in an accounts service: logged as an error.
    pub fn is_server_fault(&self) -> bool {
        match self {
            Error::Internal(_) | Error::Store(_) => true,
            Error::Accounts(error) => error.is_server_fault(),
            _ => false,
        }
    }
}

impl From<InvalidParam> for Error {
    fn from(error: InvalidParam) -> Self {
        Error::Invalid {
            code: error.code,
            message: error.message,
            param: Some(error.param),
        }
    }
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Error::Kernel(error)
    }
}

/// The one place a payments error becomes an answer.
impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound { what, id, param } => {
                with_param(ApiError::not_found(what, &id), param)
            }
            Error::Invalid {
                code,
                message,
                param,
            } => with_param(ApiError::bad_request(code, message), param),
            Error::InvalidState(message) => ApiError::invalid_state(message),
            Error::PaymentFailed {
                code,
                message,
                order_id,
                transaction_id,
                decline_code,
            } => {
                let error = ApiError::payment_failed(&code, message)
                    .with_extra("order_id", json!(order_id))
                    .with_extra("transaction_id", json!(transaction_id));
                match decline_code {
                    Some(decline_code) => error.with_extra("decline_code", json!(decline_code)),
                    None => error,
                }
            }
            Error::ConnectorRefused {
                message,
                order_id,
                transaction_id,
            } => ApiError::bad_request("connector_refused", message)
                .with_extra("order_id", json!(order_id))
                .with_extra("transaction_id", json!(transaction_id)),
            Error::ConnectorFailed {
                message,
                order_id,
                transaction_id,
                refund_id,
            } => {
                let error = ApiError::connector_failed(message)
                    .with_extra("order_id", json!(order_id))
                    .with_extra("transaction_id", json!(transaction_id));
                match refund_id {
                    Some(refund_id) => error.with_extra("refund_id", json!(refund_id)),
                    None => error,
                }
            }
            Error::KeyReused => ApiError::idempotency_key_reused(),
            Error::InProgress => ApiError::idempotency_in_progress(),
            Error::Internal(cause) => ApiError::internal(cause),
            Error::Store(error) => ApiError::from(error),
            Error::Kernel(error) => error,
            Error::Accounts(error) => ApiError::from(error),
        }
    }
}

fn with_param(error: ApiError, param: Option<String>) -> ApiError {
    match param {
        Some(param) => error.with_param(param),
        None => error,
    }
}
