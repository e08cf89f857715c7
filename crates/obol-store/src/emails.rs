//! Emails (rendered, with their sending state), the per-brand cursor that
//! makes them from events, and brands' own email templates.

use crate::page::{Page, PageRequest};
use crate::{Conn, Result};
use obol_core::{BrandId, CustomerId, EmailId, EventId, OrderId};

/// A stored email.
#[derive(Debug, Clone)]
pub struct EmailRow {
    pub id: EmailId,
    pub brand_id: BrandId,
    pub template: String,
    pub event_id: EventId,
    pub order_id: Option<OrderId>,
    pub customer_id: Option<CustomerId>,
    pub to_address: String,
    /// `Name <address>`.
    pub from_address: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// `queued`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// When a queued email is sent next; NULL while no SMTP server is set.
    pub run_at: Option<i64>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}
crate::from_row!(EmailRow {
    id,
    brand_id,
    template,
    event_id,
    order_id,
    customer_id,
    to_address,
    from_address,
    subject,
    text_body,
    html_body,
    status,
    attempts,
    run_at,
    lease_until,
    last_error,
    sent_at,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, brand_id, template, event_id, order_id, customer_id, to_address, \
    from_address, subject, text_body, html_body, status, attempts, run_at, lease_until, \
    last_error, sent_at, created_at, updated_at";

/// Inserts emails; one that its event already made (same template) is
/// skipped.
pub async fn insert(conn: &mut Conn, rows: &[EmailRow]) -> Result<()> {
    for row in rows {
        crate::sql::query(
            "INSERT INTO emails (id, brand_id, template, event_id, order_id, customer_id, \
             to_address, from_address, subject, text_body, html_body, status, attempts, run_at, \
             last_error, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (event_id, template) DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.brand_id)
        .bind(&row.template)
        .bind(&row.event_id)
        .bind(&row.order_id)
        .bind(&row.customer_id)
        .bind(&row.to_address)
        .bind(&row.from_address)
        .bind(&row.subject)
        .bind(&row.text_body)
        .bind(&row.html_body)
        .bind(&row.status)
        .bind(row.attempts)
        .bind(row.run_at)
        .bind(&row.last_error)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// An email of the brand.
pub async fn get(conn: &mut Conn, brand_id: &BrandId, id: &EmailId) -> Result<Option<EmailRow>> {
    let sql = format!("SELECT {COLUMNS} FROM emails WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// Filters of the email list.
#[derive(Debug, Clone, Default)]
pub struct EmailFilter {
    pub order_id: Option<OrderId>,
    pub customer_id: Option<CustomerId>,
}

/// The brand's emails, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    filter: &EmailFilter,
    page: &PageRequest,
) -> Result<Page<EmailRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM emails WHERE brand_id = $1 AND ($2 IS NULL OR order_id = $2) \
         AND ($3 IS NULL OR customer_id = $3) AND ($4 IS NULL OR id < $4) \
         ORDER BY id DESC LIMIT $5"
    );
    let rows = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(&filter.order_id)
        .bind(&filter.customer_id)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}

/// A queued email may go when it is due and not being sent.
const CLAIMABLE: &str =
    "status = 'queued' AND run_at IS NOT NULL AND (lease_until IS NULL OR lease_until <= $1)";

/// Up to `limit` emails that may go now, soonest first.
pub async fn due(conn: &mut Conn, now_ms: i64, limit: i64) -> Result<Vec<EmailRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM emails WHERE run_at <= $1 AND {CLAIMABLE} \
         ORDER BY run_at, id LIMIT $2"
    );
    crate::sql::query_as(sql)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// When the next email falls due, up to `until_ms`; one being sent counts
/// from the end of its lease.
pub async fn next_due(conn: &mut Conn, until_ms: i64) -> Result<Option<i64>> {
    crate::sql::query_scalar(
        "SELECT MIN(CASE WHEN lease_until > run_at THEN lease_until ELSE run_at END) \
         FROM emails WHERE status = 'queued' AND run_at <= $1",
    )
    .bind(until_ms)
    .fetch_one(conn)
    .await
}

/// Claims a queued email until `lease_until`; false if another process has it.
pub async fn claim(conn: &mut Conn, id: &EmailId, now_ms: i64, lease_until: i64) -> Result<bool> {
    let sql = format!("UPDATE emails SET lease_until = $2 WHERE id = $3 AND {CLAIMABLE}");
    let result = crate::sql::query(sql)
        .bind(now_ms)
        .bind(lease_until)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// What one attempt to send an email came to.
#[derive(Debug, Clone)]
pub struct SendOutcome<'a> {
    /// `sent`, `queued` (retried at `run_at`) or `failed`.
    pub status: &'a str,
    pub error: Option<&'a str>,
    pub run_at: Option<i64>,
    pub now_ms: i64,
}

/// Records an attempt on a claimed email; false if it was no longer queued.
pub async fn record_attempt(
    conn: &mut Conn,
    id: &EmailId,
    outcome: &SendOutcome<'_>,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE emails SET status = $2, attempts = attempts + 1, last_error = $3, run_at = $4, \
         lease_until = NULL, sent_at = CASE WHEN $2 = 'sent' THEN $5 ELSE sent_at END, \
         updated_at = $5 WHERE id = $1 AND status = 'queued'",
    )
    .bind(id)
    .bind(outcome.status)
    .bind(outcome.error)
    .bind(outcome.run_at)
    .bind(outcome.now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Parks the due queued emails (no SMTP server is configured): no due
/// time, `error` saying why; returns how many.
pub async fn park(conn: &mut Conn, error: &str, now_ms: i64) -> Result<u64> {
    let result = crate::sql::query(
        "UPDATE emails SET run_at = NULL, last_error = $1, updated_at = $2 \
         WHERE status = 'queued' AND run_at <= $2 AND (lease_until IS NULL OR lease_until <= $2)",
    )
    .bind(error)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// Makes the queued emails kept while no SMTP server was set due now (a
/// server with one started); returns how many.
pub async fn release_waiting(conn: &mut Conn, now_ms: i64) -> Result<u64> {
    let result = crate::sql::query(
        "UPDATE emails SET run_at = $1, updated_at = $1 WHERE status = 'queued' AND run_at IS NULL",
    )
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// A brand's own version of an email template.
#[derive(Debug, Clone)]
pub struct TemplateRow {
    pub brand_id: BrandId,
    pub name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: i64,
    pub updated_at: i64,
}
crate::from_row!(TemplateRow {
    brand_id,
    name,
    subject,
    text_body,
    html_body,
    created_at,
    updated_at
});

const TEMPLATE_COLUMNS: &str =
    "brand_id, name, subject, text_body, html_body, created_at, updated_at";

/// The brand's version of template `name`, if it has one.
pub async fn template(
    conn: &mut Conn,
    brand_id: &BrandId,
    name: &str,
) -> Result<Option<TemplateRow>> {
    let sql =
        format!("SELECT {TEMPLATE_COLUMNS} FROM email_templates WHERE brand_id = $1 AND name = $2");
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(name)
        .fetch_optional(conn)
        .await
}

/// Every template the brand has its own version of.
pub async fn templates(conn: &mut Conn, brand_id: &BrandId) -> Result<Vec<TemplateRow>> {
    let sql =
        format!("SELECT {TEMPLATE_COLUMNS} FROM email_templates WHERE brand_id = $1 ORDER BY name");
    crate::sql::query_as(sql)
        .bind(brand_id)
        .fetch_all(conn)
        .await
}

/// Saves the brand's version of a template, replacing an earlier one.
pub async fn put_template(conn: &mut Conn, row: &TemplateRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO email_templates (brand_id, name, subject, text_body, html_body, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (brand_id, name) DO UPDATE \
         SET subject = $3, text_body = $4, html_body = $5, updated_at = $7",
    )
    .bind(&row.brand_id)
    .bind(&row.name)
    .bind(&row.subject)
    .bind(&row.text_body)
    .bind(&row.html_body)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}
