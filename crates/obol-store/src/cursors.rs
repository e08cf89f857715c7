//! Per-brand cursors over the event outbox: how far each reader of the
//! events (the webhook fan-out, the email composer) has got, by sequence.
//! A reader moves its cursor in the transaction of what it made from the
//! events, so a crash makes that again or not at all.

use crate::{Backend, Conn, Result};
use obol_core::BrandId;

/// A reader of the outbox, and the table of its cursors.
#[derive(Debug, Clone, Copy)]
pub enum Reader {
    /// The webhook fan-out (`notify_cursors`).
    Webhooks,
    /// The email composer (`email_cursors`).
    Emails,
}

impl Reader {
    fn table(self) -> &'static str {
        match self {
            Reader::Webhooks => "notify_cursors",
            Reader::Emails => "email_cursors",
        }
    }
}

/// Brands with events numbered past the reader's cursor (a brand with no
/// cursor yet has every event ahead of it), at most `limit`.
pub async fn brands_behind(conn: &mut Conn, reader: Reader, limit: i64) -> Result<Vec<BrandId>> {
    let sql = format!(
        "SELECT b.id FROM brands b LEFT JOIN {} c ON c.brand_id = b.id \
         WHERE b.event_sequence > COALESCE(c.last_sequence, 0) ORDER BY b.id LIMIT $1",
        reader.table()
    );
    crate::sql::query_scalar(sql)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The brand's cursor (0 before the reader's first step).
pub async fn get(conn: &mut Conn, reader: Reader, brand_id: &BrandId) -> Result<i64> {
    let sql = format!(
        "SELECT last_sequence FROM {} WHERE brand_id = $1",
        reader.table()
    );
    let found: Option<i64> = crate::sql::query_scalar(sql)
        .bind(brand_id)
        .fetch_optional(conn)
        .await?;
    Ok(found.unwrap_or(0))
}

/// The brand's cursor, locked until the transaction ends (PostgreSQL;
/// SQLite's writer lock already serializes): a second process's step for
/// the brand waits, then reads where this one left it.
pub async fn lock(
    conn: &mut Conn,
    backend: Backend,
    reader: Reader,
    brand_id: &BrandId,
) -> Result<i64> {
    let sql = format!(
        "SELECT last_sequence FROM {} WHERE brand_id = $1{}",
        reader.table(),
        backend.for_update()
    );
    let found: Option<i64> = crate::sql::query_scalar(sql.clone())
        .bind(brand_id)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(last) = found {
        return Ok(last);
    }
    // The brand's first step: make its cursor, then lock it.
    let insert = format!(
        "INSERT INTO {} (brand_id, last_sequence) VALUES ($1, 0) ON CONFLICT (brand_id) DO NOTHING",
        reader.table()
    );
    crate::sql::query(insert)
        .bind(brand_id)
        .execute(&mut *conn)
        .await?;
    crate::sql::query_scalar(sql)
        .bind(brand_id)
        .fetch_one(conn)
        .await
}

/// Moves the cursor from `from` to `to`; false if another process moved it
/// first (its step made these, and this one must roll back).
pub async fn advance(
    conn: &mut Conn,
    reader: Reader,
    brand_id: &BrandId,
    from: i64,
    to: i64,
) -> Result<bool> {
    let table = reader.table();
    let sql = format!(
        "INSERT INTO {table} (brand_id, last_sequence) VALUES ($1, $3) \
         ON CONFLICT (brand_id) DO UPDATE SET last_sequence = $3 \
         WHERE {table}.last_sequence = $2"
    );
    let result = crate::sql::query(sql)
        .bind(brand_id)
        .bind(from)
        .bind(to)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}
