//! `/v1/events`.

use crate::auth::BrandAuth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::Event;
use crate::extract::{QueryParams, unknown_cursor};
use crate::list::List;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use obol_store::events::EventFilter;
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
    mut query: QueryParams,
) -> ApiResult<Json<List<Event>>> {
    let page = query.page()?;
    let filter = EventFilter {
        event_type: query.take("type")?,
        object_id: query.take("object_id")?,
        customer_id: query.take("customer_id")?,
    };
    query.finish()?;
    crate::events::sequence(&state, &auth.brand_id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    if let Some(customer_id) = &filter.customer_id
        && obol_store::customers::get(&mut conn, &auth.brand_id, customer_id)
            .await?
            .is_none()
    {
        return Err(ApiError::not_found("customer", customer_id).with_param("customer_id"));
    }
    let after_sequence = match &page.starting_after {
        None => None,
        Some(after) => obol_store::events::get(&mut conn, &auth.brand_id, after)
            .await?
            .and_then(|event| event.sequence)
            .map(Some)
            .ok_or_else(|| unknown_cursor(after))?,
    };
    let rows = obol_store::events::list(
        &mut conn,
        &auth.brand_id,
        &filter,
        after_sequence,
        page.limit,
    )
    .await?;
    let data = rows
        .data
        .into_iter()
        .map(Event::try_from)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(List::new(data, rows.has_more)))
}

/// One event.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "event id")),
    responses((status = 200, body = Event), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_event(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Event>> {
    crate::events::sequence(&state, &auth.brand_id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    let row = obol_store::events::get(&mut conn, &auth.brand_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("event", &id))?;
    Ok(Json(Event::try_from(row)?))
}
