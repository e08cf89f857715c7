//! An account's `api_base`, checked into the origin Obol calls.

use crate::ConnectorError;
use crate::stripe::UrlGuard;
use url::Url;

/// `api_base` as an origin (`https://host:port`): an http or https scheme
/// and host with no path, query or user, and allowed by `guard` (the
/// server's outbound policy).
pub(crate) fn checked_origin(
    api_base: &str,
    guard: Option<&UrlGuard>,
) -> Result<String, ConnectorError> {
    let invalid = || {
        ConnectorError::Invalid(
            "credentials.api_base must be an http or https scheme and host, with no path".into(),
        )
    };
    let url = Url::parse(api_base).map_err(|_| invalid())?;
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || !bare {
        return Err(invalid());
    }
    if let Some(guard) = guard {
        guard(&url).map_err(|reason| {
            ConnectorError::Invalid(format!("credentials.api_base is refused: {reason}"))
        })?;
    }
    Ok(url.origin().ascii_serialization())
}

/// A call to `provider` that brought no answer: it may still have
/// reached it, so the outcome is unknown.
pub(crate) fn transport_error(provider: &str, error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        return ConnectorError::Timeout;
    }
    // The URL stays out: an `api_base` is the account's business.
    let error = error.without_url();
    let mut message = format!("{provider} could not be reached: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ConnectorError::Provider {
        http_code: None,
        message,
    }
}

/// Whether the request's operation is a crypto sale of a positive amount,
/// the only payment a crypto processor takes.
pub(crate) fn check_crypto_sale(request: &crate::AuthorizeRequest) -> Result<(), ConnectorError> {
    if request.operation != crate::Operation::Sale {
        return Err(ConnectorError::Invalid(format!(
            "a crypto payment is a sale, not a {}",
            request.operation.as_str()
        )));
    }
    if !matches!(request.instrument, crate::Instrument::Crypto) {
        return Err(ConnectorError::Invalid(
            "this connector takes crypto payments only".into(),
        ));
    }
    if request.amount.amount_minor < 1 {
        return Err(ConnectorError::Invalid(
            "the amount must be positive".into(),
        ));
    }
    Ok(())
}
