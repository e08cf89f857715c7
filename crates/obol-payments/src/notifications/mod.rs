//! Connector notifications in (`POST /v1/ipn/{connector_account_id}`):
//! each is verified by the account's connector under the account's webhook
//! secret or its own credentials, recorded once per connector event id (a
//! mere hint, unsigned, is first checked with the connector), and applied through step
//! 3 like a call's answer, all in one database transaction. The connector
//! only verifies and translates; what a notification may change is step
//! 3's to decide (only an open transaction moves).

pub(crate) mod api;

use crate::connector_accounts;
use crate::error::{Error, Result};
use crate::orders::apply;
use crate::orders::payment::Report;
use obol_connectors::{Notice, Notification, NotificationError};
use obol_core::order::{CallResult, TransactionStatus};
use obol_core::{ConnectorAccountId, TransactionId};
use obol_kernel::state::AppState;
use obol_store::connector_accounts::ConnectorAccountRow;
use obol_store::notifications::NewNotification;
use obol_store::orders::TransactionRow;
use serde::Serialize;
use utoipa::ToSchema;

/// What became of a notification (all answered 200: only an unverifiable
/// one is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Receipt {
    /// Applied: its transaction moved.
    Applied,
    /// Its transaction already stood so (settled by the request, sync or
    /// an earlier notification): nothing changed.
    Unchanged,
    /// This event id was received before: nothing changed.
    Duplicate,
    /// The transaction of the account it names has another amount:
    /// recorded, not applied, logged. (One naming no payment of the
    /// account is 404 and not recorded, so the connector's retry may match.)
    Unmatched,
    /// Verified, of a type Obol does not act on: nothing changed.
    Ignored,
}

/// Receives a connector's notification for account `account_id`: not
/// found when there is no such account, invalid when it does not verify.
pub async fn receive(
    state: &AppState,
    account_id: &ConnectorAccountId,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<Receipt> {
    let mut conn = state.db.pool.acquire().await?;
    let account = obol_store::connector_accounts::find_by_id(&mut conn, account_id)
        .await?
        .ok_or_else(|| Error::not_found("connector_account", account_id))?;
    drop(conn);
    let (connector, context) = connector_accounts::connector_for(state, &account)?;
    let secret = connector_accounts::webhook_secret(state, &account)?;
    let notice = connector
        .verify_account_notification(&context, &secret, headers, body, state.now())
        .map_err(|error| refused(&account, error))?;
    match notice {
        Notice::Payment(notification) if notification.fetch_first => {
            fetch_and_apply(state, &account, notification).await
        }
        Notice::Payment(notification) => {
            record_and_apply(state, &account, notification, None, false).await
        }
        Notice::Dispute(dispute) => crate::disputes::open(state, &account, dispute).await,
        Notice::Ignored {
            event_id,
            event_type,
        } => {
            tracing::debug!(connector_account_id = %account.id, %event_id, %event_type,
                "a connector notification of a type Obol does not act on");
            Ok(Receipt::Ignored)
        }
    }
}

/// A notification that is only a hint (unsigned): Obol asks the connector
/// how the payment it names stands (no database transaction open), and
/// applies that answer, never the hint's claim. An answer that is no
/// answer (the provider unreachable, or not knowing the payment) changes
/// nothing: the transaction's own sync goes on.
async fn fetch_and_apply(
    state: &AppState,
    account: &ConnectorAccountRow,
    mut notification: Notification,
) -> Result<Receipt> {
    let mut conn = state.db.pool.acquire().await?;
    let txn = obol_store::orders::find_by_connector_id(
        &mut conn,
        &account.id,
        &notification.connector_transaction_id,
    )
    .await?;
    drop(conn);
    let Some(txn) = txn else {
        return record_and_apply(state, account, notification, None, false).await;
    };
    if !TransactionStatus::parse(&txn.status).is_some_and(TransactionStatus::is_open) {
        // Final already: nothing the provider says can move it.
        return Ok(Receipt::Unchanged);
    }
    let report = crate::orders::operations::ask(state, &txn).await?;
    if report.not_found || report.result == CallResult::Unknown {
        tracing::warn!(connector_account_id = %account.id, transaction_id = %txn.id,
            "a connector's hint could not be checked with the connector: nothing applied");
        return Ok(Receipt::Unchanged);
    }
    // One record per state the provider confirmed: the same hint again
    // while nothing changed is a duplicate, a later one is news.
    let status = report.result.transaction_status();
    notification.event_id = format!("{}@{}", notification.event_id, status.as_str());
    record_and_apply(state, account, notification, Some(report), false).await
}

/// A notification refused: logged with why, never with its body.
fn refused(account: &ConnectorAccountRow, error: NotificationError) -> Error {
    tracing::warn!(connector_account_id = %account.id, connector = %account.connector, %error,
        "a connector notification was refused");
    match error {
        NotificationError::Unverified(_) => {
            Error::invalid_request("signature_invalid", error.to_string())
        }
        NotificationError::Malformed(_) => {
            Error::invalid_request("parameter_invalid", error.to_string())
        }
        NotificationError::Unsupported => Error::invalid_request(
            "operation_unsupported",
            format!("the {} connector takes no notifications", account.connector),
        ),
    }
}

/// In one database transaction: records the notification (a duplicate
/// stops here), finds its transaction, and applies step 3 to it; then
/// sends what step 3 left to send (a return of a payment that landed on
/// an order no longer payable).
///
/// One naming no payment by its connector id but naming Obol's transaction
/// (an echo of its metadata) syncs that transaction first, when it is open
/// and without a connector id (its answer was lost), then goes on as if it
/// had come after that sync (`resynced`).
async fn record_and_apply(
    state: &AppState,
    account: &ConnectorAccountRow,
    notification: Notification,
    fetched: Option<Report>,
    resynced: bool,
) -> Result<Receipt> {
    let mut tx = state.db.begin().await?;
    let txn = obol_store::orders::find_by_connector_id(
        &mut tx,
        &account.id,
        &notification.connector_transaction_id,
    )
    .await?;
    let record = NewNotification {
        connector_account_id: &account.id,
        event_id: &notification.event_id,
        event_type: &notification.event_type,
        connector_transaction_id: &notification.connector_transaction_id,
        transaction_id: txn.as_ref().map(|txn| &txn.id),
        now_ms: state.now().as_ms(),
    };
    if !obol_store::notifications::insert(&mut tx, &record).await? {
        tracing::debug!(connector_account_id = %account.id, event_id = %notification.event_id,
            "a duplicate connector notification changed nothing");
        return Ok(Receipt::Duplicate);
    }
    let txn = match txn {
        Some(txn)
            if notification
                .amount
                .is_none_or(|amount| amount == txn.amount) =>
        {
            txn
        }
        None => {
            // Not recorded: the payment may not know its connector id yet
            // (step 3 still running, or a process died before it). The
            // connector's retry may match; sync settles the payment anyway.
            tx.rollback().await?;
            if !resynced && let Some(txn) = lost_answer(state, account, &notification).await? {
                crate::orders::operations::sync_transaction(state, &txn).await?;
                return Box::pin(record_and_apply(
                    state,
                    account,
                    notification,
                    fetched,
                    true,
                ))
                .await;
            }
            tracing::info!(connector_account_id = %account.id, event_id = %notification.event_id,
                connector_transaction_id = %notification.connector_transaction_id,
                "a connector notification matches no payment yet: not recorded, to be retried");
            return Err(Error::not_found(
                "payment with this connector id",
                &notification.connector_transaction_id,
            ));
        }
        found => {
            tracing::warn!(connector_account_id = %account.id, event_id = %notification.event_id,
                connector_transaction_id = %notification.connector_transaction_id,
                transaction_id = found.as_ref().map(|txn| txn.id.as_str()),
                "a connector notification matches no transaction of its amount: recorded, not applied");
            tx.commit().await?;
            return Ok(Receipt::Unmatched);
        }
    };
    let report = fetched.unwrap_or_else(|| Report::from_notification(notification));
    let staged = apply::apply_in(state, &mut tx, &txn.id, report).await?;
    tx.commit().await?;
    let receipt = if staged.changed() {
        Receipt::Applied
    } else {
        Receipt::Unchanged
    };
    // Applied and committed whatever follows, so the answer goes now: a
    // return of a late payment is a connector call of its own (up to the
    // connector timeout), sent apart; one that fails to go out is made
    // again by the order's due step.
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(error) = staged.finish(&state).await {
            tracing::error!(transaction_id = %txn.id, %error, "returning a late payment failed");
        }
    });
    Ok(receipt)
}

/// The open transaction of `account` that the notification names by Obol's
/// id and that has no connector id yet: a call whose answer was lost.
async fn lost_answer(
    state: &AppState,
    account: &ConnectorAccountRow,
    notification: &Notification,
) -> Result<Option<TransactionRow>> {
    let Some(id) = notification.transaction_id.as_deref() else {
        return Ok(None);
    };
    let mut conn = state.db.pool.acquire().await?;
    let txn = obol_store::orders::find_transaction(&mut conn, &TransactionId::from(id)).await?;
    Ok(txn.filter(|txn| {
        txn.connector_account_id == account.id
            && txn.connector_transaction_id.is_none()
            && TransactionStatus::parse(&txn.status).is_some_and(TransactionStatus::is_open)
    }))
}
