//! The payment page's routes: the page, its no-JavaScript form, its
//! script, and the signed 3-D Secure return.

use super::returns::{self, ReturnParams};
use crate::orders::{CardInput, views};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use obol_core::OrderId;
use obol_kernel::error::{ApiError, ErrorBody};
use obol_kernel::extract::QueryParams;
use obol_kernel::state::AppState;
use obol_kernel::web::{self, Page};
use std::sync::LazyLock;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The page's script: progressive, the page works without it.
const CHECKOUT_JS: &str = include_str!("checkout.js");
/// The no-JavaScript form's CSRF cookie, sent to the page's routes only.
const CSRF: web::Csrf = web::Csrf {
    cookie_name: "obol_pay_csrf",
    path: "/pay/",
};

pub(super) static PAGES: LazyLock<minijinja::Environment<'static>> =
    LazyLock::new(|| web::environment(super::TEMPLATES));

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(payment_page))
        .routes(routes!(confirm_form))
        .routes(routes!(checkout_script))
        .routes(routes!(order_return))
        .merge(super::bank_approval::routes())
}

/// An error as a page: the reason in words, in the layout, with its
/// status; `back` links to the payment page when the visitor proved it may
/// see it.
fn error_page(error: ApiError, back: Option<String>) -> Response {
    let status = error.status();
    let message = if status.is_server_error() {
        "Something went wrong on our side. Please try again in a moment.".to_owned()
    } else if status == StatusCode::NOT_FOUND {
        "This payment link is not valid. Ask the seller for a new one.".to_owned()
    } else {
        error.message.clone()
    };
    let ctx = serde_json::json!({"title": "Payment", "message": message, "back": back});
    match Page::render(&PAGES, "pay_invalid.html", ctx) {
        Ok(page) => page.with_status(status).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn render_page(
    state: &AppState,
    order_id: &OrderId,
    sig: &str,
    headers: &HeaderMap,
    refused: Option<&ApiError>,
) -> Result<Response, ApiError> {
    let (csrf, new_cookie) = CSRF.token(headers, state.public_url.starts_with("https://"));
    let mut model = super::page(state, order_id, sig, &csrf).await?;
    let status = match refused {
        Some(error) => {
            model.error = Some(error.message.clone());
            model.invalid_field = error.param.as_deref().and_then(super::field_of_param);
            StatusCode::BAD_REQUEST
        }
        None => StatusCode::OK,
    };
    let mut page = Page::render(&PAGES, "pay.html", &model)?.with_status(status);
    for url in [&model.return_url, &model.next_action_url]
        .into_iter()
        .flatten()
    {
        page = page.allow_form_target(url);
    }
    let mut response = page.into_response();
    if let Some(cookie) = new_cookie {
        web::set_cookie(&mut response, &cookie);
    }
    Ok(response)
}

/// The hosted payment page of an order, behind its signed `payment_link`;
/// a forged or altered link is 404.
#[utoipa::path(get, path = "/pay/{id}", tag = "pages",
    params(("id" = String, Path), ("sig" = String, Query, description = "the payment link's signature")),
    responses((status = 200, description = "the payment page (HTML)", content_type = "text/html"),
        (status = 404, description = "no order behind this link (HTML)", content_type = "text/html")))]
async fn payment_page(
    State(state): State<AppState>,
    Path(id): Path<OrderId>,
    headers: HeaderMap,
    mut query: QueryParams,
) -> Response {
    let sig = match query.take("sig") {
        Ok(sig) => sig.unwrap_or_default(),
        Err(error) => return error_page(error, None),
    };
    match render_page(&state, &id, &sig, &headers, None).await {
        Ok(response) => response,
        Err(error) => error_page(error, None),
    }
}

/// The payment form as posted without JavaScript.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Documents the form; `parse_form` reads it field by field.
struct ConfirmForm {
    /// `card` (default) or `crypto`.
    method: Option<String>,
    /// The card number (spaces allowed).
    number: Option<String>,
    /// `MM/YY` or `MM/YYYY`.
    exp: Option<String>,
    cvc: Option<String>,
    holder_name: Option<String>,
    /// The token of the page's form, matching its cookie.
    csrf: String,
}

fn parse_form(body: &[u8]) -> Result<(super::PaymentForm, String), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::invalid("body", "the form is not UTF-8"))?;
    let mut form = QueryParams::from_form(text)?;
    let method = form.take("method")?.unwrap_or_else(|| "card".into());
    let csrf = form.take("csrf")?.unwrap_or_default();
    let number = form.take("number")?;
    let expiry = form.take("exp")?;
    let cvc = form.take("cvc")?;
    let holder_name = form
        .take("holder_name")?
        .filter(|name| !name.trim().is_empty());
    let card = match method.as_str() {
        "card" => {
            let (exp_month, exp_year) = super::parse_expiry(expiry.as_deref().unwrap_or_default())?;
            Some(CardInput {
                number: number
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect(),
                exp_month,
                exp_year,
                cvc,
                holder_name,
            })
        }
        "crypto" => None,
        _ => return Err(ApiError::invalid("method", "method must be card or crypto")),
    };
    Ok((super::PaymentForm { method, card }, csrf))
}

/// The payment form posted without JavaScript: confirms through the same
/// service as the API (`trigger: checkout`), then sends the customer on:
/// to the challenge, to the merchant, or back to the page with the reason.
#[utoipa::path(post, path = "/pay/{id}/confirm", tag = "pages",
    params(("id" = String, Path), ("sig" = String, Query, description = "the payment link's signature")),
    request_body(content = ConfirmForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "on to the challenge, the merchant's return URL or the page"),
        (status = 400, description = "the form was refused (HTML page with the reason)", content_type = "text/html"),
        (status = 404, description = "no order behind this link (HTML)", content_type = "text/html")))]
async fn confirm_form(
    State(state): State<AppState>,
    Path(id): Path<OrderId>,
    headers: HeaderMap,
    mut query: QueryParams,
    body: Bytes,
) -> Response {
    let sig = match query.take("sig") {
        Ok(sig) => sig.unwrap_or_default(),
        Err(error) => return error_page(error, None),
    };
    if !super::link_valid(&state, &id, &sig) {
        return error_page(ApiError::not_found("order", id.as_str()), None);
    }
    let (form, csrf) = match parse_form(&body) {
        Ok(parsed) => parsed,
        Err(error) => return refused_page(&state, &id, &sig, &headers, error).await,
    };
    if !CSRF.check(&headers, &csrf) {
        let error = ApiError::invalid("csrf", "The form expired. Please try again.");
        return refused_page(&state, &id, &sig, &headers, error).await;
    }
    match super::confirm_form(&state, &id, form).await {
        Ok(location) => web::see_other(&location),
        Err(error) => refused_page(&state, &id, &sig, &headers, error.into()).await,
    }
}

async fn refused_page(
    state: &AppState,
    id: &OrderId,
    sig: &str,
    headers: &HeaderMap,
    error: ApiError,
) -> Response {
    if error.status().is_server_error() {
        return error_page(error, None);
    }
    // A card field's message, never its value.
    match render_page(state, id, sig, headers, Some(&error)).await {
        Ok(response) => response,
        Err(error) => error_page(error, None),
    }
}

/// The payment page's script.
#[utoipa::path(get, path = "/pay/assets/checkout.js", tag = "pages",
    responses((status = 200, description = "the payment page's script", content_type = "text/javascript")))]
async fn checkout_script() -> Response {
    web::asset("text/javascript; charset=utf-8", CHECKOUT_JS)
}

/// Where a 3-D Secure challenge (or a crypto invoice) sends the customer
/// back: the parameters are Obol's own, signed when the payment was sent
/// (HMAC, expiry, one-time nonce). Obol then asks the connector how the
/// payment stands, and sends the customer on with a 303: to the merchant's
/// `return_url` once paid, else to the payment page. A tampered, expired or
/// replayed return is 400 and changes nothing (an HTML page for a browser).
#[utoipa::path(get, path = "/v1/orders/{id}/return", tag = "orders",
    params(("id" = String, Path), ("transaction_id" = String, Query), ("expires" = String, Query),
           ("nonce" = String, Query), ("sig" = String, Query)),
    responses((status = 303, description = "on to the merchant's return URL or the payment page"),
        (status = 400, body = ErrorBody, description = "a tampered, expired or replayed return")))]
async fn order_return(
    State(state): State<AppState>,
    Path(id): Path<OrderId>,
    headers: HeaderMap,
    mut query: QueryParams,
) -> Response {
    let params = (|| {
        let params = ReturnParams {
            transaction_id: query.take("transaction_id")?,
            expires: query.take("expires")?,
            nonce: query.take("nonce")?,
            sig: query.take("sig")?,
        };
        query.finish()?;
        Ok::<_, ApiError>(params)
    })();
    let result = match params {
        Ok(params) => returns::complete(&state, &id, params)
            .await
            .map_err(|refused| (ApiError::from(refused.error), refused.signed)),
        Err(error) => Err((error, false)),
    };
    match result {
        Ok(landing) => web::see_other(&landing),
        Err((error, signed)) if web::wants_html(&headers) => {
            // A genuine return used twice or too late: back to the page.
            let back = signed.then(|| views::payment_link(&state, &id));
            error_page(error, back)
        }
        Err((error, _)) => error.into_response(),
    }
}
