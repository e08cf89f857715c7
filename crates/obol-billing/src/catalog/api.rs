//! `/v1/products`, `/v1/features`, `/v1/packages`, `/v1/prices`.

use crate::catalog::{
    self, CreateFeature, CreatePackage, CreatePrice, CreateProduct, Feature, Package, Price,
    Product, UpdatePackage, UpdatePrice, UpdateProduct,
};
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
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product))
        .routes(routes!(create_feature, list_features))
        .routes(routes!(get_feature))
        .routes(routes!(create_package, list_packages))
        .routes(routes!(get_package, update_package))
        .routes(routes!(create_price, list_prices))
        .routes(routes!(get_price, update_price))
}

/// Creates a product (`active` by default).
#[utoipa::path(post, path = "/v1/products", tag = "catalog", request_body = CreateProduct,
    responses((status = 200, body = Product), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_product(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateProduct>,
) -> ApiResult<Json<Product>> {
    Ok(Json(
        catalog::create_product(&state, &auth.brand_id, input).await?,
    ))
}

/// The brand's products, newest first.
#[utoipa::path(get, path = "/v1/products", tag = "catalog",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Product>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_products(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Product>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        catalog::list_products(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// One product.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "catalog",
    params(("id" = String, Path)),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_product(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Product>> {
    Ok(Json(
        catalog::get_product(&state, &auth.brand_id, &id).await?,
    ))
}

/// Changes a product: `name`, `description`, `active`, `metadata`.
#[utoipa::path(patch, path = "/v1/products/{id}", tag = "catalog", request_body = UpdateProduct,
    params(("id" = String, Path)),
    responses((status = 200, body = Product), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_product(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateProduct>,
) -> ApiResult<Json<Product>> {
    Ok(Json(
        catalog::update_product(&state, &auth.brand_id, &id, input).await?,
    ))
}

/// Creates a feature; keys are unique per brand (409 otherwise).
#[utoipa::path(post, path = "/v1/features", tag = "catalog", request_body = CreateFeature,
    responses((status = 200, body = Feature), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_feature(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateFeature>,
) -> ApiResult<Json<Feature>> {
    Ok(Json(
        catalog::create_feature(&state, &auth.brand_id, input).await?,
    ))
}

/// The brand's features, newest first.
#[utoipa::path(get, path = "/v1/features", tag = "catalog",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Feature>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_features(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Feature>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        catalog::list_features(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// One feature.
#[utoipa::path(get, path = "/v1/features/{id}", tag = "catalog",
    params(("id" = String, Path)),
    responses((status = 200, body = Feature), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_feature(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Feature>> {
    Ok(Json(
        catalog::get_feature(&state, &auth.brand_id, &id).await?,
    ))
}

/// Creates a package of one of the brand's products: the features it grants
/// (keys of the brand's features) and the license it issues, if any.
#[utoipa::path(post, path = "/v1/packages", tag = "catalog", request_body = CreatePackage,
    responses((status = 200, body = Package), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_package(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreatePackage>,
) -> ApiResult<Json<Package>> {
    Ok(Json(
        catalog::create_package(&state, &auth.brand_id, input).await?,
    ))
}

/// The brand's packages, newest first.
#[utoipa::path(get, path = "/v1/packages", tag = "catalog",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Package>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_packages(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Package>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        catalog::list_packages(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// One package.
#[utoipa::path(get, path = "/v1/packages/{id}", tag = "catalog",
    params(("id" = String, Path)),
    responses((status = 200, body = Package), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_package(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Package>> {
    Ok(Json(
        catalog::get_package(&state, &auth.brand_id, &id).await?,
    ))
}

/// Changes a package: `name`, `features` (the whole map), `license`.
#[utoipa::path(patch, path = "/v1/packages/{id}", tag = "catalog", request_body = UpdatePackage,
    params(("id" = String, Path)),
    responses((status = 200, body = Package), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_package(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdatePackage>,
) -> ApiResult<Json<Package>> {
    Ok(Json(
        catalog::update_package(&state, &auth.brand_id, &id, input).await?,
    ))
}

/// Creates a price of one of the brand's packages.
#[utoipa::path(post, path = "/v1/prices", tag = "catalog", request_body = CreatePrice,
    responses((status = 200, body = Price), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_price(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreatePrice>,
) -> ApiResult<Json<Price>> {
    Ok(Json(
        catalog::create_price(&state, &auth.brand_id, input).await?,
    ))
}

/// The brand's prices, newest first.
#[utoipa::path(get, path = "/v1/prices", tag = "catalog",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Price>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_prices(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Price>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        catalog::list_prices(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// One price.
#[utoipa::path(get, path = "/v1/prices/{id}", tag = "catalog",
    params(("id" = String, Path)),
    responses((status = 200, body = Price), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_price(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Price>> {
    Ok(Json(catalog::get_price(&state, &auth.brand_id, &id).await?))
}

/// Changes a price's `active` or `metadata`; its amount never changes (400).
#[utoipa::path(patch, path = "/v1/prices/{id}", tag = "catalog", request_body = UpdatePrice,
    params(("id" = String, Path)),
    responses((status = 200, body = Price), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_price(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdatePrice>,
) -> ApiResult<Json<Price>> {
    Ok(Json(
        catalog::update_price(&state, &auth.brand_id, &id, input).await?,
    ))
}
