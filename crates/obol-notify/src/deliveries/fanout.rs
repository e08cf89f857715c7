//! Fan-out: turns each brand's committed events, in sequence order, into
//! the first attempts of their messages. A brand's cursor moves in the same
//! transaction as the attempts it made, so a crash makes them again or not
//! at all, and two processes never fan out the same events twice.

use super::{PING, messages_for};
use async_trait::async_trait;
use obol_core::BrandId;
use obol_kernel::jobs::DueWork;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::cursors::Reader;

/// The least time between two fan-out steps of one process (not on the
/// test clock).
const STEP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
/// Most events one fan-out step takes from a brand.
const EVENTS_PER_STEP: i64 = 200;
/// Most attempts one step makes, so that a brand with many endpoints holds
/// the (SQLite) writer for a bounded time.
const ATTEMPTS_PER_STEP: usize = 2000;

/// The fan-out as due work: due whenever an event is not yet fanned out.
pub struct Fanout;

#[async_trait]
impl DueWork for Fanout {
    async fn next_due(&self, conn: &mut Conn, until_ms: i64) -> obol_store::Result<Option<i64>> {
        let waiting = !obol_store::webhooks::brands_unsequenced(conn, 1)
            .await?
            .is_empty()
            || !obol_store::cursors::brands_behind(conn, Reader::Webhooks, 1)
                .await?
                .is_empty();
        // Already due, at any time: it waits only for a worker.
        let _ = until_ms;
        Ok(waiting.then_some(0))
    }

    async fn run_due(&self, state: &AppState, limit: i64) -> obol_store::Result<usize> {
        // Under load a step every interval takes a batch: the writer is not
        // taken for each event (the test clock runs every step it asks for).
        if state.test_clock.is_none() && !crate::notify(state).fanout_due(STEP_INTERVAL) {
            return Ok(0);
        }
        let mut conn = state.db.pool.acquire().await?;
        let mut brands = obol_store::webhooks::brands_unsequenced(&mut conn, limit).await?;
        brands
            .extend(obol_store::cursors::brands_behind(&mut conn, Reader::Webhooks, limit).await?);
        drop(conn);
        brands.sort_unstable();
        brands.dedup();
        let mut ran = 0;
        for brand_id in brands {
            ran += fan_out(state, &brand_id).await?;
        }
        Ok(ran)
    }
}

/// Fans out the next events of one brand; returns how many it took.
async fn fan_out(state: &AppState, brand_id: &BrandId) -> obol_store::Result<usize> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // Numbering new events first, in the same transaction: one writer
    // transaction per step.
    let numbered =
        obol_store::events::assign_sequences(&mut tx, state.db.backend, brand_id).await?;
    let from =
        obol_store::cursors::lock(&mut tx, state.db.backend, Reader::Webhooks, brand_id).await?;
    // The last number before the events: every event up to it is
    // committed (or numbered just now) and visible to the reads after.
    let last = obol_store::webhooks::event_sequence(&mut tx, brand_id).await?;
    if last <= from {
        tx.commit().await?;
        return Ok(usize::try_from(numbered).unwrap_or(usize::MAX));
    }
    let events =
        obol_store::events::in_sequence(&mut tx, brand_id, from, last, EVENTS_PER_STEP).await?;
    let endpoints = obol_store::webhooks::receiving_endpoints(&mut tx, brand_id).await?;
    let mut rows = Vec::new();
    // Numbered events that are not there (none is ever deleted) are passed
    // over rather than leave the brand behind at every step.
    let mut to = last;
    let mut taken = 0;
    for event in &events {
        let Some(sequence) = event.sequence else {
            continue;
        };
        if rows.len() >= ATTEMPTS_PER_STEP {
            to = sequence - 1;
            break;
        }
        taken += 1;
        if event.event_type != PING {
            rows.extend(messages_for(event, sequence, &endpoints, now));
        }
        if taken == events.len() && events.len() as i64 == EVENTS_PER_STEP {
            to = sequence;
        }
    }
    if !obol_store::cursors::advance(&mut tx, Reader::Webhooks, brand_id, from, to).await? {
        return Ok(0);
    }
    obol_store::webhooks::insert_deliveries(&mut tx, &rows).await?;
    tx.commit().await?;
    Ok(taken.max(1))
}
