//! Payments: connector accounts and routing, orders, payment transactions,
//! refunds and mandates, connector notifications in.

pub mod checkout;
pub mod connector_accounts;
pub mod disputes;
pub mod error;
pub mod listeners;
pub mod mandates;
pub mod notifications;
pub mod orders;
pub mod purge;
pub mod sandbox;

use obol_connectors::ConnectorRegistry;
use obol_kernel::AppState;
use obol_kernel::jobs::JobRegistry;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// Every event type payments records (`order.<status>` for each status an
/// order moves to, in_progress excepted).
pub const EVENT_TYPES: &[&str] = &[
    "order.created",
    "order.updated",
    "order.requires_action",
    "order.processing",
    "order.authorized",
    "order.paid",
    "order.completed",
    "order.partially_refunded",
    "order.refunded",
    "order.canceled",
    "order.reversed",
    "order.expired",
    "transaction.succeeded",
    "transaction.failed",
    "transaction.unresolved",
    "refund.succeeded",
    "refund.failed",
    "connector_account.created",
    "connector_account.updated",
    "connector_account.disabled",
    "mandate.created",
    "mandate.revoked",
    "order.disputed",
    "dispute.updated",
    "dispute.won",
    "dispute.lost",
];

/// Every payments route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(connector_accounts::api::routes())
        .merge(orders::api::routes())
        .merge(mandates::api::routes())
        .merge(disputes::api::routes())
}

/// The payments' routes that take no API key: pages a customer's browser
/// opens, and what connectors post to. Each checks its own signature.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(checkout::api::routes())
        .merge(notifications::api::routes())
        .merge(sandbox::routes())
}

/// Registers the payments' scheduled work: due orders and transaction
/// syncs, the sandbox's notifications, and the payments' purge.
pub fn jobs(registry: &mut JobRegistry) {
    registry.add_due_work(orders::jobs::DueOrders);
    registry.add::<sandbox::notify::SandboxNotify>();
    registry.add::<purge::PurgePayments>();
}

/// The connectors this server runs with (added to the state at start).
pub fn connectors(state: &AppState) -> &ConnectorRegistry {
    state.part::<Arc<ConnectorRegistry>>()
}
