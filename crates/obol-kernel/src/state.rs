//! `AppState`: what every handler and job shares.

use crate::clock::{Clock, TestClock};
use crate::crypto::MasterKey;
use crate::jobs::JobRegistry;
use crate::outbound::Outbound;
use obol_store::Db;
use std::sync::Arc;

/// The test hooks `OBOL_FAILPOINT` may name (see `Config::failpoint`).
pub const FAILPOINTS: &[&str] = &[
    "pause_before_connector_call",
    "pause_after_connector_call",
    "pause_before_storing_answer",
    "delay_connector_call",
    "fail_step_3",
    "fail_store_answer",
    "hold_connector_call",
    "order_expires_during_call",
    "order_expires_then_crash",
    "invoice_finalize_fails",
];

/// Server configuration, from the environment and flags.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: String,
    /// Base URL used in links; defaults to `http://` + the listen address.
    pub public_url: Option<String>,
    /// The platform admin key; when unset, one is generated on first start.
    pub admin_key: Option<String>,
    pub test_clock: bool,
    /// How often the job worker looks for due jobs.
    pub job_poll_interval_ms: u64,
    /// `OBOL_MASTER_KEY`: base64 or hex of 32 bytes. Required on PostgreSQL;
    /// on SQLite a key file beside the database is made when unset.
    pub master_key: Option<String>,
    /// Obol's timeout for one connector call.
    pub connector_timeout_ms: u64,
    /// A test hook (`OBOL_FAILPOINT`): `pause_after_connector_call` stops
    /// every payment operation between the connector call and step 3,
    /// `pause_before_connector_call` between step 1 and the call, and
    /// `pause_before_storing_answer` every keyed request between its end and
    /// the storing of its answer; `delay_connector_call` starts each call
    /// only after its window; one-shot: `fail_step_3` and
    /// `fail_store_answer` make the first step 3, or the first storing of an
    /// idempotent answer, fail after the connector moved money,
    /// `hold_connector_call` holds the first connector call past the
    /// idempotency stale window, `order_expires_during_call` expires the
    /// first confirmed order while its call is out, and
    /// `order_expires_then_crash` does so and sends no return of its late
    /// payment, as if the process died after step 3.
    pub failpoint: Option<String>,
    /// `OBOL_ALLOW_PRIVATE_NETWORK` (or `OBOL_WEBHOOK_ALLOW_PRIVATE`): outbound
    /// requests may reach loopback, private, link-local and multicast
    /// addresses (tests, a private deployment).
    pub allow_private_network: bool,
    /// `OBOL_SMTP_URL`: the SMTP server emails go through (`smtp://` with
    /// STARTTLS when offered, `smtps://`); none: emails are recorded, not sent.
    pub smtp_url: Option<String>,
}

impl Config {
    pub fn new(database_url: impl Into<String>) -> Config {
        Config {
            database_url: database_url.into(),
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            admin_key: None,
            test_clock: false,
            job_poll_interval_ms: 250,
            master_key: None,
            connector_timeout_ms: 30_000,
            failpoint: None,
            allow_private_network: false,
            smtp_url: None,
        }
    }
}

/// Shared state: the database, the clock and the job handlers.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// Set when the server runs on the test clock.
    pub test_clock: Option<Arc<TestClock>>,
    pub jobs: Arc<JobRegistry>,
    /// SHA-256 of `OBOL_ADMIN_KEY`, when it is set.
    pub admin_key_hash: Option<String>,
    pub public_url: Arc<str>,
    /// What each domain adds to the shared state at start (its registries,
    /// its settings), one value per type; see `AppState::part`.
    pub parts: Arc<axum::http::Extensions>,
    pub master_key: Arc<MasterKey>,
    /// Obol's timeout for one connector call.
    pub connector_timeout_ms: u64,
    pub failpoint: Option<Arc<str>>,
    /// Whether the one-shot failpoint is still to fire (set at start; a
    /// test may disarm it for its set-up and arm it again).
    pub failpoint_armed: Arc<std::sync::atomic::AtomicBool>,
    pub caches: Arc<crate::cache::Caches>,
    /// The client of every outbound request (webhooks, callbacks,
    /// connectors' `api_base`), guarded against private networks.
    pub outbound: Outbound,
}

/// Extra time after the call timeout before the sync job asks the connector.
pub const SYNC_MARGIN_MS: i64 = 30_000;

impl AppState {
    /// How long after its transaction's creation a connector call may still
    /// be running: the call timeout plus the sync margin.
    pub fn call_window_ms(&self) -> i64 {
        i64::try_from(self.connector_timeout_ms).unwrap_or(i64::MAX / 4) + SYNC_MARGIN_MS
    }

    pub fn now(&self) -> obol_core::Timestamp {
        self.clock.now()
    }

    /// The part of type `T` a domain added at start.
    pub fn part<T: Clone + Send + Sync + 'static>(&self) -> &T {
        self.parts
            .get::<T>()
            .expect("every part is added by the server at start")
    }

    /// True the first time a one-shot failpoint `name` is reached in this
    /// process, when `OBOL_FAILPOINT` names it.
    pub fn failpoint_once(&self, name: &str) -> bool {
        self.failpoint.as_deref() == Some(name)
            && self
                .failpoint_armed
                .swap(false, std::sync::atomic::Ordering::SeqCst)
    }
}
