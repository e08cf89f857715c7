//! Credit notes: part or all of a paid invoice given back, to the
//! customer's wallet (a ledger entry from the brand's balance, in the same
//! transaction as the note) or to the payment (a refund of the invoice's
//! order, whose own entries follow its outcome). What was credited never
//! passes what was paid: a conditional update on the invoice backs it.

use crate::error::{Error, Result};
use obol_core::{BrandId, CreditNoteId, Currency, Money, OrderId, Timestamp};
use obol_kernel::events;
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::state::AppState;
use obol_payments::orders::refunds::{self, CreateRefund};
use obol_store::Conn;
use obol_store::billing::invoices::InvoiceRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const REASONS: [&str; 4] = [
    "duplicate",
    "fraudulent",
    "order_change",
    "product_unsatisfactory",
];

/// One line of a credit note.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteLine {
    pub description: String,
    pub amount: i64,
}

/// `POST /v1/invoices/{id}/credit_notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCreditNote {
    /// Default: the lines' sum, else all that is not yet credited.
    pub amount: Option<i64>,
    pub lines: Option<Vec<CreditNoteLine>>,
    /// `duplicate`, `fraudulent`, `order_change` or `product_unsatisfactory`.
    pub reason: String,
    /// `wallet` (the customer's paid credit) or `payment` (a refund).
    pub refund_to: String,
}

/// A credit note as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditNote {
    pub id: String,
    /// Always `credit_note`.
    pub object: &'static str,
    pub invoice_id: String,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub refund_to: String,
    /// `payment`: the refund of the invoice's order.
    pub refund_id: Option<String>,
    pub lines: Vec<CreditNoteLine>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

fn amount_of(input: &CreateCreditNote, uncredited: i64) -> Result<i64> {
    let from_lines = match &input.lines {
        None => None,
        Some(lines) if lines.is_empty() || lines.len() > 50 => {
            return Err(Error::invalid("lines", "a credit note has 1 to 50 lines"));
        }
        Some(lines) => {
            let mut sum: i64 = 0;
            for (index, line) in lines.iter().enumerate() {
                obol_core::validate::text(
                    &format!("lines[{index}][description]"),
                    &line.description,
                    1,
                    500,
                )?;
                if line.amount <= 0 {
                    return Err(Error::invalid(
                        format!("lines[{index}][amount]"),
                        "a line's amount must be positive",
                    ));
                }
                sum = sum
                    .checked_add(line.amount)
                    .ok_or_else(|| Error::invalid("lines", "the lines add up to too much"))?;
            }
            Some(sum)
        }
    };
    let amount = match (input.amount, from_lines) {
        (Some(amount), Some(sum)) if amount != sum => {
            return Err(Error::invalid(
                "amount",
                format!("amount {amount} is not the lines' sum {sum}"),
            ));
        }
        (Some(amount), _) => amount,
        (None, Some(sum)) => sum,
        (None, None) => uncredited,
    };
    if amount <= 0 || amount > uncredited {
        return Err(Error::invalid(
            "amount",
            format!("amount must be positive and at most the {uncredited} not yet credited"),
        ));
    }
    Ok(amount)
}

/// Issues a credit note on a paid invoice. Its amount is counted as
/// credited before any refund goes out, in one transaction with the note
/// (and, to the wallet, with the credit and its ledger entry), so two notes
/// at once never give back more than was paid; a declined refund takes its
/// note back. Refunds of the invoice's order made directly count too.
pub async fn create(
    state: &AppState,
    brand_id: &BrandId,
    invoice_id: &str,
    input: CreateCreditNote,
    key: Option<&IdempotencyKey>,
) -> Result<CreditNote> {
    if !REASONS.contains(&input.reason.as_str()) {
        return Err(Error::invalid(
            "reason",
            format!("reason must be one of {}", REASONS.join(", ")),
        ));
    }
    if !matches!(input.refund_to.as_str(), "wallet" | "payment") {
        return Err(Error::invalid(
            "refund_to",
            "refund_to must be wallet or payment",
        ));
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let invoice = super::lock(state, &mut tx, brand_id, invoice_id).await?.0;
    if invoice.status != "paid" {
        return Err(Error::invalid_state(format!(
            "a {} invoice takes no credit note: only a paid one",
            invoice.status
        )));
    }
    let Some(order_id) = invoice.order_id.clone() else {
        return Err(Error::invalid_state(
            "nothing was paid for this invoice: there is nothing to credit",
        ));
    };
    let order = obol_store::orders::get_order(&mut tx, brand_id, &order_id)
        .await?
        .ok_or_else(|| Error::internal("the invoice's order vanished"))?;
    let by_notes = obol_store::billing::invoices::credited_to_payment(&mut tx, &invoice.id).await?;
    let refunded_directly = (order.amount_refunded + order.amount_refund_pending - by_notes).max(0);
    let uncredited = invoice.amount_paid - invoice.amount_credited - refunded_directly;
    let amount = amount_of(&input, uncredited)?;
    let currency = Currency::parse(&invoice.currency)
        .ok_or_else(|| Error::internal("corrupt invoice currency"))?;
    let lines = input.lines.clone().unwrap_or_else(|| {
        vec![CreditNoteLine {
            description: format!(
                "Credit of invoice {}",
                invoice.number.as_deref().unwrap_or_default()
            ),
            amount,
        }]
    });
    let mut note = CreditNote {
        id: CreditNoteId::new().into_string(),
        object: "credit_note",
        invoice_id: invoice.id.to_string(),
        amount,
        currency: invoice.currency.clone(),
        reason: input.reason,
        refund_to: input.refund_to,
        refund_id: None,
        lines,
        created_at: now,
    };
    if note.refund_to == "wallet" {
        let money = Money {
            amount_minor: amount,
            currency,
        };
        crate::subscriptions::changes::credit_wallet(
            state,
            &mut tx,
            &invoice,
            &order_id,
            money,
            "credit_note",
            now,
        )
        .await?;
    } else {
        credited(&mut tx, &invoice, amount, now).await?;
    }
    insert_note(&mut tx, brand_id, &invoice, &note, now).await?;
    if note.refund_to == "wallet" {
        record(&mut tx, brand_id, &invoice, &note, now).await?;
        tx.commit().await?;
        return Ok(note);
    }
    tx.commit().await?;
    match refund(state, brand_id, &order_id, amount, key).await {
        Ok(refund_id) => {
            let mut tx = state.db.begin().await?;
            obol_store::billing::invoices::set_credit_note_refund(&mut tx, &note.id, &refund_id)
                .await?;
            note.refund_id = Some(refund_id);
            record(&mut tx, brand_id, &invoice, &note, now).await?;
            tx.commit().await?;
            Ok(note)
        }
        Err(error) => {
            let mut tx = state.db.begin().await?;
            obol_store::billing::invoices::withdraw_credit_note(
                &mut tx,
                &note.id,
                &invoice.id,
                amount,
                state.now().as_ms(),
            )
            .await?;
            tx.commit().await?;
            Err(error)
        }
    }
}

async fn insert_note(
    tx: &mut Conn,
    brand_id: &BrandId,
    invoice: &InvoiceRow,
    note: &CreditNote,
    now: Timestamp,
) -> Result<()> {
    obol_store::billing::invoices::insert_credit_note(
        tx,
        &obol_store::billing::invoices::CreditNoteRow {
            id: note.id.clone(),
            brand_id: brand_id.clone(),
            invoice_id: invoice.id.clone(),
            amount: note.amount,
            currency: note.currency.clone(),
            reason: note.reason.clone(),
            refund_to: note.refund_to.clone(),
            refund_id: note.refund_id.clone(),
            lines: serde_json::to_string(&note.lines).map_err(Error::internal)?,
            created_at: now.as_ms(),
        },
    )
    .await?;
    Ok(())
}

async fn record(
    tx: &mut Conn,
    brand_id: &BrandId,
    invoice: &InvoiceRow,
    note: &CreditNote,
    now: Timestamp,
) -> Result<()> {
    events::record(
        tx,
        brand_id,
        "credit_note.created",
        &note.id,
        Some(&invoice.customer_id),
        note,
        now,
    )
    .await?;
    Ok(())
}

/// Counts a refunded credit on the invoice (its ledger entries are the refund's).
async fn credited(tx: &mut Conn, invoice: &InvoiceRow, amount: i64, now: Timestamp) -> Result<()> {
    if obol_store::billing::invoices::add_credited(tx, &invoice.id, amount, now.as_ms()).await? {
        Ok(())
    } else {
        Err(Error::invalid(
            "amount",
            "credits of an invoice cannot add up to more than was paid",
        ))
    }
}

/// Refunds `amount` of the invoice's order: the refund's id, also when its
/// outcome is not known yet (sync settles it). A declined refund fails the
/// credit note.
async fn refund(
    state: &AppState,
    brand_id: &BrandId,
    order_id: &OrderId,
    amount: i64,
    key: Option<&IdempotencyKey>,
) -> Result<String> {
    let input = CreateRefund {
        order_id: order_id.to_string(),
        amount: Some(amount),
        reason: Some("requested_by_customer".to_owned()),
        metadata: None,
    };
    match refunds::create(state, brand_id, input, key).await {
        Ok(refund) if refund.status == "failed" => Err(Error::invalid_state(format!(
            "the refund was declined: {}",
            refund.failure_reason.unwrap_or_default()
        ))),
        Ok(refund) => Ok(refund.id),
        Err(obol_payments::error::Error::ConnectorFailed {
            refund_id: Some(refund_id),
            ..
        }) => Ok(refund_id),
        Err(error) => Err(error.into()),
    }
}
