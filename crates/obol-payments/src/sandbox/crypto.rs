//! The sandbox's crypto invoice page, served by Obol as a crypto
//! processor's would be: the deposit address and amount, and three ways to
//! pay it (exactly, half, 10 % more), then back to the payment's return.

use super::challenge::message_page;
use super::{PAGES, sandbox};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obol_connectors::sandbox::InvoicePayment;
use obol_connectors::sandbox::crypto::invoice_address;
use obol_connectors::sandbox::state::PaymentRow;
use obol_core::money::format_amount;
use obol_core::{Currency, Timestamp};
use obol_kernel::auth::constant_time_eq;
use obol_kernel::error::ApiError;
use obol_kernel::extract::QueryParams;
use obol_kernel::state::AppState;
use obol_kernel::web::{self, Page};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const TITLE: &str = "Sandbox crypto invoice";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(crypto_invoice_page, pay_crypto_invoice))
}

/// The form's token: only a visitor who loaded the page knows it.
fn form_token(state: &AppState, payment_id: &str) -> String {
    state
        .master_key
        .hmac_hex("sandbox_invoice", payment_id.as_bytes())
}

fn not_found() -> Response {
    message_page(StatusCode::NOT_FOUND, TITLE, "There is no invoice here.")
}

/// An amount in its currency's format.
fn money(amount: i64, currency: &str) -> String {
    Currency::parse(currency)
        .map(|currency| format_amount(amount, currency))
        .unwrap_or_else(|| format!("{amount} {currency}"))
}

/// The invoice's standing, in words.
fn standing(payment: &PaymentRow, open: bool) -> String {
    let received = payment
        .amount_received
        .map(|amount| money(amount, &payment.currency));
    match (payment.status.as_str(), received) {
        ("requires_action", _) if open => "Awaiting payment".to_owned(),
        ("requires_action", _) => "Expired".to_owned(),
        ("succeeded", Some(received)) => format!("Paid: {received} received"),
        ("pending", Some(received)) => {
            format!("Underpaid: {received} received; the invoice stays open until it expires")
        }
        ("declined", _) if payment.decline_code.as_deref() == Some("underpaid") => {
            "Expired underpaid".to_owned()
        }
        ("canceled", _) => "Canceled".to_owned(),
        _ => "Expired".to_owned(),
    }
}

/// The sandbox's crypto invoice for one payment.
#[utoipa::path(get, path = "/sandbox/crypto/{payment_id}", tag = "pages",
    params(("payment_id" = String, Path)),
    responses((status = 200, description = "the invoice page (HTML)", content_type = "text/html"),
        (status = 404, description = "no such invoice (HTML)", content_type = "text/html")))]
async fn crypto_invoice_page(
    State(state): State<AppState>,
    Path(payment_id): Path<String>,
) -> Response {
    let payment = match sandbox(&state).payment(&payment_id).await {
        Ok(Some(payment)) if payment.method == "crypto" => payment,
        Ok(_) => return not_found(),
        Err(error) => return ApiError::internal(error).into_response(),
    };
    let now_ms = state.now().as_ms();
    let expires_at_ms = payment.invoice_expires_at.unwrap_or(now_ms);
    let open = payment.status == "requires_action" && expires_at_ms > now_ms;
    let currency = &payment.currency;
    let ctx = json!({
        "title": "Pay with crypto",
        "payment_id": payment.id,
        "amount": money(payment.amount, currency),
        "address": invoice_address(&payment.id),
        "expires_at": Timestamp::from_ms(expires_at_ms).to_rfc3339(),
        "status": standing(&payment, open),
        "open": open,
        "token": form_token(&state, &payment.id),
        "under": money(InvoicePayment::Under.received(payment.amount), currency),
        "over": money(InvoicePayment::Over.received(payment.amount), currency),
        "return_url": payment.return_url,
    });
    // The form's answer leads on to the payment's return, and from there
    // to the merchant: redirects the form's CSP must allow.
    let merchant =
        crate::checkout::return_url_of_payment(&state, &payment.transaction_id.as_str().into())
            .await;
    let merchant = match merchant {
        Ok(url) => url,
        Err(error) => return ApiError::from(error).into_response(),
    };
    match Page::render(&PAGES, "invoice.html", ctx) {
        Ok(mut page) => {
            for url in [&payment.return_url, &merchant].into_iter().flatten() {
                page = page.allow_form_target(url);
            }
            page.into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// The invoice's payment as posted.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Documents the form; the handler reads it field by field.
struct InvoiceForm {
    /// `exact`, `under` (half) or `over` (10 % more).
    pay: String,
    /// The page's form token.
    token: String,
}

/// The customer pays the invoice (`pay=exact|under|over`): the sandbox
/// records what arrived, tells Obol at once, and sends the customer back
/// to the payment's return (303).
#[utoipa::path(post, path = "/sandbox/crypto/{payment_id}", tag = "pages",
    params(("payment_id" = String, Path)),
    request_body(content = InvoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the payment's return"),
        (status = 200, description = "paid; the payment has no return (HTML)", content_type = "text/html"),
        (status = 400, description = "a refused payment (HTML)", content_type = "text/html"),
        (status = 404, description = "no such invoice (HTML)", content_type = "text/html")))]
async fn pay_crypto_invoice(
    State(state): State<AppState>,
    Path(payment_id): Path<String>,
    body: Bytes,
) -> Response {
    let bad = |message: &str| message_page(StatusCode::BAD_REQUEST, TITLE, message);
    let Ok(text) = std::str::from_utf8(&body) else {
        return bad("The form is not valid.");
    };
    let Ok(mut form) = QueryParams::from_form(text) else {
        return bad("The form is not valid.");
    };
    let (Ok(pay), Ok(token)) = (form.take("pay"), form.take("token")) else {
        return bad("The form is not valid.");
    };
    if !constant_time_eq(&token.unwrap_or_default(), &form_token(&state, &payment_id)) {
        return bad("The form expired. Open the invoice again.");
    }
    let Some(pay) = pay.as_deref().and_then(InvoicePayment::parse) else {
        return bad("Choose how much to pay.");
    };
    let sandbox = sandbox(&state);
    match sandbox.payment(&payment_id).await {
        Ok(Some(payment)) if payment.method == "crypto" => {}
        Ok(_) => return not_found(),
        Err(error) => return ApiError::internal(error).into_response(),
    }
    let paid = match sandbox.pay_invoice(&payment_id, pay).await {
        Ok(paid) => paid,
        Err(obol_connectors::ConnectorError::Invalid(reason)) => {
            tracing::info!(%payment_id, %reason, "an invoice payment was refused");
            return bad("This invoice cannot be paid any more.");
        }
        Err(error) => return ApiError::internal(error).into_response(),
    };
    match paid.return_url {
        Some(url) => web::see_other(&url),
        None => message_page(
            StatusCode::OK,
            TITLE,
            "The payment is sent. You may close this page.",
        ),
    }
}
