//! Accounts: brands and their API keys, customers, the double-entry ledger
//! and balances, customer wallets, redeem codes and exchange rates, and the
//! system constants (currencies, countries, time zones).

pub mod brands;
pub mod customers;
pub mod error;
pub mod exchange_rates;
pub mod ledger;
pub mod redeem_codes;
pub mod reference;
pub mod wallets;

pub use error::{Error, Result};

use obol_kernel::AppState;
use utoipa_axum::router::OpenApiRouter;

/// Every event type accounts records.
pub const EVENT_TYPES: &[&str] = &[
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "exchange_rate.created",
    "wallet.credited",
    "wallet.debited",
];

/// Every accounts route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(brands::api::routes())
        .merge(customers::api::routes())
        .merge(ledger::api::routes())
        .merge(wallets::api::routes())
        .merge(redeem_codes::api::routes())
        .merge(exchange_rates::api::routes())
}

/// The accounts routes that take no key: the system constants.
pub fn public_routes() -> OpenApiRouter<AppState> {
    reference::api::routes()
}

/// Registers accounts' scheduled work: the expiry of granted credit.
pub fn jobs(registry: &mut obol_kernel::jobs::JobRegistry) {
    registry.add::<wallets::ExpireGrant>();
}
