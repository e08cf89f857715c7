//! `/v1/webhook_endpoints/{id}/deliveries`, `/test`, and `/v1/events/{id}/resend`.

use crate::deliveries::{self, WebhookDelivery};
use axum::Json;
use axum::extract::{Path, State};
use obol_core::{EventId, WebhookEndpointId};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::QueryParams;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deliveries))
        .routes(routes!(test_webhook_endpoint))
        .routes(routes!(resend_event))
}

/// Every attempt to deliver to the endpoint, newest first.
#[utoipa::path(get, path = "/v1/webhook_endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "webhook endpoint id"),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<WebhookDelivery>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_deliveries(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<WebhookEndpointId>,
    query: QueryParams,
) -> ApiResult<Json<List<WebhookDelivery>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        deliveries::list(&state, &auth.brand_id, &id, &request.page).await?,
    ))
}

/// Sends a `ping` event to the endpoint; answers its first attempt, pending.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "webhook endpoint id")),
    responses((status = 200, body = WebhookDelivery), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn test_webhook_endpoint(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<WebhookEndpointId>,
) -> ApiResult<Json<WebhookDelivery>> {
    Ok(Json(deliveries::ping(&state, &auth.brand_id, &id).await?))
}

/// Delivers the event again now to every endpoint that takes it (and its
/// order's callback URL); answers the new attempts, pending.
#[utoipa::path(post, path = "/v1/events/{id}/resend", tag = "events",
    params(("id" = String, Path, description = "event id")),
    responses((status = 200, body = List<WebhookDelivery>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn resend_event(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<EventId>,
) -> ApiResult<Json<List<WebhookDelivery>>> {
    Ok(Json(deliveries::resend(&state, &auth.brand_id, &id).await?))
}
