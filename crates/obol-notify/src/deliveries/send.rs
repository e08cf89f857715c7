//! Making attempts: each due attempt is claimed with a lease, sent signed,
//! and its outcome recorded with what follows from it (the next attempt,
//! the endpoint's status, its event) in one transaction.
//!
//! Attempts run concurrently, at most `PER_TARGET_IN_FLIGHT` to one target
//! and `IN_FLIGHT_MAX` in all per process, so a slow receiver holds back
//! only its own deliveries. Under `obol serve` a claimed attempt runs on
//! its own task and the worker goes on; on the test clock the step waits
//! for its attempts, so that time moves only between them.

use super::schedule::{ATTEMPT_TIMEOUT_MS, retry_delay_ms};
use super::signing::signature;
use crate::endpoints::{self, DISABLED, ENABLED, FAILING, WebhookEndpoint};
use crate::error::{Error, Result};
use async_trait::async_trait;
use obol_core::{Timestamp, WebhookDeliveryId};
use obol_kernel::events::{self, Event};
use obol_kernel::jobs::DueWork;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::webhooks::{AttemptOutcome, DeliveryRow};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Most attempts in flight to one target from one process.
pub const PER_TARGET_IN_FLIGHT: usize = 4;
/// Most attempts in flight from one process.
pub const IN_FLIGHT_MAX: usize = 256;
/// Most attempts one step starts under `obol serve`.
const CLAIM_PER_STEP: usize = 64;
/// How long a step with attempts in flight and none to start waits for one
/// to end.
const WAIT_FOR_AN_END: std::time::Duration = std::time::Duration::from_millis(50);
/// How often a process looks for held attempts with nothing left ahead.
const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// A claimed attempt not recorded by then is made again (its process died):
/// past the receiver's timeout, with room to record the outcome.
const LEASE_MS: i64 = ATTEMPT_TIMEOUT_MS + 20_000;
/// How much of a receiver's answer is kept on the attempt.
const EXCERPT_MAX_BYTES: usize = 1024;
/// The event type recorded when an endpoint's delivery ran out of retries.
pub const ENDPOINT_FAILING: &str = "webhook_endpoint.failing";
/// The event type recorded when an endpoint answered `410 Gone`.
pub const ENDPOINT_DISABLED: &str = "webhook_endpoint.disabled";

/// Attempts in flight from this process, per target.
#[derive(Default)]
pub struct InFlight {
    counts: Mutex<(usize, HashMap<String, usize>)>,
    last_sweep: Mutex<Option<Instant>>,
    /// Told each time an attempt ends.
    ended: tokio::sync::Notify,
}

/// One attempt's place in `InFlight`, given back when dropped.
pub struct Slot {
    in_flight: Arc<InFlight>,
    target: String,
}

impl InFlight {
    /// The targets at their bound, and whether the process is at its own.
    fn saturated(&self) -> (Vec<String>, bool) {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_target) = &*counts;
        let full = per_target
            .iter()
            .filter(|(_, here)| **here >= PER_TARGET_IN_FLIGHT)
            .map(|(target, _)| target.clone())
            .collect();
        (full, *total >= IN_FLIGHT_MAX)
    }

    /// Whether any attempt of this process is in flight.
    fn busy(&self) -> bool {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).0 > 0
    }

    /// Whether a sweep for held attempts is due in this process (and, if
    /// so, notes it as made).
    fn sweep_due(&self) -> bool {
        let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < SWEEP_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// A slot for an attempt to `target`, unless that target or the process
    /// is at its bound.
    pub fn take(self: &Arc<Self>, target: &str) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_target) = &mut *counts;
        let here = per_target.entry(target.to_owned()).or_default();
        if *total >= IN_FLIGHT_MAX || *here >= PER_TARGET_IN_FLIGHT {
            return None;
        }
        *here += 1;
        *total += 1;
        Some(Slot {
            in_flight: self.clone(),
            target: target.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .in_flight
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (total, per_target) = &mut *counts;
        *total -= 1;
        if let Some(here) = per_target.get_mut(&self.target) {
            *here -= 1;
            if *here == 0 {
                per_target.remove(&self.target);
            }
        }
        drop(counts);
        self.in_flight.ended.notify_one();
    }
}

/// Due attempts as due work.
pub struct DueDeliveries;

#[async_trait]
impl DueWork for DueDeliveries {
    async fn next_due(&self, conn: &mut Conn, until_ms: i64) -> obol_store::Result<Option<i64>> {
        obol_store::webhooks::next_due(conn, until_ms).await
    }

    async fn run_due(&self, state: &AppState, limit: i64) -> obol_store::Result<usize> {
        let in_flight = crate::notify(state).in_flight.clone();
        if in_flight.sweep_due() {
            let mut conn = state.db.write_conn().await?;
            obol_store::webhooks::release_unblocked(&mut conn, state.now().as_ms(), 1000).await?;
        }
        if state.test_clock.is_some() {
            let running = start_due(state, &in_flight, usize::try_from(limit).unwrap_or(1)).await?;
            let started = running.len();
            for task in running {
                let _ = task.await;
            }
            return Ok(started);
        }
        let mut started = start_due(state, &in_flight, CLAIM_PER_STEP).await?.len();
        if started == 0 && in_flight.busy() {
            // Attempts are in flight: wait for one to end (briefly) and look
            // again, so that deliveries keep pace with their receivers
            // rather than with the worker's poll.
            let _ = tokio::time::timeout(WAIT_FOR_AN_END, in_flight.ended.notified()).await;
            started = start_due(state, &in_flight, CLAIM_PER_STEP).await?.len();
        }
        Ok(started)
    }
}

/// Claims up to `limit` due attempts that have room in `in_flight`, and
/// starts each on its own task.
async fn start_due(
    state: &AppState,
    in_flight: &Arc<InFlight>,
    limit: usize,
) -> obol_store::Result<Vec<tokio::task::JoinHandle<()>>> {
    let limit = limit.max(1);
    let (full, at_bound) = in_flight.saturated();
    if at_bound {
        return Ok(Vec::new());
    }
    let now = state.now().as_ms();
    let mut conn = state.db.pool.acquire().await?;
    // Read past the limit: a target may reach its bound within the page.
    let due = obol_store::webhooks::due(&mut conn, now, (limit * 4) as i64, &full).await?;
    drop(conn);
    let mut chosen = Vec::new();
    for row in due {
        if chosen.len() >= limit {
            break;
        }
        if let Some(slot) = in_flight.take(&row.target) {
            chosen.push((row, slot));
        }
    }
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let lease_until = now + LEASE_MS;
    let ids: Vec<WebhookDeliveryId> = chosen.iter().map(|(row, _)| row.id.clone()).collect();
    let mut conn = state.db.write_conn().await?;
    let claimed = obol_store::webhooks::claim_all(&mut conn, &ids, now, lease_until).await?;
    drop(conn);
    let mut running = Vec::with_capacity(claimed.len());
    for (mut row, slot) in chosen {
        if !claimed.contains(&row.id) {
            continue;
        }
        row.lease_until = Some(lease_until);
        let state = state.clone();
        running.push(tokio::spawn(async move {
            let mut row = row;
            loop {
                make(&state, &row).await;
                // Under `obol serve` the slot goes on with its target's next
                // due attempt, so a target's backlog drains at its
                // receiver's pace; on the test clock a step is one attempt.
                if state.test_clock.is_some() {
                    break;
                }
                match next_claimed(&state, &row.target).await {
                    Ok(Some(next)) => row = next,
                    Ok(None) => break,
                    Err(error) => {
                        tracing::error!(%error, "reading the next webhook attempt failed");
                        break;
                    }
                }
            }
            drop(slot);
        }));
    }
    Ok(running)
}

/// Makes a claimed attempt; one that errors is recorded as failed, retried
/// on the schedule: a message must not stay pending and hold back the rest.
async fn make(state: &AppState, row: &DeliveryRow) {
    if let Err(error) = attempt(state, row).await {
        let answer = Answer::None(format!("not sent: {error}"));
        if let Err(error) = record(state, row, &row.url, answer, None, state.now()).await {
            tracing::error!(%error, delivery_id = %row.id, "a webhook attempt failed to record");
        }
    }
}

/// Claims the next due attempt to `target`, if there is one.
async fn next_claimed(state: &AppState, target: &str) -> obol_store::Result<Option<DeliveryRow>> {
    let now = state.now().as_ms();
    let mut conn = state.db.pool.acquire().await?;
    let Some(mut row) = obol_store::webhooks::next_of_target(&mut conn, now, target).await? else {
        return Ok(None);
    };
    drop(conn);
    let lease_until = now + LEASE_MS;
    let mut conn = state.db.write_conn().await?;
    let claimed =
        obol_store::webhooks::claim_all(&mut conn, std::slice::from_ref(&row.id), now, lease_until)
            .await?;
    if claimed.is_empty() {
        return Ok(None);
    }
    row.lease_until = Some(lease_until);
    Ok(Some(row))
}

/// What became of one attempt.
enum Answer {
    /// The receiver answered: status and the start of its body.
    Status(u16, String),
    /// No answer: refused, timed out, or kept off a private network.
    None(String),
    /// Not sent, and never to be: its endpoint was disabled or deleted.
    Skipped(&'static str),
}

/// Makes one claimed attempt and records it.
async fn attempt(state: &AppState, row: &DeliveryRow) -> Result<()> {
    let mut conn = state.db.pool.acquire().await?;
    let mut event = obol_store::events::get(&mut conn, &row.brand_id, &row.event_id)
        .await?
        .ok_or_else(|| Error::internal(format!("event {} vanished", row.event_id)))?;
    if event.sequence.is_none() {
        // A ping goes out before the fan-out numbers it: number it here.
        drop(conn);
        events::sequence(state, &row.brand_id).await?;
        conn = state.db.pool.acquire().await?;
        event = obol_store::events::get(&mut conn, &row.brand_id, &row.event_id)
            .await?
            .ok_or_else(|| Error::internal(format!("event {} vanished", row.event_id)))?;
    }
    let endpoint = match &row.endpoint_id {
        Some(id) => Some(
            obol_store::webhooks::find_endpoint(&mut conn, id)
                .await?
                .ok_or_else(|| Error::internal(format!("endpoint {id} vanished")))?,
        ),
        None => None,
    };
    let now = state.now();
    let (url, secrets) = match &endpoint {
        Some(endpoint) if endpoint.deleted_at.is_some() || endpoint.status == DISABLED => {
            drop(conn);
            let outcome = Answer::Skipped("the endpoint is disabled");
            return record(state, row, &row.url, outcome, None, now).await;
        }
        Some(endpoint) => (
            endpoint.url.clone(),
            endpoints::signing_secrets(state, endpoint, now)?,
        ),
        None => {
            let brand = obol_store::brands::get(&mut conn, &row.brand_id)
                .await?
                .ok_or_else(|| Error::internal(format!("brand {} vanished", row.brand_id)))?;
            let secret = state
                .master_key
                .decrypt(&brand.webhook_secret_ciphertext)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    Error::internal(format!(
                        "the webhook secret of {} does not decrypt",
                        brand.id
                    ))
                })?;
            (row.url.clone(), vec![secret])
        }
    };
    drop(conn);
    let body = serde_json::to_vec(&Event::try_from(event)?).map_err(Error::internal)?;
    let timestamp = now.as_ms().div_euclid(1000);
    let signed =
        signature(&secrets, row.event_id.as_str(), timestamp, &body).map_err(Error::internal)?;
    let started = Instant::now();
    let answer = post(state, &url, row, timestamp, &signed, body).await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    record(state, row, &url, answer, Some(duration_ms), state.now()).await
}

/// Sends one signed attempt through the outbound client (which keeps it off
/// private networks and follows no redirect).
async fn post(
    state: &AppState,
    url: &str,
    row: &DeliveryRow,
    timestamp: i64,
    signature: &str,
    body: Vec<u8>,
) -> Answer {
    let outbound = crate::outbound(state);
    let request = outbound
        .client()
        .post(url)
        .timeout(std::time::Duration::from_millis(ATTEMPT_TIMEOUT_MS as u64))
        .header("content-type", "application/json")
        .header("user-agent", "Obol-Webhooks/1")
        .header("webhook-id", row.event_id.as_str())
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body);
    let mut response = match outbound.send(request).await {
        Ok(response) => response,
        Err(error) => return Answer::None(error.to_string()),
    };
    let status = response.status().as_u16();
    let mut excerpt = Vec::new();
    while excerpt.len() < EXCERPT_MAX_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            // A body cut short or too slow still leaves the status.
            Ok(None) | Err(_) => break,
        }
    }
    excerpt.truncate(EXCERPT_MAX_BYTES);
    Answer::Status(status, String::from_utf8_lossy(&excerpt).into_owned())
}

/// Records an attempt's outcome and what follows from it, in one
/// transaction: the next attempt, or the end of the message; the
/// endpoint's status and its event.
async fn record(
    state: &AppState,
    row: &DeliveryRow,
    url: &str,
    answer: Answer,
    duration_ms: Option<i64>,
    now: Timestamp,
) -> Result<()> {
    let (http_status, excerpt, error) = match &answer {
        Answer::Status(status, excerpt) => (Some(i64::from(*status)), Some(excerpt.as_str()), None),
        Answer::None(error) => (None, None, Some(error.as_str())),
        Answer::Skipped(reason) => (None, None, Some(*reason)),
    };
    let succeeded = matches!(answer, Answer::Status(200..=299, _));
    // 410 Gone: the receiver wants no more, endpoint or callback.
    let gone = matches!(answer, Answer::Status(410, _));
    let skipped = matches!(answer, Answer::Skipped(_));
    let retry_at = (!succeeded && !gone && !skipped)
        .then(|| retry_delay_ms(row.attempt))
        .flatten()
        .map(|delay| now.as_ms() + delay);
    let mut tx = state.db.begin().await?;
    let outcome = AttemptOutcome {
        succeeded,
        attempted_at: now.as_ms(),
        url,
        http_status,
        response_excerpt: excerpt,
        duration_ms,
        error,
        next_attempt_at: retry_at,
    };
    let lease_until = row
        .lease_until
        .ok_or_else(|| Error::internal("an attempt recorded without its claim"))?;
    if !obol_store::webhooks::finish(&mut tx, &row.id, lease_until, &outcome).await? {
        // Its lease ran out: another claim of it records it.
        return Ok(());
    }
    match retry_at {
        Some(run_at) => {
            let next = next_attempt(row, url, run_at, now);
            obol_store::webhooks::insert_deliveries(&mut tx, std::slice::from_ref(&next)).await?;
        }
        // The message ended: the next one about its object may go.
        None => {
            obol_store::webhooks::release_next(&mut tx, &row.target, &row.object_id, now.as_ms())
                .await?;
        }
    }
    if let Some(endpoint_id) = &row.endpoint_id {
        let change = if succeeded {
            Some((FAILING, ENABLED, None))
        } else if gone {
            Some((ENABLED, DISABLED, Some(ENDPOINT_DISABLED)))
        } else if retry_at.is_none() && !skipped {
            Some((ENABLED, FAILING, Some(ENDPOINT_FAILING)))
        } else {
            None
        };
        if let Some((from, to, event_type)) = change {
            let mut changed = obol_store::webhooks::set_endpoint_status(
                &mut tx,
                endpoint_id,
                from,
                to,
                now.as_ms(),
            )
            .await?;
            if gone && !changed {
                changed = obol_store::webhooks::set_endpoint_status(
                    &mut tx,
                    endpoint_id,
                    FAILING,
                    DISABLED,
                    now.as_ms(),
                )
                .await?;
            }
            if gone && changed {
                obol_store::webhooks::fail_pending_of_endpoint(
                    &mut tx,
                    endpoint_id,
                    "the endpoint answered 410 Gone and was disabled",
                    now.as_ms(),
                )
                .await?;
            }
            if let (true, Some(event_type)) = (changed, event_type) {
                let endpoint = obol_store::webhooks::find_endpoint(&mut tx, endpoint_id)
                    .await?
                    .ok_or_else(|| Error::internal(format!("endpoint {endpoint_id} vanished")))?;
                let view = WebhookEndpoint::from_row(&endpoint, now)?;
                events::record(
                    &mut tx,
                    &row.brand_id,
                    event_type,
                    endpoint_id,
                    None,
                    &view,
                    now,
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The attempt after a failed one, due at `run_at`.
fn next_attempt(row: &DeliveryRow, url: &str, run_at: i64, now: Timestamp) -> DeliveryRow {
    DeliveryRow {
        id: WebhookDeliveryId::new(),
        message_id: row.message_id.clone(),
        brand_id: row.brand_id.clone(),
        event_id: row.event_id.clone(),
        event_type: row.event_type.clone(),
        endpoint_id: row.endpoint_id.clone(),
        target: row.target.clone(),
        url: url.to_owned(),
        object_id: row.object_id.clone(),
        sequence: row.sequence,
        attempt: row.attempt + 1,
        status: "pending".into(),
        run_at: Some(run_at),
        lease_until: None,
        attempted_at: None,
        http_status: None,
        response_excerpt: None,
        duration_ms: None,
        error: None,
        next_attempt_at: None,
        created_at: now.as_ms(),
    }
}
