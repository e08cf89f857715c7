//! `/v1/brands` and `/v1/api_keys`.

use crate::brands::children::{self, ChildBrand};
use crate::brands::{self, ApiKey, Brand, CreateApiKey, CreateBrand, CreatedBrand, UpdateBrand};
use crate::ledger::Balance;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use obol_core::{ApiKeyId, BrandId, Role};
use obol_kernel::auth::{BrandAuth, Principal};
use obol_kernel::error::{ApiError, ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::idempotency::SealedAnswer;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_brand))
        .routes(routes!(get_brand, update_brand))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .routes(routes!(list_child_brands))
        .routes(routes!(get_child_brand_balance))
}

/// The brand a caller is confined to (none for the admin), and whether it
/// may see the webhook secret.
fn caller_brand(principal: &Principal) -> ApiResult<(Option<&BrandId>, bool)> {
    match principal {
        Principal::Admin => Ok((None, true)),
        Principal::Secret { brand_id, role, .. } => Ok((Some(brand_id), *role == Role::Owner)),
        Principal::Publishable { .. } => Err(ApiError::unauthenticated(
            "a publishable key cannot read brands",
        )),
    }
}

/// Creates a brand with its owner secret key and publishable key (admin key).
#[utoipa::path(post, path = "/v1/brands", tag = "brands", request_body = CreateBrand,
    responses((status = 200, body = CreatedBrand), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_brand(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CreateBrand>,
) -> ApiResult<(Extension<SealedAnswer>, Json<CreatedBrand>)> {
    let created = brands::create(&state.db, &state.master_key, state.now(), input).await?;
    Ok((Extension(SealedAnswer), Json(created)))
}

/// A brand: the admin key reads any, a brand key only its own.
#[utoipa::path(get, path = "/v1/brands/{id}", tag = "brands",
    params(("id" = String, Path, description = "brand id")),
    responses((status = 200, body = Brand), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_brand(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<BrandId>,
) -> ApiResult<Json<Brand>> {
    let (own, show_secret) = caller_brand(&principal)?;
    let row = brands::get(&state, &id, own).await?;
    Ok(Json(brands::view(&state, row, show_secret)?))
}

/// Changes a brand's settings (admin key, or the brand's owner).
#[utoipa::path(patch, path = "/v1/brands/{id}", tag = "brands", request_body = UpdateBrand,
    params(("id" = String, Path, description = "brand id")),
    responses((status = 200, body = Brand), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_brand(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<BrandId>,
    ApiJson(input): ApiJson<UpdateBrand>,
) -> ApiResult<Json<Brand>> {
    let (own, show_secret) = caller_brand(&principal)?;
    let row = brands::update(&state, &id, own, input).await?;
    Ok(Json(brands::view(&state, row, show_secret)?))
}

/// Creates a secret key with a role; the secret is in this answer only.
#[utoipa::path(post, path = "/v1/api_keys", tag = "api_keys", request_body = CreateApiKey,
    responses((status = 200, body = ApiKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_api_key(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateApiKey>,
) -> ApiResult<(Extension<SealedAnswer>, Json<ApiKey>)> {
    let created = brands::create_key(&state, &auth.brand_id, input).await?;
    Ok((Extension(SealedAnswer), Json(created)))
}

/// The brand's API keys, newest first (without secrets).
#[utoipa::path(get, path = "/v1/api_keys", tag = "api_keys",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<ApiKey>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_api_keys(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<ApiKey>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        brands::list_keys(&state, &auth.brand_id, request).await?,
    ))
}

/// Revokes a key: it authenticates nothing from now on.
#[utoipa::path(delete, path = "/v1/api_keys/{id}", tag = "api_keys",
    params(("id" = String, Path, description = "API key id")),
    responses((status = 200, body = ApiKey), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn revoke_api_key(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<ApiKeyId>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(brands::revoke_key(&state, &auth.brand_id, &id).await?))
}

/// The brand's child brands (resellers; owner key), newest first.
#[utoipa::path(get, path = "/v1/child_brands", tag = "brands",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<ChildBrand>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_child_brands(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<ChildBrand>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        children::list_children(&state, &auth.brand_id, request).await?,
    ))
}

/// A child brand's money, as `GET /v1/balance` shows it to the child.
#[utoipa::path(get, path = "/v1/child_brands/{id}/balance", tag = "brands",
    params(("id" = String, Path, description = "the child brand's id")),
    responses((status = 200, body = Balance), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_child_brand_balance(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<BrandId>,
) -> ApiResult<Json<Balance>> {
    Ok(Json(
        children::child_balance(&state, &auth.brand_id, &id).await?,
    ))
}
