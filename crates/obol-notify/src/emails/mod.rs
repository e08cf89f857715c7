//! Transactional emails: `compose` makes them from outbox events (rendered
//! then, from the brand's template or the built-in one), `send` sends them
//! over SMTP with retries; this module lists them and keeps brands' own
//! templates.

pub(crate) mod api;
pub mod compose;
pub mod context;
pub mod render;
pub mod send;
pub mod smtp;

use crate::error::{Error, Result};
use obol_core::{BrandId, CustomerId, EmailId, OrderId, Timestamp};
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::emails::{EmailFilter, EmailRow, TemplateRow};
use render::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// To the customer when an order with a customer email is paid.
pub const PAYMENT_CONFIRMATION: &str = "payment_confirmation";
/// To the customer when an order with a customer email is refunded.
pub const REFUND_CONFIRMATION: &str = "refund_confirmation";
/// To the customer when an invoice to be paid by them is finalized.
pub const INVOICE: &str = "invoice";
/// To the brand's support email when a webhook endpoint is failing.
pub const ENDPOINT_FAILING: &str = "endpoint_failing";

/// The built-in templates, one folder each.
const DEFAULTS: &[(&str, [&str; 3])] = &[
    (
        PAYMENT_CONFIRMATION,
        [
            include_str!("templates/payment_confirmation/subject.txt"),
            include_str!("templates/payment_confirmation/body.txt"),
            include_str!("templates/payment_confirmation/body.html"),
        ],
    ),
    (
        REFUND_CONFIRMATION,
        [
            include_str!("templates/refund_confirmation/subject.txt"),
            include_str!("templates/refund_confirmation/body.txt"),
            include_str!("templates/refund_confirmation/body.html"),
        ],
    ),
    (
        INVOICE,
        [
            include_str!("templates/invoice/subject.txt"),
            include_str!("templates/invoice/body.txt"),
            include_str!("templates/invoice/body.html"),
        ],
    ),
    (
        ENDPOINT_FAILING,
        [
            include_str!("templates/endpoint_failing/subject.txt"),
            include_str!("templates/endpoint_failing/body.txt"),
            include_str!("templates/endpoint_failing/body.html"),
        ],
    ),
];

/// The built-in template `name`, if there is one.
pub fn default_template(name: &str) -> Option<Parts> {
    DEFAULTS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, [subject, text, html])| Parts {
            subject: (*subject).to_owned(),
            text: (*text).to_owned(),
            html: (*html).to_owned(),
        })
}

impl From<TemplateRow> for Parts {
    fn from(row: TemplateRow) -> Self {
        Parts {
            subject: row.subject,
            text: row.text_body,
            html: row.html_body,
        }
    }
}

/// An email as the API shows it: what was (or is to be) sent, and how
/// sending went.
#[derive(Debug, Serialize, ToSchema)]
pub struct Email {
    pub id: String,
    /// Always `email`.
    pub object: &'static str,
    /// The template it was rendered from: `payment_confirmation`, …
    pub template: String,
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `queued` (to be sent, or retried), `sent` (the SMTP server took it)
    /// or `failed` (given up on).
    pub status: String,
    /// Attempts made to send it.
    pub attempts: i64,
    /// Why the last attempt failed, or why it is not being sent.
    pub last_error: Option<String>,
    /// When a queued email is tried next; null while no SMTP server is set.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    pub order_id: Option<String>,
    pub customer_id: Option<String>,
    /// The event it was made for.
    pub event_id: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<EmailRow> for Email {
    fn from(row: EmailRow) -> Self {
        let queued = row.status == send::QUEUED;
        Email {
            id: row.id.into_string(),
            object: "email",
            template: row.template,
            to: row.to_address,
            from: row.from_address,
            subject: row.subject,
            text: row.text_body,
            html: row.html_body,
            status: row.status,
            attempts: row.attempts,
            last_error: row.last_error,
            next_attempt_at: row.run_at.filter(|_| queued).map(Timestamp::from_ms),
            order_id: row.order_id.map(OrderId::into_string),
            customer_id: row.customer_id.map(CustomerId::into_string),
            event_id: row.event_id.into_string(),
            sent_at: row.sent_at.map(Timestamp::from_ms),
            created_at: Timestamp::from_ms(row.created_at),
        }
    }
}

/// The brand's emails, newest first; `order_id` and `customer_id` filter.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<EmailFilter>,
) -> Result<List<Email>> {
    let ListRequest { page, filter } = request;
    let mut conn = state.db.pool.acquire().await?;
    let order_id = filter.order_id.as_ref().map(OrderId::as_str);
    list::check_filter(
        &mut conn,
        "order",
        order_id,
        "order_id",
        async |conn, id| {
            let order = obol_store::orders::get_order(conn, brand_id, &OrderId::from(id)).await?;
            Ok(order.is_some())
        },
    )
    .await?;
    let customer_id = filter.customer_id.as_ref().map(CustomerId::as_str);
    list::check_filter(
        &mut conn,
        "customer",
        customer_id,
        "customer_id",
        async |conn, id| {
            let customer =
                obol_store::customers::get(conn, brand_id, &CustomerId::from(id)).await?;
            Ok(customer.is_some())
        },
    )
    .await?;
    let rows = list::fetch(
        &mut conn,
        &page,
        async |conn, after| {
            let email = obol_store::emails::get(conn, brand_id, &EmailId::from(after)).await?;
            Ok(email.is_some())
        },
        async |conn, page| obol_store::emails::list(conn, brand_id, &filter, page).await,
    )
    .await?;
    Ok(List::mapped(rows, Email::from))
}

/// One of the brand's emails.
pub async fn get(state: &AppState, brand_id: &BrandId, id: &EmailId) -> Result<Email> {
    let mut conn = state.db.pool.acquire().await?;
    obol_store::emails::get(&mut conn, brand_id, id)
        .await?
        .map(Email::from)
        .ok_or_else(|| Error::not_found("email", id))
}

/// An email template as the API shows it: the brand's own version, or the
/// built-in one.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailTemplate {
    /// Always `email_template`.
    pub object: &'static str,
    pub name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `brand` (the brand's own version) or `default` (built in).
    pub source: &'static str,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<Timestamp>,
}

impl EmailTemplate {
    fn of(name: &str, parts: Parts, row: Option<&TemplateRow>) -> EmailTemplate {
        EmailTemplate {
            object: "email_template",
            name: name.to_owned(),
            subject: parts.subject,
            text: parts.text,
            html: parts.html,
            source: if row.is_some() { "brand" } else { "default" },
            updated_at: row.map(|row| Timestamp::from_ms(row.updated_at)),
        }
    }
}

/// `PUT /v1/email_templates/{name}`: the brand's own version of an email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutEmailTemplate {
    /// One line; minijinja syntax, like the bodies.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part; values are HTML-escaped.
    pub html: String,
}

/// Every email's template as the brand's emails use it.
pub async fn templates(state: &AppState, brand_id: &BrandId) -> Result<List<EmailTemplate>> {
    let mut conn = state.db.pool.acquire().await?;
    let own = obol_store::emails::templates(&mut conn, brand_id).await?;
    let data = DEFAULTS
        .iter()
        .filter_map(|(name, _)| {
            let row = own.iter().find(|row| row.name == *name);
            let parts = row
                .cloned()
                .map(Parts::from)
                .or_else(|| default_template(name))?;
            Some(EmailTemplate::of(name, parts, row))
        })
        .collect();
    Ok(List::new(data, false))
}

/// Saves the brand's own version of template `name`, once it renders
/// against the sample contexts (400 naming the part that does not).
pub async fn put_template(
    state: &AppState,
    brand_id: &BrandId,
    name: &str,
    input: PutEmailTemplate,
) -> Result<EmailTemplate> {
    if default_template(name).is_none() {
        return Err(Error::not_found("email_template", name));
    }
    let parts = Parts {
        subject: input.subject,
        text: input.text,
        html: input.html,
    };
    render::check(&parts, &context::samples(name))
        .map_err(|error| Error::invalid(error.field, error.to_string()))?;
    let now = state.now().as_ms();
    let mut tx = state.db.begin().await?;
    let created_at = obol_store::emails::template(&mut tx, brand_id, name)
        .await?
        .map_or(now, |row| row.created_at);
    let row = TemplateRow {
        brand_id: brand_id.clone(),
        name: name.to_owned(),
        subject: parts.subject.clone(),
        text_body: parts.text.clone(),
        html_body: parts.html.clone(),
        created_at,
        updated_at: now,
    };
    obol_store::emails::put_template(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(EmailTemplate::of(name, parts, Some(&row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_template_renders_its_samples() {
        for (name, _) in DEFAULTS {
            let template = default_template(name).expect("built in");
            let samples = context::samples(name);
            render::check(&template, &samples).unwrap_or_else(|error| panic!("{name}: {error}"));
        }
        let template = default_template(PAYMENT_CONFIRMATION).expect("built in");
        let full =
            render::render(&template, &context::samples(PAYMENT_CONFIRMATION)[0]).expect("renders");
        assert_eq!(full.subject, "Your payment to Acme Shop: €89.25");
        for part in [&full.text, &full.html] {
            for expected in [
                "Pro plan",
                "€89.25",
                "Visa",
                "4242",
                "ord_sample",
                "help@acme",
            ] {
                assert!(part.contains(expected), "{expected} missing: {part}");
            }
        }
        let refund = default_template(REFUND_CONFIRMATION).expect("built in");
        let minimal =
            render::render(&refund, &context::samples(REFUND_CONFIRMATION)[1]).expect("renders");
        assert_eq!(minimal.subject, "Your refund from Acme: ¥500");
        assert!(!minimal.text.contains("in all"), "{}", minimal.text);
    }
}
