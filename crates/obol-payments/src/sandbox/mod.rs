//! The sandbox connector's side in Obol: its state over Obol's database,
//! and the pages a real processor would serve (the 3-D Secure challenge).

pub mod state;

pub use state::StoreSandboxState;

use obol_kernel::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The sandbox's pages; no API key (the customer's browser reaches them).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
