//! What an issued invoice's PDF and page show, from its row: the names it
//! was made with, its lines and sums in the currency's format.

use crate::error::{Error, Result};
use crate::pdf::{DocumentLine, DocumentTotal, InvoiceDocument};
use obol_core::{Currency, Timestamp, format_amount};
use obol_store::billing::invoices::{InvoiceLineRow, InvoiceRow};

/// `2026-12-04`.
pub(crate) fn day(ms: i64) -> String {
    Timestamp::from_ms(ms)
        .to_rfc3339()
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// `19%`, `19.5%`, `7.25%`.
fn percent(bps: i64) -> String {
    let (whole, hundredths) = (bps / 100, bps % 100);
    match hundredths {
        0 => format!("{whole}%"),
        h if h % 10 == 0 => format!("{whole}.{}%", h / 10),
        h => format!("{whole}.{h:02}%"),
    }
}

/// The tax's label: `Tax 19%`, `Tax 19% (included)`.
pub(crate) fn tax_label(row: &InvoiceRow) -> Option<String> {
    let bps = row.tax_bps?;
    let included = if row.tax_inclusive.unwrap_or(false) {
        " (included)"
    } else {
        ""
    };
    Some(format!("Tax {}{included}", percent(bps)))
}

/// The sums an invoice shows, in order: (label, amount, emphasized).
pub(crate) fn totals(row: &InvoiceRow, currency: Currency) -> Vec<DocumentTotal> {
    let money = |amount: i64| format_amount(amount, currency);
    let mut totals = vec![DocumentTotal {
        label: "Subtotal".to_owned(),
        amount: money(row.subtotal),
        emphasis: false,
    }];
    if row.discount > 0 {
        totals.push(DocumentTotal {
            label: "Discount".to_owned(),
            amount: money(-row.discount),
            emphasis: false,
        });
    }
    if let Some(label) = tax_label(row) {
        totals.push(DocumentTotal {
            label,
            amount: money(row.tax),
            emphasis: false,
        });
    }
    totals.push(DocumentTotal {
        label: "Total".to_owned(),
        amount: money(row.total),
        emphasis: row.status == "paid",
    });
    totals.push(DocumentTotal {
        label: "Amount paid".to_owned(),
        amount: money(row.amount_paid),
        emphasis: false,
    });
    if row.amount_credited > 0 {
        totals.push(DocumentTotal {
            label: "Credited".to_owned(),
            amount: money(-row.amount_credited),
            emphasis: false,
        });
    }
    let payable = matches!(row.status.as_str(), "open" | "uncollectible");
    totals.push(DocumentTotal {
        label: "Amount due".to_owned(),
        amount: money(if payable {
            row.total - row.amount_paid
        } else {
            0
        }),
        emphasis: row.status != "paid",
    });
    totals
}

/// The invoice as its PDF lays it out; `pay_url` goes in the footer while
/// it is payable.
pub(crate) fn document(
    row: &InvoiceRow,
    lines: &[InvoiceLineRow],
    pay_url: Option<&str>,
) -> Result<InvoiceDocument> {
    let currency = Currency::parse(&row.currency)
        .ok_or_else(|| Error::internal("corrupt invoice currency"))?;
    let money = |amount: i64| format_amount(amount, currency);
    Ok(InvoiceDocument {
        brand_name: row.issuer_name.clone(),
        title: "Invoice".to_owned(),
        number: row.number.clone().unwrap_or_default(),
        status: row.status.clone(),
        issued_on: day(row.finalized_at.unwrap_or(row.created_at)),
        due_on: row.due_date.map(day),
        customer_name: row.customer_name.clone(),
        customer_email: row.customer_email.clone(),
        customer_country: row.customer_country.clone(),
        lines: lines
            .iter()
            .map(|line| DocumentLine {
                description: line.description.clone(),
                period: line
                    .period_start
                    .zip(line.period_end)
                    .map(|(start, end)| format!("{} – {}", day(start), day(end))),
                quantity: line.quantity.to_string(),
                unit_amount: money(line.unit_amount),
                amount: money(line.amount),
            })
            .collect(),
        totals: totals(row, currency),
        footer: pay_url.map(|url| format!("Pay online: {url}")),
    })
}

/// The invoice's PDF, rendered with the template version it was issued with.
pub(crate) fn pdf(
    row: &InvoiceRow,
    lines: &[InvoiceLineRow],
    pay_url: Option<&str>,
) -> Result<Vec<u8>> {
    let version = row
        .template_version
        .and_then(|version| u32::try_from(version).ok())
        .ok_or_else(|| Error::invalid_state("a draft invoice has no PDF: finalize it first"))?;
    let document = document(row, lines, pay_url)?;
    crate::pdf::render(version, &document).map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_read_as_written() {
        assert_eq!(percent(1900), "19%");
        assert_eq!(percent(1950), "19.5%");
        assert_eq!(percent(725), "7.25%");
        assert_eq!(percent(5), "0.05%");
    }
}
