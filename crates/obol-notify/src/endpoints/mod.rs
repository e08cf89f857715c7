//! Webhook endpoints: where a brand wants its events, which ones, and the
//! secrets that sign them; the service behind `/v1/webhook_endpoints`.

pub(crate) mod api;

use crate::error::{Error, Result};
use obol_core::time::HOUR_MS;
use obol_core::validate;
use obol_core::{BrandId, Timestamp, WebhookEndpointId};
use obol_kernel::list::{self, List};
use obol_kernel::outbound::Refused;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::page::PageRequest;
use obol_store::webhooks::EndpointRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const ENABLED: &str = "enabled";
pub const DISABLED: &str = "disabled";
pub const FAILING: &str = "failing";

/// How long the secret a rotation replaced keeps signing beside the new one.
pub const ROTATION_OVERLAP_MS: i64 = 24 * HOUR_MS;

/// The `events` value that takes every event type.
const EVERY_EVENT: &str = "*";

/// A webhook endpoint as the API shows it; `secret` only in the answers
/// that made it (creation, rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: String,
    /// Always `webhook_endpoint`.
    pub object: &'static str,
    pub url: String,
    /// `["*"]` or event types.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// `enabled`, `disabled` (by staff, or at once on a `410 Gone`) or
    /// `failing` (a delivery ran out of retries; it still receives events,
    /// and a delivery that succeeds enables it again).
    pub status: String,
    /// `whsec_…`: in the create and rotate answers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the secret a rotation replaced still signs beside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_secret_expires_at: Option<Timestamp>,
    /// True in the answer of `DELETE`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    pub fn from_row(row: &EndpointRow, now: Timestamp) -> Result<Self> {
        Ok(WebhookEndpoint {
            id: row.id.to_string(),
            object: "webhook_endpoint",
            url: row.url.clone(),
            events: serde_json::from_str(&row.events).map_err(Error::internal)?,
            description: row.description.clone(),
            status: row.status.clone(),
            secret: None,
            previous_secret_expires_at: row
                .previous_secret_expires_at
                .filter(|until| *until > now.as_ms())
                .map(Timestamp::from_ms),
            deleted: row.deleted_at.is_some(),
            created_at: Timestamp::from_ms(row.created_at),
            updated_at: Timestamp::from_ms(row.updated_at),
        })
    }
}

/// `POST /v1/webhook_endpoints`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// An http(s) URL that does not reach a private network.
    pub url: String,
    /// `["*"]` for every event, or a list of event types.
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// `PATCH /v1/webhook_endpoints/{id}`: absent fields stay; `null` clears
/// `description`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpoint {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// `enabled` or `disabled`.
    pub status: Option<String>,
}

/// A URL deliveries may go to: http(s), and (unless the server allows
/// private networks) not an address, nor a name resolving to one, that is
/// private, loopback, link-local or multicast.
async fn target_url(state: &AppState, param: &str, value: &str) -> Result<String> {
    let url = validate::url(param, value)?;
    match crate::outbound(state).check_url_resolved(&url).await {
        // A name that does not resolve now may later: every attempt is
        // checked on the address it connects to.
        Ok(_) | Err(Refused::Unresolved { .. }) => Ok(url),
        Err(refused) => Err(Error::invalid(param, refused.to_string())),
    }
}

/// `["*"]`, or known event types with duplicates folded, as JSON text.
fn event_types(state: &AppState, given: &[String]) -> Result<String> {
    if given.is_empty() {
        return Err(Error::invalid(
            "events",
            "events must be [\"*\"] or name at least one event type",
        ));
    }
    if given.iter().any(|t| t == EVERY_EVENT) {
        if given.len() > 1 {
            return Err(Error::invalid(
                "events",
                "events is either [\"*\"] alone or a list of event types",
            ));
        }
        return Ok(format!("[\"{EVERY_EVENT}\"]"));
    }
    let known = crate::notify(state).event_types();
    let mut types: Vec<&str> = Vec::with_capacity(given.len());
    for (index, event_type) in given.iter().enumerate() {
        if !known.contains(&event_type.as_str()) {
            return Err(Error::invalid(
                format!("events[{index}]"),
                format!("{event_type} is not an event type; see GET /v1/events for the types"),
            ));
        }
        if !types.contains(&event_type.as_str()) {
            types.push(event_type);
        }
    }
    serde_json::to_string(&types).map_err(Error::internal)
}

fn description(value: &str) -> Result<String> {
    Ok(validate::text("description", value, 1, 500)?)
}

fn status(value: &str) -> Result<&'static str> {
    match value {
        ENABLED => Ok(ENABLED),
        DISABLED => Ok(DISABLED),
        _ => Err(Error::invalid(
            "status",
            "status must be enabled or disabled",
        )),
    }
}

/// Whether the endpoint takes events of `event_type`.
pub fn takes(row: &EndpointRow, event_type: &str) -> bool {
    let Ok(types) = serde_json::from_str::<Vec<String>>(&row.events) else {
        return false;
    };
    types.iter().any(|t| t == EVERY_EVENT || t == event_type)
}

/// The secrets that sign a delivery now: the endpoint's, and the one a
/// rotation replaced while its overlap lasts.
pub fn signing_secrets(state: &AppState, row: &EndpointRow, now: Timestamp) -> Result<Vec<String>> {
    let open = |ciphertext: &str| {
        state
            .master_key
            .decrypt(ciphertext)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| Error::internal(format!("secret of {} does not decrypt", row.id)))
    };
    let mut secrets = vec![open(&row.secret_ciphertext)?];
    if let (Some(previous), Some(until)) = (
        &row.previous_secret_ciphertext,
        row.previous_secret_expires_at,
    ) && until > now.as_ms()
    {
        secrets.push(open(previous)?);
    }
    Ok(secrets)
}

pub async fn create(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateWebhookEndpoint,
) -> Result<WebhookEndpoint> {
    let url = target_url(state, "url", &input.url).await?;
    let events = event_types(state, &input.events)?;
    let description = input.description.as_deref().map(description).transpose()?;
    let now = state.now();
    let secret = obol_kernel::crypto::new_webhook_secret();
    let row = EndpointRow {
        id: WebhookEndpointId::new(),
        brand_id: brand_id.clone(),
        url,
        description,
        events,
        status: ENABLED.into(),
        secret_ciphertext: state.master_key.encrypt(secret.as_bytes()),
        previous_secret_ciphertext: None,
        previous_secret_expires_at: None,
        deleted_at: None,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    let mut tx = state.db.begin().await?;
    obol_store::webhooks::lock_brand(&mut tx, state.db.backend, brand_id).await?;
    if obol_store::webhooks::count_endpoints(&mut tx, brand_id).await?
        >= obol_store::webhooks::ENDPOINTS_PER_BRAND_MAX
    {
        return Err(Error::invalid_state(format!(
            "a brand may have at most {} webhook endpoints",
            obol_store::webhooks::ENDPOINTS_PER_BRAND_MAX
        )));
    }
    obol_store::webhooks::insert_endpoint(&mut tx, &row).await?;
    tx.commit().await?;
    let mut view = WebhookEndpoint::from_row(&row, now)?;
    view.secret = Some(secret);
    Ok(view)
}

/// A live (not deleted) endpoint of the brand, or not found.
pub(crate) async fn load(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &WebhookEndpointId,
) -> Result<EndpointRow> {
    obol_store::webhooks::get_endpoint(conn, brand_id, id)
        .await?
        .filter(|row| row.deleted_at.is_none())
        .ok_or_else(|| Error::not_found("webhook_endpoint", id))
}

/// Like `load`, locking the row for a change (PostgreSQL): concurrent
/// changes of one endpoint take turns instead of writing over each other.
async fn load_for_change(
    state: &AppState,
    tx: &mut Conn,
    brand_id: &BrandId,
    id: &WebhookEndpointId,
) -> Result<EndpointRow> {
    obol_store::webhooks::get_endpoint_for_update(tx, state.db.backend, brand_id, id)
        .await?
        .filter(|row| row.deleted_at.is_none())
        .ok_or_else(|| Error::not_found("webhook_endpoint", id))
}

/// Whether `id` names a live endpoint of the brand (a list cursor or filter).
pub(crate) async fn exists(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> obol_store::Result<bool> {
    Ok(
        obol_store::webhooks::get_endpoint(conn, brand_id, &WebhookEndpointId::from(id))
            .await?
            .is_some_and(|row| row.deleted_at.is_none()),
    )
}

pub async fn get(
    state: &AppState,
    brand_id: &BrandId,
    id: &WebhookEndpointId,
) -> Result<WebhookEndpoint> {
    let mut conn = state.db.pool.acquire().await?;
    let row = load(&mut conn, brand_id, id).await?;
    WebhookEndpoint::from_row(&row, state.now())
}

pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<WebhookEndpoint>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| exists(conn, brand_id, after).await,
        async |conn, page| obol_store::webhooks::list_endpoints(conn, brand_id, page).await,
    )
    .await?;
    let now = state.now();
    List::of(rows, |row| WebhookEndpoint::from_row(&row, now))
}

/// Applies a PATCH. Disabling ends the endpoint's pending attempts as
/// failed; enabling a failing endpoint clears the mark.
pub async fn update(
    state: &AppState,
    brand_id: &BrandId,
    id: &WebhookEndpointId,
    input: UpdateWebhookEndpoint,
) -> Result<WebhookEndpoint> {
    let url = match &input.url {
        Some(url) => Some(target_url(state, "url", url).await?),
        None => None,
    };
    let events = input
        .events
        .as_deref()
        .map(|given| event_types(state, given))
        .transpose()?;
    let new_description = input
        .description
        .map(|value| value.as_deref().map(description).transpose())
        .transpose()?;
    let new_status = input.status.as_deref().map(status).transpose()?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = load_for_change(state, &mut tx, brand_id, id).await?;
    if let Some(url) = url {
        row.url = url;
    }
    if let Some(events) = events {
        row.events = events;
    }
    if let Some(value) = new_description {
        row.description = value;
    }
    if let Some(value) = new_status {
        if value == DISABLED && row.status != DISABLED {
            obol_store::webhooks::fail_pending_of_endpoint(
                &mut tx,
                id,
                "the endpoint was disabled",
                now.as_ms(),
            )
            .await?;
        }
        row.status = value.into();
    }
    row.updated_at = now.as_ms();
    obol_store::webhooks::update_endpoint(&mut tx, &row).await?;
    tx.commit().await?;
    WebhookEndpoint::from_row(&row, now)
}

/// Deletes an endpoint: it receives nothing more, its pending attempts end
/// as failed, and its deliveries stay on record.
pub async fn delete(
    state: &AppState,
    brand_id: &BrandId,
    id: &WebhookEndpointId,
) -> Result<WebhookEndpoint> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = load_for_change(state, &mut tx, brand_id, id).await?;
    obol_store::webhooks::fail_pending_of_endpoint(
        &mut tx,
        id,
        "the endpoint was deleted",
        now.as_ms(),
    )
    .await?;
    row.deleted_at = Some(now.as_ms());
    row.status = DISABLED.into();
    row.updated_at = now.as_ms();
    obol_store::webhooks::update_endpoint(&mut tx, &row).await?;
    tx.commit().await?;
    WebhookEndpoint::from_row(&row, now)
}

/// A new secret; the one it replaces keeps signing beside it for
/// `ROTATION_OVERLAP_MS` (a second rotation within that time drops the
/// oldest).
pub async fn rotate_secret(
    state: &AppState,
    brand_id: &BrandId,
    id: &WebhookEndpointId,
) -> Result<WebhookEndpoint> {
    let now = state.now();
    let secret = obol_kernel::crypto::new_webhook_secret();
    let mut tx = state.db.begin().await?;
    let mut row = load_for_change(state, &mut tx, brand_id, id).await?;
    row.previous_secret_ciphertext = Some(std::mem::replace(
        &mut row.secret_ciphertext,
        state.master_key.encrypt(secret.as_bytes()),
    ));
    row.previous_secret_expires_at = Some(now.as_ms() + ROTATION_OVERLAP_MS);
    row.updated_at = now.as_ms();
    obol_store::webhooks::update_endpoint(&mut tx, &row).await?;
    tx.commit().await?;
    let mut view = WebhookEndpoint::from_row(&row, now)?;
    view.secret = Some(secret);
    Ok(view)
}
