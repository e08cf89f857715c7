//! Connector notifications received: one row per verified notification,
//! keyed by its connector account and event id, so that a connector's
//! retries and concurrent copies are applied once.

use crate::{Conn, Result};
use obol_core::{ConnectorAccountId, TransactionId};

/// A verified notification to record.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    pub connector_account_id: &'a ConnectorAccountId,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub connector_transaction_id: &'a str,
    /// The transaction it is about; `None` when none matched.
    pub transaction_id: Option<&'a TransactionId>,
    pub now_ms: i64,
}

/// Records a notification; false when the account already has one with
/// this event id (a concurrent copy waits for the first to commit, then
/// finds it).
pub async fn insert(conn: &mut Conn, notification: &NewNotification<'_>) -> Result<bool> {
    let result = crate::sql::query(
        "INSERT INTO connector_notifications (connector_account_id, event_id, event_type, \
         connector_transaction_id, transaction_id, received_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT DO NOTHING",
    )
    .bind(notification.connector_account_id)
    .bind(notification.event_id)
    .bind(notification.event_type)
    .bind(notification.connector_transaction_id)
    .bind(notification.transaction_id)
    .bind(notification.now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Forgets the notifications received before `before_ms`, long past the
/// providers' retries: a repeat of one then finds its transaction final.
pub async fn purge(conn: &mut Conn, before_ms: i64) -> Result<u64> {
    let done = crate::sql::query("DELETE FROM connector_notifications WHERE received_at < $1")
        .bind(before_ms)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
