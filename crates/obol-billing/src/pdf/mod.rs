//! Invoice PDFs. The caller formats every text (amounts, dates, labels); a
//! template only lays it out. An issued invoice names the template version it
//! was rendered with and renders byte for byte the same with it forever, so
//! each version is its own file, frozen once shipped, and the output has no
//! creation date and a document id derived from its content.

mod helvetica;
mod v1;

#[cfg(test)]
mod tests;

/// The template version new invoices are issued with.
pub const CURRENT_TEMPLATE_VERSION: u32 = 1;

/// The most invoice lines a document may have.
pub const MAX_LINES: usize = 1_000;

/// The most totals rows a document may have.
pub const MAX_TOTALS: usize = 20;

/// What an invoice PDF shows, every text already formatted for display.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceDocument {
    /// The brand issuing the invoice, set large at the top.
    pub brand_name: String,
    /// The document's title, e.g. "Invoice".
    pub title: String,
    /// The invoice number, e.g. "ACME-000042".
    pub number: String,
    /// The invoice's status, e.g. "paid", shown upper-cased as a label.
    pub status: String,
    /// The issue date.
    pub issued_on: String,
    /// The due date, when there is one.
    pub due_on: Option<String>,
    /// Whom the invoice is billed to.
    pub customer_name: Option<String>,
    /// The customer's email address.
    pub customer_email: Option<String>,
    /// The customer's country.
    pub customer_country: Option<String>,
    /// The invoice lines, in order; at most [`MAX_LINES`].
    pub lines: Vec<DocumentLine>,
    /// The totals under the lines (subtotal, discount, tax, total, amount
    /// paid, amount due), in order; at most [`MAX_TOTALS`].
    pub totals: Vec<DocumentTotal>,
    /// A closing note, e.g. where to pay online.
    pub footer: Option<String>,
}

/// One row of the line table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentLine {
    /// What is billed; wraps over several lines when long.
    pub description: String,
    /// The service period, set small beneath the description.
    pub period: Option<String>,
    /// The quantity.
    pub quantity: String,
    /// The price of one unit.
    pub unit_amount: String,
    /// The line's amount.
    pub amount: String,
}

/// One row of the totals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentTotal {
    /// What the row sums, e.g. "VAT 19% (exclusive)".
    pub label: String,
    /// The row's amount.
    pub amount: String,
    /// Whether the row is set in bold (the total, or the amount due).
    pub emphasis: bool,
}

/// Why a document could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    /// No template has this version.
    #[error("no invoice template has version {0}")]
    UnknownTemplateVersion(u32),
    /// The document has more lines than [`MAX_LINES`].
    #[error("an invoice document has at most {max} lines, this one has {count}")]
    TooManyLines { count: usize, max: usize },
    /// The document has more totals rows than [`MAX_TOTALS`].
    #[error("an invoice document has at most {max} totals, this one has {count}")]
    TooManyTotals { count: usize, max: usize },
}

/// Renders `doc` with the template `template_version` into a PDF file.
/// The same version and document always give the same bytes.
pub fn render(template_version: u32, doc: &InvoiceDocument) -> Result<Vec<u8>, PdfError> {
    if doc.lines.len() > MAX_LINES {
        return Err(PdfError::TooManyLines {
            count: doc.lines.len(),
            max: MAX_LINES,
        });
    }
    if doc.totals.len() > MAX_TOTALS {
        return Err(PdfError::TooManyTotals {
            count: doc.totals.len(),
            max: MAX_TOTALS,
        });
    }
    match template_version {
        1 => Ok(v1::render(doc)),
        other => Err(PdfError::UnknownTemplateVersion(other)),
    }
}
