//! Orders: what a customer pays for, its payment transactions and refunds.

use obol_core::{BrandId, OrderId};
pub(crate) mod api;
pub mod apply;
pub mod billed;
pub(crate) mod bound;
pub mod jobs;
mod late;
mod lines;
pub mod operations;
mod payer;
pub mod payment;
mod received;
pub mod refunds;
pub mod report;
mod top_ups;
pub mod views;
pub mod wallet_payment;

use crate::error::{Error, Result};
use obol_core::order::{OrderCommand, OrderFacts, OrderStatus, TransactionKind, TransactionStatus};
use obol_core::time::HOUR_MS;
use obol_core::validate::{self, Metadata};
use obol_core::{Currency, Timestamp};
use obol_kernel::events;
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::idempotency::BoundObject;
pub use obol_store::orders::OrderFilter;
use obol_store::orders::OrderRow;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
pub use views::{Order, Refund, Transaction};

/// The largest amount: 2^53 − 1 minor units, exact in every JSON client.
pub const AMOUNT_MAX: i64 = (1 << 53) - 1;
const DEFAULT_EXPIRY_MS: i64 = 24 * HOUR_MS;

/// One line of an order: described with its amount, or naming a price of
/// the brand's catalog (its package's name and the price's amount).
#[derive(Debug, Clone, Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Without `price_id`; with one, the price's package's name by default.
    pub name: Option<String>,
    pub quantity: i64,
    /// Without `price_id`.
    pub unit_amount: Option<i64>,
    /// An active one-time price of the brand, in the order's currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_id: Option<String>,
}

/// A card as sent by the client; the number and CVC never reach the database.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    pub number: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub cvc: Option<String>,
    pub holder_name: Option<String>,
}

/// `payment_method`: `{"type": "card", "card": {...}}`, `wallet`, `mandate`, `crypto`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodInput {
    #[serde(rename = "type")]
    pub method_type: String,
    pub card: Option<CardInput>,
    pub mandate_id: Option<String>,
}

/// `POST /v1/orders`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    pub amount: i64,
    pub currency: String,
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub description: Option<String>,
    pub items: Option<Vec<Item>>,
    /// `one_time` (default) or `credit_top_up`.
    #[serde(rename = "type")]
    pub order_type: Option<String>,
    pub auto_capture: Option<bool>,
    pub setup_mandate: Option<bool>,
    pub mandate_id: Option<String>,
    pub confirm: Option<bool>,
    pub payment_method: Option<PaymentMethodInput>,
    pub connector_account_id: Option<String>,
    /// A coupon's id or code: `amount` (and the items) are before it, the
    /// order charges what is left.
    pub coupon: Option<String>,
    pub return_url: Option<String>,
    pub callback_url: Option<String>,
    /// RFC 3339; default 24 hours from now.
    pub expires_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `PATCH /v1/orders/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrder {
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub return_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub callback_url: Option<Option<String>>,
    /// Only while `in_progress` with no payment attempt.
    pub amount: Option<i64>,
    pub items: Option<Vec<Item>>,
}

/// Parses a currency code: upper-case ISO 4217 only.
pub fn currency(value: &str) -> Result<Currency> {
    Ok(validate::currency("currency", value)?)
}

/// Checks an amount in minor units: 1 to 2^53 − 1 (0 when `zero_allowed`).
pub fn amount(param: &str, value: i64, zero_allowed: bool) -> Result<i64> {
    if value < 0 || (value == 0 && !zero_allowed) {
        let what = if zero_allowed {
            "a non-negative"
        } else {
            "a positive"
        };
        return Err(Error::invalid(
            param,
            format!("{param} must be {what} integer in minor units"),
        ));
    }
    if value > AMOUNT_MAX {
        return Err(Error::invalid_request(
            "amount_too_large",
            format!("{param} must be at most {AMOUNT_MAX}"),
        )
        .with_param(param));
    }
    Ok(value)
}

fn metadata_text(value: Option<&Value>) -> Result<String> {
    let metadata: Metadata = value
        .map(validate::metadata)
        .transpose()?
        .unwrap_or_default();
    serde_json::to_string(&metadata).map_err(Error::internal)
}

/// Validates a new order and builds its row (nothing written yet).
async fn build(
    state: &AppState,
    conn: &mut Conn,
    brand_id: &BrandId,
    input: &CreateOrder,
    now: Timestamp,
) -> Result<OrderRow> {
    let setup_mandate = input.setup_mandate.unwrap_or(false);
    let currency = currency(&input.currency)?;
    let total = amount("amount", input.amount, setup_mandate)?;
    let order_type = input.order_type.as_deref().unwrap_or("one_time");
    match order_type {
        "one_time" => {}
        "credit_top_up" if input.customer_id.is_some() => {
            if total == 0 {
                return Err(Error::invalid(
                    "amount",
                    "a credit_top_up order tops up a positive amount",
                ));
            }
        }
        "credit_top_up" => {
            return Err(Error::invalid_request(
                "parameter_missing",
                "a credit_top_up order needs a customer_id",
            )
            .with_param("customer_id"));
        }
        "subscription" | "invoice" => {
            return Err(Error::invalid(
                "type",
                format!("{order_type} orders are made by billing, not by clients"),
            ));
        }
        _ => {
            return Err(Error::invalid(
                "type",
                "type must be one_time or credit_top_up",
            ));
        }
    }
    let payer::Payer {
        customer_id,
        customer_email,
        mandate,
    } = payer::payer(state, conn, brand_id, input, setup_mandate).await?;
    let expires_at = match &input.expires_at {
        None => now.plus_ms(DEFAULT_EXPIRY_MS),
        Some(text) => validate::future_time("expires_at", text, now)?,
    };
    if input.confirm == Some(true) {
        payer::check_confirm(conn, brand_id, input, mandate.as_ref(), currency, now).await?;
    }
    let id = OrderId::new();
    let items = match input.items.as_deref() {
        Some(list) => Some(lines::items(conn, brand_id, currency, list, total).await?),
        None => None,
    };
    let (coupon_id, amount_discount) = match &input.coupon {
        Some(coupon) => {
            let applied = lines::coupon_of(
                state,
                conn,
                brand_id,
                coupon,
                input,
                (&id, customer_id.as_ref(), items.as_deref()),
                (currency, total, now),
            )
            .await?;
            (Some(applied.coupon_id), applied.discount)
        }
        None => (None, 0),
    };
    let row = OrderRow {
        id,
        brand_id: brand_id.to_owned(),
        customer_id,
        customer_email,
        description: input
            .description
            .as_deref()
            .map(|d| validate::text("description", d, 1, 1000))
            .transpose()?,
        items,
        order_type: order_type.to_owned(),
        status: OrderStatus::InProgress.as_str().to_owned(),
        amount: total - amount_discount,
        currency: currency.code().to_owned(),
        amount_authorized: 0,
        amount_captured: 0,
        amount_refunded: 0,
        amount_refund_pending: 0,
        auto_capture: i64::from(input.auto_capture.unwrap_or(true)),
        setup_mandate: i64::from(setup_mandate),
        mandate_id: mandate.map(|row| row.id),
        connector_account_id: None,
        in_flight_transaction_id: None,
        attempted: 0,
        return_url: input
            .return_url
            .as_deref()
            .map(|u| validate::url("return_url", u))
            .transpose()?,
        callback_url: input
            .callback_url
            .as_deref()
            .map(|u| validate::url("callback_url", u))
            .transpose()?,
        expires_at: expires_at.as_ms(),
        capture_before: None,
        captured_at: None,
        cleared_at: None,
        // Unpaid, it expires then.
        due_at: Some(expires_at.as_ms()),
        last_payment_error: None,
        next_action: None,
        metadata: metadata_text(input.metadata.as_ref())?,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
        coupon_id,
        amount_discount,
    };
    let pays_from_wallet = input
        .payment_method
        .as_ref()
        .is_some_and(|method| method.method_type == wallet_payment::CONNECTOR);
    if input.confirm == Some(true) && pays_from_wallet {
        // Refused before the order exists, as a card without an account is.
        wallet_payment::fits(&row)?;
    }
    Ok(row)
}

/// Creates an order (due to expire at `expires_at`, with `order.created`), and confirms
/// it at once when asked.
pub async fn create(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateOrder,
    trigger: &str,
    key: Option<&IdempotencyKey>,
) -> Result<Order> {
    if let Some(row) = bound::order(state, brand_id, key).await? {
        return created_before(state, brand_id, row, input, trigger, key).await;
    }
    if let Some(url) = &input.callback_url {
        callback_reachable(state, url).await?;
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let row = build(state, &mut tx, brand_id, &input, now).await?;
    obol_store::orders::insert_order(&mut tx, &row).await?;
    bound::bind(&mut tx, key, BoundObject::Order, &row.id, now.as_ms()).await?;
    // A new order has no transactions yet: nothing to read.
    let order = views::render_with(state, &row, &[])?;
    events::record(
        &mut tx,
        brand_id,
        "order.created",
        &row.id,
        row.customer_id.as_ref(),
        &order,
        now,
    )
    .await?;
    tx.commit().await?;
    match confirm_input(input, trigger, key) {
        Some(confirm) => payment::confirm(state, brand_id, &row.id, confirm).await,
        None => Ok(order),
    }
}

/// Refuses a `callback_url` that outbound requests may not reach (a
/// private network, unless the server allows it), before any transaction
/// opens: the check may resolve the name.
async fn callback_reachable(state: &AppState, url: &str) -> Result<()> {
    let url = validate::url("callback_url", url)?;
    match state.outbound.check_url_resolved(&url).await {
        // A name that does not resolve now may later: every callback is
        // checked on the address it connects to.
        Ok(_) | Err(obol_kernel::outbound::Refused::Unresolved { .. }) => Ok(()),
        Err(refused) => Err(Error::invalid("callback_url", refused.to_string())),
    }
}

/// The confirm that `confirm: true` asks for: with its `payment_method`,
/// else with its mandate.
fn confirm_input(
    input: CreateOrder,
    trigger: &str,
    key: Option<&IdempotencyKey>,
) -> Option<payment::ConfirmInput> {
    if input.confirm != Some(true) {
        return None;
    }
    let payment_method = match (input.payment_method, input.mandate_id) {
        (Some(payment_method), _) => payment_method,
        (None, Some(mandate_id)) => PaymentMethodInput {
            method_type: "mandate".to_owned(),
            card: None,
            mandate_id: Some(mandate_id),
        },
        (None, None) => return None,
    };
    Some(payment::ConfirmInput {
        payment_method,
        connector_account_id: input.connector_account_id,
        trigger: trigger.to_owned(),
        idempotency_key: key.cloned(),
    })
}

/// A retried create whose first attempt made the order: the order as it
/// stands, or its payment's answer. A first attempt that stopped before its
/// payment began (nothing was sent to a connector) is confirmed now.
async fn created_before(
    state: &AppState,
    brand_id: &BrandId,
    row: OrderRow,
    input: CreateOrder,
    trigger: &str,
    key: Option<&IdempotencyKey>,
) -> Result<Order> {
    let Some(confirm) = confirm_input(input, trigger, key) else {
        return get(state, brand_id, &row.id).await;
    };
    // The confirm finds the payment the first attempt made, if any, and
    // answers with it; one that never began is made now.
    let never_attempted = row.attempted == 0 && row.status == OrderStatus::InProgress.as_str();
    if never_attempted || bound::has_transaction(state, key).await? {
        return payment::confirm(state, brand_id, &row.id, confirm).await;
    }
    get(state, brand_id, &row.id).await
}

/// An order of the brand with its payments, or not found.
pub async fn get(state: &AppState, brand_id: &BrandId, id: &OrderId) -> Result<Order> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::orders::get_order(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("order", id))?;
    views::render(state, &mut conn, &row).await
}

/// A page of the brand's orders, newest first, as the filters ask.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<OrderFilter>,
) -> Result<List<Order>> {
    let ListRequest { page, filter } = request;
    if let Some(status) = &filter.status
        && OrderStatus::parse(status).is_none()
    {
        return Err(Error::invalid("status", "status is not an order status"));
    }
    let mut conn = state.db.pool.acquire().await?;
    if let Some(customer_id) = &filter.customer_id
        && obol_store::customers::get(
            &mut conn,
            brand_id,
            &obol_core::CustomerId::from(customer_id.as_str()),
        )
        .await?
        .is_none()
    {
        return Err(Error::not_found("customer", customer_id).with_param("customer_id"));
    }
    let rows = list::fetch(
        &mut conn,
        &page,
        async |conn, after| {
            Ok(
                obol_store::orders::get_order(conn, brand_id, &OrderId::from(after))
                    .await?
                    .is_some(),
            )
        },
        async |conn, page| obol_store::orders::list_orders(conn, brand_id, &filter, page).await,
    )
    .await?;
    let mut data = Vec::with_capacity(rows.data.len());
    for row in &rows.data {
        data.push(views::render(state, &mut conn, row).await?);
    }
    Ok(List::new(data, rows.has_more))
}

/// Locks an order of the brand for a change, or not found.
pub async fn lock(
    state: &AppState,
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &OrderId,
) -> Result<OrderRow> {
    obol_store::orders::lock_order(conn, state.db.backend, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("order", id))
}

/// The facts the state machine needs beyond the status; whether a refund
/// exists is read only for a reverse, and whether a payment is open only
/// for the expiry of a processing order: the commands they decide.
pub async fn facts(conn: &mut Conn, row: &OrderRow, command: OrderCommand) -> Result<OrderFacts> {
    let amounts_refunded = row.amount_refunded > 0 || row.amount_refund_pending > 0;
    let has_refunds = amounts_refunded
        || (command == OrderCommand::Reverse
            && obol_store::orders::has_refunds(conn, &row.id).await?);
    let payment_open = command == OrderCommand::Expire
        && row.status == OrderStatus::Processing.as_str()
        && obol_store::orders::transactions_of_order(conn, &row.id)
            .await?
            .iter()
            .any(|t| {
                TransactionKind::parse(&t.kind).is_some_and(TransactionKind::is_payment)
                    && TransactionStatus::parse(&t.status).is_none_or(TransactionStatus::is_open)
            });
    Ok(OrderFacts {
        in_flight: row.in_flight_transaction_id.is_some(),
        cleared: row.cleared_at.is_some(),
        has_refunds,
        attempted: row.attempted != 0,
        captured: row.amount_captured > 0,
        payment_open,
    })
}

/// The order's status, parsed.
pub fn status(row: &OrderRow) -> Result<OrderStatus> {
    OrderStatus::parse(&row.status)
        .ok_or_else(|| Error::internal(format!("order {} has a corrupt status", row.id)))
}

/// Checks `command` against the order's state: invalid state if refused.
pub async fn allow(conn: &mut Conn, row: &OrderRow, command: OrderCommand) -> Result<()> {
    let facts = facts(conn, row, command).await?;
    obol_core::order::check(status(row)?, command, facts)
        .map_err(|refused| Error::invalid_state(refused.message))
}

/// Applies a PATCH: text fields any time; amount and items only before any
/// payment attempt.
pub async fn update(
    state: &AppState,
    brand_id: &BrandId,
    id: &OrderId,
    input: UpdateOrder,
) -> Result<Order> {
    if let Some(Some(url)) = &input.callback_url {
        callback_reachable(state, url).await?;
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = lock(state, &mut tx, brand_id, id).await?;
    if let Some(value) = input.description {
        row.description = value
            .as_deref()
            .map(|d| validate::text("description", d, 1, 1000))
            .transpose()?;
    }
    if let Some(value) = input.return_url {
        row.return_url = value
            .as_deref()
            .map(|u| validate::url("return_url", u))
            .transpose()?;
    }
    if let Some(value) = input.callback_url {
        row.callback_url = value
            .as_deref()
            .map(|u| validate::url("callback_url", u))
            .transpose()?;
    }
    if let Some(patch) = input
        .metadata
        .as_ref()
        .map(validate::metadata)
        .transpose()?
    {
        let mut metadata: Metadata =
            serde_json::from_str(&row.metadata).map_err(Error::internal)?;
        validate::merge_metadata(&mut metadata, patch)?;
        row.metadata = serde_json::to_string(&metadata).map_err(Error::internal)?;
    }
    if input.amount.is_some() || input.items.is_some() {
        allow(&mut tx, &row, OrderCommand::ChangeAmount).await?;
        if row.coupon_id.is_some() {
            return Err(Error::invalid(
                "amount",
                "an order with a coupon keeps its amount: make a new order",
            ));
        }
        let total = amount(
            "amount",
            input.amount.unwrap_or(row.amount),
            row.setup_mandate != 0,
        )?;
        row.items = match &input.items {
            Some(list) => {
                let currency = currency(&row.currency)?;
                Some(lines::items(&mut tx, brand_id, currency, list, total).await?)
            }
            None if input.amount.is_some() => None,
            None => row.items.clone(),
        };
        row.amount = total;
    }
    row.updated_at = now.as_ms();
    obol_store::orders::update_order(&mut tx, &row).await?;
    let order = views::render(state, &mut tx, &row).await?;
    events::record(
        &mut tx,
        brand_id,
        "order.updated",
        &row.id,
        row.customer_id.as_ref(),
        &order,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(order)
}
