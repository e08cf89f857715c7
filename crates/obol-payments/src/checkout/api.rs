//! The payment page's routes: the page, its no-JavaScript form, its
//! script, and the signed 3-D Secure return.

use super::returns::{self, ReturnParams};
use crate::error::Error;
use crate::orders::payment::{self, ConfirmInput};
use crate::orders::{CardInput, PaymentMethodInput, views};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::OrderId;
use obol_core::order::OrderStatus;
use obol_kernel::auth::constant_time_eq;
use obol_kernel::error::{ApiError, ApiResult, ErrorBody};
use obol_kernel::extract::QueryParams;
use obol_kernel::state::AppState;
use obol_kernel::web::{self, Page};
use std::sync::LazyLock;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The page's script: progressive, the page works without it.
const CHECKOUT_JS: &str = include_str!("checkout.js");
const CSRF_COOKIE: &str = "obol_pay_csrf";

static PAGES: LazyLock<minijinja::Environment<'static>> =
    LazyLock::new(|| web::environment(super::TEMPLATES));

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(payment_page))
        .routes(routes!(confirm_form))
        .routes(routes!(checkout_script))
        .routes(routes!(order_return))
}

/// An error as a page: the reason in words, in the layout, with its status.
fn error_page(error: ApiError) -> Response {
    let status = error.status();
    if status.is_server_error() {
        return error.into_response();
    }
    let message = if status == StatusCode::NOT_FOUND {
        "This payment link is not valid. Ask the seller for a new one.".to_owned()
    } else {
        error.message.clone()
    };
    let ctx = serde_json::json!({"title": "Payment", "message": message});
    match Page::render(&PAGES, "pay_invalid.html", ctx) {
        Ok(page) => page.with_status(status).into_response(),
        Err(error) => error.into_response(),
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The form's CSRF token: the visitor's cookie, or a new one to set.
fn csrf_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 32) {
        Some(token) => (token, false),
        None => (obol_core::id::random_token(32), true),
    }
}

async fn render_page(
    state: &AppState,
    order_id: &OrderId,
    sig: &str,
    headers: &HeaderMap,
    refused: Option<String>,
) -> Result<Response, ApiError> {
    let (csrf, new_cookie) = csrf_token(headers);
    let mut model = super::page(state, order_id, sig, &csrf).await?;
    let status = if refused.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    if refused.is_some() {
        model.error = refused;
    }
    let mut page = Page::render(&PAGES, "pay.html", &model)?.with_status(status);
    if let Some(url) = &model.return_url {
        page = page.allow_form_target(url);
    }
    if let Some(url) = &model.next_action_url {
        page = page.allow_form_target(url);
    }
    let mut response = page.into_response();
    if new_cookie {
        let secure = if state.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let value = format!("{CSRF_COOKIE}={csrf}; Path=/pay/; HttpOnly; SameSite=Strict{secure}");
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
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
        Err(error) => return error_page(error),
    };
    match render_page(&state, &id, &sig, &headers, None).await {
        Ok(response) => response,
        Err(error) => error_page(error),
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

/// The payment form, parsed.
struct CardForm {
    method: String,
    card: Option<CardInput>,
    csrf: String,
}

fn parse_form(body: &[u8]) -> Result<CardForm, ApiError> {
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
            let (exp_month, exp_year) = parse_expiry(expiry.as_deref().unwrap_or_default())?;
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
    Ok(CardForm { method, card, csrf })
}

/// `MM/YY` or `MM/YYYY`, as card holders write it.
pub(crate) fn parse_expiry(text: &str) -> Result<(i64, i64), ApiError> {
    let invalid = || {
        ApiError::invalid(
            "payment_method[card][exp_month]",
            "Enter the expiry date as MM/YY.",
        )
    };
    let (month, year) = text.trim().split_once('/').ok_or_else(invalid)?;
    let month: i64 = month.trim().parse().map_err(|_| invalid())?;
    let year: i64 = year.trim().parse().map_err(|_| invalid())?;
    let year = if year < 100 { 2000 + year } else { year };
    Ok((month, year))
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
        Err(error) => return error_page(error),
    };
    if !super::link_valid(&state, &id, &sig) {
        return error_page(ApiError::not_found("order", id.as_str()));
    }
    let form = match parse_form(&body) {
        Ok(form) => form,
        Err(error) => return refused_page(&state, &id, &sig, &headers, error).await,
    };
    let cookie_token = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    if cookie_token.is_empty() || !constant_time_eq(&cookie_token, &form.csrf) {
        let error = ApiError::invalid("csrf", "The form expired. Please try again.");
        return refused_page(&state, &id, &sig, &headers, error).await;
    }
    match confirm(&state, &id, form).await {
        Ok(location) => web::see_other(&location),
        Err(error) => refused_page(&state, &id, &sig, &headers, error).await,
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
        return error.into_response();
    }
    // A card field's message, never its value.
    match render_page(state, id, sig, headers, Some(error.message.clone())).await {
        Ok(response) => response,
        Err(error) => error_page(error),
    }
}

/// Confirms from the form; where the customer goes next.
async fn confirm(state: &AppState, id: &OrderId, form: CardForm) -> Result<String, ApiError> {
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    let row = obol_store::orders::find_order(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("order", id.as_str()))?;
    drop(conn);
    let input = ConfirmInput {
        payment_method: PaymentMethodInput {
            method_type: form.method,
            card: form.card,
            mandate_id: None,
        },
        connector_account_id: None,
        trigger: "checkout".into(),
        idempotency_key: None,
    };
    let page = views::payment_link(state, id);
    match payment::confirm(state, &row.brand_id, id, input).await {
        Ok(order) => Ok(next_location(&order, &page)),
        // The decline is on the order, and a confirm the order's state
        // refuses (paid meanwhile, a challenge open): the page shows it.
        Err(
            Error::PaymentFailed { .. } | Error::ConnectorFailed { .. } | Error::InvalidState(_),
        ) => Ok(page),
        Err(error) => Err(error.into()),
    }
}

/// After a confirm: the challenge or invoice, the merchant once paid, else
/// the page again (processing, or a decline to show).
fn next_location(order: &crate::orders::Order, page: &str) -> String {
    if let Some(url) = order.next_action.as_ref().and_then(|a| a["url"].as_str()) {
        return url.to_owned();
    }
    let paid = matches!(
        OrderStatus::parse(&order.status),
        Some(OrderStatus::Paid | OrderStatus::Authorized)
    );
    match (&order.return_url, paid) {
        (Some(url), true) => super::merchant_return(url, &OrderId::from(order.id.as_str())),
        _ => page.to_owned(),
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
    let result: ApiResult<returns::Landing> = async {
        let params = ReturnParams {
            transaction_id: query.take("transaction_id")?,
            expires: query.take("expires")?,
            nonce: query.take("nonce")?,
            sig: query.take("sig")?,
        };
        query.finish()?;
        Ok(returns::complete(&state, &id, params).await?)
    }
    .await;
    match result {
        Ok(landing) => web::see_other(&landing.location),
        Err(error) if wants_html(&headers) => error_page(error),
        Err(error) => error.into_response(),
    }
}
