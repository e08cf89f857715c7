//! `/v1/coupons`.

use crate::coupons::{self, Coupon, CreateCoupon};
use axum::Json;
use axum::extract::{Path, State};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_coupon, list_coupons))
        .routes(routes!(get_coupon))
        .routes(routes!(disable_coupon))
}

/// Creates a coupon: `percent_off` or `amount_off` with `currency`.
#[utoipa::path(post, path = "/v1/coupons", tag = "billing", request_body = CreateCoupon,
    responses((status = 200, body = Coupon), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_coupon(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateCoupon>,
) -> ApiResult<Json<Coupon>> {
    Ok(Json(coupons::create(&state, &auth.brand_id, input).await?))
}

/// The brand's coupons, newest first.
#[utoipa::path(get, path = "/v1/coupons", tag = "billing",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Coupon>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_coupons(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Coupon>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        coupons::list(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// One coupon, with how often it was redeemed.
#[utoipa::path(get, path = "/v1/coupons/{id}", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Coupon), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_coupon(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Coupon>> {
    Ok(Json(coupons::get(&state, &auth.brand_id, &id).await?))
}

/// Disables a coupon: no redemption after; discounts already given stay.
#[utoipa::path(post, path = "/v1/coupons/{id}/disable", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Coupon), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn disable_coupon(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Coupon>> {
    Ok(Json(coupons::disable(&state, &auth.brand_id, &id).await?))
}
