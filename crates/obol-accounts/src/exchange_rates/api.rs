//! `/v1/exchange_rates`.

use crate::exchange_rates::{self, CreateExchangeRate, ExchangeRate};
use axum::Json;
use axum::extract::State;
use obol_core::{Timestamp, validate};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiError, ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_rate, get_rates))
}

/// Records an exchange rate of the brand: `rate` units of `quote` for one
/// of `base`, in force from `valid_from` (default now) until a later one of
/// the same pair.
#[utoipa::path(post, path = "/v1/exchange_rates", tag = "exchange_rates", request_body = CreateExchangeRate,
    responses((status = 200, body = ExchangeRate), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_rate(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateExchangeRate>,
) -> ApiResult<Json<ExchangeRate>> {
    Ok(Json(
        exchange_rates::create(&state, &auth.brand_id, input).await?,
    ))
}

/// What `GET /v1/exchange_rates` answers: with `base` and `quote`, the one
/// rate in force; without, a page of the brand's rates.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ExchangeRates {
    InForce(ExchangeRate),
    Page(List<ExchangeRate>),
}

/// With `base` and `quote`: the brand's rate of that pair in force at `at`
/// (RFC 3339, default now), the one with the latest `valid_from` at or
/// before it (404 when none is). Without them: the brand's rates, newest
/// first, paged.
#[utoipa::path(get, path = "/v1/exchange_rates", tag = "exchange_rates",
    params(("base" = Option<String>, Query), ("quote" = Option<String>, Query),
           ("at" = Option<String>, Query, format = DateTime),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = ExchangeRates), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_rates(
    State(state): State<AppState>,
    auth: BrandAuth,
    mut query: QueryParams,
) -> ApiResult<Json<ExchangeRates>> {
    let base = query.take("base")?;
    let quote = query.take("quote")?;
    let at = query.take("at")?;
    match (base, quote) {
        (None, None) => {
            if at.is_some() {
                return Err(
                    ApiError::bad_request("parameter_missing", "at needs base and quote")
                        .with_param("base"),
                );
            }
            let request = query.list(|_| Ok(()))?;
            let page = exchange_rates::list(&state, &auth.brand_id, &request.page).await?;
            Ok(Json(ExchangeRates::Page(page)))
        }
        (Some(base), Some(quote)) => {
            query.finish()?;
            let base = validate::currency("base", &base)?;
            let quote = validate::currency("quote", &quote)?;
            let at = match at {
                None => state.now(),
                Some(text) => Timestamp::parse_rfc3339(&text)
                    .ok_or_else(|| ApiError::invalid("at", "at must be an RFC 3339 time"))?,
            };
            let rate = exchange_rates::in_force(&state, &auth.brand_id, base, quote, at).await?;
            Ok(Json(ExchangeRates::InForce(rate)))
        }
        (Some(_), None) => Err(missing("quote")),
        (None, Some(_)) => Err(missing("base")),
    }
}

/// 400 for a lookup that names one currency of the pair only.
fn missing(param: &str) -> ApiError {
    ApiError::bad_request(
        "parameter_missing",
        format!("{param} is missing: base and quote go together"),
    )
    .with_param(param)
}
