//! What the billing services fail with, in billing terms. The kernel's
//! `ApiError` renders it (the one `From` below), and the kernel alone turns
//! that into an HTTP status, so a job can call a service as well as a route.

use obol_core::validate::InvalidParam;
use obol_kernel::ApiError;
use obol_store::StoreError;

/// A failure of a billing service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `what` with this id (of the brand asking); `param` names the
    /// request field that named it, when one did.
    #[error("no such {what}: '{id}'")]
    NotFound {
        what: &'static str,
        id: String,
        param: Option<&'static str>,
    },
    /// A request field is wrong.
    #[error(transparent)]
    Invalid(#[from] InvalidParam),
    /// Another `what` already has this value of `param` (unique per brand).
    #[error("a {what} with this {param} already exists")]
    AlreadyExists {
        what: &'static str,
        param: &'static str,
    },
    /// The coupon a request names cannot be used; the message says why
    /// (unknown, disabled, expired, exhausted, not for this price).
    #[error("{0}")]
    CouponInvalid(String),
    /// The object's state does not allow the operation; the message says
    /// which state and which operation.
    #[error("{0}")]
    InvalidState(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A broken invariant (an unbalanced entry, a stored value that does not
    /// parse): a bug, never the caller's fault.
    #[error("{0}")]
    Internal(String),
    /// What a kernel function (events, auth, idempotency, lists) failed with,
    /// already in the contract's shape.
    #[error("{}", .0.message)]
    Kernel(ApiError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this is a fault of the server (a store failure, a broken
    /// invariant) rather than of the request.
    pub fn is_server_fault(&self) -> bool {
        matches!(self, Error::Internal(_) | Error::Store(_))
    }

    /// No `what` with id `id`, e.g. `not_found("customer", id)`.
    pub fn not_found(what: &'static str, id: &str) -> Self {
        Error::NotFound {
            what,
            id: id.to_owned(),
            param: None,
        }
    }

    /// `param` is wrong: `message` says how.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(InvalidParam::new(param, message))
    }

    /// The object's state does not allow it now.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Error::InvalidState(message.into())
    }

    /// A broken invariant; `cause` goes to the server log, not to the caller.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Error::Kernel(error)
    }
}

impl From<obol_payments::error::Error> for Error {
    fn from(error: obol_payments::error::Error) -> Self {
        Error::Kernel(ApiError::from(error))
    }
}

impl From<obol_accounts::Error> for Error {
    fn from(error: obol_accounts::Error) -> Self {
        Error::Kernel(ApiError::from(error))
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound { what, id, param } => {
                let error = ApiError::not_found(what, &id);
                match param {
                    Some(param) => error.with_param(param),
                    None => error,
                }
            }
            Error::Invalid(invalid) => ApiError::from(invalid),
            Error::AlreadyExists { param, .. } => {
                ApiError::already_exists(param, error.to_string())
            }
            Error::CouponInvalid(message) => {
                ApiError::bad_request("coupon_invalid", message).with_param("coupon")
            }
            Error::InvalidState(message) => ApiError::invalid_state(message),
            Error::Store(error) => ApiError::from(error),
            Error::Internal(cause) => ApiError::internal(cause),
            Error::Kernel(error) => error,
        }
    }
}
