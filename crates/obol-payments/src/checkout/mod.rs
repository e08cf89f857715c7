//! The hosted payment page behind every order's `payment_link`, and the
//! signed 3-D Secure return.
//!
//! The page is server-rendered and works without JavaScript (a form post
//! that confirms through the same service as the API); with JavaScript it
//! talks to the API as any client would, with the brand's publishable key
//! and the order's client secret only.

pub(crate) mod api;
mod bank_approval;
pub mod returns;

use crate::connector_accounts;
use crate::error::{Error, Result};
use crate::orders::payment::{self, ConfirmInput};
use crate::orders::{self, CardInput, Order, PaymentMethodInput, views};
use obol_core::money::format_amount;
use obol_core::order::OrderStatus;
use obol_core::{Currency, OrderId, TransactionId};
use obol_kernel::auth::constant_time_eq;
use obol_kernel::state::AppState;
use obol_store::brands::BrandRow;
use serde::Serialize;

/// The page templates, compiled into the binary.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("pay.html", include_str!("templates/pay.html")),
    (
        "pay_invalid.html",
        include_str!("templates/pay_invalid.html"),
    ),
    (
        "bank_approval.html",
        include_str!("templates/bank_approval.html"),
    ),
];

/// Whether `sig` is the payment link's signature for `order_id`.
pub fn link_valid(state: &AppState, order_id: &OrderId, sig: &str) -> bool {
    let link = views::payment_link(state, order_id);
    let expected = link.rsplit("sig=").next().unwrap_or_default();
    !sig.is_empty() && constant_time_eq(sig, expected)
}

/// The merchant's return URL with the order's id added, as the customer
/// is sent there once done.
pub fn merchant_return(return_url: &str, order_id: &OrderId) -> String {
    match url::Url::parse(return_url) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .append_pair("order_id", order_id.as_str());
            url.to_string()
        }
        // Stored URLs were validated; an unparsable one goes back as it is.
        Err(_) => return_url.to_owned(),
    }
}

/// What the page shows an order as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageState {
    /// Open for payment: the forms.
    Payable,
    /// A challenge or an invoice waits for the customer.
    RequiresAction,
    /// The connector has not answered finally yet.
    Processing,
    Authorized,
    Paid,
    Refunded,
    Expired,
    Canceled,
}

impl PageState {
    fn of(status: OrderStatus, expired_by_time: bool) -> PageState {
        match status {
            OrderStatus::InProgress if expired_by_time => PageState::Expired,
            OrderStatus::InProgress => PageState::Payable,
            OrderStatus::RequiresAction => PageState::RequiresAction,
            OrderStatus::Processing => PageState::Processing,
            OrderStatus::Authorized => PageState::Authorized,
            OrderStatus::Paid | OrderStatus::Completed | OrderStatus::PartiallyRefunded => {
                PageState::Paid
            }
            OrderStatus::Refunded | OrderStatus::Reversed => PageState::Refunded,
            OrderStatus::Expired => PageState::Expired,
            OrderStatus::Canceled => PageState::Canceled,
        }
    }
}

/// One line of the order as the page lists it.
#[derive(Debug, Serialize)]
pub struct PageItem {
    pub name: String,
    pub quantity: i64,
    pub total: String,
}

/// Everything the payment page renders.
#[derive(Debug, Serialize)]
pub struct PageModel {
    pub title: String,
    pub brand_name: String,
    /// Only an inline `data:image/…` logo: the page loads nothing from
    /// elsewhere.
    pub logo: Option<String>,
    pub accent_color: Option<String>,
    /// Black or white, whichever reads on the accent colour.
    pub accent_text: Option<&'static str>,
    pub order_id: String,
    pub state: PageState,
    pub amount: String,
    pub currency: String,
    pub description: Option<String>,
    pub items: Vec<PageItem>,
    pub customer_email: Option<String>,
    pub card: bool,
    pub crypto: bool,
    /// The last decline, said the way the customer should read it.
    pub error: Option<String>,
    /// The form field a refused post names (its input's id).
    pub invalid_field: Option<&'static str>,
    pub next_action_url: Option<String>,
    /// Where "continue" leads once done (with the order id).
    pub return_url: Option<String>,
    pub publishable_key: String,
    pub client_secret: String,
    /// The no-JavaScript form's target (the link's own signature in it).
    pub confirm_url: String,
    pub page_url: String,
    pub csrf: String,
    /// The sandbox's test cards are named when a sandbox account takes cards.
    pub sandbox: bool,
    /// A zero-amount order only saves the card for later charges.
    pub saves_card: bool,
    pub expires_at: String,
}

/// The display name a brand's pages use.
fn brand_name(brand: &BrandRow) -> String {
    brand
        .display_name
        .clone()
        .unwrap_or_else(|| brand.name.clone())
}

/// A `#rrggbb` accent, or none (the stored value goes into CSS).
fn accent(brand: &BrandRow) -> Option<String> {
    brand.primary_color.clone().filter(|color| {
        color.len() == 7
            && color.starts_with('#')
            && color[1..].chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// Black or white text on `color` (`#rrggbb`), whichever contrasts more
/// (WCAG relative luminance).
fn text_on(color: &str) -> &'static str {
    let channel = |at: usize| {
        let value = f64::from(u8::from_str_radix(&color[at..at + 2], 16).unwrap_or(0)) / 255.0;
        if value <= 0.039_28 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    // Contrast with white (1.05 / (L + 0.05)) against with black ((L + 0.05) / 0.05).
    if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 {
        "#ffffff"
    } else {
        "#000000"
    }
}

fn inline_logo(brand: &BrandRow) -> Option<String> {
    brand
        .logo_url
        .clone()
        .filter(|url| url.starts_with("data:image/") && !url.contains(['"', '<', '>']))
}

/// The page of order `order_id` for a visitor holding the link's `sig`:
/// not found unless the signature matches (a forged or altered link shows
/// nothing of any order). `error` overrides the shown decline (a form post
/// refused before any payment). `csrf` is the no-JavaScript form's token.
pub async fn page(
    state: &AppState,
    order_id: &OrderId,
    sig: &str,
    csrf: &str,
) -> Result<PageModel> {
    if !link_valid(state, order_id, sig) {
        return Err(Error::not_found("order", order_id));
    }
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::orders::find_order(&mut conn, order_id)
        .await?
        .ok_or_else(|| Error::not_found("order", order_id))?;
    drop(conn);
    let (brand, publishable_key) =
        obol_accounts::brands::checkout_identity(state, &row.brand_id).await?;
    let order = orders::get(state, &row.brand_id, order_id).await?;
    let currency = orders::currency(&order.currency)?;
    let status = orders::status(&row)?;
    let mut page_state = PageState::of(status, state.now().as_ms() >= row.expires_at);
    if page_state == PageState::Payable && row.in_flight_transaction_id.is_some() {
        // A payment is out at its connector: no second one meanwhile.
        page_state = PageState::Processing;
    }
    let methods =
        connector_accounts::payment_methods_for(state, &row.brand_id, currency, None).await?;
    let takes = |kind: &str| methods.iter().any(|m| m.method_type == kind);
    let sandbox = takes("card") && cards_go_to_sandbox(state, &row.brand_id, currency).await?;
    let error = order
        .last_payment_error
        .as_ref()
        .filter(|_| page_state == PageState::Payable)
        .map(customer_message);
    let items = page_items(order.items.as_ref(), currency);
    let link = views::payment_link(state, order_id);
    let sig_part = link.rsplit_once('?').map(|(_, q)| q).unwrap_or_default();
    Ok(PageModel {
        title: format!("Pay {}", brand_name(&brand)),
        brand_name: brand_name(&brand),
        logo: inline_logo(&brand),
        accent_color: accent(&brand),
        accent_text: accent(&brand).as_deref().map(text_on),
        order_id: order.id.clone(),
        state: page_state,
        amount: format_amount(order.amount, currency),
        currency: order.currency.clone(),
        description: order.description.clone(),
        items,
        customer_email: order.customer_email.clone(),
        // An order named for a mandate is paid by it, not on the page; a
        // mandate is set up by a card only.
        card: takes("card") && (row.mandate_id.is_none() || order.setup_mandate),
        crypto: takes("crypto")
            && order.amount > 0
            && !order.setup_mandate
            && row.mandate_id.is_none(),
        error,
        invalid_field: None,
        next_action_url: order
            .next_action
            .as_ref()
            .and_then(|a| a["url"].as_str().map(str::to_owned)),
        return_url: order
            .return_url
            .as_deref()
            .map(|url| merchant_return(url, order_id)),
        publishable_key,
        client_secret: order.client_secret.clone(),
        confirm_url: format!("/pay/{order_id}/confirm?{sig_part}"),
        page_url: format!("/pay/{order_id}?{sig_part}"),
        csrf: csrf.to_owned(),
        sandbox,
        saves_card: order.amount == 0,
        expires_at: order.expires_at.to_rfc3339(),
    })
}

/// Whether the order's card payments would go to a sandbox account (the
/// page then names the test cards).
async fn cards_go_to_sandbox(
    state: &AppState,
    brand_id: &obol_core::BrandId,
    currency: Currency,
) -> Result<bool> {
    let mut conn = state.db.pool.acquire().await?;
    let account =
        connector_accounts::route(&mut conn, brand_id, "card", currency, None, None).await?;
    Ok(account.connector == "sandbox")
}

/// A payment error as the customer reads it: the connector's message for
/// a decline, a plain sentence otherwise.
fn customer_message(error: &serde_json::Value) -> String {
    match error["message"].as_str() {
        Some(message) if error["code"] == "card_declined" => message.to_owned(),
        _ => "The payment did not go through. Please try another card.".to_owned(),
    }
}

fn page_items(items: Option<&serde_json::Value>, currency: Currency) -> Vec<PageItem> {
    let Some(list) = items.and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|item| {
            let quantity = item["quantity"].as_i64()?;
            let unit = item["unit_amount"].as_i64()?;
            Some(PageItem {
                name: item["name"].as_str()?.to_owned(),
                quantity,
                total: format_amount(quantity.checked_mul(unit)?, currency),
            })
        })
        .collect()
}

/// The payment form as posted without JavaScript.
pub struct PaymentForm {
    /// `card` or `crypto`.
    pub method: String,
    pub card: Option<CardInput>,
}

/// A card's expiry as card holders write it: `MM/YY`, `MM/YYYY`, or the
/// digits alone (`MMYY`, `MMYYYY`), as a phone's number pad types it.
pub fn parse_expiry(text: &str) -> std::result::Result<(i64, i64), obol_kernel::error::ApiError> {
    let invalid = || {
        obol_kernel::error::ApiError::invalid(
            "payment_method[card][exp_month]",
            "Enter the expiry date as MM/YY.",
        )
    };
    let text = text.trim();
    let (month, year) = match text.split_once('/') {
        Some((month, year)) => (month.trim(), year.trim()),
        None if text.len() == 4 || text.len() == 6 => text.split_at(2),
        None => return Err(invalid()),
    };
    let month: i64 = month.parse().map_err(|_| invalid())?;
    let year: i64 = year.parse().map_err(|_| invalid())?;
    let year = if year < 100 { 2000 + year } else { year };
    Ok((month, year))
}

/// The input a refused field's `param` names on the page.
pub fn field_of_param(param: &str) -> Option<&'static str> {
    match param {
        "payment_method[card][number]" => Some("card-number"),
        "payment_method[card][exp_month]" | "payment_method[card][exp_year]" => Some("card-exp"),
        "payment_method[card][cvc]" => Some("card-cvc"),
        _ => None,
    }
}

/// Confirms an order from the page's form, through the same service as the
/// API (`trigger: checkout`); where the customer goes next. A decline, an
/// unknown outcome or a state that refuses the confirm (paid meanwhile, a
/// challenge open) lead back to the page, which shows the order as it is.
pub async fn confirm_form(
    state: &AppState,
    order_id: &OrderId,
    form: PaymentForm,
) -> Result<String> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::orders::find_order(&mut conn, order_id)
        .await?
        .ok_or_else(|| Error::not_found("order", order_id))?;
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
    match payment::confirm(state, &row.brand_id, order_id, input).await {
        Ok(order) => Ok(landing(state, &order)),
        Err(
            Error::PaymentFailed { .. }
            | Error::ConnectorRefused { .. }
            | Error::ConnectorFailed { .. }
            | Error::InvalidState(_),
        ) => Ok(views::payment_link(state, order_id)),
        Err(error) => Err(error),
    }
}

/// Where the customer goes once the order stands as it does: to the
/// challenge or invoice it waits on, to the merchant's return URL (with the
/// order id) once paid or authorized, else to the payment page.
pub fn landing(state: &AppState, order: &Order) -> String {
    let order_id = OrderId::from(order.id.as_str());
    let status = OrderStatus::parse(&order.status);
    if status == Some(OrderStatus::RequiresAction)
        && let Some(url) = order.next_action.as_ref().and_then(|a| a["url"].as_str())
    {
        return url.to_owned();
    }
    let paid = matches!(
        status,
        Some(OrderStatus::Paid | OrderStatus::Authorized | OrderStatus::Completed)
    );
    match (&order.return_url, paid) {
        (Some(url), true) => merchant_return(url, &order_id),
        _ => views::payment_link(state, &order_id),
    }
}

/// The merchant's return URL of the order a payment belongs to (a page
/// whose form leads there lets it in its CSP).
pub async fn return_url_of_payment(
    state: &AppState,
    transaction_id: &TransactionId,
) -> Result<Option<String>> {
    let mut conn = state.db.pool.acquire().await?;
    let Some(txn) = obol_store::orders::find_transaction(&mut conn, transaction_id).await? else {
        return Ok(None);
    };
    let order = obol_store::orders::find_order(&mut conn, &txn.order_id).await?;
    Ok(order.and_then(|order| order.return_url))
}
