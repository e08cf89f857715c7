//! Webhook endpoints, the fan-out cursor per brand, and delivery attempts.

use crate::page::{Page, PageRequest};
use crate::{Backend, Conn, Result};
use obol_core::{BrandId, EventId, WebhookDeliveryId, WebhookEndpointId};

/// A stored webhook endpoint; `events` is JSON text; secrets are ciphertexts.
#[derive(Debug, Clone)]
pub struct EndpointRow {
    pub id: WebhookEndpointId,
    pub brand_id: BrandId,
    pub url: String,
    pub description: Option<String>,
    pub events: String,
    /// `enabled`, `disabled` or `failing`.
    pub status: String,
    pub secret_ciphertext: String,
    pub previous_secret_ciphertext: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}
crate::from_row!(EndpointRow {
    id,
    brand_id,
    url,
    description,
    events,
    status,
    secret_ciphertext,
    previous_secret_ciphertext,
    previous_secret_expires_at,
    deleted_at,
    created_at,
    updated_at
});

const ENDPOINT_COLUMNS: &str = "id, brand_id, url, description, events, status, secret_ciphertext, \
    previous_secret_ciphertext, previous_secret_expires_at, deleted_at, created_at, updated_at";

pub async fn insert_endpoint(conn: &mut Conn, endpoint: &EndpointRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO webhook_endpoints (id, brand_id, url, description, events, status, \
         secret_ciphertext, previous_secret_ciphertext, previous_secret_expires_at, deleted_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&endpoint.id)
    .bind(&endpoint.brand_id)
    .bind(&endpoint.url)
    .bind(&endpoint.description)
    .bind(&endpoint.events)
    .bind(&endpoint.status)
    .bind(&endpoint.secret_ciphertext)
    .bind(&endpoint.previous_secret_ciphertext)
    .bind(endpoint.previous_secret_expires_at)
    .bind(endpoint.deleted_at)
    .bind(endpoint.created_at)
    .bind(endpoint.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes every changeable field back.
pub async fn update_endpoint(conn: &mut Conn, endpoint: &EndpointRow) -> Result<()> {
    crate::sql::query(
        "UPDATE webhook_endpoints SET url = $3, description = $4, events = $5, status = $6, \
         secret_ciphertext = $7, previous_secret_ciphertext = $8, previous_secret_expires_at = $9, \
         deleted_at = $10, updated_at = $11 WHERE brand_id = $1 AND id = $2",
    )
    .bind(&endpoint.brand_id)
    .bind(&endpoint.id)
    .bind(&endpoint.url)
    .bind(&endpoint.description)
    .bind(&endpoint.events)
    .bind(&endpoint.status)
    .bind(&endpoint.secret_ciphertext)
    .bind(&endpoint.previous_secret_ciphertext)
    .bind(endpoint.previous_secret_expires_at)
    .bind(endpoint.deleted_at)
    .bind(endpoint.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves an endpoint from one status to another; false if it was no longer
/// in `from` (another attempt or a staff change got there first).
pub async fn set_endpoint_status(
    conn: &mut Conn,
    id: &WebhookEndpointId,
    from: &str,
    to: &str,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE webhook_endpoints SET status = $3, updated_at = $4 \
         WHERE id = $1 AND status = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// An endpoint of the brand, deleted ones too.
pub async fn get_endpoint(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &WebhookEndpointId,
) -> Result<Option<EndpointRow>> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// Like `get_endpoint`, locking the row until the transaction ends
/// (PostgreSQL), so that two changes of one endpoint take turns.
pub async fn get_endpoint_for_update(
    conn: &mut Conn,
    backend: Backend,
    brand_id: &BrandId,
    id: &WebhookEndpointId,
) -> Result<Option<EndpointRow>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1{}",
        backend.for_update()
    );
    crate::brand_row(conn, sql, brand_id, id).await
}

/// Locks the brand's row until the transaction ends (PostgreSQL), so that
/// concurrent creations count the brand's endpoints in turn.
pub async fn lock_brand(conn: &mut Conn, backend: Backend, brand_id: &BrandId) -> Result<()> {
    let sql = format!(
        "SELECT id FROM brands WHERE id = $1{}",
        backend.for_update()
    );
    let _: Option<String> = crate::sql::query_scalar(sql)
        .bind(brand_id)
        .fetch_optional(conn)
        .await?;
    Ok(())
}

/// An endpoint by id alone, for the sender.
pub async fn find_endpoint(conn: &mut Conn, id: &WebhookEndpointId) -> Result<Option<EndpointRow>> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The brand's endpoints not deleted, newest first.
pub async fn list_endpoints(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<EndpointRow>> {
    let select = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE brand_id = $1 AND deleted_at IS NULL"
    );
    crate::page::newest_first(conn, &select, brand_id, page).await
}

/// Most endpoints one brand may have: far above any real setup, it bounds
/// what one fan-out reads.
pub const ENDPOINTS_PER_BRAND_MAX: i64 = 100;

/// The brand's endpoints that take events (enabled or failing), oldest first.
pub async fn receiving_endpoints(conn: &mut Conn, brand_id: &BrandId) -> Result<Vec<EndpointRow>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE brand_id = $1 \
         AND deleted_at IS NULL AND status <> 'disabled' ORDER BY id LIMIT $2"
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(ENDPOINTS_PER_BRAND_MAX)
        .fetch_all(conn)
        .await
}

/// How many endpoints the brand has (not deleted).
pub async fn count_endpoints(conn: &mut Conn, brand_id: &BrandId) -> Result<i64> {
    crate::sql::query_scalar(
        "SELECT COUNT(*) FROM webhook_endpoints WHERE brand_id = $1 AND deleted_at IS NULL",
    )
    .bind(brand_id)
    .fetch_one(conn)
    .await
}

/// Brands with events not numbered yet, at most `limit`.
pub async fn brands_unsequenced(conn: &mut Conn, limit: i64) -> Result<Vec<BrandId>> {
    crate::sql::query_scalar(
        "SELECT DISTINCT brand_id FROM events WHERE sequence IS NULL ORDER BY brand_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The last sequence number the brand's events were given.
pub async fn event_sequence(conn: &mut Conn, brand_id: &BrandId) -> Result<i64> {
    crate::sql::query_scalar("SELECT event_sequence FROM brands WHERE id = $1")
        .bind(brand_id)
        .fetch_one(conn)
        .await
}

/// A stored delivery attempt.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: WebhookDeliveryId,
    pub message_id: WebhookDeliveryId,
    pub brand_id: BrandId,
    pub event_id: EventId,
    pub event_type: String,
    pub endpoint_id: Option<WebhookEndpointId>,
    pub target: String,
    pub url: String,
    pub object_id: String,
    pub sequence: i64,
    pub attempt: i64,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// When a pending attempt is due; `None` while it waits behind an
    /// earlier message about its object to its target.
    pub run_at: Option<i64>,
    pub lease_until: Option<i64>,
    pub attempted_at: Option<i64>,
    pub http_status: Option<i64>,
    pub response_excerpt: Option<String>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
}
crate::from_row!(DeliveryRow {
    id,
    message_id,
    brand_id,
    event_id,
    event_type,
    endpoint_id,
    target,
    url,
    object_id,
    sequence,
    attempt,
    status,
    run_at,
    lease_until,
    attempted_at,
    http_status,
    response_excerpt,
    duration_ms,
    error,
    next_attempt_at,
    created_at
});

const DELIVERY_COLUMNS: &str = "id, message_id, brand_id, event_id, event_type, endpoint_id, \
    target, url, object_id, sequence, attempt, status, run_at, lease_until, attempted_at, \
    http_status, response_excerpt, duration_ms, error, next_attempt_at, created_at";

/// Inserts pending attempts, in one statement.
pub async fn insert_deliveries(conn: &mut Conn, rows: &[DeliveryRow]) -> Result<()> {
    const WIDTH: usize = 13;
    if rows.is_empty() {
        return Ok(());
    }
    // Bounded statements: SQLite takes at most 32766 parameters.
    for chunk in rows.chunks(500) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let n = 1 + i * WIDTH;
                let list: Vec<String> = (n..n + WIDTH).map(|p| format!("${p}")).collect();
                format!("({}, 'pending')", list.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, message_id, brand_id, event_id, event_type, \
             endpoint_id, target, url, object_id, sequence, attempt, run_at, created_at, status) \
             VALUES {}",
            values.join(", ")
        );
        let mut query = crate::sql::query(sql);
        for row in chunk {
            query = query
                .bind(&row.id)
                .bind(&row.message_id)
                .bind(&row.brand_id)
                .bind(&row.event_id)
                .bind(&row.event_type)
                .bind(&row.endpoint_id)
                .bind(&row.target)
                .bind(&row.url)
                .bind(&row.object_id)
                .bind(row.sequence)
                .bind(row.attempt)
                .bind(row.run_at)
                .bind(row.created_at);
        }
        query.execute(&mut *conn).await?;
        hold_behind_earlier(conn, chunk).await?;
    }
    Ok(())
}

/// Whether an earlier message about the row's object to its target is
/// still pending (the row is `d`).
const BEHIND_EARLIER: &str = "EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.status = 'pending' \
    AND p.target = d.target AND p.object_id = d.object_id AND p.sequence < d.sequence)";

/// Holds the new attempts that have an earlier message to wait for: not
/// due until `release_next` (or `release_unblocked`) lets them go, so that
/// the due scans never walk past them.
async fn hold_behind_earlier(conn: &mut Conn, rows: &[DeliveryRow]) -> Result<()> {
    let placeholders: Vec<String> = (1..=rows.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "UPDATE webhook_deliveries SET run_at = NULL WHERE id IN (SELECT d.id FROM \
         webhook_deliveries d WHERE d.id IN ({}) AND {BEHIND_EARLIER})",
        placeholders.join(", ")
    );
    let mut query = crate::sql::query(sql);
    for row in rows {
        query = query.bind(&row.id);
    }
    query.execute(conn).await?;
    Ok(())
}

/// Lets the held attempts go that now lead their object's messages to
/// `target` (the one ahead of them just ended).
pub async fn release_next(
    conn: &mut Conn,
    target: &str,
    object_id: &str,
    now_ms: i64,
) -> Result<()> {
    let sql = format!(
        "UPDATE webhook_deliveries SET run_at = $3 WHERE id IN (SELECT d.id FROM \
         webhook_deliveries d WHERE d.status = 'pending' AND d.run_at IS NULL \
         AND d.target = $1 AND d.object_id = $2 AND NOT {BEHIND_EARLIER})"
    );
    crate::sql::query(sql)
        .bind(target)
        .bind(object_id)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// Lets go up to `limit` held attempts with nothing left ahead of them. On
/// PostgreSQL a message can end while the attempts held behind it are
/// still uncommitted, out of `release_next`'s sight: this sweep frees them.
pub async fn release_unblocked(conn: &mut Conn, now_ms: i64, limit: i64) -> Result<u64> {
    let sql = format!(
        "UPDATE webhook_deliveries SET run_at = $1 WHERE id IN (SELECT d.id FROM \
         webhook_deliveries d WHERE d.status = 'pending' AND d.run_at IS NULL \
         AND NOT {BEHIND_EARLIER} LIMIT $2)"
    );
    Ok(crate::sql::query(sql)
        .bind(now_ms)
        .bind(limit)
        .execute(conn)
        .await?
        .rows_affected())
}

/// A pending attempt may go when it is due, not in flight, and no earlier
/// message about its object to its target is still pending (held attempts
/// have no `run_at`; the check stays for the moment before one is held).
const CLAIMABLE: &str = "d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $1) \
    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.status = 'pending' \
    AND p.target = d.target AND p.object_id = d.object_id AND p.sequence < d.sequence)";

/// Up to `limit` attempts that may go now, soonest first, none of the
/// targets in `skip` (those already at their bound in this process), so
/// that a busy target's attempts do not fill the page. An ordered walk of
/// the due index that stops at `limit`: no sort over every due attempt.
pub async fn due(
    conn: &mut Conn,
    now_ms: i64,
    limit: i64,
    skip: &[String],
) -> Result<Vec<DeliveryRow>> {
    let columns = DELIVERY_COLUMNS
        .split(", ")
        .map(|c| format!("d.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let skipped = if skip.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = (0..skip.len()).map(|i| format!("${}", i + 3)).collect();
        format!(" AND d.target NOT IN ({})", list.join(", "))
    };
    let sql = format!(
        "SELECT {columns} FROM webhook_deliveries d WHERE d.run_at <= $1 AND {CLAIMABLE}{skipped} \
         ORDER BY d.run_at LIMIT $2"
    );
    let mut query = crate::sql::query_as(sql).bind(now_ms).bind(limit);
    for target in skip {
        query = query.bind(target);
    }
    query.fetch_all(conn).await
}

/// The soonest attempt to `target` that may go now.
pub async fn next_of_target(
    conn: &mut Conn,
    now_ms: i64,
    target: &str,
) -> Result<Option<DeliveryRow>> {
    let columns = DELIVERY_COLUMNS
        .split(", ")
        .map(|c| format!("d.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM webhook_deliveries d WHERE d.target = $2 AND d.run_at <= $1 \
         AND {CLAIMABLE} ORDER BY d.run_at LIMIT 1"
    );
    crate::sql::query_as(sql)
        .bind(now_ms)
        .bind(target)
        .fetch_optional(conn)
        .await
}

/// When the next attempt falls due, up to `until_ms`: the soonest pending
/// one not held back, one in flight counting from the end of its lease.
pub async fn next_due(conn: &mut Conn, until_ms: i64) -> Result<Option<i64>> {
    let sql = format!(
        "SELECT MIN(CASE WHEN d.lease_until > d.run_at THEN d.lease_until ELSE d.run_at END) \
         FROM webhook_deliveries d WHERE d.run_at <= $1 AND {CLAIMABLE}"
    );
    crate::sql::query_scalar(sql)
        .bind(until_ms)
        .fetch_one(conn)
        .await
}

/// Claims the attempts `ids` until `lease_until`, in one statement; the
/// ids it claimed (not those another process has).
pub async fn claim_all(
    conn: &mut Conn,
    ids: &[WebhookDeliveryId],
    now_ms: i64,
    lease_until: i64,
) -> Result<Vec<WebhookDeliveryId>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_until = $2 WHERE id IN ({}) AND status = 'pending' \
         AND (lease_until IS NULL OR lease_until <= $1) RETURNING id",
        list.join(", ")
    );
    let mut query = crate::sql::query_scalar(sql).bind(now_ms).bind(lease_until);
    for id in ids {
        query = query.bind(id);
    }
    query.fetch_all(conn).await
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptOutcome<'a> {
    pub succeeded: bool,
    pub attempted_at: i64,
    /// Where it went: the endpoint's URL at the time.
    pub url: &'a str,
    pub http_status: Option<i64>,
    pub response_excerpt: Option<&'a str>,
    pub duration_ms: Option<i64>,
    pub error: Option<&'a str>,
    pub next_attempt_at: Option<i64>,
}

/// Records a claimed attempt's outcome; false unless it is still pending
/// under this claim's lease (one that ran out may have been claimed again,
/// and that claim records it).
pub async fn finish(
    conn: &mut Conn,
    id: &WebhookDeliveryId,
    lease_until: i64,
    outcome: &AttemptOutcome<'_>,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE webhook_deliveries SET status = $2, attempted_at = $3, http_status = $4, \
         response_excerpt = $5, duration_ms = $6, error = $7, next_attempt_at = $8, url = $9, \
         lease_until = NULL WHERE id = $1 AND status = 'pending' AND lease_until = $10",
    )
    .bind(id)
    .bind(if outcome.succeeded {
        "succeeded"
    } else {
        "failed"
    })
    .bind(outcome.attempted_at)
    .bind(outcome.http_status)
    .bind(outcome.response_excerpt)
    .bind(outcome.duration_ms)
    .bind(outcome.error)
    .bind(outcome.next_attempt_at)
    .bind(outcome.url)
    .bind(lease_until)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Ends every pending attempt to an endpoint as failed with `error` (the
/// endpoint was disabled or deleted); returns how many.
pub async fn fail_pending_of_endpoint(
    conn: &mut Conn,
    endpoint_id: &WebhookEndpointId,
    error: &str,
    now_ms: i64,
) -> Result<u64> {
    let result = crate::sql::query(
        "UPDATE webhook_deliveries SET status = 'failed', error = $2, attempted_at = $3, \
         lease_until = NULL WHERE endpoint_id = $1 AND status = 'pending'",
    )
    .bind(endpoint_id)
    .bind(error)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// An endpoint's attempts, newest first; the cursor is one of them.
pub async fn list_of_endpoint(
    conn: &mut Conn,
    endpoint_id: &WebhookEndpointId,
    page: &PageRequest,
) -> Result<Page<DeliveryRow>> {
    let select =
        format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1");
    crate::page::newest_first(conn, &select, endpoint_id, page).await
}

/// An attempt by id.
pub async fn get(conn: &mut Conn, id: &WebhookDeliveryId) -> Result<Option<DeliveryRow>> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}
