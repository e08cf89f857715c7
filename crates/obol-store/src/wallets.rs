//! Customer wallets: the grants behind granted credit and what wallet
//! payments took from each. Balances themselves are ledger accounts.

use crate::{Backend, Conn, Result};
use obol_core::{BrandId, CustomerId, OrderId};

/// One granted credit; `remaining` is its share of the customer's
/// `wallet_granted` balance.
#[derive(Debug, Clone)]
pub struct GrantRow {
    pub id: String,
    pub brand_id: BrandId,
    pub customer_id: CustomerId,
    pub currency: String,
    pub amount: i64,
    pub remaining: i64,
    pub reason: String,
    /// `grant` or `redeem_code`.
    pub source: String,
    pub expires_at: Option<i64>,
    pub expired_at: Option<i64>,
    pub created_at: i64,
}

crate::from_row!(GrantRow {
    id,
    brand_id,
    customer_id,
    currency,
    amount,
    remaining,
    reason,
    source,
    expires_at,
    expired_at,
    created_at
});

const COLUMNS: &str = "id, brand_id, customer_id, currency, amount, remaining, reason, source, \
    expires_at, expired_at, created_at";

pub async fn insert_grant(conn: &mut Conn, grant: &GrantRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO wallet_grants (id, brand_id, customer_id, currency, amount, remaining, \
         reason, source, expires_at, expired_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&grant.id)
    .bind(&grant.brand_id)
    .bind(&grant.customer_id)
    .bind(&grant.currency)
    .bind(grant.amount)
    .bind(grant.remaining)
    .bind(&grant.reason)
    .bind(&grant.source)
    .bind(grant.expires_at)
    .bind(grant.expired_at)
    .bind(grant.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The grant, locked until the transaction ends (PostgreSQL).
pub async fn grant_for_update(
    conn: &mut Conn,
    backend: Backend,
    id: &str,
) -> Result<Option<GrantRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM wallet_grants WHERE id = $1{}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The customer's grants in `currency` with something left, locked, in the
/// order a payment spends them: soonest expiring first, then the oldest.
pub async fn spendable_grants(
    conn: &mut Conn,
    backend: Backend,
    brand_id: &BrandId,
    customer_id: &CustomerId,
    currency: &str,
    now_ms: i64,
) -> Result<Vec<GrantRow>> {
    // Past its `expires_at` a grant is spent no more, even before its
    // expiry job has run.
    let sql = format!(
        "SELECT {COLUMNS} FROM wallet_grants WHERE brand_id = $1 AND customer_id = $2 \
         AND currency = $3 AND remaining > 0 AND expired_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $4) \
         ORDER BY CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, id{}",
        backend.for_update()
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(customer_id)
        .bind(currency)
        .bind(now_ms)
        .fetch_all(conn)
        .await
}

/// Adds `change` to what is left of a live grant; false when that would
/// leave it below zero or above its amount, or it has expired.
pub async fn add_to_remaining(conn: &mut Conn, id: &str, change: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE wallet_grants SET remaining = remaining + $2 WHERE id = $1 \
         AND expired_at IS NULL AND remaining + $2 >= 0 AND remaining + $2 <= amount",
    )
    .bind(id)
    .bind(change)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks a grant expired, with nothing left; false when it already was.
pub async fn expire(conn: &mut Conn, id: &str, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE wallet_grants SET remaining = 0, expired_at = $2 WHERE id = $1 \
         AND expired_at IS NULL",
    )
    .bind(id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records that the order's wallet payment took `amount` from the grant.
pub async fn add_spend(
    conn: &mut Conn,
    order_id: &OrderId,
    grant_id: &str,
    amount: i64,
) -> Result<()> {
    crate::sql::query(
        "INSERT INTO wallet_grant_spends (grant_id, order_id, amount) VALUES ($1, $2, $3) \
         ON CONFLICT (order_id, grant_id) DO UPDATE SET amount = wallet_grant_spends.amount + $3",
    )
    .bind(grant_id)
    .bind(order_id)
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the order's wallet payment took from each grant and has not had
/// back: (grant id, amount), the grant spent last first.
pub async fn spends_of(conn: &mut Conn, order_id: &OrderId) -> Result<Vec<(String, i64)>> {
    crate::sql::query_as::<(String, i64)>(
        // The reverse of the order `spendable_grants` spends in: the grant
        // spent last comes first.
        "SELECT s.grant_id, s.amount FROM wallet_grant_spends s \
         JOIN wallet_grants g ON g.id = s.grant_id WHERE s.order_id = $1 AND s.amount > 0 \
         ORDER BY CASE WHEN g.expires_at IS NULL THEN 1 ELSE 0 END DESC, g.expires_at DESC, \
         g.id DESC",
    )
    .bind(order_id)
    .fetch_all(conn)
    .await
}

/// Locks the grants the order's payment spent, in the order
/// `spendable_grants` locks grants in, so that a refund and a payment of
/// the same customer never wait for each other in a cycle.
pub async fn lock_spent_grants(
    conn: &mut Conn,
    backend: Backend,
    order_id: &OrderId,
) -> Result<()> {
    let sql = format!(
        "SELECT id FROM wallet_grants WHERE id IN \
         (SELECT grant_id FROM wallet_grant_spends WHERE order_id = $1) \
         ORDER BY CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, id{}",
        backend.for_update()
    );
    crate::sql::query_as::<(String,)>(sql)
        .bind(order_id)
        .fetch_all(conn)
        .await?;
    Ok(())
}

/// Takes `amount` off what the order's payment took from the grant.
pub async fn reduce_spend(
    conn: &mut Conn,
    order_id: &OrderId,
    grant_id: &str,
    amount: i64,
) -> Result<()> {
    crate::sql::query(
        "UPDATE wallet_grant_spends SET amount = amount - $3 WHERE order_id = $1 AND grant_id = $2",
    )
    .bind(order_id)
    .bind(grant_id)
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(())
}
