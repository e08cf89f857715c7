//! Stripe's HTTP API for one account: its credentials, the calls (form
//! bodies, the pinned version, the idempotency key, 429 retried), Stripe's
//! errors as Obol's, and the look-up of an object by Obol's transaction id.

use super::TRANSACTION_METADATA;
use super::transformers::{
    ApiError, ErrorBody, Form, Identified, List, PaymentMethod, Tagged, customer_form, is_id,
    payment_method_form,
};
use crate::{AccountContext, AuthorizeRequest, ConnectorError, SyncRequest};
use obol_core::card::CardDetails;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The API version of every request, so that an account's own default
/// version cannot change the shapes read here.
const API_VERSION: &str = "2024-06-20";

/// Attempts of a call Stripe answers 429 (rate limited), and the first
/// wait between them; each wait doubles (250 ms, 500 ms).
const RATE_LIMIT_ATTEMPTS: u32 = 3;
const RATE_LIMIT_BACKOFF_MS: u64 = 250;

/// Objects per page, and pages read at most, when a sync looks for an
/// object by the transaction id in its metadata.
const LIST_PAGE_SIZE: u32 = 100;
const LIST_PAGES_MAX: u32 = 5;

/// An account's Stripe credentials. Never shown: `Debug` names no value.
#[derive(Deserialize)]
pub(super) struct Credentials {
    pub(super) secret_key: String,
    #[serde(default)]
    pub(super) webhook_secret: Option<String>,
    #[serde(default)]
    pub(super) api_base: Option<String>,
}

impl Credentials {
    pub(super) fn of(account: &AccountContext) -> Result<Credentials, ConnectorError> {
        // serde's own message could quote a value: a fixed one instead.
        serde_json::from_value::<Credentials>(account.credentials.clone())
            .ok()
            .filter(|credentials| !credentials.secret_key.is_empty())
            .ok_or_else(|| {
                ConnectorError::Invalid(
                    "the Stripe credentials take secret_key, webhook_secret and api_base as strings"
                        .into(),
                )
            })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

/// The account's webhook secret (`whsec_…`), which its events are signed with.
pub fn webhook_secret(account: &AccountContext) -> Result<String, ConnectorError> {
    Credentials::of(account)?
        .webhook_secret
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            ConnectorError::Invalid("the Stripe credentials have no webhook_secret".into())
        })
}

/// One account's view of Stripe.
pub(super) struct Api<'a> {
    pub(super) client: &'a reqwest::Client,
    /// `https://api.stripe.com`, or the account's `api_base`.
    pub(super) origin: String,
    pub(super) secret_key: String,
}

/// Why a call to Stripe brought no object.
pub(super) enum Failure {
    /// Stripe answered with an error object.
    Api { status: u16, error: ApiError },
    /// No answer Obol can read, or a request refused before it was sent.
    Connector(ConnectorError),
}

impl From<ConnectorError> for Failure {
    fn from(error: ConnectorError) -> Failure {
        Failure::Connector(error)
    }
}

impl Failure {
    pub(super) fn into_error(self) -> ConnectorError {
        match self {
            Failure::Connector(error) => error,
            Failure::Api { status, error } => api_error(status, &error),
        }
    }
}

/// Stripe's error answer as Obol's error: the outcome is unknown whenever
/// the call may have moved money.
fn api_error(status: u16, error: &ApiError) -> ConnectorError {
    let unknown = |message: String| ConnectorError::Provider {
        http_code: Some(status),
        message,
    };
    match status {
        // Stripe's message quotes part of the key: not repeated.
        401 | 403 => ConnectorError::Invalid(format!(
            "Stripe refused the account's secret key (HTTP {status})"
        )),
        // The key is in use by a call still running, or was used with other
        // parameters: the first call may have moved money.
        409 => unknown(format!(
            "Stripe is still running a call with this key: {}",
            error.message()
        )),
        _ if error.kind.as_deref() == Some("idempotency_error") => unknown(format!(
            "Stripe refused a repeated call: {}",
            error.message()
        )),
        429 => unknown("Stripe kept answering 429 (rate limited)".to_owned()),
        400..=499 => {
            ConnectorError::Invalid(format!("Stripe refused the request: {}", error.message()))
        }
        _ => unknown(format!("Stripe failed: {}", error.message())),
    }
}

/// An object Stripe made, or the card refusal (402) it answered instead.
pub(super) enum Answer<T> {
    Made(T),
    Refused(ApiError),
}

pub(super) fn answer<T>(result: Result<T, Failure>) -> Result<Answer<T>, ConnectorError> {
    match result {
        Ok(object) => Ok(Answer::Made(object)),
        Err(Failure::Api { status: 402, error }) => Ok(Answer::Refused(error)),
        Err(failure) => Err(failure.into_error()),
    }
}

impl Api<'_> {
    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<T, Failure> {
        self.send(
            reqwest::Method::POST,
            path,
            Some(form),
            Some(idempotency_key),
        )
        .await
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Form,
    ) -> Result<T, Failure> {
        let path_and_query = match query.is_empty() {
            true => path.to_owned(),
            false => format!("{path}?{}", query.encode()),
        };
        self.send(reqwest::Method::GET, &path_and_query, None, None)
            .await
    }

    /// One call, retried while Stripe answers 429 (a rate-limited call is
    /// not run, so its key stays free).
    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        form: Option<&Form>,
        idempotency_key: Option<&str>,
    ) -> Result<T, Failure> {
        let url = format!("{}{path_and_query}", self.origin);
        let path = path_and_query.split('?').next().unwrap_or_default();
        let mut attempt = 1;
        loop {
            let mut request = self
                .client
                .request(method.clone(), &url)
                .bearer_auth(&self.secret_key)
                .header("Stripe-Version", API_VERSION);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(form) = form {
                request = request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form.encode());
            }
            let response = request.send().await.map_err(transport_error)?;
            let status = response.status().as_u16();
            if status == 429 && attempt < RATE_LIMIT_ATTEMPTS {
                tracing::debug!(%method, path, attempt, "Stripe rate limited the call");
                let wait_ms = RATE_LIMIT_BACKOFF_MS << (attempt - 1);
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                attempt += 1;
                continue;
            }
            let body = response.bytes().await.map_err(transport_error)?;
            tracing::debug!(%method, path, status, "Stripe call");
            return decode(status, &body);
        }
    }

    /// A Stripe Customer for the customer a mandate is kept for.
    pub(super) async fn create_customer(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<Identified, ConnectorError> {
        let key = sub_key(&request.transaction_id, "customer");
        self.post(
            "/v1/customers",
            &customer_form(request.customer.as_ref()),
            &key,
        )
        .await
        .map_err(Failure::into_error)
    }

    /// The card as a PaymentMethod: the one request with its number.
    pub(super) async fn create_payment_method(
        &self,
        request: &AuthorizeRequest,
        card: &CardDetails,
    ) -> Result<Answer<PaymentMethod>, ConnectorError> {
        let key = sub_key(&request.transaction_id, "payment-method");
        answer(
            self.post("/v1/payment_methods", &payment_method_form(card), &key)
                .await,
        )
    }
}

/// An answer's body as `T`, or Stripe's error.
fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, Failure> {
    let unreadable = || {
        Failure::Connector(ConnectorError::Provider {
            http_code: Some(status),
            message: format!("Stripe answered HTTP {status} with a body Obol cannot read"),
        })
    };
    if (200..300).contains(&status) {
        return serde_json::from_slice(body).map_err(|_| unreadable());
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(body) => Err(Failure::Api {
            status,
            error: body.error,
        }),
        Err(_) => Err(unreadable()),
    }
}

/// A call that brought no answer: it may still have reached Stripe.
fn transport_error(error: reqwest::Error) -> Failure {
    if error.is_timeout() {
        return Failure::Connector(ConnectorError::Timeout);
    }
    // The URL stays out: an `api_base` is the account's business.
    let error = error.without_url();
    let mut message = format!("Stripe could not be reached: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::Connector(ConnectorError::Provider {
        http_code: None,
        message,
    })
}

/// The id of the object Obol made under the request's transaction id: the
/// one it knows, else the one whose metadata names it.
pub(super) async fn locate<T: Tagged + DeserializeOwned>(
    api: &Api<'_>,
    path: &str,
    request: &SyncRequest,
    searchable: bool,
) -> Result<Option<String>, ConnectorError> {
    match &request.connector_transaction_id {
        Some(id) => Ok(Some(id.clone())),
        None => find::<T>(api, path, &request.transaction_id, searchable, None).await,
    }
}

/// `locate` for a refund: among its PaymentIntent's refunds when the
/// payment's intent is known (all of them, however busy the account),
/// else among the account's newest.
pub(super) async fn locate_refund<T: Tagged + DeserializeOwned>(
    api: &Api<'_>,
    path: &str,
    request: &SyncRequest,
) -> Result<Option<String>, ConnectorError> {
    match (
        &request.connector_transaction_id,
        &request.payment_connector_transaction_id,
    ) {
        (Some(id), _) => Ok(Some(id.clone())),
        (None, intent) => {
            let scope = intent.as_deref().map(|id| ("payment_intent", id));
            find::<T>(api, path, &request.transaction_id, false, scope).await
        }
    }
}

/// The object whose metadata names `transaction_id`: in the newest
/// `LIST_PAGES_MAX` pages of the list (read-after-write consistent), then,
/// for intents, by Stripe's search (older ones, once indexed). A stand-in
/// without search answers 4xx there, which finds nothing.
async fn find<T: Tagged + DeserializeOwned>(
    api: &Api<'_>,
    path: &str,
    transaction_id: &str,
    searchable: bool,
    scope: Option<(&str, &str)>,
) -> Result<Option<String>, ConnectorError> {
    let matching = |page: &List<T>| {
        page.data
            .iter()
            .find(|object| object.transaction_id() == Some(transaction_id))
            .map(|object| object.id().to_owned())
    };
    let mut starting_after: Option<String> = None;
    for _ in 0..LIST_PAGES_MAX {
        let mut query = Form::new()
            .with("limit", LIST_PAGE_SIZE)
            .with_some("starting_after", starting_after.as_ref());
        if let Some((key, value)) = scope {
            query = query.with(key, value);
        }
        let page: List<T> = api.get(path, &query).await.map_err(Failure::into_error)?;
        if let Some(id) = matching(&page) {
            return Ok(Some(id));
        }
        match (page.has_more, page.data.last()) {
            (true, Some(last)) => starting_after = Some(last.id().to_owned()),
            _ => return Ok(None),
        }
    }
    if !searchable {
        return Ok(None);
    }
    let quoted = transaction_id.replace('\'', "\\'");
    let query = Form::new().with(
        "query",
        format!("metadata['{TRANSACTION_METADATA}']:'{quoted}'"),
    );
    match api.get::<List<T>>(&format!("{path}/search"), &query).await {
        Ok(page) => Ok(matching(&page)),
        Err(Failure::Api {
            status: 400..=499, ..
        }) => Ok(None),
        Err(failure) => Err(failure.into_error()),
    }
}

/// The object `id` at `path`, or `None` when Stripe has no such object.
pub(super) async fn retrieve<T: DeserializeOwned>(
    api: &Api<'_>,
    path: &str,
    id: &str,
    query: &Form,
) -> Result<Option<T>, ConnectorError> {
    match api
        .get::<T>(&format!("{path}/{}", path_id(id)?), query)
        .await
    {
        Ok(object) => Ok(Some(object)),
        Err(Failure::Api { status: 404, .. }) => Ok(None),
        Err(failure) => Err(failure.into_error()),
    }
}

/// A Stripe id, safe in a path.
pub(super) fn path_id(id: &str) -> Result<&str, ConnectorError> {
    match is_id(id) {
        true => Ok(id),
        false => Err(ConnectorError::Invalid(format!(
            "{id:?} is not a Stripe id"
        ))),
    }
}

/// The idempotency key of a sub-call of the operation `transaction_id`.
pub(super) fn sub_key(transaction_id: &str, part: &str) -> String {
    format!("{transaction_id}-{part}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::tests::account;
    use crate::stripe::transformers::PaymentIntent;
    use serde_json::json;

    #[test]
    fn bad_credentials_are_refused_without_echoing_them() {
        for credentials in [
            json!({}),
            json!({"secret_key": ""}),
            json!({"secret_key": 42}),
            json!({"secret_key": "sk_test_secret", "api_base": 7}),
        ] {
            match Credentials::of(&account(credentials.clone())) {
                Err(ConnectorError::Invalid(message)) => {
                    assert!(
                        !message.contains("sk_test_secret") && !message.contains("42"),
                        "{message}"
                    );
                }
                Err(other) => panic!("{credentials}: {other:?}"),
                Ok(_) => panic!("{credentials}: accepted"),
            }
        }
        let debug = format!(
            "{:?}",
            Credentials::of(&account(json!({"secret_key": "sk_test_x"})))
        );
        assert!(!debug.contains("sk_test_x"), "{debug}");
        assert_eq!(
            webhook_secret(&account(
                json!({"secret_key": "sk_1", "webhook_secret": "whsec_1"})
            ))
            .ok(),
            Some("whsec_1".to_owned())
        );
        assert!(webhook_secret(&account(json!({"secret_key": "sk_1"}))).is_err());
    }

    #[test]
    fn stripe_errors_map_to_obols() {
        let error = |kind: &str, message: &str| ApiError {
            kind: Some(kind.to_owned()),
            message: Some(message.to_owned()),
            ..ApiError::default()
        };
        let invalid = api_error(
            400,
            &error("invalid_request_error", "Missing required param: amount."),
        );
        assert!(
            matches!(invalid, ConnectorError::Invalid(ref m) if m.contains("Missing required param"))
        );
        let key = api_error(
            401,
            &error(
                "invalid_request_error",
                "Invalid API Key provided: sk_test_****1234",
            ),
        );
        assert!(
            matches!(key, ConnectorError::Invalid(ref m) if !m.contains("1234")),
            "{key:?}"
        );
        for (status, kind) in [
            (500, "api_error"),
            (503, "api_error"),
            (409, "idempotency_error"),
            (400, "idempotency_error"),
            (429, "invalid_request_error"),
        ] {
            assert!(
                matches!(api_error(status, &error(kind, "x")), ConnectorError::Provider { http_code: Some(code), .. } if code == status),
                "{status} {kind}"
            );
        }
        assert!(matches!(
            decode::<PaymentIntent>(502, b"<html>Bad gateway</html>"),
            Err(Failure::Connector(ConnectorError::Provider {
                http_code: Some(502),
                ..
            }))
        ));
        assert!(matches!(
            decode::<PaymentIntent>(200, b"{\"id\": 1}"),
            Err(Failure::Connector(ConnectorError::Provider { .. }))
        ));
    }
}
