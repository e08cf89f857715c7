//! Local stand-ins for CoinPayments and BitPay, written from their published
//! API documents (CoinPayments' API v1 `api.php` commands and IPN; BitPay's
//! invoice resource, API version 2.0.0, POS facade), on 127.0.0.1. Each
//! checks how it is called as the provider would (the `HMAC` header over
//! the exact form body; the token), keeps its payments, and lets the test
//! pay them as a customer's wallet would. Prices are in EUR; the coin is
//! BTC at 30 satoshis per euro cent, so every share is exact.

use super::notifications::{entries, posted};
use crate::harness::{self, Backend, Options, Resp, TestApp, id_of};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha512;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A server on the test clock with a crypto account of `connector`
/// holding `credentials` (a stand-in's): the app and the account's id.
pub async fn crypto_app(
    backend: Backend,
    connector: &str,
    credentials: Value,
) -> (TestApp, String) {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    let app = harness::spawn_with(backend, options).await;
    let created = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": connector, "payment_methods": ["crypto"],
                   "credentials": credentials}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(created["payment_methods"], json!(["crypto"]));
    let id = id_of(&created);
    (app, id)
}

/// Posts `body` to the account's notification route as a provider does:
/// its content type and headers, no API key.
pub async fn post_ipn(
    app: &TestApp,
    account_id: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut request = app
        .client
        .post(format!("{}/v1/ipn/{account_id}", app.url))
        .header("content-type", content_type)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    assert_ne!(status, 500, "the notification answered 500: {text}");
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The order of `amount` is paid by a crypto payment that received
/// `received`: captured for its price, the excess the customer's, the
/// books balanced.
pub async fn assert_paid(app: &TestApp, order_id: &str, amount: i64, received: i64) {
    let order = app.order(order_id).await;
    let txn = &order["payments"][0];
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], amount);
    assert_eq!(txn["status"], "succeeded");
    assert_eq!(txn["amount_received"], received);
    assert_eq!(txn["amount_excess"], received - amount);
    assert_eq!(entries(app, "capture", order_id).await, 1);
    assert_eq!(posted(app, "processor_clearing").await, received);
    assert_eq!(posted(app, "brand_pending").await, -amount);
    assert_eq!(posted(app, "external").await, amount - received);
    app.assert_ledger_balanced().await;
}

/// The order's crypto payment failed `underpaid` with `received` booked
/// as the customer's, and the order may be paid again.
pub async fn assert_underpaid(app: &TestApp, order_id: &str, received: i64) {
    let order = app.order(order_id).await;
    let txn = &order["payments"][0];
    assert_eq!(order["status"], "in_progress", "{order}");
    assert_eq!(order["last_payment_error"]["code"], "underpaid");
    assert_eq!(order["last_payment_error"]["transaction_id"], txn["id"]);
    assert_eq!(txn["status"], "failed");
    assert_eq!(txn["failure_reason"], "underpaid");
    assert_eq!(txn["amount_received"], received);
    assert_eq!(entries(app, "underpayment", order_id).await, 1);
    assert_eq!(posted(app, "processor_clearing").await, received);
    assert_eq!(posted(app, "external").await, -received);
    assert_eq!(posted(app, "brand_pending").await, 0);
    app.assert_ledger_balanced().await;
    let again = app
        .post(
            &format!("/v1/orders/{order_id}/confirm"),
            json!({"payment_method": {"type": "crypto"}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(again["status"], "requires_action", "still payable: {again}");
}

/// Satoshis per euro cent: 1 EUR = 0.00003 BTC.
pub const SATS_PER_CENT: i64 = 30;

/// Hex HMAC-SHA512 of `body` under `key`, as CoinPayments signs.
pub fn hmac_sha512(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// `"89.25"` (EUR) as cents; a stand-in takes EUR prices only.
fn cents(price: &str) -> Option<i64> {
    let (whole, fraction) = price.split_once('.').unwrap_or((price, ""));
    if fraction.len() > 2 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    Some(whole * 100 + fraction)
}

/// Satoshis as BTC with 8 decimals.
pub fn btc(sats: i64) -> String {
    format!("{}.{:08}", sats / 100_000_000, sats % 100_000_000)
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

/// The CoinPayments account the stand-in knows.
pub const CP_PUBLIC_KEY: &str = "cp_public_4f2a";
pub const CP_PRIVATE_KEY: &str = "cp_private_9b7c";
pub const CP_IPN_SECRET: &str = "cp_ipn_secret_51de";
pub const CP_MERCHANT: &str = "cp_merchant_0a1b";

/// One CoinPayments transaction.
#[derive(Debug, Clone)]
pub struct CpTransaction {
    pub fields: HashMap<String, String>,
    pub amount_sats: i64,
    pub received_sats: i64,
    pub status: i64,
    pub status_text: String,
}

#[derive(Default)]
struct CpState {
    base: String,
    transactions: HashMap<String, CpTransaction>,
    /// Every call's body, and whether its HMAC verified.
    calls: Vec<(String, bool)>,
    /// Statuses to answer the next calls with instead (429, 502 …).
    fail_next: std::collections::VecDeque<u16>,
}

/// CoinPayments' API, on 127.0.0.1.
pub struct CoinPaymentsStandIn {
    pub url: String,
    state: Arc<Mutex<CpState>>,
}

impl CoinPaymentsStandIn {
    pub async fn start() -> CoinPaymentsStandIn {
        let state = Arc::new(Mutex::new(CpState::default()));
        let router = axum::Router::new()
            .route("/api.php", axum::routing::post(cp_api))
            .with_state(state.clone());
        let url = serve(router).await;
        state.lock().expect("state").base = url.clone();
        CoinPaymentsStandIn { url, state }
    }

    /// The credentials of a connector account at this stand-in.
    pub fn credentials(&self) -> Value {
        json!({"public_key": CP_PUBLIC_KEY, "private_key": CP_PRIVATE_KEY,
               "ipn_secret": CP_IPN_SECRET, "merchant_id": CP_MERCHANT, "coin": "BTC",
               "api_base": self.url})
    }

    /// The next calls are answered with these statuses, and not run.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.state.lock().expect("state").fail_next.extend(statuses);
    }

    pub fn transaction(&self, txn_id: &str) -> CpTransaction {
        self.state.lock().expect("state").transactions[txn_id].clone()
    }

    /// Every call's form body and whether its HMAC verified.
    pub fn calls(&self) -> Vec<(String, bool)> {
        self.state.lock().expect("state").calls.clone()
    }

    /// The customer's wallet sent `received_sats` in all; CoinPayments now
    /// says `status` of it.
    pub fn pay(&self, txn_id: &str, received_sats: i64, status: i64, status_text: &str) {
        let mut state = self.state.lock().expect("state");
        let txn = state.transactions.get_mut(txn_id).expect("a transaction");
        txn.received_sats = received_sats;
        txn.status = status;
        txn.status_text = status_text.to_owned();
    }

    /// The IPN CoinPayments sends about `txn_id` as it stands (`ipn_type=api`),
    /// form-encoded, and its `HMAC` header under the IPN secret.
    pub fn ipn(&self, txn_id: &str, ipn_id: &str) -> (String, String) {
        let txn = self.transaction(txn_id);
        let field = |name: &str| txn.fields.get(name).cloned().unwrap_or_default();
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("ipn_version", "1.0")
            .append_pair("ipn_type", "api")
            .append_pair("ipn_mode", "hmac")
            .append_pair("ipn_id", ipn_id)
            .append_pair("merchant", CP_MERCHANT)
            .append_pair("txn_id", txn_id)
            .append_pair("status", &txn.status.to_string())
            .append_pair("status_text", &txn.status_text)
            .append_pair("currency1", &field("currency1"))
            .append_pair("currency2", &field("currency2"))
            .append_pair("amount1", &field("amount"))
            .append_pair("amount2", &btc(txn.amount_sats))
            .append_pair("fee", "0.00001000")
            .append_pair("buyer_name", "")
            .append_pair("email", &field("buyer_email"))
            .append_pair("invoice", &field("invoice"))
            .append_pair("custom", &field("custom"))
            .append_pair("received_amount", &btc(txn.received_sats))
            .append_pair("received_confirms", "3");
        let body = form.finish();
        let signature = hmac_sha512(CP_IPN_SECRET, body.as_bytes());
        (body, signature)
    }
}

fn cp_error(message: &str) -> Response {
    Json(json!({"error": message, "result": []})).into_response()
}

async fn cp_api(
    State(state): State<Arc<Mutex<CpState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let signed = headers
        .get("hmac")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == hmac_sha512(CP_PRIVATE_KEY, &body));
    let mut state = state.lock().expect("state");
    state.calls.push((text, signed));
    if let Some(status) = state.fail_next.pop_front() {
        let status = StatusCode::from_u16(status).expect("a status");
        return (status, "<html>Unavailable</html>").into_response();
    }
    if !signed {
        return cp_error("HMAC signature does not match");
    }
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if fields.get("key").map(String::as_str) != Some(CP_PUBLIC_KEY) {
        return cp_error("Invalid API public key passed");
    }
    if fields.get("version").map(String::as_str) != Some("1") {
        return cp_error("Invalid API version - no match with public key");
    }
    match fields.get("cmd").map(String::as_str) {
        Some("create_transaction") => {
            for required in ["amount", "currency1", "currency2", "buyer_email"] {
                if fields.get(required).is_none_or(String::is_empty) {
                    return cp_error(&format!("Missing field: {required}"));
                }
            }
            if fields["currency1"] != "EUR" || fields["currency2"] != "BTC" {
                return cp_error("This stand-in prices EUR in BTC only");
            }
            let Some(cents) = cents(&fields["amount"]) else {
                return cp_error("Invalid amount");
            };
            let txn_id = format!("CPTEST{:04}", state.transactions.len() + 1);
            let amount_sats = cents * SATS_PER_CENT;
            let answer = json!({"error": "ok", "result": {
                "amount": btc(amount_sats), "txn_id": txn_id,
                "address": "3PxTestAddress7mWd9cRk2", "confirms_needed": "2", "timeout": 9000,
                "checkout_url": format!("{}/index.php?cmd=checkout&id={txn_id}&key=ck1", state.base),
                "status_url": format!("{}/index.php?cmd=status&id={txn_id}&key=sk1", state.base),
                "qrcode_url": format!("{}/qrgen.php?id={txn_id}&key=qk1", state.base)}});
            let txn = CpTransaction {
                fields,
                amount_sats,
                received_sats: 0,
                status: 0,
                status_text: "Waiting for buyer funds...".into(),
            };
            state.transactions.insert(txn_id, txn);
            Json(answer).into_response()
        }
        Some("get_tx_info") => {
            let txid = fields.get("txid").cloned().unwrap_or_default();
            let Some(txn) = state.transactions.get(&txid) else {
                return cp_error("Invalid transaction ID");
            };
            Json(json!({"error": "ok", "result": {
                "time_created": 1_700_000_000, "time_expires": 1_700_009_000,
                "status": txn.status, "status_text": txn.status_text, "type": "coins",
                "coin": "BTC", "amount": txn.amount_sats, "amountf": btc(txn.amount_sats),
                "received": txn.received_sats, "receivedf": btc(txn.received_sats),
                "recv_confirms": 3, "payment_address": "3PxTestAddress7mWd9cRk2"}}))
            .into_response()
        }
        _ => cp_error("Invalid command!"),
    }
}

/// The BitPay merchant's POS token the stand-in knows.
pub const BITPAY_TOKEN: &str = "bp_pos_token_7Hq2";

/// One BitPay invoice.
#[derive(Debug, Clone)]
pub struct BpInvoice {
    pub request: Value,
    pub status: String,
    pub amount_paid: i64,
    pub exception: Value,
    pub total_sats: i64,
}

#[derive(Default)]
struct BpState {
    base: String,
    invoices: HashMap<String, BpInvoice>,
    /// Calls refused for their token or version.
    refused: usize,
}

/// BitPay's invoice API, on 127.0.0.1.
pub struct BitPayStandIn {
    pub url: String,
    state: Arc<Mutex<BpState>>,
}

impl BitPayStandIn {
    pub async fn start() -> BitPayStandIn {
        let state = Arc::new(Mutex::new(BpState::default()));
        let router = axum::Router::new()
            .route("/invoices", axum::routing::post(bp_create))
            .route("/invoices/{id}", axum::routing::get(bp_get))
            .with_state(state.clone());
        let url = serve(router).await;
        state.lock().expect("state").base = url.clone();
        BitPayStandIn { url, state }
    }

    pub fn credentials(&self) -> Value {
        json!({"token": BITPAY_TOKEN, "api_base": self.url})
    }

    pub fn invoice(&self, id: &str) -> BpInvoice {
        self.state.lock().expect("state").invoices[id].clone()
    }

    pub fn refused(&self) -> usize {
        self.state.lock().expect("state").refused
    }

    /// The invoice now stands as `status`, `amount_paid` satoshis paid, with
    /// `exception` (`false`, `"paidPartial"`, `"paidOver"`).
    pub fn set(&self, id: &str, status: &str, amount_paid: i64, exception: Value) {
        let mut state = self.state.lock().expect("state");
        let invoice = state.invoices.get_mut(id).expect("an invoice");
        invoice.status = status.to_owned();
        invoice.amount_paid = amount_paid;
        invoice.exception = exception;
    }

    /// A notification as BitPay posts it (extended, version 2): the event
    /// and the invoice as BitPay sends it, with `claimed` as its status.
    pub fn notification(&self, id: &str, claimed: &str) -> String {
        let state = self.state.lock().expect("state");
        let mut data = bp_json(&state.base, id, &state.invoices[id]);
        data["status"] = json!(claimed);
        json!({"event": {"code": 1005, "name": format!("invoice_{claimed}")}, "data": data})
            .to_string()
    }
}

fn bp_json(base: &str, id: &str, invoice: &BpInvoice) -> Value {
    let request = &invoice.request;
    let paid = invoice.amount_paid > 0;
    json!({
        "url": format!("{base}/i/{id}"), "status": invoice.status,
        "price": request["price"].as_str().and_then(|p| p.parse::<f64>().ok()),
        "currency": request["currency"], "orderId": request["orderId"],
        "itemDesc": request["itemDesc"], "invoiceTime": 1_700_000_000_000_i64,
        "expirationTime": 1_700_000_900_000_i64, "currentTime": 1_700_000_100_000_i64,
        "id": id, "lowFeeDetected": false, "amountPaid": invoice.amount_paid,
        "displayAmountPaid": btc(invoice.amount_paid), "exceptionStatus": invoice.exception,
        "redirectURL": request["redirectURL"], "notificationURL": request["notificationURL"],
        "transactionCurrency": if paid { json!("BTC") } else { Value::Null },
        "paymentSubtotals": {"BTC": invoice.total_sats},
        "paymentTotals": {"BTC": invoice.total_sats},
        "exchangeRates": {"BTC": {"EUR": 33333.33}},
        "buyer": request.get("buyer").cloned().unwrap_or(json!({})),
        "token": "invoice_resource_token_1"
    })
}

fn bp_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"status": "error", "error": message}))).into_response()
}

async fn bp_create(
    State(state): State<Arc<Mutex<BpState>>>,
    headers: HeaderMap,
    Json(request): Json<Value>,
) -> Response {
    let mut state = state.lock().expect("state");
    let version = headers
        .get("x-accept-version")
        .and_then(|v| v.to_str().ok());
    if version != Some("2.0.0") || request["token"] != BITPAY_TOKEN {
        state.refused += 1;
        return bp_error(StatusCode::UNAUTHORIZED, "Invalid token");
    }
    let Some(cents) = request["price"].as_str().and_then(cents) else {
        return bp_error(StatusCode::BAD_REQUEST, "Invalid price");
    };
    if request["currency"] != "EUR" {
        return bp_error(StatusCode::BAD_REQUEST, "Invalid currency");
    }
    let id = format!("BPTEST{:04}", state.invoices.len() + 1);
    let invoice = BpInvoice {
        request,
        status: "new".into(),
        amount_paid: 0,
        exception: json!(false),
        total_sats: cents * SATS_PER_CENT,
    };
    let data = bp_json(&state.base, &id, &invoice);
    state.invoices.insert(id, invoice);
    Json(json!({"data": data})).into_response()
}

async fn bp_get(
    State(state): State<Arc<Mutex<BpState>>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().expect("state");
    let version = headers
        .get("x-accept-version")
        .and_then(|v| v.to_str().ok());
    if version != Some("2.0.0") || query.get("token").map(String::as_str) != Some(BITPAY_TOKEN) {
        state.refused += 1;
        return bp_error(StatusCode::UNAUTHORIZED, "Invalid token");
    }
    match state.invoices.get(&id) {
        Some(invoice) => Json(json!({"data": bp_json(&state.base, &id, invoice)})).into_response(),
        None => bp_error(StatusCode::NOT_FOUND, "Object not found"),
    }
}
