//! Obol's page for a Stripe challenge that Stripe leaves to Stripe.js
//! (`next_action.use_stripe_sdk` with no page to send the customer to).
//! The payment page loads nothing from elsewhere, so Stripe.js never runs:
//! the customer confirms with the bank out of band (its app, a message),
//! then continues here, and Obol asks Stripe what became of the payment.
//! Stripe answers a confirm that carries a `return_url` with a redirect, so
//! this page is the fallback, not the usual path.

use super::api::PAGES;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obol_core::money::format_amount;
use obol_core::order::TransactionStatus;
use obol_core::{ConnectorAccountId, Currency};
use obol_kernel::auth::constant_time_eq;
use obol_kernel::error::ApiError;
use obol_kernel::extract::QueryParams;
use obol_kernel::state::AppState;
use obol_kernel::web::{self, Page};
use obol_store::orders::{OrderRow, TransactionRow};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(approval_page, continue_after_approval))
}

/// The form's token: only a visitor who loaded the page knows it.
fn form_token(state: &AppState, intent_id: &str) -> String {
    state
        .master_key
        .hmac_hex("stripe_bank_approval", intent_id.as_bytes())
}

fn message(status: StatusCode, text: &str) -> Response {
    let ctx = json!({"title": "Payment", "message": text, "back": null});
    match Page::render(&PAGES, "pay_invalid.html", ctx) {
        Ok(page) => page.with_status(status).into_response(),
        Err(error) => error.into_response(),
    }
}

fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "There is no payment to confirm here.",
    )
}

/// The Stripe payment the page is about: the account's transaction that
/// the intent id names, and its order.
async fn payment_of(
    state: &AppState,
    account_id: &str,
    intent_id: &str,
) -> Result<Option<(TransactionRow, OrderRow)>, ApiError> {
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    let account_id = ConnectorAccountId::from(account_id);
    let account = obol_store::connector_accounts::find_by_id(&mut conn, &account_id)
        .await
        .map_err(ApiError::internal)?;
    if account.is_none_or(|account| account.connector != "stripe") {
        return Ok(None);
    }
    let Some(txn) = obol_store::orders::find_by_connector_id(&mut conn, &account_id, intent_id)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let order = obol_store::orders::find_order(&mut conn, &txn.order_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(order.map(|order| (txn, order)))
}

fn render(
    state: &AppState,
    path: (&str, &str),
    txn: &TransactionRow,
    order: &OrderRow,
    waiting: bool,
) -> Response {
    let (account_id, intent_id) = path;
    let amount = Currency::parse(&txn.currency)
        .map(|currency| format_amount(txn.amount, currency))
        .unwrap_or_else(|| format!("{} {}", txn.amount, txn.currency));
    let open = TransactionStatus::parse(&txn.status) == Some(TransactionStatus::RequiresAction);
    let ctx = json!({
        "title": "Confirm your payment",
        "amount": amount,
        "open": open,
        "waiting": waiting && open,
        "action": format!("/stripe/challenge/{account_id}/{intent_id}"),
        "token": form_token(state, intent_id),
        "back": crate::orders::views::payment_link(state, &order.id),
    });
    match Page::render(&PAGES, "bank_approval.html", ctx) {
        // Continuing may lead on to the merchant: a redirect the form's
        // CSP must allow.
        Ok(page) => match &order.return_url {
            Some(url) => page.allow_form_target(url).into_response(),
            None => page.into_response(),
        },
        Err(error) => error.into_response(),
    }
}

/// The page for a Stripe payment waiting on the customer's bank.
#[utoipa::path(get, path = "/stripe/challenge/{account_id}/{intent_id}", tag = "pages",
    params(("account_id" = String, Path, description = "the Stripe connector account"),
        ("intent_id" = String, Path, description = "Stripe's PaymentIntent id")),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"),
        (status = 404, description = "no such payment (HTML)", content_type = "text/html")))]
async fn approval_page(
    State(state): State<AppState>,
    Path((account_id, intent_id)): Path<(String, String)>,
) -> Response {
    match payment_of(&state, &account_id, &intent_id).await {
        Ok(Some((txn, order))) => render(&state, (&account_id, &intent_id), &txn, &order, false),
        Ok(None) => not_found(),
        Err(error) => error.into_response(),
    }
}

/// The page's form as posted.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Documents the form; the handler reads it field by field.
struct ApprovalForm {
    /// The page's form token.
    token: String,
}

/// "Continue": Obol asks Stripe about the payment, then sends the customer
/// where the order now leads (303), or shows the page again while the
/// bank has not confirmed.
#[utoipa::path(post, path = "/stripe/challenge/{account_id}/{intent_id}", tag = "pages",
    params(("account_id" = String, Path, description = "the Stripe connector account"),
        ("intent_id" = String, Path, description = "Stripe's PaymentIntent id")),
    request_body(content = ApprovalForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "on to the merchant or the payment page"),
        (status = 200, description = "not confirmed yet: the page again (HTML)", content_type = "text/html"),
        (status = 400, description = "a refused form (HTML)", content_type = "text/html"),
        (status = 404, description = "no such payment (HTML)", content_type = "text/html")))]
async fn continue_after_approval(
    State(state): State<AppState>,
    Path((account_id, intent_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let token = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| QueryParams::from_form(text).ok())
        .and_then(|mut form| form.take("token").ok().flatten());
    if !token.is_some_and(|token| constant_time_eq(&token, &form_token(&state, &intent_id))) {
        return message(
            StatusCode::BAD_REQUEST,
            "The form expired. Open the payment page again.",
        );
    }
    let (txn, order) = match payment_of(&state, &account_id, &intent_id).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(error) => return error.into_response(),
    };
    let settled = match crate::orders::operations::sync_transaction(&state, &txn).await {
        Ok(settled) => settled,
        Err(error) => {
            // The sync job asks again; the customer sees the page as it stands.
            tracing::warn!(transaction_id = txn.id.as_str(), %error,
                "a bank approval could not sync its payment");
            txn
        }
    };
    if TransactionStatus::parse(&settled.status) == Some(TransactionStatus::RequiresAction) {
        return render(&state, (&account_id, &intent_id), &settled, &order, true);
    }
    match crate::orders::get(&state, &order.brand_id, &order.id).await {
        Ok(view) => web::see_other(&super::landing(&state, &view)),
        Err(error) => {
            tracing::warn!(order_id = %order.id, %error, "a bank approval could not read its order");
            web::see_other(&crate::orders::views::payment_link(&state, &order.id))
        }
    }
}
