//! What every Obol domain shares: the state, errors and their mapping to the
//! contract, auth, extractors, lists, idempotency, the clock, crypto, the
//! event outbox, the job runtime and the outbound HTTP client. It knows no
//! domain.

pub mod api;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod jobs;
pub mod list;
pub mod outbound;
pub mod request_log;
pub mod state;
pub mod web;

pub use crate::error::{ApiError, ApiResult};
pub use crate::state::{AppState, Config};
