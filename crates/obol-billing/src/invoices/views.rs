//! What the invoices' API shows and takes.

use crate::error::{Error, Result};
use obol_core::billing::invoice::InvoiceStatus;
use obol_core::validate::Metadata;
use obol_core::{InvoiceId, Timestamp};
use obol_kernel::state::AppState;
use obol_store::billing::invoices::{InvoiceLineRow, InvoiceRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One line of an invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceLine {
    pub description: String,
    pub price_id: Option<String>,
    pub quantity: i64,
    pub unit_amount: i64,
    /// quantity × unit_amount; negative for a credit of unused time.
    pub amount: i64,
    /// This line's share of the invoice's discount.
    pub discount: i64,
    /// This line's tax (of the amount after its discount).
    pub tax: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub period_start: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub period_end: Option<Timestamp>,
    pub proration: bool,
}

/// The tax an invoice applies: the customer's country's rate when it was made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppliedTax {
    pub tax_rate_id: Option<String>,
    pub percentage_bps: i64,
    pub inclusive: bool,
}

/// An invoice as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invoice {
    pub id: String,
    /// Always `invoice`.
    pub object: &'static str,
    /// `PREFIX-000042`, given at finalization; null while a draft.
    pub number: Option<String>,
    pub customer_id: String,
    /// The customer's email, where the invoice is sent.
    pub customer_email: Option<String>,
    pub subscription_id: Option<String>,
    /// `manual`, `subscription_create`, `subscription_cycle` or `subscription_update`.
    pub billing_reason: String,
    /// `draft`, `open`, `paid`, `void` or `uncollectible`.
    pub status: String,
    /// `charge_automatically` (paid with the mandate or wallet) or
    /// `send_invoice` (emailed at finalization, paid by the customer).
    pub collection_method: String,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    pub amount_paid: i64,
    /// What is still to pay while open or uncollectible; 0 otherwise.
    pub amount_due: i64,
    /// What credit notes gave back of a paid invoice.
    pub amount_credited: i64,
    pub coupon_id: Option<String>,
    pub tax_rate: Option<AppliedTax>,
    pub days_until_due: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_date: Option<Timestamp>,
    /// The order that pays it (made at finalization).
    pub order_id: Option<String>,
    /// Its page for the customer, with the payment link and the PDF.
    pub hosted_invoice_url: Option<String>,
    /// `GET` with an API key: the PDF.
    pub pdf_url: Option<String>,
    /// The PDF template version it renders with, forever (set at finalization).
    pub template_version: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub period_start: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub period_end: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finalized_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paid_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub voided_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub marked_uncollectible_at: Option<Timestamp>,
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// One line of `POST /v1/invoices`: a price's, or one described here.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoiceLine {
    /// With `price_id`: the price's package and amount.
    pub price_id: Option<String>,
    pub description: Option<String>,
    /// Default 1.
    pub quantity: Option<i64>,
    /// Without `price_id`.
    pub unit_amount: Option<i64>,
}

/// `POST /v1/invoices`: a one-off draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoice {
    pub customer_id: String,
    pub lines: Vec<CreateInvoiceLine>,
    /// Default 7.
    pub days_until_due: Option<i64>,
    /// Needed only when no line names a price and the brand has no default currency.
    pub currency: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `POST /v1/invoices/{id}/pay`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayInvoice {
    /// `{"type": "wallet"}`, `{"type": "mandate", "mandate_id": …}` or a
    /// card; absent: the wallet when it covers the invoice, else the
    /// subscription's mandate.
    #[schema(value_type = Option<Object>)]
    pub payment_method: Option<Value>,
}

/// A way an open invoice can be paid now.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayOption {
    /// `wallet`, `mandate`, `card` or `crypto`.
    #[serde(rename = "type")]
    pub option_type: &'static str,
    /// `mandate`: which one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mandate_id: Option<String>,
    /// `mandate`: its card's brand and last four digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_brand: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    /// `wallet`: what it holds in the invoice's currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    /// `card` and `crypto`: the payment link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The signature of an invoice's hosted page link.
pub(crate) fn page_signature(state: &AppState, id: &InvoiceId) -> String {
    let mac = state.master_key.hmac_hex("invoice_page", id.as_bytes());
    mac[..32].to_owned()
}

fn at(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(Timestamp::from_ms)
}

/// The invoice as the API shows it.
pub(crate) fn view(
    state: &AppState,
    row: &InvoiceRow,
    lines: &[InvoiceLineRow],
) -> Result<Invoice> {
    let payable = matches!(row.status.as_str(), "open" | "uncollectible");
    let issued = row.status != InvoiceStatus::Draft.as_str();
    Ok(Invoice {
        id: row.id.to_string(),
        object: "invoice",
        number: row.number.clone(),
        customer_id: row.customer_id.to_string(),
        customer_email: row.customer_email.clone(),
        subscription_id: row.subscription_id.clone(),
        billing_reason: row.billing_reason.clone(),
        status: row.status.clone(),
        collection_method: row.collection_method.clone(),
        currency: row.currency.clone(),
        lines: lines
            .iter()
            .map(|line| InvoiceLine {
                description: line.description.clone(),
                price_id: line.price_id.clone(),
                quantity: line.quantity,
                unit_amount: line.unit_amount,
                amount: line.amount,
                discount: line.discount,
                tax: line.tax,
                period_start: at(line.period_start),
                period_end: at(line.period_end),
                proration: line.proration,
            })
            .collect(),
        subtotal: row.subtotal,
        discount: row.discount,
        tax: row.tax,
        total: row.total,
        amount_paid: row.amount_paid,
        amount_due: if payable {
            row.total - row.amount_paid
        } else {
            0
        },
        amount_credited: row.amount_credited,
        coupon_id: row.coupon_id.clone(),
        tax_rate: row.tax_bps.map(|bps| AppliedTax {
            tax_rate_id: row.tax_rate_id.clone(),
            percentage_bps: bps,
            inclusive: row.tax_inclusive.unwrap_or(false),
        }),
        days_until_due: row.days_until_due,
        due_date: at(row.due_date),
        order_id: row.order_id.as_ref().map(ToString::to_string),
        hosted_invoice_url: issued.then(|| {
            format!(
                "{}/invoices/{}?sig={}",
                state.public_url,
                row.id,
                page_signature(state, &row.id)
            )
        }),
        pdf_url: issued.then(|| format!("{}/v1/invoices/{}/pdf", state.public_url, row.id)),
        template_version: row.template_version,
        period_start: at(row.period_start),
        period_end: at(row.period_end),
        finalized_at: at(row.finalized_at),
        paid_at: at(row.paid_at),
        voided_at: at(row.voided_at),
        marked_uncollectible_at: at(row.marked_uncollectible_at),
        metadata: serde_json::from_str(&row.metadata).map_err(Error::internal)?,
        created_at: Timestamp::from_ms(row.created_at),
    })
}
