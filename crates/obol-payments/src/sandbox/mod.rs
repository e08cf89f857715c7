//! The sandbox connector's side in Obol: its state over Obol's database,
//! the pages a real processor would serve (the 3-D Secure challenge, the
//! crypto invoice), and its notifications to Obol.

pub mod challenge;
pub mod crypto;
pub mod notify;
pub mod state;

pub use state::StoreSandboxState;

use obol_connectors::sandbox::Sandbox;
use obol_kernel::AppState;
use std::sync::Arc;
use std::sync::LazyLock;
use utoipa_axum::router::OpenApiRouter;

/// The sandbox's page templates, compiled into the binary.
const TEMPLATES: &[(&str, &str)] = &[
    ("challenge.html", include_str!("templates/challenge.html")),
    ("invoice.html", include_str!("templates/invoice.html")),
    (
        "sandbox_message.html",
        include_str!("templates/sandbox_message.html"),
    ),
];

pub(crate) static PAGES: LazyLock<minijinja::Environment<'static>> =
    LazyLock::new(|| obol_kernel::web::environment(TEMPLATES));

/// The sandbox this server runs (added to the state at start).
pub fn sandbox(state: &AppState) -> &Arc<Sandbox> {
    state.part::<Arc<Sandbox>>()
}

/// The sandbox's pages; no API key (the customer's browser reaches them).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(challenge::routes())
        .merge(crypto::routes())
}
