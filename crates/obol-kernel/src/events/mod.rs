//! Events: written to the outbox in the same transaction as their change.

use obol_core::{BrandId, CustomerId, EventId};
pub(crate) mod api;

pub use api::routes;
pub use obol_store::events::EventFilter;

use crate::error::{ApiError, ApiResult};
use crate::list::{self, List, ListRequest};
use crate::state::AppState;
use obol_core::Timestamp;
use obol_store::Conn;
use obol_store::events::EventRow;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Records an event about `object` (already rendered as its API view).
/// An event about `object` (already rendered), not yet written.
pub fn pending(
    brand_id: &BrandId,
    event_type: &str,
    object_id: &str,
    customer_id: Option<&CustomerId>,
    object: &impl Serialize,
    now: Timestamp,
) -> EventRow {
    EventRow {
        id: EventId::new(),
        brand_id: brand_id.to_owned(),
        sequence: None,
        event_type: event_type.to_owned(),
        object_id: object_id.to_owned(),
        customer_id: customer_id.cloned(),
        data: json!({ "object": object }).to_string(),
        created_at: now.as_ms(),
    }
}

/// Writes events made with `pending`, in one statement.
pub async fn record_all(conn: &mut Conn, events: &[EventRow]) -> Result<(), ApiError> {
    obol_store::events::insert_all(conn, events).await?;
    Ok(())
}

pub async fn record(
    conn: &mut Conn,
    brand_id: &BrandId,
    event_type: &str,
    object_id: &str,
    customer_id: Option<&CustomerId>,
    object: &impl Serialize,
    now: Timestamp,
) -> Result<EventRow, ApiError> {
    let mut event = pending(brand_id, event_type, object_id, customer_id, object, now);
    obol_store::events::insert(conn, &mut event).await?;
    Ok(event)
}

/// Numbers the brand's committed events that have no sequence yet, so that
/// readers see every event with its final number.
pub async fn sequence(state: &AppState, brand_id: &BrandId) -> Result<(), ApiError> {
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    if !obol_store::events::has_unsequenced(&mut conn, brand_id).await? {
        return Ok(());
    }
    drop(conn);
    let mut tx = state.db.begin().await?;
    obol_store::events::assign_sequences(&mut tx, state.db.backend, brand_id).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(())
}

/// A page of the brand's events, newest first: events continue after the
/// cursor's sequence, the order readers see them committed in.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<EventFilter>,
) -> ApiResult<List<Event>> {
    let ListRequest { page, filter } = request;
    sequence(state, brand_id).await?;
    let mut conn = state.db.pool.acquire().await?;
    let customer_id = filter.customer_id.as_deref();
    list::check_filter(
        &mut conn,
        "customer",
        customer_id,
        "customer_id",
        async |conn, id| {
            Ok(
                obol_store::customers::get(conn, brand_id, &CustomerId::from(id))
                    .await?
                    .is_some(),
            )
        },
    )
    .await?;
    let rows = list::fetch_after(
        &mut conn,
        &page,
        async |conn, after| {
            let event = obol_store::events::get(conn, brand_id, &EventId::from(after)).await?;
            Ok(event.and_then(|event| event.sequence))
        },
        async |conn, after_sequence| {
            obol_store::events::list(conn, brand_id, &filter, after_sequence, page.limit).await
        },
    )
    .await?;
    List::of(rows, Event::try_from)
}

/// One of the brand's events.
pub async fn get(state: &AppState, brand_id: &BrandId, id: &EventId) -> ApiResult<Event> {
    sequence(state, brand_id).await?;
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::events::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("event", id))?;
    Event::try_from(row)
}

/// An event as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    pub id: String,
    /// Always `event`.
    pub object: &'static str,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Increases with every event of the brand, in commit order.
    pub sequence: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// `{"object": …}`: the object as it was after the change.
    #[schema(value_type = Object)]
    pub data: Value,
}

impl TryFrom<EventRow> for Event {
    type Error = ApiError;

    fn try_from(row: EventRow) -> Result<Self, ApiError> {
        let data = serde_json::from_str(&row.data).map_err(ApiError::internal)?;
        Ok(Event {
            id: row.id.into_string(),
            object: "event",
            event_type: row.event_type,
            sequence: row
                .sequence
                .ok_or_else(|| ApiError::internal("event read before it was numbered"))?,
            created_at: Timestamp::from_ms(row.created_at),
            data,
        })
    }
}
