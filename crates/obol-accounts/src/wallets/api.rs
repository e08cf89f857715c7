//! `/v1/customers/{id}/wallet`.

use crate::wallets::{self, GrantCredit, Wallet};
use axum::Json;
use axum::extract::{Path, State};
use obol_core::CustomerId;
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::ApiJson;
use obol_kernel::idempotency::RequestKey;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_wallet))
        .routes(routes!(grant_credit))
}

/// The customer's wallet: per currency what it can spend, paid and granted.
#[utoipa::path(get, path = "/v1/customers/{id}/wallet", tag = "wallets",
    params(("id" = String, Path, description = "the customer")),
    responses((status = 200, body = Wallet), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_wallet(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Wallet>> {
    Ok(Json(
        wallets::get(&state, &auth.brand_id, &CustomerId::from(id.as_str())).await?,
    ))
}

/// Grants credit (from `promotions`), kept apart from paid credit; with
/// `expires_at`, what is left of it is removed then. Owner or developer.
#[utoipa::path(post, path = "/v1/customers/{id}/wallet/credits", tag = "wallets",
    params(("id" = String, Path, description = "the customer")),
    request_body = GrantCredit,
    responses((status = 200, body = Wallet), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn grant_credit(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
    RequestKey(key): RequestKey,
    ApiJson(input): ApiJson<GrantCredit>,
) -> ApiResult<Json<Wallet>> {
    Ok(Json(
        wallets::grant(
            &state,
            &auth.brand_id,
            &CustomerId::from(id.as_str()),
            input,
            key.as_ref(),
        )
        .await?,
    ))
}
