//! The BitPay connector: crypto sales as BitPay invoices (API version
//! 2.0.0, the POS facade: the account's token in each request), synced by
//! reading the invoice back.
//!
//! BitPay does not sign its notifications, so each is only a hint: the
//! connector reads which invoice it names and nothing else, and Obol then
//! asks BitPay (sync) and applies what BitPay's API says.

mod transformers;

pub use transformers::REQUIRED_CREDENTIALS;

use crate::origin::{check_crypto_sale, checked_origin, send};
use crate::{
    AccountContext, AuthorizeRequest, Capabilities, Connector, ConnectorError, ConnectorResponse,
    ConnectorResult, CredentialKeys, Notification, NotificationError, Operation, Outcome,
    SyncRequest, UrlGuard,
};
use async_trait::async_trait;
use obol_core::{Money, Timestamp};
use transformers::{Credentials, Envelope, Hint, Invoice, NewInvoice};

/// BitPay's origin, unless an account's `api_base` replaces it.
pub const DEFAULT_API_BASE: &str = "https://bitpay.com";

/// The API version every request names.
const API_VERSION: &str = "2.0.0";

/// The BitPay connector.
pub struct BitPay {
    client: reqwest::Client,
    /// Obol's public URL: notifications come to `{public_url}/v1/ipn/{account}`.
    public_url: String,
    url_guard: Option<UrlGuard>,
}

impl BitPay {
    /// A connector calling BitPay with `client` (whose timeout bounds every
    /// call), telling it to notify under `public_url`.
    pub fn new(client: reqwest::Client, public_url: String) -> BitPay {
        BitPay {
            client,
            public_url: public_url.trim_end_matches('/').to_owned(),
            url_guard: None,
        }
    }

    /// Checks every account's `api_base` with `guard` before calling it.
    pub fn with_url_guard(mut self, guard: UrlGuard) -> BitPay {
        self.url_guard = Some(guard);
        self
    }

    fn origin(&self, credentials: &Credentials) -> Result<String, ConnectorError> {
        let api_base = credentials.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        checked_origin(api_base, self.url_guard.as_ref())
    }

    /// One call; `None` when BitPay has no such invoice (404).
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<Invoice>, ConnectorError> {
        let request = request
            .header("X-Accept-Version", API_VERSION)
            .header(reqwest::header::ACCEPT, "application/json");
        let (status, bytes) = send("BitPay", request).await?;
        let unreadable = || ConnectorError::Provider {
            http_code: Some(status),
            message: format!("BitPay answered HTTP {status} with a body Obol cannot read"),
        };
        let envelope = serde_json::from_slice::<Envelope<Invoice>>(&bytes);
        match status {
            200..=299 => envelope
                .ok()
                .and_then(|e| e.data)
                .map(Some)
                .ok_or_else(unreadable),
            404 => Ok(None),
            // The token is the account's: BitPay's message is not repeated.
            401 | 403 => Err(ConnectorError::Invalid(format!(
                "BitPay refused the account's token (HTTP {status})"
            ))),
            429 => Err(ConnectorError::Provider {
                http_code: Some(status),
                message: "BitPay kept answering 429 (rate limited)".into(),
            }),
            400..=499 => Err(ConnectorError::Invalid(format!(
                "BitPay refused the request: {}",
                envelope
                    .map(|e| e.error_message())
                    .unwrap_or_else(|_| format!("HTTP {status}"))
            ))),
            _ => Err(unreadable()),
        }
    }

    /// Creates the invoice: the customer pays at its `url`.
    async fn create(&self, request: &AuthorizeRequest) -> ConnectorResult {
        check_crypto_sale(request)?;
        let credentials = Credentials::of(&request.account)?;
        let notification_url = format!("{}/v1/ipn/{}", self.public_url, request.account.account_id);
        let body = NewInvoice::of(&credentials, request, &notification_url);
        let url = format!("{}/invoices", self.origin(&credentials)?);
        let invoice = self
            .call(self.client.post(&url).json(&body))
            .await?
            .ok_or_else(|| ConnectorError::Provider {
                http_code: Some(404),
                message: "BitPay answered the new invoice with 404".into(),
            })?;
        respond(&invoice, request.amount)
    }

    /// What became of a sale: its invoice, read back.
    async fn invoice(&self, request: &SyncRequest) -> ConnectorResult {
        let credentials = Credentials::of(&request.account)?;
        let Some(id) = request.connector_transaction_id.as_deref() else {
            // The answer was lost, so nobody has the invoice's page.
            return Ok(ConnectorResponse::not_found());
        };
        let amount = request.amount.ok_or_else(|| {
            ConnectorError::Invalid("a BitPay sync needs the payment's amount".into())
        })?;
        let origin = self.origin(&credentials)?;
        let mut url = url::Url::parse(&format!("{origin}/invoices/"))
            .map_err(|_| ConnectorError::Invalid("credentials.api_base is no URL".into()))?;
        url.path_segments_mut()
            .map_err(|_| ConnectorError::Invalid("credentials.api_base is no URL".into()))?
            .pop_if_empty()
            .push(id);
        url.query_pairs_mut()
            .append_pair("token", &credentials.token);
        match self.call(self.client.get(url)).await? {
            Some(invoice) => respond(&invoice, amount),
            None => Ok(ConnectorResponse::not_found()),
        }
    }
}

/// The answer an invoice gives for the sale of `amount` it is for.
fn respond(invoice: &Invoice, amount: Money) -> ConnectorResult {
    let (outcome, received) = invoice.outcome(amount)?;
    Ok(ConnectorResponse {
        outcome,
        connector_transaction_id: Some(invoice.id.clone()),
        http_code: Some(200),
        amount: Some(amount.amount_minor),
        amount_received: (received > 0).then_some(received),
        mandate: None,
    })
}

#[async_trait]
impl Connector for BitPay {
    fn name(&self) -> &'static str {
        "bitpay"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            payment_methods: vec!["crypto"],
            currencies: None,
            operations: vec![Operation::Sale, Operation::Sync],
        }
    }

    fn credential_keys(&self) -> Option<CredentialKeys> {
        Some(CredentialKeys {
            required: REQUIRED_CREDENTIALS,
            optional: &["api_base"],
        })
    }

    async fn authorize(&self, request: AuthorizeRequest) -> ConnectorResult {
        self.create(&request).await
    }

    async fn sync(&self, request: SyncRequest) -> ConnectorResult {
        match request.operation {
            Operation::Sale => self.invoice(&request).await,
            other => Err(ConnectorError::Unsupported(other.as_str())),
        }
    }

    /// A hint only: which invoice it names (`fetch_first`), never what
    /// it claims of it.
    fn verify_notification(
        &self,
        _account: &AccountContext,
        _webhook_secret: &str,
        _headers: &http::HeaderMap,
        body: &[u8],
        _now: Timestamp,
    ) -> Result<Notification, NotificationError> {
        let (invoice_id, claim) = serde_json::from_slice::<Hint>(body)
            .ok()
            .and_then(Hint::about)
            .ok_or_else(|| {
                NotificationError::Malformed("the notification names no invoice".into())
            })?;
        Ok(Notification {
            event_id: format!("{invoice_id}:{claim}"),
            event_type: claim,
            connector_transaction_id: invoice_id,
            outcome: Outcome::Pending,
            amount: None,
            amount_received: None,
            fetch_first: true,
            mandate: None,
            transaction_id: None,
        })
    }
}
