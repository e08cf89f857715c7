//! `/v1/balance` and `/v1/ledger`: the brand's money and its double-entry
//! ledger, read only.

use crate::ledger::{AccountType, Balance, LedgerAccount, LedgerEntry};
use axum::Json;
use axum::extract::{Path, State};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiError, ApiResult, ErrorBody};
use obol_kernel::extract::{QueryParams, check_cursor};
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use obol_store::ledger::{AccountFilter, EntryFilter};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_balance))
        .routes(routes!(list_accounts))
        .routes(routes!(get_account))
        .routes(routes!(list_entries))
        .routes(routes!(get_entry))
}

/// The brand's money per currency: `pending` (not yet cleared) and
/// `available`, as positive amounts owed to the brand.
#[utoipa::path(get, path = "/v1/balance", tag = "ledger",
    responses((status = 200, body = Balance)),
    security(("bearer" = [])))]
async fn get_balance(State(state): State<AppState>, auth: BrandAuth) -> ApiResult<Json<Balance>> {
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    let accounts = obol_store::ledger::brand_money_accounts(&mut conn, &auth.brand_id).await?;
    Ok(Json(Balance::from_accounts(accounts)?))
}

fn account_type(value: &str) -> ApiResult<String> {
    AccountType::parse(value)
        .map(|t| t.as_str().to_owned())
        .ok_or_else(|| {
            let names: Vec<&str> = AccountType::ALL.iter().map(|t| t.as_str()).collect();
            ApiError::invalid("type", format!("type must be one of {}", names.join(", ")))
        })
}

fn currency(value: &str) -> ApiResult<String> {
    Ok(obol_core::validate::currency("currency", value)?
        .code()
        .to_owned())
}

/// The brand's ledger accounts, newest first; filters `type`, `currency` and
/// `customer_id` (that customer's wallets).
#[utoipa::path(get, path = "/v1/ledger/accounts", tag = "ledger",
    params(("type" = Option<String>, Query), ("currency" = Option<String>, Query), ("customer_id" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<LedgerAccount>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_accounts(
    State(state): State<AppState>,
    auth: BrandAuth,
    mut query: QueryParams,
) -> ApiResult<Json<List<LedgerAccount>>> {
    let page = query.page()?;
    let filter = AccountFilter {
        account_type: query
            .take("type")?
            .as_deref()
            .map(account_type)
            .transpose()?,
        currency: query
            .take("currency")?
            .as_deref()
            .map(currency)
            .transpose()?,
        customer_id: query.take("customer_id")?,
    };
    query.finish()?;
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    if let Some(customer_id) = &filter.customer_id
        && obol_store::customers::get(&mut conn, &auth.brand_id, customer_id)
            .await?
            .is_none()
    {
        return Err(ApiError::not_found("customer", customer_id).with_param("customer_id"));
    }
    check_cursor(page.starting_after.as_deref(), |after| {
        obol_store::ledger::get_account(&mut conn, &auth.brand_id, after)
    })
    .await?;
    let rows = obol_store::ledger::list_accounts(&mut conn, &auth.brand_id, &filter, &page).await?;
    let data = rows.data.into_iter().map(LedgerAccount::from).collect();
    Ok(Json(List::new(data, rows.has_more)))
}

/// One ledger account.
#[utoipa::path(get, path = "/v1/ledger/accounts/{id}", tag = "ledger",
    params(("id" = String, Path, description = "ledger account id")),
    responses((status = 200, body = LedgerAccount), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_account(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<LedgerAccount>> {
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    let row = obol_store::ledger::get_account(&mut conn, &auth.brand_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("ledger account", &id))?;
    Ok(Json(LedgerAccount::from(row)))
}

/// The brand's ledger entries with their postings, newest first; filters
/// `account_id` (entries posting to it) and `order_id`. A parent brand also
/// sees its child brands' entries that move its commission, with only the
/// postings on its own accounts and no order or customer of the child.
#[utoipa::path(get, path = "/v1/ledger/entries", tag = "ledger",
    params(("account_id" = Option<String>, Query), ("order_id" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<LedgerEntry>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_entries(
    State(state): State<AppState>,
    auth: BrandAuth,
    mut query: QueryParams,
) -> ApiResult<Json<List<LedgerEntry>>> {
    let page = query.page()?;
    let filter = EntryFilter {
        account_id: query.take("account_id")?,
        order_id: query.take("order_id")?,
    };
    query.finish()?;
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    if let Some(account_id) = &filter.account_id
        && obol_store::ledger::get_account(&mut conn, &auth.brand_id, account_id)
            .await?
            .is_none()
    {
        return Err(ApiError::not_found("ledger account", account_id).with_param("account_id"));
    }
    if let Some(order_id) = &filter.order_id
        && obol_store::orders::get_order(&mut conn, &auth.brand_id, order_id)
            .await?
            .is_none()
    {
        return Err(ApiError::not_found("order", order_id).with_param("order_id"));
    }
    check_cursor(page.starting_after.as_deref(), |after| {
        obol_store::ledger::get_entry_seen_by(&mut conn, &auth.brand_id, after)
    })
    .await?;
    let rows =
        obol_store::ledger::list_entries_seen_by(&mut conn, &auth.brand_id, &filter, &page).await?;
    let data = crate::ledger::entries_seen_by(&mut conn, &auth.brand_id, rows.data).await?;
    Ok(Json(List::new(data, rows.has_more)))
}

/// One ledger entry with its postings, as the entry list shows it.
#[utoipa::path(get, path = "/v1/ledger/entries/{id}", tag = "ledger",
    params(("id" = String, Path, description = "ledger entry id")),
    responses((status = 200, body = LedgerEntry), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_entry(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<LedgerEntry>> {
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    let row = obol_store::ledger::get_entry_seen_by(&mut conn, &auth.brand_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("ledger entry", &id))?;
    let mut views = crate::ledger::entries_seen_by(&mut conn, &auth.brand_id, vec![row]).await?;
    let entry = views
        .pop()
        .ok_or_else(|| ApiError::internal("ledger entry view missing"))?;
    Ok(Json(entry))
}
