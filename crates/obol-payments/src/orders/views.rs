//! The API views of orders, transactions and refunds.

use crate::error::{Error, Result};
use obol_core::Timestamp;
use obol_core::order::TransactionKind;
use obol_core::validate::Metadata;
use obol_core::{BrandId, CustomerId, OrderId, RefundId, TransactionId};
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::orders::{OrderRow, RefundRow, TransactionRow};
use obol_store::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// An order as the API shows it, with every payment transaction.
#[derive(Debug, Serialize, ToSchema)]
pub struct Order {
    pub id: String,
    /// Always `order`.
    pub object: &'static str,
    pub status: String,
    #[serde(rename = "type")]
    pub order_type: String,
    /// What the order charges (after a coupon's discount).
    pub amount: i64,
    pub currency: String,
    /// The coupon on the order and what it took off.
    pub coupon_id: Option<String>,
    pub amount_discount: i64,
    pub amount_authorized: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub auto_capture: bool,
    pub setup_mandate: bool,
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Vec<crate::orders::Item>>)]
    pub items: Option<Value>,
    pub payment_link: String,
    pub client_secret: String,
    #[schema(value_type = Option<Object>)]
    pub next_action: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub last_payment_error: Option<Value>,
    pub mandate_id: Option<String>,
    pub connector_account_id: Option<String>,
    pub return_url: Option<String>,
    pub callback_url: Option<String>,
    pub metadata: Metadata,
    pub payments: Vec<Transaction>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub capture_before: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cleared_at: Option<Timestamp>,
}

/// An order as a publishable key reads it (api.md, "Publishable keys"):
/// what the hosted payment page shows, and nothing else of the brand's
/// order (no customer id, metadata, callback URL, connector ids, card
/// fingerprints nor transaction history).
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutOrder {
    pub id: String,
    /// Always `order`.
    pub object: &'static str,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    #[schema(value_type = Option<Vec<crate::orders::Item>>)]
    pub items: Option<Value>,
    pub customer_email: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub next_action: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub last_payment_error: Option<Value>,
    pub return_url: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// The payment attempts (authorize, sale, verify), oldest first.
    pub payments: Vec<CheckoutPayment>,
}

/// A payment attempt as the hosted page shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutPayment {
    /// `pending`, `requires_action`, `succeeded`, `failed` or `unknown`.
    pub status: String,
    /// The card it used; `null` for other methods.
    pub payment_method: Option<CheckoutPaymentMethod>,
}

/// A payment's card as its customer may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutPaymentMethod {
    /// Always `card`.
    #[serde(rename = "type")]
    pub method_type: String,
    pub brand: Option<String>,
    pub last4: Option<String>,
}

impl From<Order> for CheckoutOrder {
    fn from(order: Order) -> Self {
        let text = |method: &Value, field: &str| method[field].as_str().map(str::to_owned);
        let payments = order
            .payments
            .iter()
            .filter(|payment| {
                TransactionKind::parse(&payment.kind).is_some_and(TransactionKind::is_payment)
            })
            .map(|payment| CheckoutPayment {
                status: payment.status.clone(),
                payment_method: payment.payment_method.as_ref().map(|method| {
                    CheckoutPaymentMethod {
                        method_type: text(method, "type").unwrap_or_else(|| "card".into()),
                        brand: text(method, "brand"),
                        last4: text(method, "last4"),
                    }
                }),
            })
            .collect();
        CheckoutOrder {
            id: order.id,
            object: "order",
            status: order.status,
            amount: order.amount,
            currency: order.currency,
            description: order.description,
            items: order.items,
            customer_email: order.customer_email,
            next_action: order.next_action,
            last_payment_error: order.last_payment_error,
            return_url: order.return_url,
            expires_at: order.expires_at,
            payments,
        }
    }
}

/// The answer about one order: the order, or its checkout view for a
/// publishable key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum OrderView {
    Order(Box<Order>),
    Checkout(Box<CheckoutOrder>),
}

/// One entry of a transaction's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub amount: i64,
    pub http_code: Option<u16>,
}

/// A payment transaction: one operation sent to a connector.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transaction {
    pub id: String,
    /// Always `transaction`.
    pub object: &'static str,
    pub order_id: String,
    pub kind: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    /// The connector, or `wallet` for a payment from the customer's wallet.
    pub connector: String,
    /// `null` for a wallet transaction, which has no connector account.
    pub connector_account_id: Option<String>,
    pub connector_transaction_id: Option<String>,
    pub trigger: String,
    pub preauth: bool,
    pub refund_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub payment_method: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// Why a failed transaction failed: its decline code (`insufficient_funds`
    /// …) or error code (`underpaid` …); `null` unless failed.
    pub failure_reason: Option<String>,
    /// What the customer actually sent (crypto), in minor units; `null`
    /// when the connector does not say.
    pub amount_received: Option<i64>,
    /// What arrived beyond `amount` (an overpaid crypto payment): `null`
    /// unless `amount_received` is known, else 0 or more.
    pub amount_excess: Option<i64>,
    pub status_history: Vec<StatusChange>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub confirmed_at: Option<Timestamp>,
}

/// A refund.
#[derive(Debug, Serialize, ToSchema)]
pub struct Refund {
    pub id: String,
    /// Always `refund`.
    pub object: &'static str,
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub reason: Option<String>,
    pub failure_reason: Option<String>,
    pub transaction_id: String,
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

fn json_column(text: &Option<String>) -> Result<Option<Value>> {
    text.as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(Error::internal)
}

/// The client secret of an order: derived, never stored, so it cannot leak
/// from the database.
pub fn client_secret(state: &AppState, order_id: &OrderId) -> String {
    let mac = state
        .master_key
        .hmac_hex("client_secret", order_id.as_bytes());
    format!("{order_id}_secret_{}", &mac[..32])
}

/// The signed payment link of an order.
pub fn payment_link(state: &AppState, order_id: &OrderId) -> String {
    let mac = state
        .master_key
        .hmac_hex("payment_link", order_id.as_bytes());
    format!("{}/pay/{order_id}?sig={}", state.public_url, &mac[..32])
}

impl TryFrom<&TransactionRow> for Transaction {
    type Error = Error;

    fn try_from(row: &TransactionRow) -> Result<Self> {
        let error = json_column(&row.error)?;
        let failure_reason = error
            .as_ref()
            .filter(|_| row.status == "failed")
            .and_then(|error| error["decline_code"].as_str().or(error["code"].as_str()))
            .map(str::to_owned);
        Ok(Transaction {
            id: row.id.to_string(),
            object: "transaction",
            order_id: row.order_id.to_string(),
            kind: row.kind.clone(),
            status: row.status.clone(),
            amount: row.amount,
            currency: row.currency.clone(),
            connector: row.connector.clone(),
            connector_account_id: Some(row.connector_account_id.to_string())
                .filter(|_| row.connector != super::wallet_payment::CONNECTOR),
            connector_transaction_id: row.connector_transaction_id.clone(),
            trigger: row.trigger_source.clone(),
            preauth: row.preauth != 0,
            refund_id: row.refund_id.as_ref().map(RefundId::to_string),
            payment_method: json_column(&row.payment_method)?,
            error,
            failure_reason,
            amount_received: row.amount_received,
            amount_excess: row
                .amount_received
                .map(|received| received.saturating_sub(row.amount).max(0)),
            status_history: serde_json::from_str(&row.status_history).map_err(Error::internal)?,
            created_at: Timestamp::from_ms(row.created_at),
            confirmed_at: row.confirmed_at.map(Timestamp::from_ms),
        })
    }
}

impl TryFrom<&RefundRow> for Refund {
    type Error = Error;

    fn try_from(row: &RefundRow) -> Result<Self> {
        Ok(Refund {
            id: row.id.to_string(),
            object: "refund",
            order_id: row.order_id.to_string(),
            amount: row.amount,
            currency: row.currency.clone(),
            status: row.status.clone(),
            reason: row.reason.clone(),
            failure_reason: row.failure_reason.clone(),
            transaction_id: row.transaction_id.to_string(),
            metadata: serde_json::from_str(&row.metadata).map_err(Error::internal)?,
            created_at: Timestamp::from_ms(row.created_at),
        })
    }
}

/// Renders an order with its transactions (read on `conn`).
pub async fn render(state: &AppState, conn: &mut Conn, row: &OrderRow) -> Result<Order> {
    let transactions = obol_store::orders::transactions_of_order(conn, &row.id).await?;
    render_with(state, row, &transactions)
}

/// Renders an order with the transactions given.
pub fn render_with(
    state: &AppState,
    row: &OrderRow,
    transactions: &[TransactionRow],
) -> Result<Order> {
    Ok(Order {
        id: row.id.to_string(),
        object: "order",
        status: row.status.clone(),
        order_type: row.order_type.clone(),
        amount: row.amount,
        currency: row.currency.clone(),
        coupon_id: row.coupon_id.clone(),
        amount_discount: row.amount_discount,
        amount_authorized: row.amount_authorized,
        amount_captured: row.amount_captured,
        amount_refunded: row.amount_refunded,
        auto_capture: row.auto_capture != 0,
        setup_mandate: row.setup_mandate != 0,
        customer_id: row.customer_id.as_ref().map(CustomerId::to_string),
        customer_email: row.customer_email.clone(),
        description: row.description.clone(),
        items: json_column(&row.items)?,
        payment_link: payment_link(state, &row.id),
        client_secret: client_secret(state, &row.id),
        next_action: json_column(&row.next_action)?,
        last_payment_error: json_column(&row.last_payment_error)?,
        mandate_id: row.mandate_id.as_ref().map(ToString::to_string),
        connector_account_id: row.connector_account_id.as_ref().map(ToString::to_string),
        return_url: row.return_url.clone(),
        callback_url: row.callback_url.clone(),
        metadata: serde_json::from_str(&row.metadata).map_err(Error::internal)?,
        payments: transactions
            .iter()
            .map(Transaction::try_from)
            .collect::<Result<_>>()?,
        capture_before: row.capture_before.map(Timestamp::from_ms),
        expires_at: Timestamp::from_ms(row.expires_at),
        created_at: Timestamp::from_ms(row.created_at),
        updated_at: Timestamp::from_ms(row.updated_at),
        cleared_at: row.cleared_at.map(Timestamp::from_ms),
    })
}

/// The transaction and refund lists' request; the filter is an order id.
pub type ByOrder = ListRequest<Option<String>>;

/// A page of the brand's transactions or refunds, newest first: `get`
/// finds one by id (the cursor), `page` reads the page and `view` shows
/// each row. The filter must name an order of the brand (else not found,
/// naming `order_id`).
async fn list_by_order<I: for<'a> From<&'a str>, R, T: ToSchema>(
    state: &AppState,
    brand_id: &BrandId,
    request: ByOrder,
    (get, page): (
        impl AsyncFnOnce(&mut Conn, &BrandId, &I) -> obol_store::Result<Option<R>>,
        impl AsyncFnOnce(
            &mut Conn,
            &BrandId,
            Option<&OrderId>,
            &PageRequest,
        ) -> obol_store::Result<Page<R>>,
    ),
    view: impl Fn(&R) -> Result<T>,
) -> Result<List<T>> {
    let order_id = request.filter.map(OrderId::from);
    let order_id = order_id.as_ref();
    let mut conn = state.db.pool.acquire().await?;
    if let Some(order_id) = order_id
        && obol_store::orders::get_order(&mut conn, brand_id, order_id)
            .await?
            .is_none()
    {
        return Err(Error::not_found("order", order_id).with_param("order_id"));
    }
    let rows = list::fetch(
        &mut conn,
        &request.page,
        async |conn, after| Ok(get(conn, brand_id, &I::from(after)).await?.is_some()),
        async |conn, request| page(conn, brand_id, order_id, request).await,
    )
    .await?;
    List::of(rows, |row| view(&row))
}

/// A payment transaction of the brand with its history, or not found.
pub async fn transaction(
    state: &AppState,
    brand_id: &BrandId,
    id: &TransactionId,
) -> Result<Transaction> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::orders::get_transaction(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("transaction", id))?;
    Transaction::try_from(&row)
}

/// A page of the brand's payment transactions; the filter is an order id.
pub async fn transactions(
    state: &AppState,
    brand_id: &BrandId,
    request: ByOrder,
) -> Result<List<Transaction>> {
    let reads = (
        obol_store::orders::get_transaction,
        obol_store::orders::list_transactions,
    );
    list_by_order(state, brand_id, request, reads, |row| {
        Transaction::try_from(row)
    })
    .await
}

/// A refund of the brand, or not found.
pub async fn refund(state: &AppState, brand_id: &BrandId, id: &RefundId) -> Result<Refund> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::orders::get_refund(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("refund", id))?;
    Refund::try_from(&row)
}

/// A page of the brand's refunds; the filter is an order id.
pub async fn refunds(
    state: &AppState,
    brand_id: &BrandId,
    request: ByOrder,
) -> Result<List<Refund>> {
    let reads = (
        obol_store::orders::get_refund,
        obol_store::orders::list_refunds,
    );
    list_by_order(state, brand_id, request, reads, |row| Refund::try_from(row)).await
}
