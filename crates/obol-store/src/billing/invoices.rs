//! Invoices, their lines and the brand's invoice numbers.

use crate::page::{Page, PageRequest};
use crate::{Backend, Conn, Result};
use obol_core::{BrandId, CustomerId, InvoiceId, OrderId};

#[derive(Debug, Clone)]
pub struct InvoiceRow {
    pub id: InvoiceId,
    pub brand_id: BrandId,
    pub customer_id: CustomerId,
    pub subscription_id: Option<String>,
    /// The subscription period this invoice bills (cycle and first invoices).
    pub period_index: Option<i64>,
    /// `manual`, `subscription_create`, `subscription_cycle`, `subscription_update`.
    pub billing_reason: String,
    pub number: Option<String>,
    pub status: String,
    pub issuer_name: String,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub customer_country: Option<String>,
    /// `charge_automatically` or `send_invoice`.
    pub collection_method: String,
    pub currency: String,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    pub amount_paid: i64,
    pub amount_credited: i64,
    pub coupon_id: Option<String>,
    pub tax_rate_id: Option<String>,
    pub tax_bps: Option<i64>,
    pub tax_inclusive: Option<bool>,
    pub days_until_due: i64,
    pub due_date: Option<i64>,
    pub order_id: Option<OrderId>,
    pub template_version: Option<i64>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub finalized_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub voided_at: Option<i64>,
    pub marked_uncollectible_at: Option<i64>,
    /// JSON object of strings.
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(InvoiceRow {
    id,
    brand_id,
    customer_id,
    subscription_id,
    period_index,
    billing_reason,
    number,
    status,
    issuer_name,
    customer_name,
    customer_email,
    customer_country,
    collection_method,
    currency,
    subtotal,
    discount,
    tax,
    total,
    amount_paid,
    amount_credited,
    coupon_id,
    tax_rate_id,
    tax_bps,
    tax_inclusive,
    days_until_due,
    due_date,
    order_id,
    template_version,
    period_start,
    period_end,
    finalized_at,
    paid_at,
    voided_at,
    marked_uncollectible_at,
    metadata,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, brand_id, customer_id, subscription_id, period_index, billing_reason, \
    number, status, issuer_name, customer_name, customer_email, customer_country, \
    collection_method, currency, subtotal, discount, tax, total, amount_paid, amount_credited, \
    coupon_id, tax_rate_id, tax_bps, tax_inclusive, days_until_due, due_date, order_id, \
    template_version, period_start, period_end, finalized_at, paid_at, voided_at, \
    marked_uncollectible_at, metadata, created_at, updated_at";

/// One line of an invoice, in its position.
#[derive(Debug, Clone)]
pub struct InvoiceLineRow {
    pub invoice_id: InvoiceId,
    pub position: i64,
    pub description: String,
    pub price_id: Option<String>,
    pub quantity: i64,
    pub unit_amount: i64,
    /// quantity × unit_amount; negative for a credit of unused time.
    pub amount: i64,
    pub discount: i64,
    pub tax: i64,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub proration: bool,
}

crate::from_row!(InvoiceLineRow {
    invoice_id,
    position,
    description,
    price_id,
    quantity,
    unit_amount,
    amount,
    discount,
    tax,
    period_start,
    period_end,
    proration
});

const LINE_COLUMNS: &str = "invoice_id, position, description, price_id, quantity, unit_amount, \
    amount, discount, tax, period_start, period_end, proration";

/// Inserts an invoice and its lines; false (nothing written) when the
/// subscription already has its invoice for this period.
pub async fn insert(conn: &mut Conn, row: &InvoiceRow, lines: &[InvoiceLineRow]) -> Result<bool> {
    let sql = format!(
        "INSERT INTO invoices ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
         $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, \
         $29, $30, $31, $32, $33, $34, $35, $36, $37) ON CONFLICT DO NOTHING"
    );
    let done = crate::sql::query(sql)
        .bind(&row.id)
        .bind(&row.brand_id)
        .bind(&row.customer_id)
        .bind(&row.subscription_id)
        .bind(row.period_index)
        .bind(&row.billing_reason)
        .bind(&row.number)
        .bind(&row.status)
        .bind(&row.issuer_name)
        .bind(&row.customer_name)
        .bind(&row.customer_email)
        .bind(&row.customer_country)
        .bind(&row.collection_method)
        .bind(&row.currency)
        .bind(row.subtotal)
        .bind(row.discount)
        .bind(row.tax)
        .bind(row.total)
        .bind(row.amount_paid)
        .bind(row.amount_credited)
        .bind(&row.coupon_id)
        .bind(&row.tax_rate_id)
        .bind(row.tax_bps)
        .bind(row.tax_inclusive)
        .bind(row.days_until_due)
        .bind(row.due_date)
        .bind(&row.order_id)
        .bind(row.template_version)
        .bind(row.period_start)
        .bind(row.period_end)
        .bind(row.finalized_at)
        .bind(row.paid_at)
        .bind(row.voided_at)
        .bind(row.marked_uncollectible_at)
        .bind(&row.metadata)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for line in lines {
        let sql = format!(
            "INSERT INTO invoice_lines ({LINE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        crate::sql::query(sql)
            .bind(&line.invoice_id)
            .bind(line.position)
            .bind(&line.description)
            .bind(&line.price_id)
            .bind(line.quantity)
            .bind(line.unit_amount)
            .bind(line.amount)
            .bind(line.discount)
            .bind(line.tax)
            .bind(line.period_start)
            .bind(line.period_end)
            .bind(line.proration)
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

/// Writes what an invoice's life changes: number, status, payment, order,
/// dates.
pub async fn update(conn: &mut Conn, row: &InvoiceRow) -> Result<()> {
    crate::sql::query(
        "UPDATE invoices SET number = $3, status = $4, amount_paid = $5, amount_credited = $6, \
         due_date = $7, order_id = $8, template_version = $9, finalized_at = $10, paid_at = $11, \
         voided_at = $12, marked_uncollectible_at = $13, updated_at = $14 \
         WHERE id = $1 AND brand_id = $2",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.number)
    .bind(&row.status)
    .bind(row.amount_paid)
    .bind(row.amount_credited)
    .bind(row.due_date)
    .bind(&row.order_id)
    .bind(row.template_version)
    .bind(row.finalized_at)
    .bind(row.paid_at)
    .bind(row.voided_at)
    .bind(row.marked_uncollectible_at)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, brand_id: &BrandId, id: &str) -> Result<Option<InvoiceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The invoice, locked for a change until the transaction ends.
pub async fn lock(
    conn: &mut Conn,
    backend: Backend,
    brand_id: &BrandId,
    id: &str,
) -> Result<Option<InvoiceRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices WHERE id = $1 AND brand_id = $2{}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The invoice an order pays, locked, if the order pays one.
pub async fn lock_by_order(
    conn: &mut Conn,
    backend: Backend,
    order_id: &OrderId,
) -> Result<Option<InvoiceRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices WHERE order_id = $1{}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(order_id)
        .fetch_optional(conn)
        .await
}

/// An invoice's lines in order.
pub async fn lines(conn: &mut Conn, invoice_id: &InvoiceId) -> Result<Vec<InvoiceLineRow>> {
    let sql =
        format!("SELECT {LINE_COLUMNS} FROM invoice_lines WHERE invoice_id = $1 ORDER BY position");
    crate::sql::query_as(sql)
        .bind(invoice_id)
        .fetch_all(conn)
        .await
}

/// The next number of the brand's invoices, taken inside the finalizing
/// transaction: the counter row stays locked until it ends, and a rollback
/// gives the number back, so numbers have no gaps.
pub async fn take_number(conn: &mut Conn, brand_id: &BrandId) -> Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO invoice_numbers (brand_id, last_number) VALUES ($1, 1) \
         ON CONFLICT (brand_id) DO UPDATE SET last_number = invoice_numbers.last_number + 1 \
         RETURNING last_number",
    )
    .bind(brand_id)
    .fetch_one(conn)
    .await
}

/// What a list of invoices may be narrowed to.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub customer_id: Option<String>,
    pub status: Option<String>,
    pub subscription_id: Option<String>,
}

/// The brand's invoices, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    filter: &InvoiceFilter,
    page: &PageRequest,
) -> Result<Page<InvoiceRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices WHERE brand_id = $1 AND ($2 IS NULL OR customer_id = $2) \
         AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR subscription_id = $4) \
         AND ($5 IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
    );
    let rows = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(&filter.customer_id)
        .bind(&filter.status)
        .bind(&filter.subscription_id)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}

/// The invoice of a subscription's period `period_index`, if made.
pub async fn period_invoice(
    conn: &mut Conn,
    subscription_id: &obol_core::SubscriptionId,
    period_index: i64,
) -> Result<Option<InvoiceRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM invoices WHERE subscription_id = $1 AND period_index = $2");
    crate::sql::query_as(sql)
        .bind(subscription_id)
        .bind(period_index)
        .fetch_optional(conn)
        .await
}

/// Counts `amount` more as credited back on a paid invoice, never past what
/// was paid; false when it would pass it.
pub async fn add_credited(
    conn: &mut Conn,
    id: &InvoiceId,
    amount: i64,
    now_ms: i64,
) -> Result<bool> {
    let done = crate::sql::query(
        "UPDATE invoices SET amount_credited = amount_credited + $2, updated_at = $3 \
         WHERE id = $1 AND amount_credited + $2 <= amount_paid",
    )
    .bind(id)
    .bind(amount)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A credit note on a paid invoice.
#[derive(Debug, Clone)]
pub struct CreditNoteRow {
    pub id: String,
    pub brand_id: BrandId,
    pub invoice_id: InvoiceId,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    /// `wallet` or `payment`.
    pub refund_to: String,
    pub refund_id: Option<String>,
    /// JSON array of `{description, amount}`.
    pub lines: String,
    pub created_at: i64,
}

pub async fn insert_credit_note(conn: &mut Conn, row: &CreditNoteRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO credit_notes (id, brand_id, invoice_id, amount, currency, reason, refund_to, \
         refund_id, lines, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.invoice_id)
    .bind(row.amount)
    .bind(&row.currency)
    .bind(&row.reason)
    .bind(&row.refund_to)
    .bind(&row.refund_id)
    .bind(&row.lines)
    .bind(row.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Any brand's invoice, for its signed page.
pub async fn find(conn: &mut Conn, id: &InvoiceId) -> Result<Option<InvoiceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// What the invoice's credit notes gave back to the payment, in all.
pub async fn credited_to_payment(conn: &mut Conn, invoice_id: &InvoiceId) -> Result<i64> {
    crate::sql::query_scalar(
        "SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM credit_notes \
         WHERE invoice_id = $1 AND refund_to = 'payment'",
    )
    .bind(invoice_id)
    .fetch_one(conn)
    .await
}

/// Names the refund of a credit note to the payment.
pub async fn set_credit_note_refund(conn: &mut Conn, id: &str, refund_id: &str) -> Result<()> {
    crate::sql::query("UPDATE credit_notes SET refund_id = $2 WHERE id = $1")
        .bind(id)
        .bind(refund_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes back a credit note whose refund was declined, and what it counted
/// as credited.
pub async fn withdraw_credit_note(
    conn: &mut Conn,
    id: &str,
    invoice_id: &InvoiceId,
    amount: i64,
    now_ms: i64,
) -> Result<()> {
    crate::sql::query("DELETE FROM credit_notes WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    crate::sql::query(
        "UPDATE invoices SET amount_credited = amount_credited - $2, updated_at = $3 WHERE id = $1",
    )
    .bind(invoice_id)
    .bind(amount)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}
