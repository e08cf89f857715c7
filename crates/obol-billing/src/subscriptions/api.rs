//! `/v1/subscriptions` and `/v1/subscriptions/{id}/…`.

use super::{CancelSubscription, ChangeSubscription, CreateSubscription, Subscription};
use axum::Json;
use axum::extract::{Path, State};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use obol_store::billing::subscriptions::SubscriptionFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_subscription, list_subscriptions))
        .routes(routes!(get_subscription))
        .routes(routes!(change_subscription))
        .routes(routes!(cancel_subscription))
        .routes(routes!(pause_subscription))
        .routes(routes!(resume_subscription))
}

/// Starts a subscription: its first invoice and order (or a trial).
#[utoipa::path(post, path = "/v1/subscriptions", tag = "billing", request_body = CreateSubscription,
    responses((status = 200, body = Subscription), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_subscription(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateSubscription>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(super::create(&state, &auth.brand_id, input).await?))
}

/// Subscriptions, newest first; filters `customer_id`, `status`.
#[utoipa::path(get, path = "/v1/subscriptions", tag = "billing",
    params(("customer_id" = Option<String>, Query), ("status" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Subscription>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_subscriptions(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Subscription>>> {
    let request = query.list(|query| {
        Ok(SubscriptionFilter {
            customer_id: query.take("customer_id")?,
            status: query.take("status")?,
        })
    })?;
    Ok(Json(super::list(&state, &auth.brand_id, request).await?))
}

/// One subscription.
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Subscription), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_subscription(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(super::get(&state, &auth.brand_id, &id).await?))
}

/// Changes the price: an upgrade now, prorated; a downgrade at the period's end.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/change", tag = "billing", params(("id" = String, Path)),
    request_body = ChangeSubscription,
    responses((status = 200, body = Subscription), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn change_subscription(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ChangeSubscription>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(
        super::change(&state, &auth.brand_id, &id, input).await?,
    ))
}

/// Cancels now (optionally crediting the unused time) or at the period's end.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/cancel", tag = "billing", params(("id" = String, Path)),
    request_body = CancelSubscription,
    responses((status = 200, body = Subscription), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn cancel_subscription(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CancelSubscription>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(
        super::cancel(&state, &auth.brand_id, &id, input).await?,
    ))
}

/// Pauses: no invoices until resumed.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/pause", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Subscription), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn pause_subscription(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(super::pause(&state, &auth.brand_id, &id).await?))
}

/// Resumes a paused subscription: a new period starts now, invoiced.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/resume", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Subscription), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn resume_subscription(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(super::resume(&state, &auth.brand_id, &id).await?))
}
