//! Accounts: brands and their API keys, customers, the double-entry ledger
//! and balances.

pub mod brands;
pub mod customers;
pub mod error;
pub mod ledger;

pub use error::{Error, Result};

use obol_kernel::AppState;
use utoipa_axum::router::OpenApiRouter;

/// Every event type accounts records.
/// `wallet.*` come with customer wallets (api.md lists them); endpoints may
/// ask for them already.
pub const EVENT_TYPES: &[&str] = &[
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "wallet.credited",
    "wallet.debited",
];

/// Every accounts route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(brands::api::routes())
        .merge(customers::api::routes())
        .merge(ledger::api::routes())
}
