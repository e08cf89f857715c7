//! `/v1/connector_accounts` and `/v1/payment_methods`.

use crate::connector_accounts::{
    self, ConnectorAccount, CreateConnectorAccount, PaymentMethod, UpdateConnectorAccount,
};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use obol_core::{ConnectorAccountId, Currency};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiError, ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::idempotency::SealedAnswer;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_connector_account, list_connector_accounts))
        .routes(routes!(
            get_connector_account,
            update_connector_account,
            disable_connector_account
        ))
        .routes(routes!(list_payment_methods))
}

/// Adds an account at a payment provider; `credentials` are write-only and
/// encrypted at rest; `webhook_secret` is shown in this answer only.
#[utoipa::path(post, path = "/v1/connector_accounts", tag = "connector_accounts",
    request_body = CreateConnectorAccount,
    responses((status = 200, body = ConnectorAccount), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_connector_account(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateConnectorAccount>,
) -> ApiResult<(Extension<SealedAnswer>, Json<ConnectorAccount>)> {
    let created = connector_accounts::create(&state, &auth.brand_id, input).await?;
    Ok((Extension(SealedAnswer), Json(created)))
}

/// The brand's connector accounts, enabled and disabled, newest first.
#[utoipa::path(get, path = "/v1/connector_accounts", tag = "connector_accounts",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<ConnectorAccount>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_connector_accounts(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<ConnectorAccount>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        connector_accounts::list(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// A connector account (never its credentials).
#[utoipa::path(get, path = "/v1/connector_accounts/{id}", tag = "connector_accounts",
    params(("id" = String, Path, description = "connector account id")),
    responses((status = 200, body = ConnectorAccount), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_connector_account(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<ConnectorAccountId>,
) -> ApiResult<Json<ConnectorAccount>> {
    Ok(Json(
        connector_accounts::find(&state, &auth.brand_id, &id).await?,
    ))
}

/// Changes an account; `status: enabled` takes a disabled one back into routing.
#[utoipa::path(patch, path = "/v1/connector_accounts/{id}", tag = "connector_accounts",
    request_body = UpdateConnectorAccount,
    params(("id" = String, Path, description = "connector account id")),
    responses((status = 200, body = ConnectorAccount), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_connector_account(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<ConnectorAccountId>,
    ApiJson(input): ApiJson<UpdateConnectorAccount>,
) -> ApiResult<Json<ConnectorAccount>> {
    Ok(Json(
        connector_accounts::update(&state, &auth.brand_id, &id, input).await?,
    ))
}

/// Disables an account for new payments; capture, void, refund and sync of
/// its transactions still use it.
#[utoipa::path(delete, path = "/v1/connector_accounts/{id}", tag = "connector_accounts",
    params(("id" = String, Path, description = "connector account id")),
    responses((status = 200, body = ConnectorAccount), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn disable_connector_account(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<ConnectorAccountId>,
) -> ApiResult<Json<ConnectorAccount>> {
    Ok(Json(
        connector_accounts::disable(&state, &auth.brand_id, &id).await?,
    ))
}

/// The payment method types the brand can take for an order in `currency`:
/// each with its enabled accounts in routing order, and `wallet` when
/// `customer_id` names a live customer.
#[utoipa::path(get, path = "/v1/payment_methods", tag = "payment_methods",
    params(("currency" = String, Query, description = "ISO 4217, upper case"),
           ("amount" = Option<i64>, Query, description = "minor units"),
           ("customer_id" = Option<String>, Query)),
    responses((status = 200, body = List<PaymentMethod>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_payment_methods(
    State(state): State<AppState>,
    auth: BrandAuth,
    mut query: QueryParams,
) -> ApiResult<Json<List<PaymentMethod>>> {
    let currency = query.take("currency")?.ok_or_else(|| {
        ApiError::bad_request("parameter_missing", "missing required parameter: currency")
            .with_param("currency")
    })?;
    let currency = Currency::parse(&currency).ok_or_else(|| {
        ApiError::invalid(
            "currency",
            "currency must be an upper-case ISO 4217 code, like EUR",
        )
    })?;
    // Accepted and checked for the hosted page's sake; no method depends
    // on the amount yet.
    if let Some(amount) = query.take("amount")?
        && !amount.parse::<i64>().is_ok_and(|amount| amount > 0)
    {
        return Err(ApiError::invalid(
            "amount",
            "amount must be a positive integer",
        ));
    }
    // `customer_id=` left empty by a form means no customer.
    let customer_id = query.take("customer_id")?.filter(|id| !id.is_empty());
    query.finish()?;
    let data = connector_accounts::payment_methods_for(
        &state,
        &auth.brand_id,
        currency,
        customer_id.as_deref(),
    )
    .await?;
    Ok(Json(List::new(data, false)))
}
