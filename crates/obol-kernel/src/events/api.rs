//! `/v1/events`.

use crate::auth::BrandAuth;
use crate::error::{ApiResult, ErrorBody};
use crate::events::{self, Event, EventFilter};
use crate::extract::QueryParams;
use crate::list::List;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use obol_core::{CustomerId, EventId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
}

/// The brand's events, newest first; filters `type`, `object_id`, `customer_id`.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(("type" = Option<String>, Query), ("object_id" = Option<String>, Query), ("customer_id" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Event>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_events(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Event>>> {
    let request = query.list(|query| {
        Ok(EventFilter {
            event_type: query.take("type")?,
            object_id: query.take("object_id")?,
            customer_id: query.take("customer_id")?.map(CustomerId::from),
        })
    })?;
    Ok(Json(events::list(&state, &auth.brand_id, request).await?))
}

/// One event.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "event id")),
    responses((status = 200, body = Event), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_event(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Event>> {
    Ok(Json(events::get(&state, &auth.brand_id, &id).await?))
}
