//! Composing: turns each brand's committed events, in sequence order, into
//! the emails they call for, rendered at once. A brand's email cursor moves
//! in the same transaction as the emails it made, so a crash makes them
//! again or not at all, and two processes never make them twice. Events
//! are numbered by the webhook fan-out, which runs first.

use super::render::{self, Parts};
use super::send::QUEUED;
use super::{ENDPOINT_FAILING, INVOICE, PAYMENT_CONFIRMATION, REFUND_CONFIRMATION, context};
use crate::deliveries::send::ENDPOINT_FAILING as ENDPOINT_FAILING_EVENT;
use async_trait::async_trait;
use lettre::message::Mailbox;
use obol_core::{BrandId, EmailId, OrderId, Timestamp};
use obol_kernel::jobs::DueWork;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::brands::BrandRow;
use obol_store::cursors::Reader;
use obol_store::emails::EmailRow;
use obol_store::events::EventRow;
use serde_json::Value;

/// The least time between two compose steps of one process (not on the
/// test clock).
const STEP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
/// Most events one step takes from a brand.
const EVENTS_PER_STEP: i64 = 200;

/// Composing as due work: due whenever an event has not been looked at.
pub struct ComposeEmails;

#[async_trait]
impl DueWork for ComposeEmails {
    async fn next_due(&self, conn: &mut Conn, until_ms: i64) -> obol_store::Result<Option<i64>> {
        let behind = !obol_store::cursors::brands_behind(conn, Reader::Emails, 1)
            .await?
            .is_empty();
        // Already due, at any time: it waits only for a worker.
        let _ = until_ms;
        Ok(behind.then_some(0))
    }

    async fn run_due(&self, state: &AppState, limit: i64) -> obol_store::Result<usize> {
        // Under load a step every interval takes a batch, as the fan-out
        // does (the test clock runs every step it asks for).
        if state.test_clock.is_none() && !crate::notify(state).compose_due(STEP_INTERVAL) {
            return Ok(0);
        }
        let mut conn = state.db.pool.acquire().await?;
        let behind = obol_store::cursors::brands_behind(&mut conn, Reader::Emails, limit).await?;
        drop(conn);
        let mut ran = 0;
        for brand_id in behind {
            ran += compose(state, &brand_id).await?;
        }
        Ok(ran)
    }
}

/// Makes the emails of one brand's next events; returns how many events it
/// took (0 when another process took them first).
async fn compose(state: &AppState, brand_id: &BrandId) -> obol_store::Result<usize> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let from = obol_store::cursors::get(&mut tx, Reader::Emails, brand_id).await?;
    let events =
        obol_store::events::in_sequence(&mut tx, brand_id, from, i64::MAX, EVENTS_PER_STEP).await?;
    let Some(to) = events.last().and_then(|event| event.sequence) else {
        return Ok(0);
    };
    let brand = obol_store::brands::get(&mut tx, brand_id)
        .await?
        .ok_or_else(|| obol_store::StoreError::Database(format!("brand {brand_id} vanished")))?;
    let own = obol_store::emails::templates(&mut tx, brand_id).await?;
    let template = |name: &str| {
        own.iter()
            .find(|row| row.name == name)
            .cloned()
            .map(Parts::from)
            .or_else(|| super::default_template(name))
    };
    let sender = sender(&brand, &state.public_url);
    let rows: Vec<EmailRow> = events
        .iter()
        .filter_map(|event| {
            let (name, to, context) = email_for(event, &brand)?;
            let template = template(name)?;
            Some(email_row(
                event, name, to, &sender, &template, &context, now,
            ))
        })
        .collect();
    if !obol_store::cursors::advance(&mut tx, Reader::Emails, brand_id, from, to).await? {
        return Ok(0);
    }
    obol_store::emails::insert(&mut tx, &rows).await?;
    tx.commit().await?;
    Ok(events.len())
}

/// The email an event calls for, if any: its template, recipient and
/// context.
fn email_for(event: &EventRow, brand: &BrandRow) -> Option<(&'static str, String, Value)> {
    let name = match event.event_type.as_str() {
        "order.paid" => PAYMENT_CONFIRMATION,
        "order.refunded" | "order.partially_refunded" => REFUND_CONFIRMATION,
        "invoice.finalized" | "invoice.payment_failed" => INVOICE,
        ENDPOINT_FAILING_EVENT => ENDPOINT_FAILING,
        _ => return None,
    };
    let data: Value = serde_json::from_str(&event.data).ok()?;
    let object = &data["object"];
    let at = Timestamp::from_ms(event.created_at);
    if name == ENDPOINT_FAILING {
        let to = brand.support_email.clone()?;
        return Some((name, to, context::endpoint(brand, object, at)));
    }
    let to = object["customer_email"]
        .as_str()
        .filter(|email| !email.is_empty())?;
    if name == INVOICE {
        // Only an invoice the customer pays themselves is sent; one charged
        // automatically is confirmed by its payment's email.
        let sent = object["collection_method"] == "send_invoice"
            && object["amount_due"].as_i64() > Some(0);
        return sent.then(|| (name, to.to_owned(), context::invoice(brand, object, at)));
    }
    Some((name, to.to_owned(), context::order(brand, object, at)))
}

/// The brand's From: its sender name and address, else its display name
/// (or name) and `no-reply@` the host of the server's public URL.
pub fn sender(brand: &BrandRow, public_url: &str) -> String {
    let name = brand
        .sender_name
        .as_deref()
        .or(brand.display_name.as_deref())
        .unwrap_or(&brand.name)
        .to_owned();
    let address = brand
        .sender_email
        .clone()
        .unwrap_or_else(|| format!("no-reply@{}", public_host(public_url)));
    match address.parse() {
        Ok(address) => Mailbox::new(Some(name), address).to_string(),
        // A host no address can have (never from a checked setting).
        Err(_) => address,
    }
}

/// The host of a URL such as `https://pay.example:8443/x`: `pay.example`.
fn public_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// The email row: rendered now; one that does not render is on record as
/// `failed`, saying why, rather than holding back the brand's other emails.
fn email_row(
    event: &EventRow,
    name: &str,
    to: String,
    sender: &str,
    template: &Parts,
    context: &Value,
    now: Timestamp,
) -> EmailRow {
    let (rendered, status, error) = match render::render(template, context) {
        Ok(rendered) => (rendered, QUEUED, None),
        Err(error) => {
            let empty = Parts {
                subject: String::new(),
                text: String::new(),
                html: String::new(),
            };
            (empty, super::send::FAILED, Some(error.to_string()))
        }
    };
    let order_id = match name {
        ENDPOINT_FAILING => None,
        // An invoice's email is about the order that pays it.
        INVOICE => context["invoice"]["order_id"].as_str().map(OrderId::from),
        _ => Some(OrderId::from(event.object_id.as_str())),
    };
    EmailRow {
        id: EmailId::new(),
        brand_id: event.brand_id.clone(),
        template: name.to_owned(),
        event_id: event.id.clone(),
        order_id,
        customer_id: event.customer_id.clone(),
        to_address: to,
        from_address: sender.to_owned(),
        subject: rendered.subject,
        text_body: rendered.text,
        html_body: rendered.html,
        status: status.to_owned(),
        attempts: 0,
        run_at: (status == QUEUED).then_some(now.as_ms()),
        lease_until: None,
        last_error: error,
        sent_at: None,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    }
}

#[cfg(test)]
mod tests {
    use super::public_host;

    #[test]
    fn public_hosts() {
        assert_eq!(public_host("https://pay.example:8443/x"), "pay.example");
        assert_eq!(public_host("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(public_host("http://[::1]:8080/"), "[::1]");
        assert_eq!(public_host("https://pay.example"), "pay.example");
    }
}
