//! The hosted invoice page and its PDF for the customer, behind the
//! invoice's signed link (`hosted_invoice_url`): the invoice as issued, a
//! button to its order's payment page while it is payable.

use super::document;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::{Currency, InvoiceId, format_amount};
use obol_kernel::error::ApiError;
use obol_kernel::extract::QueryParams;
use obol_kernel::state::AppState;
use obol_kernel::web::{self, Page};
use obol_store::billing::invoices::{InvoiceLineRow, InvoiceRow};
use serde_json::json;
use std::sync::LazyLock;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

static PAGES: LazyLock<minijinja::Environment<'static>> =
    LazyLock::new(|| web::environment(&[("invoice.html", include_str!("templates/invoice.html"))]));

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(hosted_invoice_page))
        .routes(routes!(hosted_invoice_pdf))
}

/// The issued invoice behind a valid link; anything else is not found.
async fn signed(
    state: &AppState,
    id: &InvoiceId,
    mut query: QueryParams,
) -> Result<(InvoiceRow, Vec<InvoiceLineRow>), ApiError> {
    let sig = query.take("sig")?.unwrap_or_default();
    query.finish()?;
    let expected = super::page_signature(state, id);
    if !obol_kernel::auth::constant_time_eq(&sig, &expected) {
        return Err(ApiError::not_found("invoice", id));
    }
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    let row = obol_store::billing::invoices::find(&mut conn, id)
        .await?
        .filter(|row| row.status != "draft")
        .ok_or_else(|| ApiError::not_found("invoice", id))?;
    let lines = obol_store::billing::invoices::lines(&mut conn, &row.id).await?;
    Ok((row, lines))
}

fn pay_url(state: &AppState, row: &InvoiceRow) -> Option<String> {
    let payable = matches!(row.status.as_str(), "open" | "uncollectible");
    row.order_id
        .as_ref()
        .filter(|_| payable)
        .map(|order_id| obol_payments::orders::views::payment_link(state, order_id))
}

fn status_text(row: &InvoiceRow) -> &'static str {
    match row.status.as_str() {
        "paid" => "Paid. Thank you.",
        "void" => "This invoice was voided: nothing is due.",
        "uncollectible" | "open" => "Open: payment is due.",
        _ => "",
    }
}

fn error_page(error: ApiError) -> Response {
    let status = error.status();
    let message = if status == StatusCode::NOT_FOUND {
        "This invoice link is not valid. Ask the seller for a new one."
    } else {
        "Something went wrong on our side. Please try again in a moment."
    };
    (status, message).into_response()
}

async fn render(
    state: &AppState,
    id: &InvoiceId,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let (row, lines) = signed(state, id, query).await?;
    let currency =
        Currency::parse(&row.currency).ok_or_else(|| ApiError::internal("corrupt currency"))?;
    let doc = document::document(&row, &lines, None)?;
    let pay_url = pay_url(state, &row);
    let ctx = json!({
        "title": format!("Invoice {}", doc.number),
        "issuer": doc.brand_name,
        "number": doc.number,
        "status": row.status,
        "status_text": status_text(&row),
        "issued_on": doc.issued_on,
        "due_on": doc.due_on,
        "lines": doc.lines.iter().map(|line| json!({
            "description": line.description,
            "period": line.period,
            "quantity": line.quantity,
            "amount": line.amount,
        })).collect::<Vec<_>>(),
        "totals": doc.totals.iter().map(|total| json!({
            "label": total.label, "amount": total.amount, "emphasis": total.emphasis,
        })).collect::<Vec<_>>(),
        "amount_due": format_amount(row.total - row.amount_paid, currency),
        "pay_url": pay_url,
        "pdf_url": format!("/invoices/{}/pdf?sig={}", row.id, super::page_signature(state, &row.id)),
    });
    Ok(Page::render(&PAGES, "invoice.html", ctx)?.into_response())
}

/// The hosted invoice page behind `hosted_invoice_url`; a forged link is 404.
#[utoipa::path(get, path = "/invoices/{id}", tag = "pages",
    params(("id" = String, Path), ("sig" = String, Query, description = "the link's signature")),
    responses((status = 200, description = "the invoice page (HTML)", content_type = "text/html"),
        (status = 404, description = "no invoice behind this link")))]
async fn hosted_invoice_page(
    State(state): State<AppState>,
    Path(id): Path<InvoiceId>,
    query: QueryParams,
) -> Response {
    match render(&state, &id, query).await {
        Ok(response) => response,
        Err(error) => error_page(error),
    }
}

/// The invoice's PDF behind its page's link.
#[utoipa::path(get, path = "/invoices/{id}/pdf", tag = "pages",
    params(("id" = String, Path), ("sig" = String, Query, description = "the link's signature")),
    responses((status = 200, description = "the invoice (PDF)", content_type = "application/pdf"),
        (status = 404, description = "no invoice behind this link")))]
async fn hosted_invoice_pdf(
    State(state): State<AppState>,
    Path(id): Path<InvoiceId>,
    query: QueryParams,
) -> Response {
    let rendered = async {
        let (row, lines) = signed(&state, &id, query).await?;
        let url = pay_url(&state, &row);
        Ok::<_, ApiError>(document::pdf(&row, &lines, url.as_deref())?)
    };
    match rendered.await {
        Ok(bytes) => pdf_response(bytes),
        Err(error) => error_page(error),
    }
}

/// A PDF answer.
pub(crate) fn pdf_response(bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
