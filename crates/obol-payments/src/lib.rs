//! Payments: connector accounts and routing, orders, payment transactions
//! and refunds.

pub mod connector_accounts;
pub mod error;
pub mod orders;
pub mod sandbox_state;

use obol_connectors::ConnectorRegistry;
use obol_kernel::AppState;
use obol_kernel::jobs::JobRegistry;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// Every payments route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(connector_accounts::api::routes())
        .merge(orders::api::routes())
}

/// Registers the payments' scheduled work: due orders and transaction syncs.
pub fn jobs(registry: &mut JobRegistry) {
    registry.add_due_work(orders::jobs::DueOrders);
}

/// The connectors this server runs with (added to the state at start).
pub fn connectors(state: &AppState) -> &ConnectorRegistry {
    state.part::<Arc<ConnectorRegistry>>()
}
