//! The CoinPayments connector: crypto sales over CoinPayments' API
//! (`POST {api_base}/api.php`, form bodies signed with the account's
//! private key in the `HMAC` header), synced with `get_tx_info`, settled
//! by its IPN (signed with the account's IPN secret).
//!
//! CoinPayments takes no idempotency key: Obol's transaction id goes in
//! `invoice` and `custom`. A sale whose answer was lost has no checkout
//! page anyone saw, so a sync of it (no `txn_id` known) is "not found".

mod transformers;

pub use transformers::{DEFAULT_COIN, REQUIRED_CREDENTIALS, sign, verify};

use crate::origin::{check_crypto_sale, checked_origin, send};
use crate::{
    AccountContext, AuthorizeRequest, Capabilities, Connector, ConnectorError, ConnectorResponse,
    ConnectorResult, CredentialKeys, Notification, NotificationError, Operation, Outcome,
    SyncRequest, UrlGuard,
};
use async_trait::async_trait;
use obol_core::Timestamp;
use serde::de::DeserializeOwned;
use transformers::{
    Created, Credentials, Envelope, Ipn, TxInfo, create_form, ipn_notification, outcome,
    received_minor, stage, tx_info_form,
};

/// CoinPayments' origin, unless an account's `api_base` replaces it.
pub const DEFAULT_API_BASE: &str = "https://www.coinpayments.net";

/// The CoinPayments connector.
pub struct CoinPayments {
    client: reqwest::Client,
    /// Obol's public URL: IPNs come to `{public_url}/v1/ipn/{account}`.
    public_url: String,
    url_guard: Option<UrlGuard>,
}

impl CoinPayments {
    /// A connector calling CoinPayments with `client` (whose timeout bounds
    /// every call), telling it to send IPNs under `public_url`.
    pub fn new(client: reqwest::Client, public_url: String) -> CoinPayments {
        CoinPayments {
            client,
            public_url: public_url.trim_end_matches('/').to_owned(),
            url_guard: None,
        }
    }

    /// Checks every account's `api_base` with `guard` before calling it.
    pub fn with_url_guard(mut self, guard: UrlGuard) -> CoinPayments {
        self.url_guard = Some(guard);
        self
    }

    fn origin(&self, credentials: &Credentials) -> Result<String, ConnectorError> {
        let api_base = credentials.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        checked_origin(api_base, self.url_guard.as_ref())
    }

    /// One signed command; `Ok(Err(message))` is CoinPayments refusing it.
    async fn command<T: DeserializeOwned>(
        &self,
        credentials: &Credentials,
        body: String,
    ) -> Result<Result<T, String>, ConnectorError> {
        let url = format!("{}/api.php", self.origin(credentials)?);
        let signature = sign(&credentials.private_key, body.as_bytes());
        let request = self
            .client
            .post(&url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header("HMAC", signature)
            .body(body);
        let (status, bytes) = send("CoinPayments", request).await?;
        let unreadable = || ConnectorError::Provider {
            http_code: Some(status),
            message: format!("CoinPayments answered HTTP {status} with a body Obol cannot read"),
        };
        if !(200..300).contains(&status) {
            return Err(unreadable());
        }
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(|_| unreadable())?;
        if envelope.error != "ok" {
            return Ok(Err(envelope.error));
        }
        let result = envelope.result.ok_or_else(unreadable)?;
        serde_json::from_value(result)
            .map(Ok)
            .map_err(|_| unreadable())
    }

    /// Opens the payment: the customer pays at its `checkout_url`.
    async fn create(&self, request: &AuthorizeRequest) -> ConnectorResult {
        check_crypto_sale(request)?;
        let credentials = Credentials::of(&request.account)?;
        let email = request
            .customer
            .as_ref()
            .and_then(|customer| customer.email.as_deref())
            .ok_or_else(|| {
                ConnectorError::Invalid(
                    "CoinPayments needs the customer's email (buyer_email): the order has none"
                        .into(),
                )
            })?;
        let ipn_url = format!("{}/v1/ipn/{}", self.public_url, request.account.account_id);
        let form = create_form(&credentials, request, email, &ipn_url);
        let created: Created = self.command(&credentials, form).await?.map_err(|message| {
            ConnectorError::Invalid(format!("CoinPayments refused the payment: {message}"))
        })?;
        tracing::debug!(txn_id = %created.txn_id, has_status_url = created.status_url.is_some(),
            "CoinPayments transaction");
        Ok(ConnectorResponse {
            outcome: Outcome::RequiresAction {
                url: created.checkout_url,
            },
            connector_transaction_id: Some(created.txn_id),
            http_code: Some(200),
            amount: Some(request.amount.amount_minor),
            amount_received: None,
            mandate: None,
        })
    }

    /// What became of a sale: `get_tx_info` on its `txn_id`.
    async fn tx_info(&self, request: &SyncRequest) -> ConnectorResult {
        let credentials = Credentials::of(&request.account)?;
        let Some(txid) = request.connector_transaction_id.as_deref() else {
            return Ok(ConnectorResponse::not_found());
        };
        let info: TxInfo = self
            .command(&credentials, tx_info_form(&credentials, txid))
            .await?
            .map_err(|message| ConnectorError::Provider {
                http_code: Some(200),
                message: format!("CoinPayments answered get_tx_info with: {message}"),
            })?;
        let amount = request.amount.ok_or_else(|| {
            ConnectorError::Invalid("a CoinPayments sync needs the payment's amount".into())
        })?;
        let received = received_minor(amount.amount_minor, &info.receivedf, &info.amountf)?;
        let page = status_page(&self.origin(&credentials)?, txid);
        let outcome = outcome(
            stage(info.status),
            amount,
            received,
            &info.status_text,
            page,
        );
        Ok(ConnectorResponse {
            outcome,
            connector_transaction_id: Some(txid.to_owned()),
            http_code: Some(200),
            amount: Some(amount.amount_minor),
            amount_received: Some(received),
            mandate: None,
        })
    }
}

/// CoinPayments' status page of a payment, where its customer pays.
fn status_page(origin: &str, txn_id: &str) -> String {
    let query = transformers::encode(&[("cmd", "status"), ("id", txn_id)]);
    format!("{origin}/index.php?{query}")
}

#[async_trait]
impl Connector for CoinPayments {
    fn name(&self) -> &'static str {
        "coinpayments"
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
            optional: &["coin", "api_base"],
        })
    }

    fn needs_customer_email(&self) -> bool {
        true
    }

    async fn authorize(&self, request: AuthorizeRequest) -> ConnectorResult {
        self.create(&request).await
    }

    async fn sync(&self, request: SyncRequest) -> ConnectorResult {
        match request.operation {
            Operation::Sale => self.tx_info(&request).await,
            other => Err(ConnectorError::Unsupported(other.as_str())),
        }
    }

    /// The IPN: `HMAC` (hex HMAC-SHA512 of the raw body under the
    /// account's `ipn_secret`), then `merchant` must be the account's.
    fn verify_notification(
        &self,
        account: &AccountContext,
        _webhook_secret: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        _now: Timestamp,
    ) -> Result<Notification, NotificationError> {
        let credentials = Credentials::of(account)
            .map_err(|_| NotificationError::Unverified("the account has no IPN secret".into()))?;
        let signature = headers
            .get("hmac")
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| NotificationError::Unverified("no HMAC header".into()))?;
        if !verify(&credentials.ipn_secret, body, signature) {
            return Err(NotificationError::Unverified(
                "the HMAC header does not match the body".into(),
            ));
        }
        let ipn: Ipn = serde_urlencoded_fields(body)?;
        if ipn.merchant != credentials.merchant_id {
            return Err(NotificationError::Unverified(
                "the IPN is for another merchant".into(),
            ));
        }
        let page = self
            .origin(&credentials)
            .map(|origin| status_page(&origin, &ipn.txn_id))
            .map_err(|error| NotificationError::Malformed(error.to_string()))?;
        ipn_notification(ipn, page).map_err(NotificationError::Malformed)
    }
}

/// The IPN's form fields as an `Ipn` (the first of a repeated field).
fn serde_urlencoded_fields(body: &[u8]) -> Result<Ipn, NotificationError> {
    let mut fields = serde_json::Map::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        fields
            .entry(name.into_owned())
            .or_insert_with(|| serde_json::Value::String(value.into_owned()));
    }
    serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|_| NotificationError::Malformed("the IPN lacks a field Obol reads".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use obol_core::ConnectorAccountId;
    use serde_json::json;

    fn account() -> AccountContext {
        AccountContext {
            account_id: ConnectorAccountId::from("cna_test"),
            credentials: json!({"public_key": "pub", "private_key": "priv", "ipn_secret": "ipn",
                "merchant_id": "m1", "api_base": "http://127.0.0.1:9"}),
        }
    }

    fn verify_ipn(body: &str, key: &str) -> Result<Notification, NotificationError> {
        // An error only says that a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let connector = CoinPayments::new(reqwest::Client::new(), "https://obol.test".into());
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "HMAC",
            sign(key, body.as_bytes()).parse().expect("a header"),
        );
        connector.verify_notification(
            &account(),
            "unused",
            &headers,
            body.as_bytes(),
            Timestamp::from_ms(0),
        )
    }

    const IPN: &str = "ipn_version=1.0&ipn_type=api&ipn_mode=hmac&ipn_id=ipn1&merchant=m1\
        &txn_id=CPX1&status=100&status_text=Complete&currency1=EUR&currency2=BTC\
        &amount1=89.25&amount2=0.00297500&received_amount=0.00327250&received_confirms=3\
        &invoice=txn_1&custom=txn_1";

    #[test]
    fn an_ipn_verifies_under_the_ipn_secret_and_the_merchant() {
        let notification = verify_ipn(IPN, "ipn").expect("verified");
        assert_eq!(notification.event_id, "ipn1");
        assert_eq!(notification.connector_transaction_id, "CPX1");
        assert_eq!(notification.outcome, Outcome::Succeeded);
        assert_eq!(notification.amount, Some(8925));
        assert_eq!(notification.amount_received, Some(9817));
        assert!(!notification.fetch_first);
        assert!(matches!(
            verify_ipn(IPN, "priv"),
            Err(NotificationError::Unverified(_))
        ));
        let other = IPN.replace("merchant=m1", "merchant=m2");
        assert!(matches!(
            verify_ipn(&other, "ipn"),
            Err(NotificationError::Unverified(_))
        ));
        let broken = IPN.replace("status=100", "status=done");
        assert!(matches!(
            verify_ipn(&broken, "ipn"),
            Err(NotificationError::Malformed(_))
        ));
    }
}
