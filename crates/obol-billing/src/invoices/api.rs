//! `/v1/invoices` and `/v1/invoices/{id}/…`.

use super::credit_notes::{self, CreateCreditNote, CreditNote};
use super::{CreateInvoice, Invoice, PayInvoice, PayOption};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::idempotency::RequestKey;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use obol_store::billing::invoices::InvoiceFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invoice, list_invoices))
        .routes(routes!(get_invoice))
        .routes(routes!(finalize_invoice))
        .routes(routes!(pay_invoice))
        .routes(routes!(void_invoice))
        .routes(routes!(mark_uncollectible))
        .routes(routes!(pay_options))
        .routes(routes!(invoice_pdf))
        .routes(routes!(create_credit_note))
}

/// A one-off draft invoice: lines naming prices or described with their amounts.
#[utoipa::path(post, path = "/v1/invoices", tag = "billing", request_body = CreateInvoice,
    responses((status = 200, body = Invoice), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_invoice(
    State(state): State<AppState>,
    auth: BrandAuth,
    ApiJson(input): ApiJson<CreateInvoice>,
) -> ApiResult<Json<Invoice>> {
    Ok(Json(super::create(&state, &auth.brand_id, input).await?))
}

/// Invoices, newest first; filters `customer_id`, `status`, `subscription_id`.
#[utoipa::path(get, path = "/v1/invoices", tag = "billing",
    params(("customer_id" = Option<String>, Query), ("status" = Option<String>, Query),
           ("subscription_id" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Invoice>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_invoices(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Invoice>>> {
    let request = query.list(|query| {
        Ok(InvoiceFilter {
            customer_id: query.take("customer_id")?,
            status: query.take("status")?,
            subscription_id: query.take("subscription_id")?,
        })
    })?;
    Ok(Json(super::list(&state, &auth.brand_id, request).await?))
}

/// One invoice with its lines.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_invoice(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Invoice>> {
    Ok(Json(super::get(&state, &auth.brand_id, &id).await?))
}

/// Finalizes a draft: its number, due date, order and payment link; emailed
/// when sent. Not a draft: 409.
#[utoipa::path(post, path = "/v1/invoices/{id}/finalize", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn finalize_invoice(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Invoice>> {
    Ok(Json(super::finalize(&state, &auth.brand_id, &id).await?))
}

/// Pays an open invoice: with the wallet, a mandate or a card (default: the
/// wallet when it covers it, else the subscription's or customer's mandate).
#[utoipa::path(post, path = "/v1/invoices/{id}/pay", tag = "billing", params(("id" = String, Path)),
    request_body = PayInvoice,
    responses((status = 200, body = Invoice), (status = 400, body = ErrorBody), (status = 402, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn pay_invoice(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
    RequestKey(key): RequestKey,
    ApiJson(input): ApiJson<PayInvoice>,
) -> ApiResult<Json<Invoice>> {
    Ok(Json(
        super::pay(&state, &auth.brand_id, &id, input, key.as_ref()).await?,
    ))
}

/// Voids a draft, open or uncollectible invoice; its order is no longer payable.
#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn void_invoice(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Invoice>> {
    Ok(Json(super::void(&state, &auth.brand_id, &id).await?))
}

/// Writes off an open invoice; it stays payable.
#[utoipa::path(post, path = "/v1/invoices/{id}/mark_uncollectible", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn mark_uncollectible(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Invoice>> {
    Ok(Json(
        super::mark_uncollectible(&state, &auth.brand_id, &id).await?,
    ))
}

/// How the invoice can be paid now.
#[utoipa::path(get, path = "/v1/invoices/{id}/pay_options", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = List<PayOption>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn pay_options(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<List<PayOption>>> {
    Ok(Json(super::pay_options(&state, &auth.brand_id, &id).await?))
}

/// The issued invoice as a PDF, from the template version it names.
#[utoipa::path(get, path = "/v1/invoices/{id}/pdf", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, description = "the invoice (PDF)", content_type = "application/pdf"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn invoice_pdf(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (row, lines) = super::find(&state, &auth.brand_id, &id).await?;
    let payable = matches!(row.status.as_str(), "open" | "uncollectible");
    let url = row
        .order_id
        .as_ref()
        .filter(|_| payable)
        .map(|order_id| obol_payments::orders::views::payment_link(&state, order_id));
    let bytes = super::document::pdf(&row, &lines, url.as_deref())?;
    Ok(super::page::pdf_response(bytes))
}

/// A credit note on a paid invoice, to the wallet or back to the payment.
#[utoipa::path(post, path = "/v1/invoices/{id}/credit_notes", tag = "billing", params(("id" = String, Path)),
    request_body = CreateCreditNote,
    responses((status = 200, body = CreditNote), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_credit_note(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<String>,
    RequestKey(key): RequestKey,
    ApiJson(input): ApiJson<CreateCreditNote>,
) -> ApiResult<Json<CreditNote>> {
    Ok(Json(
        credit_notes::create(&state, &auth.brand_id, &id, input, key.as_ref()).await?,
    ))
}
