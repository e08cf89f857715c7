//! `/v1/balance` and `/v1/ledger`: the brand's money and its double-entry
//! ledger, read only.

use crate::ledger::{
    self, AccountFilter, AccountType, Balance, EntryFilter, LedgerAccount, LedgerEntry,
};
use axum::Json;
use axum::extract::{Path, State};
use obol_core::{CustomerId, LedgerAccountId, LedgerEntryId, OrderId};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiError, ApiResult, ErrorBody};
use obol_kernel::extract::QueryParams;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
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
/// `available`, as positive amounts owed to the brand. With
/// `report_currency`, each amount also converted to it at the brand's
/// latest exchange rate in force (rounded half-even), and each side's
/// total; 400 naming `report_currency` when a held currency has no rate.
#[utoipa::path(get, path = "/v1/balance", tag = "ledger",
    params(("report_currency" = Option<String>, Query, description = "ISO 4217 code to report the balance in")),
    responses((status = 200, body = Balance), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_balance(
    State(state): State<AppState>,
    auth: BrandAuth,
    mut query: QueryParams,
) -> ApiResult<Json<Balance>> {
    let report = query.take("report_currency")?;
    query.finish()?;
    let balance = match report {
        None => ledger::balance(&state, &auth.brand_id).await?,
        Some(code) => {
            let report = obol_core::validate::currency("report_currency", &code)?;
            crate::exchange_rates::balance_in(&state, &auth.brand_id, report).await?
        }
    };
    Ok(Json(balance))
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
    query: QueryParams,
) -> ApiResult<Json<List<LedgerAccount>>> {
    let request = query.list(|query| {
        Ok(AccountFilter {
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
            customer_id: query.take("customer_id")?.map(CustomerId::from),
        })
    })?;
    Ok(Json(
        ledger::list_accounts(&state, &auth.brand_id, request).await?,
    ))
}

/// One ledger account.
#[utoipa::path(get, path = "/v1/ledger/accounts/{id}", tag = "ledger",
    params(("id" = String, Path, description = "ledger account id")),
    responses((status = 200, body = LedgerAccount), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_account(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<LedgerAccountId>,
) -> ApiResult<Json<LedgerAccount>> {
    Ok(Json(
        ledger::get_account(&state, &auth.brand_id, &id).await?,
    ))
}

/// The brand's ledger entries with their postings, newest first; filters
/// `account_id` (entries posting to it), `order_id` and `customer_id`. A parent brand also
/// sees its child brands' entries that move its commission, with only the
/// postings on its own accounts and no order or customer of the child.
#[utoipa::path(get, path = "/v1/ledger/entries", tag = "ledger",
    params(("account_id" = Option<String>, Query), ("order_id" = Option<String>, Query),
           ("customer_id" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<LedgerEntry>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_entries(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<LedgerEntry>>> {
    let request = query.list(|query| {
        Ok(EntryFilter {
            account_id: query.take("account_id")?.map(LedgerAccountId::from),
            order_id: query.take("order_id")?.map(OrderId::from),
            customer_id: query
                .take("customer_id")?
                .map(|id| CustomerId::from(id.as_str())),
        })
    })?;
    Ok(Json(
        ledger::list_entries(&state, &auth.brand_id, request).await?,
    ))
}

/// One ledger entry with its postings, as the entry list shows it.
#[utoipa::path(get, path = "/v1/ledger/entries/{id}", tag = "ledger",
    params(("id" = String, Path, description = "ledger entry id")),
    responses((status = 200, body = LedgerEntry), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_entry(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<LedgerEntryId>,
) -> ApiResult<Json<LedgerEntry>> {
    Ok(Json(ledger::get_entry(&state, &auth.brand_id, &id).await?))
}
