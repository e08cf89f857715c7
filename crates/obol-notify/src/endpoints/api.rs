//! `/v1/webhook_endpoints`.

use crate::endpoints::{self, CreateWebhookEndpoint, UpdateWebhookEndpoint, WebhookEndpoint};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use obol_core::WebhookEndpointId;
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::idempotency::SealedAnswer;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook_endpoint, list_webhook_endpoints))
        .routes(routes!(
            get_webhook_endpoint,
            update_webhook_endpoint,
            delete_webhook_endpoint
        ))
        .routes(routes!(rotate_webhook_secret))
}

/// Adds an endpoint; its `secret` is in this answer only.
#[utoipa::path(post, path = "/v1/webhook_endpoints", tag = "webhooks",
    request_body = CreateWebhookEndpoint,
    responses((status = 200, body = WebhookEndpoint), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_webhook_endpoint(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateWebhookEndpoint>,
) -> ApiResult<(Extension<SealedAnswer>, Json<WebhookEndpoint>)> {
    let created = endpoints::create(&state, &auth.brand_id, input).await?;
    Ok((Extension(SealedAnswer), Json(created)))
}

/// The brand's endpoints, newest first.
#[utoipa::path(get, path = "/v1/webhook_endpoints", tag = "webhooks",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<WebhookEndpoint>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_webhook_endpoints(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<WebhookEndpoint>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        endpoints::list(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// An endpoint (never its secret).
#[utoipa::path(get, path = "/v1/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook endpoint id")),
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_webhook_endpoint(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<WebhookEndpointId>,
) -> ApiResult<Json<WebhookEndpoint>> {
    Ok(Json(endpoints::get(&state, &auth.brand_id, &id).await?))
}

/// Changes an endpoint; `status: enabled` takes a disabled or failing one back.
#[utoipa::path(patch, path = "/v1/webhook_endpoints/{id}", tag = "webhooks",
    request_body = UpdateWebhookEndpoint,
    params(("id" = String, Path, description = "webhook endpoint id")),
    responses((status = 200, body = WebhookEndpoint), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_webhook_endpoint(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<WebhookEndpointId>,
    ApiJson(input): ApiJson<UpdateWebhookEndpoint>,
) -> ApiResult<Json<WebhookEndpoint>> {
    Ok(Json(
        endpoints::update(&state, &auth.brand_id, &id, input).await?,
    ))
}

/// Deletes an endpoint; its deliveries stay on record.
#[utoipa::path(delete, path = "/v1/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook endpoint id")),
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_webhook_endpoint(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<WebhookEndpointId>,
) -> ApiResult<Json<WebhookEndpoint>> {
    Ok(Json(endpoints::delete(&state, &auth.brand_id, &id).await?))
}

/// A new secret, in this answer only; the old one keeps signing beside it
/// for 24 hours.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/rotate_secret", tag = "webhooks",
    params(("id" = String, Path, description = "webhook endpoint id")),
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rotate_webhook_secret(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<WebhookEndpointId>,
) -> ApiResult<(Extension<SealedAnswer>, Json<WebhookEndpoint>)> {
    let rotated = endpoints::rotate_secret(&state, &auth.brand_id, &id).await?;
    Ok((Extension(SealedAnswer), Json(rotated)))
}
