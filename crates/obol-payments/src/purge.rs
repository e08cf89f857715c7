//! The payments' own purge, every six hours: spent return nonces and
//! connector notifications past any use. (The kernel's purge knows no
//! domain's tables.)

use obol_core::time::{DAY_MS, HOUR_MS};
use obol_kernel::jobs::{Job, JobError};
use obol_kernel::state::AppState;
use serde::{Deserialize, Serialize};

const INTERVAL_MS: i64 = 6 * HOUR_MS;
/// A signed return is valid for an hour: two days keep every nonce that a
/// replay could still present unexpired, with room for a slow clock.
const RETURN_NONCES_KEPT_MS: i64 = 2 * DAY_MS;
/// Providers retry a notification for days (Stripe for three): a month
/// keeps each one's de-duplication well past its last retry.
const NOTIFICATIONS_KEPT_MS: i64 = 30 * DAY_MS;

/// Deletes what the payments no longer need, then schedules the next run.
#[derive(Serialize, Deserialize)]
pub struct PurgePayments {}

impl Job for PurgePayments {
    const KIND: &'static str = "payments.purge";

    async fn run(self, state: AppState) -> Result<(), JobError> {
        let now = state.now().as_ms();
        let mut tx = state.db.begin().await?;
        let nonces =
            obol_store::checkout::purge_return_nonces(&mut tx, now - RETURN_NONCES_KEPT_MS).await?;
        let notifications =
            obol_store::notifications::purge(&mut tx, now - NOTIFICATIONS_KEPT_MS).await?;
        tx.commit().await?;
        tracing::info!(nonces, notifications, "purged old payment records");
        schedule(&state).await?;
        Ok(())
    }
}

/// Makes sure the next purge is scheduled: one pending per database,
/// whichever process enqueues it first.
pub async fn schedule(state: &AppState) -> obol_store::Result<()> {
    let now = state.now();
    let mut job = PurgePayments {}.at(now.plus_ms(INTERVAL_MS));
    job.unique_key = Some(PurgePayments::KIND.to_owned());
    let mut conn = state.db.write_conn().await?;
    obol_store::jobs::enqueue(&mut conn, &obol_core::JobId::new(), &job, now.as_ms()).await?;
    Ok(())
}
