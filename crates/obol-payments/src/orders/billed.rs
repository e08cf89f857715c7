//! Orders that billing makes for its invoices, inside billing's own
//! database transaction, so that an invoice and the order that pays it
//! exist together or not at all.

use super::views;
use crate::error::{Error, Result};
use obol_core::order::OrderStatus;
use obol_core::validate::Metadata;
use obol_core::{BrandId, Currency, CustomerId, OrderId, Timestamp};
use obol_kernel::events;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::orders::OrderRow;

/// Whether billing made the order (for an invoice or a subscription).
pub fn is_billed(order: &OrderRow) -> bool {
    matches!(order.order_type.as_str(), "invoice" | "subscription")
}

/// What an invoice's order is.
pub struct BilledOrder {
    /// `invoice` (a one-off invoice) or `subscription`.
    pub order_type: &'static str,
    pub customer_id: CustomerId,
    pub customer_email: Option<String>,
    pub description: String,
    pub amount: i64,
    pub currency: Currency,
    /// Whether its card payment leaves a mandate for the renewals.
    pub setup_mandate: bool,
    pub expires_at: Timestamp,
    pub metadata: Metadata,
}

/// Inserts the order with its `order.created` event into `tx`.
pub async fn create_in(
    state: &AppState,
    tx: &mut Conn,
    brand_id: &BrandId,
    spec: BilledOrder,
    now: Timestamp,
) -> Result<OrderRow> {
    let row = OrderRow {
        id: OrderId::new(),
        brand_id: brand_id.clone(),
        customer_id: Some(spec.customer_id),
        customer_email: spec.customer_email,
        description: Some(spec.description),
        items: None,
        order_type: spec.order_type.to_owned(),
        status: OrderStatus::InProgress.as_str().to_owned(),
        amount: spec.amount,
        currency: spec.currency.code().to_owned(),
        amount_authorized: 0,
        amount_captured: 0,
        amount_refunded: 0,
        amount_refund_pending: 0,
        auto_capture: 1,
        setup_mandate: i64::from(spec.setup_mandate),
        mandate_id: None,
        connector_account_id: None,
        in_flight_transaction_id: None,
        attempted: 0,
        return_url: None,
        callback_url: None,
        expires_at: spec.expires_at.as_ms(),
        capture_before: None,
        captured_at: None,
        cleared_at: None,
        due_at: Some(spec.expires_at.as_ms()),
        last_payment_error: None,
        next_action: None,
        metadata: serde_json::to_string(&spec.metadata).map_err(Error::internal)?,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
        coupon_id: None,
        amount_discount: 0,
    };
    obol_store::orders::insert_order(tx, &row).await?;
    let order = views::render_with(state, &row, &[])?;
    events::record(
        tx,
        brand_id,
        "order.created",
        &row.id,
        row.customer_id.as_ref(),
        &order,
        now,
    )
    .await?;
    Ok(row)
}

/// Makes an unpaid order that no payment is changing expire now (its
/// invoice was voided); false when it is paid or a payment is under way, so
/// that it is left as it is.
pub async fn expire_unpaid(
    tx: &mut Conn,
    backend: obol_store::Backend,
    brand_id: &BrandId,
    order_id: &OrderId,
    now: Timestamp,
) -> Result<bool> {
    let Some(order) = obol_store::orders::lock_order(tx, backend, brand_id, order_id).await? else {
        return Ok(false);
    };
    let idle = order.status == OrderStatus::InProgress.as_str()
        && order.in_flight_transaction_id.is_none();
    if !idle {
        return Ok(false);
    }
    obol_store::orders::set_expiry(tx, &order.id, now.as_ms(), now.as_ms()).await?;
    Ok(true)
}
