//! `ApiError`: every failure of the API in the contract's error shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obol_core::validate::InvalidParam;
use obol_store::StoreError;
use serde_json::{Map, Value, json};

/// What went wrong, as the contract groups failures. Services and jobs say
/// only this; `ErrorKind::status` alone turns it into an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or a field is wrong.
    Invalid,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// The object's state, or another request, does not allow it now.
    Conflict,
    /// An Idempotency-Key reused for another request.
    KeyReused,
    /// The payment was refused (declined card, too low a balance).
    PaymentFailed,
    /// The connector failed or did not answer; the outcome is unknown.
    ConnectorFailed,
    /// Too many requests: try again in `retry_after_s` whole seconds
    /// (`Retry-After`). Kept in the kind, where it fits in the error's padding.
    RateLimited {
        retry_after_s: u16,
    },
    Internal,
}

impl ErrorKind {
    /// The HTTP status of each kind: the one place it is decided.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::PaymentFailed => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::ConnectorFailed => StatusCode::BAD_GATEWAY,
            ErrorKind::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer: its kind, `type`, `code`, message and optional `param`
/// plus extra fields (such as `decline_code`).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub error_type: &'static str,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
    pub extra: Map<String, Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn new(
        kind: ErrorKind,
        error_type: &'static str,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            kind,
            error_type,
            code: code.to_owned(),
            message: message.into(),
            param: None,
            extra: Map::new(),
        }
    }

    /// 429 `rate_limit_error`: try again in `retry_after_s` seconds.
    pub fn rate_limited(message: impl Into<String>, retry_after_s: u16) -> Self {
        let kind = ErrorKind::RateLimited {
            retry_after_s: retry_after_s.max(1),
        };
        Self::new(kind, "rate_limit_error", "rate_limited", message)
    }

    /// 400 `parameter_invalid` naming `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::bad_request("parameter_invalid", message).with_param(param)
    }

    /// 400 with a specific code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, "invalid_request_error", code, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Unauthenticated,
            "authentication_error",
            "authentication_required",
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Forbidden,
            "permission_error",
            "permission_denied",
            message,
        )
    }

    /// 404 `resource_missing`, e.g. `not_found("customer", id)`.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            "invalid_request_error",
            "resource_missing",
            format!("no such {what}: '{id}'"),
        )
    }

    pub fn route_not_found() -> Self {
        Self::new(
            ErrorKind::NotFound,
            "invalid_request_error",
            "resource_missing",
            "unrecognized request URL",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorKind::MethodNotAllowed,
            "invalid_request_error",
            "method_not_allowed",
            "this route does not take that HTTP method",
        )
    }

    /// 409 `invalid_state`; the message names the status and the operation.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Conflict,
            "invalid_request_error",
            "invalid_state",
            message,
        )
    }

    pub fn already_exists(param: &str, message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Conflict,
            "invalid_request_error",
            "resource_already_exists",
            message,
        )
        .with_param(param)
    }

    pub fn idempotency_in_progress() -> Self {
        Self::new(
            ErrorKind::Conflict,
            "idempotency_error",
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still being processed; retry later",
        )
    }

    pub fn idempotency_key_reused() -> Self {
        Self::new(
            ErrorKind::KeyReused,
            "idempotency_error",
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )
    }

    /// 402 `payment_error`: the payment was refused.
    pub fn payment_failed(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PaymentFailed, "payment_error", code, message)
    }

    /// 502 `connector_error`: the connector failed; the outcome is unknown.
    pub fn connector_failed(message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::ConnectorFailed,
            "connector_error",
            "connector_error",
            message,
        )
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// 500: logs the cause; the body says nothing of it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorKind::Internal,
            "api_error",
            "internal_error",
            "an internal error occurred; the request id identifies it in the server log",
        )
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.error_type));
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        error.insert("param".into(), json!(self.param));
        for (key, value) in &self.extra {
            error.insert(key.clone(), value.clone());
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error_type = crate::idempotency::ErrorType(self.error_type);
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let ErrorKind::RateLimited {
            retry_after_s: seconds,
        } = self.kind
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(error_type);
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(error)
    }
}

impl From<InvalidParam> for ApiError {
    fn from(error: InvalidParam) -> Self {
        ApiError::bad_request(error.code, error.message).with_param(error.param)
    }
}

/// The error body, for OpenAPI: the one schema, named `Error`, that every
/// error answer of every operation references.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    // Inline (no doc comment, which would wrap it in an `allOf`): the
    // document has one error schema, not two.
    #[schema(inline)]
    pub error: ErrorDetail,
}

/// The `error` object of every error answer; some errors add fields (such
/// as a decline's `decline_code`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// The group of the failure: `invalid_request_error`,
    /// `authentication_error`, `permission_error`, `idempotency_error`,
    /// `payment_error`, `connector_error` or `api_error`.
    #[serde(rename = "type")]
    pub error_type: String,
    /// What went wrong, for programs (e.g. `parameter_invalid`).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// The fields some errors add.
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, Value>,
}
