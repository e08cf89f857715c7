//! The event outbox: one row per change, written in the change's transaction.

use crate::page::Page;
use crate::{Conn, Result};

/// A stored event; `data` is the JSON of `{"object": …}`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub brand_id: String,
    pub sequence: i64,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub object_id: String,
    pub customer_id: Option<String>,
    pub data: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, brand_id, sequence, type, object_id, customer_id, data, created_at";

/// Inserts an event, taking the brand's next sequence number.
pub async fn insert(conn: &mut Conn, event: &mut EventRow) -> Result<()> {
    event.sequence = crate::brands::next_event_sequence(conn, &event.brand_id).await?;
    sqlx::query(
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
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, brand_id: &str, id: &str) -> Result<Option<EventRow>> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE brand_id = $1 AND id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(brand_id)
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Filters of the event list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub object_id: Option<String>,
    pub customer_id: Option<String>,
}

/// The brand's events, newest (highest sequence) first. `after_sequence` is
/// the sequence of the `starting_after` event.
pub async fn list(
    conn: &mut Conn,
    brand_id: &str,
    filter: &EventFilter,
    after_sequence: Option<i64>,
    limit: i64,
) -> Result<Page<EventRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE brand_id = $1 AND ($2 IS NULL OR type = $2) \
         AND ($3 IS NULL OR object_id = $3) AND ($4 IS NULL OR customer_id = $4) \
         AND ($5 IS NULL OR sequence < $5) ORDER BY sequence DESC LIMIT $6"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
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
