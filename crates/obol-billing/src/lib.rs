//! Billing: the catalog (products, the features packages grant, packages
//! and their prices), coupons, tax rates, subscriptions with their
//! renewals and dunning, and invoices with their numbers, PDFs, hosted
//! page and credit notes.

pub mod catalog;
pub mod coupons;
pub mod error;
pub mod invoices;
pub mod pdf;
pub mod subscriptions;
pub mod tax_rates;

pub use error::{Error, Result};

use obol_kernel::AppState;
use obol_kernel::jobs::JobRegistry;
use obol_payments::listeners::OrderListener;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// Every event type billing records.
pub const EVENT_TYPES: &[&str] = &[
    "product.created",
    "product.updated",
    "feature.created",
    "package.created",
    "package.updated",
    "price.created",
    "price.updated",
    "coupon.created",
    "coupon.disabled",
    "tax_rate.created",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "credit_note.created",
    "subscription.created",
    "subscription.trial_will_end",
    "subscription.activated",
    "subscription.renewed",
    "subscription.past_due",
    "subscription.unpaid",
    "subscription.changed",
    "subscription.paused",
    "subscription.resumed",
    "subscription.canceled",
];

/// Every billing route that takes an API key.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(catalog::api::routes())
        .merge(coupons::api::routes())
        .merge(tax_rates::api::routes())
        .merge(invoices::api::routes())
        .merge(subscriptions::api::routes())
}

/// Billing's pages for customers, behind signed links.
pub fn public_routes() -> OpenApiRouter<AppState> {
    invoices::page::routes()
}

/// Registers billing's scheduled work: subscriptions' due steps.
pub fn jobs(registry: &mut JobRegistry) {
    registry.add_due_work(subscriptions::renewal::DueSubscriptions);
}

/// Billing's coupons, for payments to redeem on new orders.
pub fn order_coupons() -> obol_payments::listeners::Coupons {
    obol_payments::listeners::Coupons(Arc::new(coupons::OrderCouponsOfBilling))
}

/// What billing does when an order it made changes (the invoice follows
/// its payment), for the server to register with payments.
pub fn order_listener() -> Arc<dyn OrderListener> {
    Arc::new(invoices::paid::InvoiceOrders)
}
