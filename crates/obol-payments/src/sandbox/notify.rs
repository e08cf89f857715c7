//! The sandbox's own notifications to Obol, as a processor sends its
//! webhooks: a `sandbox.notify` job per moment a payment has something to
//! tell (an asynchronous approval at its settle time; an invoice once paid
//! and at its expiry). The job settles what has come due, builds the body
//! with a stable event id (a retried job sends the same event, which Obol
//! de-duplicates), signs it with the connector account's webhook secret
//! and posts it to Obol's `/v1/ipn/{account}` over HTTP. A non-2xx answer
//! retries the job.

use super::sandbox;
use crate::connector_accounts;
use obol_connectors::sandbox::notifications::{self, SandboxEvent};
use obol_connectors::sandbox::state::PaymentRow;
use obol_core::ConnectorAccountId;
use obol_kernel::jobs::{Job, JobError};
use obol_kernel::state::AppState;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Tells Obol how sandbox payment `payment_id` stands.
#[derive(Debug, Serialize, Deserialize)]
pub struct SandboxNotify {
    pub payment_id: String,
}

impl Job for SandboxNotify {
    const KIND: &'static str = "sandbox.notify";

    async fn run(self, state: AppState) -> Result<(), JobError> {
        // Reading it settles what has come due.
        let Some(payment) = sandbox(&state).payment(&self.payment_id).await? else {
            tracing::warn!(payment_id = %self.payment_id, "the sandbox has no payment to tell about");
            return Ok(());
        };
        let mandate = sandbox(&state).mandate_of(&payment).await?;
        let Some(event) = notifications::event_for(&payment, mandate.as_ref()) else {
            return not_yet(&state, &payment);
        };
        let account_id = ConnectorAccountId::from(payment.account_id.as_str());
        let mut conn = state.db.pool.acquire().await?;
        let account = obol_store::connector_accounts::find_by_id(&mut conn, &account_id).await?;
        drop(conn);
        let Some(account) = account else {
            tracing::warn!(%account_id, "a sandbox payment names a missing connector account");
            return Ok(());
        };
        let secret = connector_accounts::webhook_secret(&state, &account)?;
        let timestamp_secs = state.now().as_ms().div_euclid(1000);
        let signature = notifications::signature(&secret, &event, timestamp_secs)?;
        post(&state, &account_id, &event, timestamp_secs, &signature).await
    }
}

/// Nothing to tell yet (an invoice not paid, an approval not yet due):
/// tried again when it falls due, done when nothing will.
fn not_yet(state: &AppState, payment: &PaymentRow) -> Result<(), JobError> {
    let due_ms = match payment.status.as_str() {
        "pending" => payment.settle_at,
        "requires_action" => payment.invoice_expires_at,
        _ => None,
    };
    let now_ms = state.now().as_ms();
    match due_ms {
        Some(due_ms) if due_ms > now_ms => Err(JobError {
            message: format!("sandbox payment {} is not due yet", payment.id),
            retry_in_ms: Some(due_ms - now_ms),
        }),
        _ => Ok(()),
    }
}

/// Posts the signed event to Obol's own notification route.
async fn post(
    state: &AppState,
    account_id: &ConnectorAccountId,
    event: &SandboxEvent,
    timestamp_secs: i64,
    signature: &str,
) -> Result<(), JobError> {
    // A plain client, not `state.outbound`: that one keeps tenants' URLs
    // off private networks, and this URL is Obol's own (its operator's
    // OBOL_PUBLIC_URL, never a tenant's), which is often loopback or a
    // private address behind a proxy.
    obol_kernel::outbound::install_tls_provider();
    let client = reqwest::Client::builder()
        .timeout(POST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let url = format!("{}/v1/ipn/{account_id}", state.public_url);
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("webhook-id", &event.id)
        .header("webhook-timestamp", timestamp_secs.to_string())
        .header("webhook-signature", signature)
        .body(event.body.clone())
        .send()
        .await?;
    let status = response.status();
    if status.is_success() {
        tracing::debug!(event_id = %event.id, "sandbox notification delivered");
        Ok(())
    } else {
        Err(JobError::new(format!(
            "the sandbox notification {} was answered {status}",
            event.id
        )))
    }
}
