//! Redeem codes, their redemptions and the failed attempts at them.

use crate::page::{Page, PageRequest};
use crate::{Backend, Conn, Result};
use obol_core::{BrandId, CustomerId};

#[derive(Debug, Clone)]
pub struct RedeemCodeRow {
    pub id: String,
    pub brand_id: BrandId,
    /// Keyed hash of the normalized code: what a redemption looks it up by.
    pub code_hash: String,
    /// The code, sealed under the master key.
    pub code_ciphertext: String,
    pub amount: i64,
    pub currency: String,
    pub max_redemptions: Option<i64>,
    pub redemptions: i64,
    pub expires_at: Option<i64>,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(RedeemCodeRow {
    id,
    brand_id,
    code_hash,
    code_ciphertext,
    amount,
    currency,
    max_redemptions,
    redemptions,
    expires_at,
    status,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, brand_id, code_hash, code_ciphertext, amount, currency, \
    max_redemptions, redemptions, expires_at, status, created_at, updated_at";

/// Inserts a code; false when the brand has this code already.
pub async fn insert(conn: &mut Conn, row: &RedeemCodeRow) -> Result<bool> {
    let result = crate::sql::query(
        "INSERT INTO redeem_codes (id, brand_id, code_hash, code_ciphertext, amount, currency, \
         max_redemptions, redemptions, expires_at, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.code_hash)
    .bind(&row.code_ciphertext)
    .bind(row.amount)
    .bind(&row.currency)
    .bind(row.max_redemptions)
    .bind(row.redemptions)
    .bind(row.expires_at)
    .bind(&row.status)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get(conn: &mut Conn, brand_id: &BrandId, id: &str) -> Result<Option<RedeemCodeRow>> {
    let sql = format!("SELECT {COLUMNS} FROM redeem_codes WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The brand's code with this hash, locked until the transaction ends
/// (PostgreSQL).
pub async fn find_for_update(
    conn: &mut Conn,
    backend: Backend,
    brand_id: &BrandId,
    code_hash: &str,
) -> Result<Option<RedeemCodeRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM redeem_codes WHERE brand_id = $1 AND code_hash = $2{}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(code_hash)
        .fetch_optional(conn)
        .await
}

/// The brand's codes, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<RedeemCodeRow>> {
    let select = format!("SELECT {COLUMNS} FROM redeem_codes WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}

/// Disables a code; false when it was not active.
pub async fn disable(conn: &mut Conn, brand_id: &BrandId, id: &str, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE redeem_codes SET status = 'disabled', updated_at = $3 \
         WHERE id = $1 AND brand_id = $2 AND status = 'active'",
    )
    .bind(id)
    .bind(brand_id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Counts one more redemption, never beyond `max_redemptions`; false when
/// the code is used up (a concurrent redemption took the last).
pub async fn count_redemption(conn: &mut Conn, id: &str, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE redeem_codes SET redemptions = redemptions + 1, updated_at = $2 \
         WHERE id = $1 AND (max_redemptions IS NULL OR redemptions < max_redemptions)",
    )
    .bind(id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records the customer's redemption; false when they redeemed it before.
pub async fn insert_redemption(
    conn: &mut Conn,
    code_id: &str,
    customer_id: &CustomerId,
    grant_id: &str,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "INSERT INTO redeem_code_redemptions (code_id, customer_id, grant_id, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(code_id)
    .bind(customer_id)
    .bind(grant_id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Counts attempt `attempt_id` against each of `subjects` (as a failure
/// until it is taken back), and forgets their rows from before
/// `forget_before_ms`, which no window counts any more.
pub async fn record_attempt(
    conn: &mut Conn,
    brand_id: &BrandId,
    subjects: &[&str],
    attempt_id: &str,
    now_ms: i64,
    forget_before_ms: i64,
) -> Result<()> {
    for subject in subjects {
        crate::sql::query(
            "DELETE FROM redeem_failures WHERE brand_id = $1 AND subject = $2 AND failed_at < $3",
        )
        .bind(brand_id)
        .bind(*subject)
        .bind(forget_before_ms)
        .execute(&mut *conn)
        .await?;
        crate::sql::query(
            "INSERT INTO redeem_failures (brand_id, subject, failed_at, attempt_id) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(brand_id)
        .bind(*subject)
        .bind(now_ms)
        .bind(attempt_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Takes attempt `attempt_id` back from each of `subjects`: it was no guess.
pub async fn forget_attempt(
    conn: &mut Conn,
    brand_id: &BrandId,
    subjects: &[&str],
    attempt_id: &str,
) -> Result<()> {
    for subject in subjects {
        crate::sql::query(
            "DELETE FROM redeem_failures WHERE brand_id = $1 AND subject = $2 AND attempt_id = $3",
        )
        .bind(brand_id)
        .bind(*subject)
        .bind(attempt_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The subject's failed attempts since `since_ms`: how many, and the oldest.
pub async fn failures_since(
    conn: &mut Conn,
    brand_id: &BrandId,
    subject: &str,
    since_ms: i64,
) -> Result<(i64, Option<i64>)> {
    crate::sql::query_as::<(i64, Option<i64>)>(
        "SELECT COUNT(*), MIN(failed_at) FROM redeem_failures \
         WHERE brand_id = $1 AND subject = $2 AND failed_at >= $3",
    )
    .bind(brand_id)
    .bind(subject)
    .bind(since_ms)
    .fetch_one(conn)
    .await
}

/// Forgets the subject's failed attempts (a redemption succeeded).
pub async fn clear_failures(conn: &mut Conn, brand_id: &BrandId, subject: &str) -> Result<()> {
    crate::sql::query("DELETE FROM redeem_failures WHERE brand_id = $1 AND subject = $2")
        .bind(brand_id)
        .bind(subject)
        .execute(conn)
        .await?;
    Ok(())
}
