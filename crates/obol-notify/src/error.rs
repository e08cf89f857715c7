//! What a notifications service fails with, in its own terms; the one
//! `From` below renders it in the contract's shape.

use obol_core::validate::InvalidParam;
use obol_kernel::ApiError;
use obol_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `what` with this id of the brand asking.
    #[error("no such {what}: '{id}'")]
    NotFound { what: &'static str, id: String },
    /// A request field is wrong.
    #[error(transparent)]
    Invalid(#[from] InvalidParam),
    /// The object's state does not allow the operation.
    #[error("{0}")]
    InvalidState(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A broken invariant (a stored value that does not parse): a bug.
    #[error("{0}")]
    Internal(String),
    /// What a kernel function (events, lists) failed with.
    #[error("{}", .0.message)]
    Kernel(ApiError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(what: &'static str, id: &str) -> Self {
        Error::NotFound {
            what,
            id: id.to_owned(),
        }
    }

    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(InvalidParam::new(param, message))
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Error::InvalidState(message.into())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Error::Kernel(error)
    }
}

/// The one place a notifications error becomes an answer.
impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound { what, id } => ApiError::not_found(what, &id),
            Error::Invalid(invalid) => ApiError::from(invalid),
            Error::InvalidState(message) => ApiError::invalid_state(message),
            Error::Store(error) => ApiError::from(error),
            Error::Internal(cause) => ApiError::internal(cause),
            Error::Kernel(error) => error,
        }
    }
}
