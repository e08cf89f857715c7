//! The HTTP routes: thin handlers that parse, call a service and render.

pub mod brands;
pub mod connector_accounts;
pub mod customers;
pub mod events;
pub mod ledger;
pub mod orders;
pub mod system;

use crate::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

/// A page of a list: `{"object": "list", "data": [...], "has_more": bool}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T: ToSchema> List<T> {
    pub fn new(data: Vec<T>, has_more: bool) -> Self {
        List {
            object: "list",
            data,
            has_more,
        }
    }
}

/// Every authenticated `/v1` route.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(brands::routes())
        .merge(customers::routes())
        .merge(events::routes())
        .merge(connector_accounts::routes())
        .merge(ledger::routes())
        .merge(orders::routes())
        .merge(system::test_clock_routes())
}
