//! Notifications: webhook endpoints, the fan-out of outbox events to them
//! and to order callbacks, signed deliveries with retries, and emails over
//! SMTP rendered from brands' templates. It reads events
//! as opaque JSON and knows no other domain: the event types it offers come
//! from the domains at start (`Notify::new`).

pub mod deliveries;
pub mod emails;
pub mod endpoints;
pub mod error;

pub use emails::smtp::Mailer;
pub use error::{Error, Result};

use deliveries::send::InFlight;
use obol_kernel::AppState;
use obol_kernel::jobs::JobRegistry;
use obol_kernel::outbound::Outbound;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// Event types notifications record itself.
pub const EVENT_TYPES: &[&str] = &[
    deliveries::send::ENDPOINT_FAILING,
    deliveries::send::ENDPOINT_DISABLED,
];

/// What notifications keeps beside the state: the event types endpoints may
/// ask for, and the attempts this process has in flight.
pub struct Notify {
    event_types: Vec<&'static str>,
    pub(crate) in_flight: Arc<InFlight>,
    last_fanout: std::sync::Mutex<Option<std::time::Instant>>,
    last_compose: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Notify {
    /// `event_types`: every type the domains record.
    pub fn new(event_types: impl IntoIterator<Item = &'static str>) -> Notify {
        let mut event_types: Vec<&'static str> = event_types.into_iter().collect();
        event_types.extend_from_slice(EVENT_TYPES);
        event_types.sort_unstable();
        event_types.dedup();
        Notify {
            event_types,
            in_flight: Arc::default(),
            last_fanout: std::sync::Mutex::default(),
            last_compose: std::sync::Mutex::default(),
        }
    }

    /// Whether a fan-out step may run now, at least `interval` after the
    /// last one of this process (and, if so, notes it as started).
    pub(crate) fn fanout_due(&self, interval: std::time::Duration) -> bool {
        step_due(&self.last_fanout, interval)
    }

    /// The same for the emails' compose step.
    pub(crate) fn compose_due(&self, interval: std::time::Duration) -> bool {
        step_due(&self.last_compose, interval)
    }

    pub fn event_types(&self) -> &[&'static str] {
        &self.event_types
    }
}

/// Whether a step noted in `last` may run, and if so notes it as started.
fn step_due(
    last: &std::sync::Mutex<Option<std::time::Instant>>,
    interval: std::time::Duration,
) -> bool {
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_some_and(|at| at.elapsed() < interval) {
        return false;
    }
    *last = Some(std::time::Instant::now());
    true
}

pub(crate) fn notify(state: &AppState) -> &Notify {
    state.part::<Arc<Notify>>()
}

pub(crate) fn outbound(state: &AppState) -> &Outbound {
    &state.outbound
}

/// Every notifications route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(endpoints::api::routes())
        .merge(deliveries::api::routes())
        .merge(emails::api::routes())
}

/// Registers the fan-out, the attempts, and the emails as due work (the
/// fan-out first: it numbers the events that emails are composed from).
pub fn jobs(registry: &mut JobRegistry) {
    registry.add_due_work(deliveries::fanout::Fanout);
    registry.add_due_work(deliveries::send::DueDeliveries);
    registry.add_due_work(emails::compose::ComposeEmails);
    registry.add_due_work(emails::send::DueEmails);
}

/// At start, once the state holds the `Mailer`: says when emails are not
/// sent, and otherwise sends those kept while no SMTP server was set.
pub async fn start(state: &AppState) -> obol_store::Result<()> {
    if emails::send::mailer(state).transport().is_none() {
        tracing::warn!(
            "no SMTP server configured (OBOL_SMTP_URL): emails are recorded but not sent"
        );
        return Ok(());
    }
    let released = emails::send::release_waiting(state).await?;
    tracing::info!(released, "emails are sent over SMTP (OBOL_SMTP_URL)");
    Ok(())
}
