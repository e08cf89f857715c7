//! The event outbox: one row per change, written in the change's transaction.

use crate::page::Page;
use crate::{Conn, Result};
use obol_core::{BrandId, CustomerId, EventId};

/// A stored event; `data` is the JSON of `{"object": …}`.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: EventId,
    pub brand_id: BrandId,
    /// `None` until the sequencer numbers it.
    pub sequence: Option<i64>,
    pub event_type: String,
    pub object_id: String,
    pub customer_id: Option<CustomerId>,
    pub data: String,
    pub created_at: i64,
}
crate::from_row!(EventRow { id, brand_id, sequence, event_type = "type", object_id, customer_id, data, created_at });

const COLUMNS: &str = "id, brand_id, sequence, type, object_id, customer_id, data, created_at";

/// Inserts an event; its sequence number comes later from `assign_sequences`.
pub async fn insert(conn: &mut Conn, event: &mut EventRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO events (id, brand_id, sequence, type, object_id, customer_id, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&event.id)
    .bind(&event.brand_id)
    .bind(event.sequence)
    .bind(&event.event_type)
    .bind(&event.object_id)
    .bind(&event.customer_id)
    .bind(&event.data)
    .bind(event.created_at)
    .queue(conn)
    .await
}

/// Inserts several events in one statement (a change that reports more
/// than one thing).
pub async fn insert_all(conn: &mut Conn, events: &[EventRow]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let n = 1 + i * 7;
            format!(
                "(${n}, ${}, NULL, ${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO events (id, brand_id, sequence, type, object_id, customer_id, data, created_at) VALUES {}",
        rows.join(", ")
    );
    let mut query = crate::sql::query(sql);
    for event in events {
        query = query
            .bind(&event.id)
            .bind(&event.brand_id)
            .bind(&event.event_type)
            .bind(&event.object_id)
            .bind(&event.customer_id)
            .bind(&event.data)
            .bind(event.created_at);
    }
    query.queue(conn).await
}

/// Up to `limit` of the brand's events numbered after `after` and up to
/// `through`, in sequence order.
pub async fn in_sequence(
    conn: &mut Conn,
    brand_id: &BrandId,
    after: i64,
    through: i64,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE brand_id = $1 AND sequence > $2 AND sequence <= $3 \
         ORDER BY sequence LIMIT $4"
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(after)
        .bind(through)
        .bind(limit)
        .fetch_all(conn)
        .await
}

pub async fn get(conn: &mut Conn, brand_id: &BrandId, id: &EventId) -> Result<Option<EventRow>> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// Filters of the event list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub object_id: Option<String>,
    pub customer_id: Option<CustomerId>,
}

/// Whether the brand has events not numbered yet.
pub async fn has_unsequenced(conn: &mut Conn, brand_id: &BrandId) -> Result<bool> {
    let found: Option<String> = crate::sql::query_scalar(
        "SELECT id FROM events WHERE brand_id = $1 AND sequence IS NULL LIMIT 1",
    )
    .bind(brand_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Numbers the brand's committed, unnumbered events after the last number,
/// in id order; returns how many. Run in a write transaction: the brand row
/// lock (PostgreSQL) or the write lock (SQLite) makes sequencers take turns,
/// and each sees every event committed before it, so numbers follow commit
/// order.
pub async fn assign_sequences(
    conn: &mut Conn,
    backend: crate::Backend,
    brand_id: &BrandId,
) -> Result<u64> {
    let sql = format!(
        "SELECT event_sequence FROM brands WHERE id = $1{}",
        backend.for_update()
    );
    let last: i64 = crate::sql::query_scalar(sql)
        .bind(brand_id)
        .fetch_one(&mut *conn)
        .await?;
    let numbered = crate::sql::query(
        "UPDATE events SET sequence = $2 + numbered.position FROM \
         (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS position FROM events \
          WHERE brand_id = $1 AND sequence IS NULL) AS numbered \
         WHERE events.id = numbered.id",
    )
    .bind(brand_id)
    .bind(last)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if numbered > 0 {
        crate::sql::query("UPDATE brands SET event_sequence = event_sequence + $2 WHERE id = $1")
            .bind(brand_id)
            .bind(i64::try_from(numbered).unwrap_or(i64::MAX))
            .execute(conn)
            .await?;
    }
    Ok(numbered)
}

/// The brand's events, newest (highest sequence) first. `after_sequence` is
/// the sequence of the `starting_after` event.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    filter: &EventFilter,
    after_sequence: Option<i64>,
    limit: i64,
) -> Result<Page<EventRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE brand_id = $1 AND ($2 IS NULL OR type = $2) \
         AND ($3 IS NULL OR object_id = $3) AND ($4 IS NULL OR customer_id = $4) \
         AND sequence IS NOT NULL AND ($5 IS NULL OR sequence < $5) ORDER BY sequence DESC LIMIT $6"
    );
    let rows = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(&filter.event_type)
        .bind(&filter.object_id)
        .bind(&filter.customer_id)
        .bind(after_sequence)
        .bind(limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, limit))
}
