//! `/v1/currencies`, `/v1/countries` and `/v1/time_zones`: read-only
//! constants that need no key.

use crate::reference::{self, Country, CurrencyInfo, TimeZone};
use axum::Json;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes that take no key (the server serves them beside `/health`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_currencies))
        .routes(routes!(list_countries))
        .routes(routes!(list_time_zones))
}

/// Every ISO 4217 currency the server accepts, by code, with its minor
/// units, name and symbol; all in one page. No key needed.
#[utoipa::path(get, path = "/v1/currencies", tag = "reference",
    responses((status = 200, body = List<CurrencyInfo>)))]
async fn list_currencies() -> Json<List<CurrencyInfo>> {
    Json(List::new(reference::currencies(), false))
}

/// Every ISO 3166-1 country, by alpha-2 code, with its default currency and
/// whether the EU VAT rules apply; all in one page. No key needed.
#[utoipa::path(get, path = "/v1/countries", tag = "reference",
    responses((status = 200, body = List<Country>)))]
async fn list_countries() -> Json<List<Country>> {
    Json(List::new(reference::countries(), false))
}

/// Every IANA time zone name, in order; all in one page. No key needed.
#[utoipa::path(get, path = "/v1/time_zones", tag = "reference",
    responses((status = 200, body = List<TimeZone>)))]
async fn list_time_zones() -> Json<List<TimeZone>> {
    Json(List::new(reference::time_zones(), false))
}
