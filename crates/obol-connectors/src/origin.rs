//! An account's `api_base`, checked into the origin Obol calls.

use crate::ConnectorError;
use crate::UrlGuard;
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

/// Attempts of a call the provider answers 429 (rate limited), and the
/// first wait between them; each wait doubles (250 ms, 500 ms). A
/// rate-limited call was not run, so sending it again is safe.
const RATE_LIMIT_ATTEMPTS: u32 = 3;
const RATE_LIMIT_BACKOFF_MS: u64 = 250;

/// Sends `request` to `provider`, again while it answers 429: its status
/// and body. Obol's call timeout bounds the whole.
pub(crate) async fn send(
    provider: &str,
    request: reqwest::RequestBuilder,
) -> Result<(u16, Vec<u8>), ConnectorError> {
    let mut attempt = 1;
    loop {
        let this = request.try_clone().ok_or_else(|| {
            ConnectorError::Invalid(format!("the {provider} request cannot be repeated"))
        })?;
        let response = this
            .send()
            .await
            .map_err(|error| transport_error(provider, error))?;
        let status = response.status().as_u16();
        if status == 429 && attempt < RATE_LIMIT_ATTEMPTS {
            tracing::debug!(provider, attempt, "rate limited");
            let wait_ms = RATE_LIMIT_BACKOFF_MS << (attempt - 1);
            tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
            attempt += 1;
            continue;
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| transport_error(provider, error))?;
        tracing::debug!(provider, status, "provider call");
        return Ok((status, body.to_vec()));
    }
}

/// A call to `provider` that brought no answer: it may still have
/// reached it, so the outcome is unknown.
fn transport_error(provider: &str, error: reqwest::Error) -> ConnectorError {
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
