//! Deliveries of events to webhook endpoints and order callbacks: one row
//! per attempt. `fanout` makes them from the outbox, `send` makes the
//! attempts; this module lists them and starts new ones on request.

pub(crate) mod api;
pub mod fanout;
pub mod schedule;
pub mod send;
pub mod signing;

use crate::endpoints::{self, WebhookEndpoint};
use crate::error::{Error, Result};
use obol_core::{BrandId, EventId, Timestamp, WebhookDeliveryId, WebhookEndpointId};
use obol_kernel::events;
use obol_kernel::list::{self, List};
use obol_kernel::state::AppState;
use obol_store::events::EventRow;
use obol_store::page::PageRequest;
use obol_store::webhooks::{DeliveryRow, EndpointRow};
use serde::Serialize;
use utoipa::ToSchema;

/// The target of a callback delivery: the URL, marked so that it never
/// equals an endpoint id.
pub fn callback_target(url: &str) -> String {
    format!("callback:{url}")
}

/// A delivery attempt as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: String,
    /// Always `webhook_delivery`.
    pub object: &'static str,
    pub event_id: String,
    pub event_type: String,
    /// The endpoint; null for an order's `callback_url`.
    pub endpoint_id: Option<String>,
    pub url: String,
    /// 1 for the first attempt of a message.
    pub attempt: i64,
    /// `pending` (not made yet), `succeeded` (2xx) or `failed`.
    pub status: String,
    /// The receiver's answer status; null when none came (refused, timed out).
    pub http_status: Option<i64>,
    /// The start of the receiver's answer body.
    pub response_excerpt: Option<String>,
    pub duration_ms: Option<i64>,
    /// Why the attempt failed, when no answer says it.
    pub error: Option<String>,
    /// When the next attempt is made, on a failed one that is retried.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    /// When a pending attempt is due; null while it waits behind an
    /// earlier message about the same object to this endpoint.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub attempted_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<&DeliveryRow> for WebhookDelivery {
    fn from(row: &DeliveryRow) -> Self {
        WebhookDelivery {
            id: row.id.to_string(),
            object: "webhook_delivery",
            event_id: row.event_id.to_string(),
            event_type: row.event_type.clone(),
            endpoint_id: row.endpoint_id.as_ref().map(ToString::to_string),
            url: row.url.clone(),
            attempt: row.attempt,
            status: row.status.clone(),
            http_status: row.http_status,
            response_excerpt: row.response_excerpt.clone(),
            duration_ms: row.duration_ms,
            error: row.error.clone(),
            next_attempt_at: row.next_attempt_at.map(Timestamp::from_ms),
            scheduled_at: row.run_at.map(Timestamp::from_ms),
            attempted_at: row.attempted_at.map(Timestamp::from_ms),
            created_at: Timestamp::from_ms(row.created_at),
        }
    }
}

/// The first attempt of a new message: `event` to `target` at `url`, due
/// at `now`.
pub fn first_attempt(
    event: &EventRow,
    sequence: i64,
    endpoint_id: Option<&WebhookEndpointId>,
    target: String,
    url: &str,
    now: Timestamp,
) -> DeliveryRow {
    let id = WebhookDeliveryId::new();
    DeliveryRow {
        message_id: id.clone(),
        id,
        brand_id: event.brand_id.clone(),
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        endpoint_id: endpoint_id.cloned(),
        target,
        url: url.to_owned(),
        object_id: event.object_id.clone(),
        sequence,
        attempt: 1,
        status: "pending".into(),
        run_at: Some(now.as_ms()),
        lease_until: None,
        attempted_at: None,
        http_status: None,
        response_excerpt: None,
        duration_ms: None,
        error: None,
        next_attempt_at: None,
        created_at: now.as_ms(),
    }
}

/// The messages an event makes: one per endpoint that takes its type, and
/// one to the `callback_url` of the object it reports, when it has one.
pub fn messages_for(
    event: &EventRow,
    sequence: i64,
    endpoints: &[EndpointRow],
    now: Timestamp,
) -> Vec<DeliveryRow> {
    let mut rows: Vec<DeliveryRow> = endpoints
        .iter()
        .filter(|endpoint| endpoints::takes(endpoint, &event.event_type))
        .map(|endpoint| {
            first_attempt(
                event,
                sequence,
                Some(&endpoint.id),
                endpoint.id.to_string(),
                &endpoint.url,
                now,
            )
        })
        .collect();
    if let Some(url) = callback_url(event) {
        rows.push(first_attempt(
            event,
            sequence,
            None,
            callback_target(&url),
            &url,
            now,
        ));
    }
    rows
}

/// The `callback_url` of the object an event reports (an order's), if any.
fn callback_url(event: &EventRow) -> Option<String> {
    let data: serde_json::Value = serde_json::from_str(&event.data).ok()?;
    data["object"]["callback_url"]
        .as_str()
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
}

/// An endpoint's attempts, newest first.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    endpoint_id: &WebhookEndpointId,
    page: &PageRequest,
) -> Result<List<WebhookDelivery>> {
    let mut conn = state.db.pool.acquire().await?;
    endpoints::load(&mut conn, brand_id, endpoint_id).await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| {
            Ok(
                obol_store::webhooks::get(conn, &WebhookDeliveryId::from(after))
                    .await?
                    .is_some_and(|row| row.endpoint_id.as_ref() == Some(endpoint_id)),
            )
        },
        async |conn, page| obol_store::webhooks::list_of_endpoint(conn, endpoint_id, page).await,
    )
    .await?;
    Ok(List::mapped(rows, |row| WebhookDelivery::from(&row)))
}

/// Delivers an event again now: a new message to every endpoint that takes
/// it and to its callback URL, whatever became of the earlier ones.
pub async fn resend(
    state: &AppState,
    brand_id: &BrandId,
    event_id: &EventId,
) -> Result<List<WebhookDelivery>> {
    // Numbered first: a new event is resent with its final sequence.
    events::sequence(state, brand_id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let event = obol_store::events::get(&mut tx, brand_id, event_id)
        .await?
        .ok_or_else(|| Error::not_found("event", event_id))?;
    let sequence = event
        .sequence
        .ok_or_else(|| Error::internal("event read before it was numbered"))?;
    let mut endpoints = obol_store::webhooks::receiving_endpoints(&mut tx, brand_id).await?;
    let rows = if event.event_type == PING {
        // A ping is for its own endpoint only.
        endpoints.retain(|endpoint| endpoint.id == event.object_id.as_str());
        endpoints
            .iter()
            .map(|endpoint| {
                let target = endpoint.id.to_string();
                first_attempt(
                    &event,
                    sequence,
                    Some(&endpoint.id),
                    target,
                    &endpoint.url,
                    now,
                )
            })
            .collect()
    } else {
        messages_for(&event, sequence, &endpoints, now)
    };
    obol_store::webhooks::insert_deliveries(&mut tx, &rows).await?;
    tx.commit().await?;
    let data = rows.iter().map(WebhookDelivery::from).collect();
    Ok(List::new(data, false))
}

/// Sends a `ping` event to one endpoint (whatever types it takes): an event
/// on record, delivered to this endpoint only.
pub async fn ping(
    state: &AppState,
    brand_id: &BrandId,
    endpoint_id: &WebhookEndpointId,
) -> Result<WebhookDelivery> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let endpoint = endpoints::load(&mut tx, brand_id, endpoint_id).await?;
    if endpoint.status == endpoints::DISABLED {
        return Err(Error::invalid_state(format!(
            "webhook endpoint {endpoint_id} is disabled; enable it to test it"
        )));
    }
    let view = WebhookEndpoint::from_row(&endpoint, now)?;
    let event = events::record(&mut tx, brand_id, PING, endpoint_id, None, &view, now).await?;
    // A ping is about its endpoint only: no earlier message to wait for.
    let row = first_attempt(
        &event,
        0,
        Some(endpoint_id),
        endpoint_id.to_string(),
        &endpoint.url,
        now,
    );
    obol_store::webhooks::insert_deliveries(&mut tx, std::slice::from_ref(&row)).await?;
    tx.commit().await?;
    Ok(WebhookDelivery::from(&row))
}

/// The event type of `ping`; fan-out sends it nowhere else.
pub const PING: &str = "ping";
