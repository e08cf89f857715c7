//! `/v1/tax_rates`.

use crate::tax_rates::{self, CreateTaxRate, TaxRate};
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
        .routes(routes!(create_tax_rate, list_tax_rates))
        .routes(routes!(get_tax_rate))
}

/// Sets the tax rate for customers of a country (superseding the one before).
#[utoipa::path(post, path = "/v1/tax_rates", tag = "billing", request_body = CreateTaxRate,
    responses((status = 200, body = TaxRate), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_tax_rate(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateTaxRate>,
) -> ApiResult<Json<TaxRate>> {
    Ok(Json(
        tax_rates::create(&state, &auth.brand_id, input).await?,
    ))
}

/// The brand's tax rates, newest first.
#[utoipa::path(get, path = "/v1/tax_rates", tag = "billing",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<TaxRate>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_tax_rates(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<TaxRate>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        tax_rates::list(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// One tax rate.
#[utoipa::path(get, path = "/v1/tax_rates/{id}", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = TaxRate), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_tax_rate(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<TaxRate>> {
    Ok(Json(tax_rates::get(&state, &auth.brand_id, &id).await?))
}
