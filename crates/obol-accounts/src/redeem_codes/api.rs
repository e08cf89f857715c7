//! `/v1/redeem_codes`.

use crate::redeem_codes::{self, CreateRedeemCode, Redeem, RedeemCode};
use crate::wallets::Wallet;
use axum::Json;
use axum::extract::{Path, State};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::idempotency::RequestKey;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_code, list_codes))
        .routes(routes!(get_code))
        .routes(routes!(disable_code))
        .routes(routes!(redeem_code))
}

/// Creates a redeem code: a given one (unique per brand) or an unguessable
/// generated one (`XXXX-XXXX-XXXX-XXXX`).
#[utoipa::path(post, path = "/v1/redeem_codes", tag = "redeem_codes", request_body = CreateRedeemCode,
    responses((status = 200, body = RedeemCode), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_code(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateRedeemCode>,
) -> ApiResult<Json<RedeemCode>> {
    Ok(Json(
        redeem_codes::create(&state, &auth.brand_id, input).await?,
    ))
}

/// The brand's redeem codes, newest first.
#[utoipa::path(get, path = "/v1/redeem_codes", tag = "redeem_codes",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<RedeemCode>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_codes(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<RedeemCode>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        redeem_codes::list(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// One redeem code.
#[utoipa::path(get, path = "/v1/redeem_codes/{id}", tag = "redeem_codes",
    params(("id" = String, Path)),
    responses((status = 200, body = RedeemCode), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_code(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<RedeemCode>> {
    Ok(Json(redeem_codes::get(&state, &auth.brand_id, &id).await?))
}

/// Disables a redeem code; one disabled already is 409.
#[utoipa::path(post, path = "/v1/redeem_codes/{id}/disable", tag = "redeem_codes",
    params(("id" = String, Path)),
    responses((status = 200, body = RedeemCode), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn disable_code(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<RedeemCode>> {
    Ok(Json(
        redeem_codes::disable(&state, &auth.brand_id, &id).await?,
    ))
}

/// Redeems a code for a customer: granted credit in their wallet, once per
/// customer; refused with 400 `redeem_code_invalid`, `_disabled`,
/// `_expired`, `_exhausted` or `_already_redeemed`; too many failed
/// attempts (per customer, per key) → 429 with `Retry-After`.
#[utoipa::path(post, path = "/v1/redeem_codes/redeem", tag = "redeem_codes", request_body = Redeem,
    responses((status = 200, body = Wallet), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
async fn redeem_code(
    State(state): State<AppState>,
    auth: BrandAuth,
    RequestKey(key): RequestKey,
    ApiJson(input): ApiJson<Redeem>,
) -> ApiResult<Json<Wallet>> {
    Ok(Json(
        redeem_codes::redeem(&state, &auth.brand_id, &auth.key_id, input, key.as_ref()).await?,
    ))
}
