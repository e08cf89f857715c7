//! Billing: the catalog (products, the features packages grant, packages
//! and their prices); subscriptions, invoices and licenses build on it.

pub mod catalog;
pub mod error;
pub mod pdf;

pub use error::{Error, Result};

use obol_kernel::AppState;
use obol_kernel::jobs::JobRegistry;
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
];

/// Every billing route.
pub fn routes() -> OpenApiRouter<AppState> {
    catalog::api::routes()
}

/// Registers billing's scheduled work: none yet (the catalog has none).
pub fn jobs(_registry: &mut JobRegistry) {}
