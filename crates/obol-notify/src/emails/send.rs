//! Sending: each due email is claimed with a lease, sent over SMTP as
//! text and HTML alternatives, and its attempt recorded: `sent`, retried on
//! a schedule, or `failed` once the schedule ends or the server refuses it
//! for good. Under `obol serve` a claimed email is sent on its own task and
//! the worker goes on; on the test clock the step waits for its sends, so
//! that time moves only between them.
//!
//! With no SMTP server configured, due emails are parked: kept queued,
//! with no due time and `last_error` saying why, until a server starts
//! with one (`release_waiting`).

use super::smtp::{Mailer, SEND_TIMEOUT_MS};
use crate::error::{Error, Result};
use async_trait::async_trait;
use lettre::AsyncTransport;
use lettre::message::{Mailbox, Message, MultiPart};
use obol_core::time::{HOUR_MS, MINUTE_MS, SECOND_MS};
use obol_kernel::jobs::DueWork;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::emails::{EmailRow, SendOutcome};
use std::sync::Arc;

pub const QUEUED: &str = "queued";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// Why a queued email waits with no due time.
pub const NOT_CONFIGURED: &str =
    "no SMTP server configured (OBOL_SMTP_URL): kept queued, sent once the server starts with one";

/// The wait before each retry; after the last, the email is `failed`
/// (7 attempts over 31 h 12 min 30 s).
pub const RETRY_DELAYS_MS: [i64; 6] = [
    30 * SECOND_MS,
    2 * MINUTE_MS,
    10 * MINUTE_MS,
    HOUR_MS,
    6 * HOUR_MS,
    24 * HOUR_MS,
];

/// A claimed email not recorded by then is sent again (its process died).
const LEASE_MS: i64 = SEND_TIMEOUT_MS as i64 + 30_000;

/// The wait before the attempt after attempt `attempt` (1 for the first)
/// failed; `None` when that was the last.
pub fn retry_delay_ms(attempt: i64) -> Option<i64> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    RETRY_DELAYS_MS.get(index).copied()
}

pub(crate) fn mailer(state: &AppState) -> &Arc<Mailer> {
    state.part::<Arc<Mailer>>()
}

/// Makes the emails parked while no SMTP server was configured due now;
/// called at start when one is.
pub async fn release_waiting(state: &AppState) -> obol_store::Result<u64> {
    let mut conn = state.db.write_conn().await?;
    obol_store::emails::release_waiting(&mut conn, state.now().as_ms()).await
}

/// Due emails as due work.
pub struct DueEmails;

#[async_trait]
impl DueWork for DueEmails {
    async fn next_due(&self, conn: &mut Conn, until_ms: i64) -> obol_store::Result<Option<i64>> {
        obol_store::emails::next_due(conn, until_ms).await
    }

    async fn run_due(&self, state: &AppState, limit: i64) -> obol_store::Result<usize> {
        let mailer = mailer(state).clone();
        let now = state.now().as_ms();
        // Read first: most rounds find nothing, and write nothing.
        let mut conn = state.db.pool.acquire().await?;
        let due = obol_store::emails::due(&mut conn, now, limit.max(1)).await?;
        drop(conn);
        if due.is_empty() {
            return Ok(0);
        }
        let mut conn = state.db.write_conn().await?;
        if mailer.transport().is_none() {
            let parked = obol_store::emails::park(&mut conn, NOT_CONFIGURED, now).await?;
            return Ok(usize::try_from(parked).unwrap_or(usize::MAX));
        }
        let mut running = Vec::new();
        for row in due {
            let Ok(permit) = mailer.permits.clone().try_acquire_owned() else {
                break;
            };
            if !obol_store::emails::claim(&mut conn, &row.id, now, now + LEASE_MS).await? {
                continue;
            }
            let state = state.clone();
            let mailer = mailer.clone();
            running.push(tokio::spawn(async move {
                let id = row.id.clone();
                if let Err(error) = attempt(&state, &mailer, row).await {
                    tracing::error!(%error, email_id = %id, "an email attempt failed to record");
                }
                drop(permit);
            }));
        }
        drop(conn);
        let claimed = running.len();
        if state.test_clock.is_some() {
            for task in running {
                let _ = task.await;
            }
        }
        Ok(claimed)
    }
}

/// Sends one claimed email and records the attempt.
async fn attempt(state: &AppState, mailer: &Mailer, row: EmailRow) -> Result<()> {
    let transport = mailer
        .transport()
        .ok_or_else(|| Error::internal("an email was claimed with no SMTP server"))?;
    let outcome = match message(&row, state.now().as_ms()) {
        Err(error) => Err((error, true)),
        Ok(message) => transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|error| (error.to_string(), error.is_permanent())),
    };
    let now = state.now().as_ms();
    let attempt = row.attempts + 1;
    let (status, error, run_at) = match &outcome {
        Ok(()) => (SENT, None, None),
        Err((error, permanent)) => {
            let retry = (!permanent)
                .then(|| retry_delay_ms(attempt))
                .flatten()
                .map(|delay| now + delay);
            let status = if retry.is_some() { QUEUED } else { FAILED };
            (status, Some(error.as_str()), retry)
        }
    };
    if let Some(error) = error {
        tracing::warn!(email_id = %row.id, attempt, status, error, "an email was not sent");
    }
    let outcome = SendOutcome {
        status,
        error,
        run_at,
        now_ms: now,
    };
    let mut conn = state.db.write_conn().await?;
    // False when its lease ran out and another process recorded it first.
    obol_store::emails::record_attempt(&mut conn, &row.id, &outcome).await?;
    Ok(())
}

/// The message of an email row: text and HTML alternatives, dated by the
/// server's clock. An address that does not parse is an error no retry
/// mends.
fn message(row: &EmailRow, now_ms: i64) -> std::result::Result<Message, String> {
    let from: Mailbox = row.from_address.parse().map_err(|error| {
        format!(
            "the sender {:?} is not an address: {error}",
            row.from_address
        )
    })?;
    let to: Mailbox = row.to_address.parse().map_err(|error| {
        format!(
            "the recipient {:?} is not an address: {error}",
            row.to_address
        )
    })?;
    let date = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(now_ms).unwrap_or_default());
    Message::builder()
        .from(from)
        .to(to)
        .subject(row.subject.clone())
        .date(date)
        .multipart(MultiPart::alternative_plain_html(
            row.text_body.clone(),
            row.html_body.clone(),
        ))
        .map_err(|error| format!("the message cannot be built: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use obol_core::time::DAY_MS;

    #[test]
    fn retries_grow_to_a_day_then_stop() {
        assert_eq!(retry_delay_ms(1), Some(30 * SECOND_MS));
        assert_eq!(retry_delay_ms(6), Some(DAY_MS));
        assert_eq!(retry_delay_ms(7), None);
        assert_eq!(retry_delay_ms(0), None);
        assert!(RETRY_DELAYS_MS.windows(2).all(|w| w[0] < w[1]));
    }
}
