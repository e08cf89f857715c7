//! `/v1/orders`, `/v1/transactions` and `/v1/refunds`.

use crate::orders::payment::ConfirmInput;
use crate::orders::refunds::CreateRefund;
use crate::orders::views::OrderView;
use crate::orders::{
    self, CreateOrder, Order, OrderFilter, PaymentMethodInput, Refund, Transaction, UpdateOrder,
    operations, payment, refunds, views,
};
use axum::Json;
use axum::extract::{Path, State};
use obol_core::Timestamp;
use obol_core::{CustomerId, OrderId, RefundId, TransactionId};
use obol_kernel::auth::{BrandAuth, OrderCaller, constant_time_eq};
use obol_kernel::error::{ApiError, ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::idempotency::RequestKey;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order, update_order))
        .routes(routes!(confirm_order))
        .routes(routes!(capture_order))
        .routes(routes!(increment_authorization))
        .routes(routes!(void_order))
        .routes(routes!(reverse_order))
        .routes(routes!(sync_order))
        .routes(routes!(list_transactions))
        .routes(routes!(get_transaction))
        .routes(routes!(create_refund, list_refunds))
        .routes(routes!(get_refund))
}

/// `POST /v1/orders/{id}/confirm`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmOrder {
    pub payment_method: PaymentMethodInput,
    pub connector_account_id: Option<String>,
    /// Needed with a publishable key.
    pub client_secret: Option<String>,
}

/// `POST /v1/orders/{id}/capture`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureOrder {
    /// Default: all of the authorization.
    pub amount: Option<i64>,
}

/// `POST /v1/orders/{id}/increment_authorization`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncrementAuthorization {
    /// The new authorized total, above the current one.
    pub amount: i64,
}

/// A body with no fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Creates an order; with `confirm: true` also pays it (a decline answers 402
/// naming the created order).
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = CreateOrder,
    responses((status = 200, body = Order), (status = 400, body = ErrorBody), (status = 402, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_order(
    State(state): State<AppState>,
    auth: BrandAuth,
    RequestKey(key): RequestKey,
    ApiJson(input): ApiJson<CreateOrder>,
) -> ApiResult<Json<Order>> {
    Ok(Json(
        orders::create(&state, &auth.brand_id, input, "api", key.as_ref()).await?,
    ))
}

fn time_param(query: &mut QueryParams, name: &str) -> ApiResult<Option<i64>> {
    query
        .take(name)?
        .map(|text| {
            Timestamp::parse_rfc3339(&text)
                .map(Timestamp::as_ms)
                .ok_or_else(|| ApiError::invalid(name, format!("{name} must be an RFC 3339 time")))
        })
        .transpose()
}

/// Orders, newest first; filters `status`, `customer_id`, `type`, `created[gte]`, `created[lt]`.
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    params(("status" = Option<String>, Query), ("customer_id" = Option<String>, Query), ("type" = Option<String>, Query),
           ("created[gte]" = Option<String>, Query), ("created[lt]" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Order>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_orders(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Order>>> {
    let request = query.list(|query| {
        Ok(OrderFilter {
            status: query.take("status")?,
            customer_id: query.take("customer_id")?.map(CustomerId::from),
            order_type: query.take("type")?,
            created_gte: time_param(query, "created[gte]")?,
            created_lt: time_param(query, "created[lt]")?,
        })
    })?;
    Ok(Json(orders::list(&state, &auth.brand_id, request).await?))
}

/// The order as `caller` may read it: a publishable key gets the checkout
/// view only.
fn view_for(caller: &OrderCaller, order: Order) -> OrderView {
    match caller {
        OrderCaller::Secret(_) => OrderView::Order(Box::new(order)),
        OrderCaller::Publishable { .. } => OrderView::Checkout(Box::new(order.into())),
    }
}

/// A publishable key acts on one order only: the one its client secret names.
fn check_client_secret(
    state: &AppState,
    caller: &OrderCaller,
    order_id: &OrderId,
    client_secret: Option<&str>,
) -> ApiResult<()> {
    if let OrderCaller::Publishable { .. } = caller {
        let given = client_secret.ok_or_else(|| {
            ApiError::unauthenticated("a publishable key needs the order's client_secret")
        })?;
        if !constant_time_eq(given, &views::client_secret(state, order_id)) {
            return Err(ApiError::not_found("order", order_id));
        }
    }
    Ok(())
}

/// An order with every payment transaction and its history. With a
/// publishable key, `client_secret` must name this order, and the answer is
/// its checkout view (`CheckoutOrder`).
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = String, Path), ("client_secret" = Option<String>, Query, description = "with a publishable key")),
    responses((status = 200, body = OrderView, description = "the order (`Order`); with a publishable key its checkout view (`CheckoutOrder`)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_order(
    State(state): State<AppState>,
    caller: OrderCaller,
    Path(id): Path<OrderId>,
    mut query: QueryParams,
) -> ApiResult<Json<OrderView>> {
    let client_secret = query.take("client_secret")?;
    query.finish()?;
    check_client_secret(&state, &caller, &id, client_secret.as_deref())?;
    let order = orders::get(&state, caller.brand_id(), &id).await?;
    Ok(Json(view_for(&caller, order)))
}

/// Changes description, metadata, URLs; amount and items before any payment attempt.
#[utoipa::path(patch, path = "/v1/orders/{id}", tag = "orders", params(("id" = String, Path)), request_body = UpdateOrder,
    responses((status = 200, body = Order), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_order(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<OrderId>,
    ApiJson(input): ApiJson<UpdateOrder>,
) -> ApiResult<Json<Order>> {
    Ok(Json(
        orders::update(&state, &auth.brand_id, &id, input).await?,
    ))
}

/// Pays an order: sale with auto capture, else an authorization. With a
/// publishable key, the answer is the order's checkout view.
#[utoipa::path(post, path = "/v1/orders/{id}/confirm", tag = "orders", params(("id" = String, Path)), request_body = ConfirmOrder,
    responses((status = 200, body = OrderView, description = "the order (`Order`); with a publishable key its checkout view (`CheckoutOrder`)"), (status = 400, body = ErrorBody), (status = 402, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn confirm_order(
    State(state): State<AppState>,
    caller: OrderCaller,
    Path(id): Path<OrderId>,
    RequestKey(key): RequestKey,
    ApiJson(input): ApiJson<ConfirmOrder>,
) -> ApiResult<Json<OrderView>> {
    check_client_secret(&state, &caller, &id, input.client_secret.as_deref())?;
    let trigger = match &caller {
        OrderCaller::Secret(_) => "api",
        OrderCaller::Publishable { .. } => {
            if input.connector_account_id.is_some() {
                return Err(ApiError::unauthenticated(
                    "a publishable key cannot choose the connector account",
                ));
            }
            if !matches!(input.payment_method.method_type.as_str(), "card" | "crypto") {
                return Err(ApiError::unauthenticated(
                    "a publishable key pays with card or crypto only",
                ));
            }
            "checkout"
        }
    };
    let confirm = ConfirmInput {
        payment_method: input.payment_method,
        connector_account_id: input.connector_account_id,
        trigger: trigger.into(),
        idempotency_key: key,
    };
    let order = payment::confirm(&state, caller.brand_id(), &id, confirm).await?;
    Ok(Json(view_for(&caller, order)))
}

/// Captures all or part of an authorization; the rest is released.
#[utoipa::path(post, path = "/v1/orders/{id}/capture", tag = "orders", params(("id" = String, Path)), request_body = CaptureOrder,
    responses((status = 200, body = Order), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn capture_order(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<OrderId>,
    RequestKey(key): RequestKey,
    ApiJson(input): ApiJson<CaptureOrder>,
) -> ApiResult<Json<Order>> {
    Ok(Json(
        operations::capture(&state, &auth.brand_id, &id, input.amount, key.as_ref()).await?,
    ))
}

/// Raises an authorization to a new total.
#[utoipa::path(post, path = "/v1/orders/{id}/increment_authorization", tag = "orders", params(("id" = String, Path)), request_body = IncrementAuthorization,
    responses((status = 200, body = Order), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn increment_authorization(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<OrderId>,
    RequestKey(key): RequestKey,
    ApiJson(input): ApiJson<IncrementAuthorization>,
) -> ApiResult<Json<Order>> {
    Ok(Json(
        operations::increment(&state, &auth.brand_id, &id, input.amount, key.as_ref()).await?,
    ))
}

/// Cancels an unpaid order or releases an authorization.
#[utoipa::path(post, path = "/v1/orders/{id}/void", tag = "orders", params(("id" = String, Path)), request_body = Empty,
    responses((status = 200, body = Order), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn void_order(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<OrderId>,
    RequestKey(key): RequestKey,
    ApiJson(_input): ApiJson<Empty>,
) -> ApiResult<Json<Order>> {
    Ok(Json(
        operations::void(&state, &auth.brand_id, &id, "api", key.as_ref()).await?,
    ))
}

/// Returns all of a paid, uncleared, unrefunded order.
#[utoipa::path(post, path = "/v1/orders/{id}/reverse", tag = "orders", params(("id" = String, Path)), request_body = Empty,
    responses((status = 200, body = Order), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reverse_order(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<OrderId>,
    RequestKey(key): RequestKey,
    ApiJson(_input): ApiJson<Empty>,
) -> ApiResult<Json<Order>> {
    Ok(Json(
        operations::reverse(&state, &auth.brand_id, &id, key.as_ref()).await?,
    ))
}

/// Asks the connector about `pending` and `unknown` transactions now.
#[utoipa::path(post, path = "/v1/orders/{id}/sync", tag = "orders", params(("id" = String, Path)), request_body = Empty,
    responses((status = 200, body = Order), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn sync_order(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<OrderId>,
    ApiJson(_input): ApiJson<Empty>,
) -> ApiResult<Json<Order>> {
    Ok(Json(operations::sync(&state, &auth.brand_id, &id).await?))
}

/// Payment transactions, newest first; `order_id` filters.
#[utoipa::path(get, path = "/v1/transactions", tag = "transactions",
    params(("order_id" = Option<String>, Query), ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Transaction>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_transactions(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Transaction>>> {
    let request = query.list(|query| query.take("order_id"))?;
    Ok(Json(
        views::transactions(&state, &auth.brand_id, request).await?,
    ))
}

/// One payment transaction with its status history.
#[utoipa::path(get, path = "/v1/transactions/{id}", tag = "transactions", params(("id" = String, Path)),
    responses((status = 200, body = Transaction), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_transaction(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<TransactionId>,
) -> ApiResult<Json<Transaction>> {
    Ok(Json(views::transaction(&state, &auth.brand_id, &id).await?))
}

/// Refunds all or part of a captured order.
#[utoipa::path(post, path = "/v1/refunds", tag = "refunds", request_body = CreateRefund,
    responses((status = 200, body = Refund), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_refund(
    State(state): State<AppState>,
    auth: BrandAuth,
    RequestKey(key): RequestKey,
    ApiJson(input): ApiJson<CreateRefund>,
) -> ApiResult<Json<Refund>> {
    Ok(Json(
        refunds::create(&state, &auth.brand_id, input, key.as_ref()).await?,
    ))
}

/// Refunds, newest first; `order_id` filters.
#[utoipa::path(get, path = "/v1/refunds", tag = "refunds",
    params(("order_id" = Option<String>, Query), ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Refund>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_refunds(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Refund>>> {
    let request = query.list(|query| query.take("order_id"))?;
    Ok(Json(views::refunds(&state, &auth.brand_id, request).await?))
}

/// One refund.
#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "refunds", params(("id" = String, Path)),
    responses((status = 200, body = Refund), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_refund(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<RefundId>,
) -> ApiResult<Json<Refund>> {
    Ok(Json(views::refund(&state, &auth.brand_id, &id).await?))
}
