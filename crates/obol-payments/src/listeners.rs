//! What other domains do with orders, inside payments' own transactions:
//! when an order they made changes (billing marks the invoice an order
//! pays as paid), and a coupon on a new order (billing's coupons). Each
//! runs inside the database transaction that changes the order, so the
//! order and what follows from it commit together or not at all. Payments
//! knows no other domain: the server registers them at start.

use crate::error::Result;
use async_trait::async_trait;
use obol_core::{BrandId, Currency, CustomerId, OrderId, Timestamp};
use obol_kernel::error::ApiError;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::orders::{OrderRow, TransactionRow};
use std::sync::Arc;

/// One change of an order a listener hears of.
pub struct OrderChange<'a> {
    /// The order as it now stands (not yet committed).
    pub order: &'a OrderRow,
    pub previous_status: &'a str,
    /// The transaction whose outcome changed it.
    pub transaction: &'a TransactionRow,
    pub now: Timestamp,
}

/// A domain's part in an order's change.
#[async_trait]
pub trait OrderListener: Send + Sync + 'static {
    /// The order types (`type`) this listener hears of; others never reach it.
    fn order_types(&self) -> &'static [&'static str];

    /// Runs inside the changing transaction; an error rolls the change back.
    async fn order_changed(
        &self,
        state: &AppState,
        tx: &mut Conn,
        change: &OrderChange<'_>,
    ) -> Result<(), ApiError>;
}

/// The listeners the server registered, added to the state at start.
#[derive(Clone, Default)]
pub struct OrderListeners(Vec<Arc<dyn OrderListener>>);

impl OrderListeners {
    pub fn new(listeners: Vec<Arc<dyn OrderListener>>) -> Self {
        OrderListeners(listeners)
    }
}

/// Tells each listener of the order's type about the change.
pub(crate) async fn order_changed(
    state: &AppState,
    tx: &mut Conn,
    change: &OrderChange<'_>,
) -> Result<()> {
    let Some(listeners) = state.parts.get::<OrderListeners>() else {
        return Ok(());
    };
    for listener in &listeners.0 {
        if listener
            .order_types()
            .contains(&change.order.order_type.as_str())
        {
            listener.order_changed(state, tx, change).await?;
        }
    }
    Ok(())
}

/// A coupon named on a new order, to redeem inside its creating transaction.
pub struct CouponRequest<'a> {
    pub brand_id: &'a BrandId,
    /// The coupon's id or code.
    pub coupon: &'a str,
    pub currency: Currency,
    pub customer_id: Option<&'a CustomerId>,
    pub order_id: &'a OrderId,
    /// The order's lines: the price each names (if any) and its amount.
    pub lines: Vec<(Option<String>, i64)>,
    pub now: Timestamp,
}

/// A coupon redeemed for an order: what it takes off.
pub struct CouponApplied {
    pub coupon_id: String,
    pub discount: i64,
}

/// The domain that keeps coupons.
#[async_trait]
pub trait OrderCoupons: Send + Sync + 'static {
    /// Redeems the coupon for the order (an error rolls the order back).
    async fn apply(
        &self,
        tx: &mut Conn,
        request: CouponRequest<'_>,
    ) -> Result<CouponApplied, ApiError>;
}

/// The coupons the server registered, added to the state at start.
#[derive(Clone)]
pub struct Coupons(pub Arc<dyn OrderCoupons>);
