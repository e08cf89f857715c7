//! Paying an open invoice from the API (its order's payment: the wallet, a
//! mandate or a card), and the ways it can be paid now.

use super::views::{Invoice, PayInvoice, PayOption};
use super::{find, get};
use crate::error::{Error, Result};
use obol_core::{BrandId, Currency, CustomerId, MandateId};
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use obol_payments::orders::PaymentMethodInput;
use obol_payments::orders::payment::{self, ConfirmInput};
use obol_store::Conn;
use obol_store::billing::invoices::InvoiceRow;
use obol_store::mandates::MandateRow;
use obol_store::page::PageRequest;

/// Mandates of a customer looked at for paying.
const MANDATES_MAX: i64 = 20;

fn payable(row: &InvoiceRow) -> Result<()> {
    if matches!(row.status.as_str(), "open" | "uncollectible") {
        Ok(())
    } else {
        Err(Error::invalid_state(format!(
            "a {} invoice cannot be paid: only an open or uncollectible one",
            row.status
        )))
    }
}

/// The customer's active mandates, newest first.
pub(crate) async fn active_mandates(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &CustomerId,
) -> Result<Vec<MandateRow>> {
    let page = PageRequest {
        limit: MANDATES_MAX,
        starting_after: None,
    };
    let rows = obol_store::mandates::list(conn, brand_id, Some(customer_id), &page).await?;
    Ok(rows
        .data
        .into_iter()
        .filter(|row| row.status == "active")
        .collect())
}

/// What the customer's wallet holds in `currency`.
pub(crate) async fn wallet_available(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &CustomerId,
    currency: &str,
) -> Result<i64> {
    let wallet = obol_accounts::wallets::wallet_in(conn, brand_id, customer_id).await?;
    Ok(wallet
        .balances
        .iter()
        .find(|balance| balance.currency == currency)
        .map_or(0, |balance| balance.available))
}

/// The method a pay without one uses: the wallet when it covers the
/// invoice, else the subscription's mandate, else the customer's newest.
async fn default_method(state: &AppState, row: &InvoiceRow) -> Result<PaymentMethodInput> {
    let mut conn = state.db.pool.acquire().await?;
    let due = row.total - row.amount_paid;
    if wallet_available(&mut conn, &row.brand_id, &row.customer_id, &row.currency).await? >= due {
        return Ok(PaymentMethodInput {
            method_type: "wallet".to_owned(),
            card: None,
            mandate_id: None,
        });
    }
    let subscription_mandate = match &row.subscription_id {
        Some(id) => obol_store::billing::subscriptions::get(&mut conn, &row.brand_id, id)
            .await?
            .and_then(|subscription| subscription.mandate_id),
        None => None,
    };
    let mandate = match subscription_mandate {
        Some(id) => Some(id),
        None => active_mandates(&mut conn, &row.brand_id, &row.customer_id)
            .await?
            .into_iter()
            .next()
            .map(|mandate| mandate.id),
    };
    match mandate {
        Some(id) => Ok(PaymentMethodInput {
            method_type: "mandate".to_owned(),
            card: None,
            mandate_id: Some(id.into_string()),
        }),
        None => Err(Error::invalid(
            "payment_method",
            "name a payment_method: the wallet does not cover the invoice and the customer has no active mandate",
        )),
    }
}

/// `POST /v1/invoices/{id}/pay`: pays the invoice's order now; the invoice
/// is paid with it (in the payment's own transaction). A declined payment
/// is 402 and leaves the invoice open.
pub async fn pay(
    state: &AppState,
    brand_id: &BrandId,
    id: &str,
    input: PayInvoice,
    key: Option<&IdempotencyKey>,
) -> Result<Invoice> {
    let (row, _) = find(state, brand_id, id).await?;
    payable(&row)?;
    let order_id = row
        .order_id
        .clone()
        .ok_or_else(|| Error::internal("an open invoice without its order"))?;
    let payment_method = match input.payment_method {
        Some(value) => serde_json::from_value::<PaymentMethodInput>(value)
            .map_err(|error| Error::invalid("payment_method", error.to_string()))?,
        None => default_method(state, &row).await?,
    };
    let trigger = if payment_method.method_type == "mandate" {
        "recurring"
    } else {
        "api"
    };
    payment::confirm(
        state,
        brand_id,
        &order_id,
        ConfirmInput {
            payment_method,
            connector_account_id: None,
            trigger: trigger.to_owned(),
            idempotency_key: key.cloned(),
        },
    )
    .await?;
    get(state, brand_id, id).await
}

/// `GET /v1/invoices/{id}/pay_options`: how the invoice can be paid now —
/// the wallet when it covers it, each active mandate, and a card or crypto
/// through its payment link. Empty unless the invoice is payable.
pub async fn pay_options(
    state: &AppState,
    brand_id: &BrandId,
    id: &str,
) -> Result<List<PayOption>> {
    let (row, _) = find(state, brand_id, id).await?;
    let Some(order_id) = row.order_id.clone().filter(|_| payable(&row).is_ok()) else {
        return Ok(List::new(Vec::new(), false));
    };
    let mut options = Vec::new();
    let mut conn = state.db.pool.acquire().await?;
    let available = wallet_available(&mut conn, brand_id, &row.customer_id, &row.currency).await?;
    if available >= row.total - row.amount_paid {
        options.push(option("wallet", |o| o.available = Some(available)));
    }
    for mandate in active_mandates(&mut conn, brand_id, &row.customer_id).await? {
        options.push(option("mandate", |o| {
            o.mandate_id = Some(MandateId::into_string(mandate.id));
            o.card_brand = Some(mandate.card_brand);
            o.last4 = Some(mandate.card_last4);
        }));
    }
    drop(conn);
    let currency = Currency::parse(&row.currency)
        .ok_or_else(|| Error::internal("corrupt invoice currency"))?;
    let methods =
        obol_payments::connector_accounts::payment_methods_for(state, brand_id, currency, None)
            .await?;
    let link = obol_payments::orders::views::payment_link(state, &order_id);
    for kind in ["card", "crypto"] {
        if methods.iter().any(|method| method.method_type == kind) {
            let kind: &'static str = kind;
            options.push(option(kind, |o| o.url = Some(link.clone())));
        }
    }
    Ok(List::new(options, false))
}

fn option(option_type: &'static str, fill: impl FnOnce(&mut PayOption)) -> PayOption {
    let mut option = PayOption {
        option_type,
        mandate_id: None,
        card_brand: None,
        last4: None,
        available: None,
        url: None,
    };
    fill(&mut option);
    option
}
