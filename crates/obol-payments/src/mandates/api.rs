//! `/v1/mandates`.

use crate::mandates::{self, Mandate};
use crate::orders::api::Empty;
use axum::Json;
use axum::extract::{Path, State};
use obol_core::{CustomerId, MandateId};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mandates))
        .routes(routes!(get_mandate))
        .routes(routes!(revoke_mandate))
}

/// Mandates, newest first; `customer_id` filters.
#[utoipa::path(get, path = "/v1/mandates", tag = "mandates",
    params(("customer_id" = Option<String>, Query), ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Mandate>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_mandates(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Mandate>>> {
    let request = query.list(|query| Ok(query.take("customer_id")?.map(CustomerId::from)))?;
    Ok(Json(mandates::list(&state, &auth.brand_id, request).await?))
}

/// One mandate: the card it charges, never the connector's token.
#[utoipa::path(get, path = "/v1/mandates/{id}", tag = "mandates", params(("id" = String, Path)),
    responses((status = 200, body = Mandate), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_mandate(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<MandateId>,
) -> ApiResult<Json<Mandate>> {
    Ok(Json(mandates::get(&state, &auth.brand_id, &id).await?))
}

/// Revokes a mandate for good: no charge of it starts after.
#[utoipa::path(post, path = "/v1/mandates/{id}/revoke", tag = "mandates", params(("id" = String, Path)), request_body = Empty,
    responses((status = 200, body = Mandate), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn revoke_mandate(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<MandateId>,
    ApiJson(_input): ApiJson<Empty>,
) -> ApiResult<Json<Mandate>> {
    Ok(Json(mandates::revoke(&state, &auth.brand_id, &id).await?))
}
