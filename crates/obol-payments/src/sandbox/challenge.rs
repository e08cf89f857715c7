//! The sandbox's 3-D Secure challenge page, served by Obol as a real
//! processor's would be: "Complete" or "Fail", then back to the signed
//! return the payment carried.

use super::{PAGES, sandbox};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use obol_core::Currency;
use obol_core::money::format_amount;
use obol_kernel::auth::constant_time_eq;
use obol_kernel::error::ApiError;
use obol_kernel::extract::QueryParams;
use obol_kernel::state::AppState;
use obol_kernel::web::{self, Page};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(challenge_page, answer_challenge))
}

/// The form's token: only a visitor who loaded the page knows it.
fn form_token(state: &AppState, payment_id: &str) -> String {
    state
        .master_key
        .hmac_hex("sandbox_challenge", payment_id.as_bytes())
}

/// A short page in the sandbox's look, with its status.
pub(crate) fn message_page(status: axum::http::StatusCode, title: &str, message: &str) -> Response {
    let ctx = json!({"title": title, "message": message});
    match Page::render(&PAGES, "sandbox_message.html", ctx) {
        Ok(page) => page.with_status(status).into_response(),
        Err(error) => error.into_response(),
    }
}

fn not_found() -> Response {
    message_page(
        axum::http::StatusCode::NOT_FOUND,
        "Sandbox challenge",
        "There is no challenge here.",
    )
}

/// The sandbox's 3-D Secure challenge for one payment.
#[utoipa::path(get, path = "/sandbox/challenge/{payment_id}", tag = "pages",
    params(("payment_id" = String, Path)),
    responses((status = 200, description = "the challenge page (HTML)", content_type = "text/html"),
        (status = 404, description = "no such challenge (HTML)", content_type = "text/html")))]
async fn challenge_page(State(state): State<AppState>, Path(payment_id): Path<String>) -> Response {
    let payment = match sandbox(&state).payment(&payment_id).await {
        Ok(Some(payment)) if payment.method == "card" => payment,
        Ok(_) => return not_found(),
        Err(error) => return ApiError::internal(error).into_response(),
    };
    let amount = Currency::parse(&payment.currency)
        .map(|currency| format_amount(payment.amount, currency))
        .unwrap_or_else(|| format!("{} {}", payment.amount, payment.currency));
    let ctx = json!({
        "title": "Confirm your payment",
        "payment_id": payment.id,
        "amount": amount,
        "card": format!("{} ending in {}", brand_name(&payment.card_brand), payment.card_last4),
        "open": payment.status == "requires_action",
        "status": payment.status,
        "token": form_token(&state, &payment.id),
        "return_url": payment.return_url,
    });
    // The answer goes on to Obol's return, which may send the customer to
    // the merchant: a redirect a form's CSP must allow.
    let merchant =
        crate::checkout::return_url_of_payment(&state, &payment.transaction_id.as_str().into())
            .await;
    match Page::render(&PAGES, "challenge.html", ctx) {
        Ok(page) => match merchant {
            Ok(Some(url)) => page.allow_form_target(&url).into_response(),
            Ok(None) => page.into_response(),
            Err(error) => obol_kernel::error::ApiError::from(error).into_response(),
        },
        Err(error) => error.into_response(),
    }
}

fn brand_name(brand: &str) -> String {
    match brand {
        "visa" => "Visa".into(),
        "mastercard" => "Mastercard".into(),
        "amex" => "American Express".into(),
        other => other.to_owned(),
    }
}

/// The challenge's answer as posted.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Documents the form; the handler reads it field by field.
struct ChallengeAnswer {
    /// `complete` or `fail`.
    outcome: String,
    /// The page's form token.
    token: String,
}

/// The customer's answer: `outcome=complete` or `outcome=fail`; then back
/// to the payment's signed return (303).
#[utoipa::path(post, path = "/sandbox/challenge/{payment_id}", tag = "pages",
    params(("payment_id" = String, Path)),
    request_body(content = ChallengeAnswer, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the payment's return"),
        (status = 400, description = "a refused answer (HTML)", content_type = "text/html"),
        (status = 404, description = "no such challenge (HTML)", content_type = "text/html")))]
async fn answer_challenge(
    State(state): State<AppState>,
    Path(payment_id): Path<String>,
    body: Bytes,
) -> Response {
    let bad = |message: &str| {
        message_page(
            axum::http::StatusCode::BAD_REQUEST,
            "Sandbox challenge",
            message,
        )
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return bad("The form is not valid.");
    };
    let Ok(mut form) = QueryParams::from_form(text) else {
        return bad("The form is not valid.");
    };
    let (Ok(outcome), Ok(token)) = (form.take("outcome"), form.take("token")) else {
        return bad("The form is not valid.");
    };
    if !constant_time_eq(&token.unwrap_or_default(), &form_token(&state, &payment_id)) {
        return bad("The form expired. Open the challenge again.");
    }
    let succeed = match outcome.as_deref() {
        Some("complete") => true,
        Some("fail") => false,
        _ => return bad("Choose Complete or Fail."),
    };
    let sandbox = sandbox(&state);
    let payment = match sandbox.payment(&payment_id).await {
        Ok(Some(payment)) => payment,
        Ok(None) => return not_found(),
        Err(error) => return ApiError::internal(error).into_response(),
    };
    if let Err(error) = sandbox.complete_challenge(&payment_id, succeed).await {
        tracing::info!(%payment_id, %error, "a challenge answer was refused");
        return bad("This check cannot be answered any more.");
    }
    match payment.return_url {
        Some(url) => web::see_other(&url),
        None => message_page(
            axum::http::StatusCode::OK,
            "Sandbox challenge",
            "The challenge is answered. You may close this page.",
        ),
    }
}
