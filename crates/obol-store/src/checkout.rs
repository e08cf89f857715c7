//! What the hosted payment page keeps: the spent nonces of signed returns.

use crate::{Conn, Result};
use obol_core::{OrderId, TransactionId};

/// Spends a signed return's nonce; false when it was spent before (a
/// replay), even by a concurrent return: the primary key decides.
pub async fn spend_return_nonce(
    conn: &mut Conn,
    nonce: &str,
    order_id: &OrderId,
    transaction_id: &TransactionId,
    now_ms: i64,
) -> Result<bool> {
    let done = crate::sql::query(
        "INSERT INTO checkout_returns (nonce, order_id, transaction_id, used_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(order_id)
    .bind(transaction_id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets the nonces spent before `before_ms`: their returns had expired
/// long before, so a replay of one is refused for its expiry anyway.
pub async fn purge_return_nonces(conn: &mut Conn, before_ms: i64) -> Result<u64> {
    let done = crate::sql::query("DELETE FROM checkout_returns WHERE used_at < $1")
        .bind(before_ms)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
