//! `/v1/customers`.

use crate::customers::{self, CreateCustomer, Customer, CustomerFilter, UpdateCustomer};
use axum::Json;
use axum::extract::{Path, State};
use obol_core::{CustomerId, validate};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_customer, list_customers))
        .routes(routes!(get_customer, update_customer, delete_customer))
}

/// Creates a customer; emails are unique per brand (409 otherwise).
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = CreateCustomer,
    responses((status = 200, body = Customer), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_customer(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateCustomer>,
) -> ApiResult<Json<Customer>> {
    Ok(Json(
        customers::create(&state, &auth.brand_id, input).await?,
    ))
}

/// Live customers, newest first; `email` and `status` filter.
#[utoipa::path(get, path = "/v1/customers", tag = "customers",
    params(("email" = Option<String>, Query), ("status" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Customer>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_customers(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Customer>>> {
    let request = query.list(|query| {
        Ok(CustomerFilter {
            email: query
                .take("email")?
                .map(|e| validate::email("email", &e))
                .transpose()?,
            status: query.take("status")?,
        })
    })?;
    Ok(Json(
        customers::list(&state, &auth.brand_id, request).await?,
    ))
}

/// A customer (deleted ones show `deleted: true`).
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "customer id")),
    responses((status = 200, body = Customer), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_customer(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<CustomerId>,
) -> ApiResult<Json<Customer>> {
    Ok(Json(customers::get(&state, &auth.brand_id, &id).await?))
}

/// Changes a customer.
#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", request_body = UpdateCustomer,
    params(("id" = String, Path, description = "customer id")),
    responses((status = 200, body = Customer), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_customer(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<CustomerId>,
    ApiJson(input): ApiJson<UpdateCustomer>,
) -> ApiResult<Json<Customer>> {
    Ok(Json(
        customers::update(&state, &auth.brand_id, &id, input).await?,
    ))
}

/// Soft-deletes a customer: kept for the ledger, hidden from lists.
#[utoipa::path(delete, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "customer id")),
    responses((status = 200, body = Customer), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_customer(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<CustomerId>,
) -> ApiResult<Json<Customer>> {
    Ok(Json(customers::delete(&state, &auth.brand_id, &id).await?))
}
