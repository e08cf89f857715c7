//! A subscription's due step: the trial's notice and end, the renewal at
//! the period's end (its invoice unique per period, so a step that runs
//! twice — two processes, a crash and a retry — bills once), a dunning
//! retry, and the expiry of an unpaid first invoice. Claimed by moving
//! `due_at` to a lease, so one process runs it; charges go out after the
//! step's transaction commits.

use super::{billing, lock, next_due, period_start, record, save, status_of};
use crate::error::{Error, Result};
use async_trait::async_trait;
use obol_core::billing::subscription::{SubscriptionCommand, SubscriptionStatus, transition};
use obol_core::time::MINUTE_MS;
use obol_core::{SubscriptionId, Timestamp};
use obol_kernel::jobs::DueWork;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::billing::subscriptions::{self as store, SubscriptionRow};

/// A claimed step not finished within this is claimed again.
const LEASE_MS: i64 = 5 * MINUTE_MS;
/// A retry that could not start (a payment under way) is tried again after this.
const RETRY_LATER_MS: i64 = 60 * MINUTE_MS;

/// Billing's due work: subscriptions whose `due_at` has come.
pub struct DueSubscriptions;

#[async_trait]
impl DueWork for DueSubscriptions {
    async fn next_due(&self, conn: &mut Conn, until_ms: i64) -> obol_store::Result<Option<i64>> {
        store::next_due(conn, until_ms).await
    }

    async fn run_due(&self, state: &AppState, limit: i64) -> obol_store::Result<usize> {
        let now = state.now();
        let mut conn = state.db.pool.acquire().await?;
        let due = store::due(&mut conn, now.as_ms(), limit).await?;
        drop(conn);
        let lease = now.as_ms() + LEASE_MS;
        let mut ran = 0;
        for (id, seen) in due {
            let mut conn = state.db.write_conn().await?;
            if !store::move_due(&mut conn, &id, seen, Some(lease)).await? {
                continue;
            }
            drop(conn);
            ran += 1;
            let next = match step(state, &id).await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(subscription_id = %id, %error, "subscription step failed; retried after its lease");
                    Some(lease)
                }
            };
            let mut conn = state.db.write_conn().await?;
            // A writer that changed the subscription meanwhile (a payment's
            // outcome) set its due time from what it saw: that one stands.
            store::move_due(&mut conn, &id, lease, next).await?;
        }
        Ok(ran)
    }
}

/// What the step did that needs a charge once it commits.
enum Charge {
    None,
    /// The latest invoice, if nothing tried it yet.
    Latest,
    /// The dunning invoice again.
    Retry(String),
}

/// Runs the subscription's due work; answers when it is due next.
async fn step(state: &AppState, id: &SubscriptionId) -> Result<Option<i64>> {
    let now = state.now();
    let mut conn = state.db.pool.acquire().await?;
    let Some(seen) = store::find(&mut conn, id).await? else {
        return Ok(None);
    };
    drop(conn);
    let mut tx = state.db.begin().await?;
    if seen.status == SubscriptionStatus::Incomplete.as_str()
        && now.as_ms() >= seen.created_at + super::INCOMPLETE_EXPIRY_MS
    {
        // The first invoice goes void with the subscription: its order and
        // invoice are locked before the subscription, as a payment does.
        void_open(state, &mut tx, &seen, now).await?;
    }
    let mut row = lock(state, &mut tx, &seen.brand_id, id).await?;
    let charge = advance(state, &mut tx, &mut row, now).await?;
    tx.commit().await?;
    match charge {
        Charge::None => {}
        Charge::Latest => billing::charge_latest(state, id).await,
        Charge::Retry(invoice_id) => retry(state, &row, &invoice_id).await?,
    }
    let mut conn = state.db.pool.acquire().await?;
    let row = store::find(&mut conn, id).await?;
    Ok(row.as_ref().and_then(next_due))
}

/// The step's changes inside `tx`: whatever has come due by `now`.
async fn advance(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    now: Timestamp,
) -> Result<Charge> {
    let status = status_of(row)?;
    match status {
        SubscriptionStatus::Incomplete => {
            if now.as_ms() >= row.created_at + super::INCOMPLETE_EXPIRY_MS {
                expire_incomplete(state, tx, row, now).await?;
            }
            Ok(Charge::None)
        }
        SubscriptionStatus::Trialing if row.period_index < 0 => {
            let trial_end = row
                .trial_end
                .ok_or_else(|| Error::internal("a trial without its end"))?;
            if now.as_ms() < trial_end {
                if !row.trial_will_end_sent {
                    row.trial_will_end_sent = true;
                    row.updated_at = now.as_ms();
                    store::update(tx, row).await?;
                    record(state, tx, "subscription.trial_will_end", row, now).await?;
                }
                return Ok(Charge::None);
            }
            if row.cancel_at_period_end {
                cancel_at_end(state, tx, row, trial_end, now).await?;
                return Ok(Charge::None);
            }
            end_trial(state, tx, row, now).await?;
            Ok(Charge::Latest)
        }
        SubscriptionStatus::Trialing | SubscriptionStatus::Active | SubscriptionStatus::PastDue => {
            if now.as_ms() >= row.current_period_end {
                return renew(state, tx, row, now).await;
            }
            match (&row.dunning_invoice_id, row.next_retry_at) {
                (Some(invoice_id), Some(retry_at)) if now.as_ms() >= retry_at => {
                    let invoice_id = invoice_id.clone();
                    // Cleared while it runs; a failure sets the next one.
                    row.next_retry_at = None;
                    row.charging_invoice_id = Some(invoice_id.clone());
                    row.updated_at = now.as_ms();
                    store::update(tx, row).await?;
                    Ok(Charge::Retry(invoice_id))
                }
                _ => Ok(Charge::Latest),
            }
        }
        _ => Ok(Charge::None),
    }
}

/// The trial is over: the first period starts at its end (the anchor) and
/// its invoice is made; charged once the step commits.
async fn end_trial(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    now: Timestamp,
) -> Result<()> {
    let price = super::price_of(tx, &row.brand_id, &row.price_id).await?;
    row.period_index = 0;
    row.current_period_start = row.anchor_at;
    row.current_period_end = period_start(row, &price, 1)?;
    row.setup_order_id = None;
    billing::bill_period(state, tx, row, &price, "subscription_create", false, now).await?;
    Ok(())
}

/// The period has ended: a cancellation at its end takes effect, else a
/// downgrade does, and the next period is invoiced.
async fn renew(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    now: Timestamp,
) -> Result<Charge> {
    if row.cancel_at_period_end {
        let end = row.current_period_end;
        cancel_at_end(state, tx, row, end, now).await?;
        return Ok(Charge::None);
    }
    if let Some(pending) = row.pending_price_id.take() {
        let price = obol_store::billing::catalog::get_price(tx, &row.brand_id, &pending)
            .await?
            .ok_or_else(|| Error::internal("pending price vanished"))?;
        row.price_id = price.id;
        row.package_id = price.package_id;
        record(state, tx, "subscription.changed", row, now).await?;
    }
    let price = obol_store::billing::catalog::get_price(tx, &row.brand_id, &row.price_id)
        .await?
        .ok_or_else(|| Error::internal("price vanished"))?;
    row.period_index += 1;
    row.current_period_start = row.current_period_end;
    row.current_period_end = period_start(row, &price, row.period_index + 1)?;
    row.updated_at = now.as_ms();
    if !billing::bill_period(state, tx, row, &price, "subscription_cycle", false, now).await? {
        return Err(Error::internal("a period billed twice"));
    }
    record(state, tx, "subscription.renewed", row, now).await?;
    Ok(Charge::Latest)
}

/// A cancellation at the period's (or trial's) end takes effect.
async fn cancel_at_end(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    end: i64,
    now: Timestamp,
) -> Result<()> {
    let step = transition(status_of(row)?, SubscriptionCommand::Cancel)
        .map_err(|error| Error::invalid_state(error.to_string()))?;
    row.status = step.to.as_str().to_owned();
    row.canceled_at = Some(end);
    row.updated_at = now.as_ms();
    save(tx, row).await?;
    record(state, tx, "subscription.canceled", row, now).await?;
    Ok(())
}

/// Voids the subscription's latest invoice if it is still payable.
async fn void_open(
    state: &AppState,
    tx: &mut Conn,
    row: &SubscriptionRow,
    now: Timestamp,
) -> Result<()> {
    let Some(invoice_id) = &row.latest_invoice_id else {
        return Ok(());
    };
    let payable = obol_store::billing::invoices::get(tx, &row.brand_id, invoice_id)
        .await?
        .is_some_and(|invoice| matches!(invoice.status.as_str(), "open" | "uncollectible"));
    if payable {
        crate::invoices::void_in(state, tx, &row.brand_id, invoice_id, now).await?;
    }
    Ok(())
}

/// The first invoice went unpaid: the subscription never started.
async fn expire_incomplete(
    state: &AppState,
    tx: &mut Conn,
    row: &mut SubscriptionRow,
    now: Timestamp,
) -> Result<()> {
    let step = transition(
        SubscriptionStatus::Incomplete,
        SubscriptionCommand::FirstInvoiceExpired,
    )
    .map_err(|error| Error::internal(error.to_string()))?;
    row.status = step.to.as_str().to_owned();
    row.updated_at = now.as_ms();
    save(tx, row).await?;
    record(state, tx, "subscription.changed", row, now).await?;
    Ok(())
}

/// Charges the dunning invoice again while it is payable. One voided
/// meanwhile is forgiven (the subscription is active again); a charge that
/// could not start now (a payment under way) is tried again in an hour.
async fn retry(state: &AppState, row: &SubscriptionRow, invoice_id: &str) -> Result<()> {
    let mut conn = state.db.pool.acquire().await?;
    let invoice = obol_store::billing::invoices::get(&mut conn, &row.brand_id, invoice_id).await?;
    drop(conn);
    let Some(invoice) = invoice else {
        return Ok(());
    };
    let charged = match invoice.status.as_str() {
        "open" | "uncollectible" => billing::charge(state, row, &invoice).await?,
        "void" => return forgive(state, row, &invoice).await,
        _ => return Ok(()),
    };
    if charged == billing::Charged::Skipped {
        let now = state.now();
        let mut tx = state.db.begin().await?;
        let mut row = lock(state, &mut tx, &row.brand_id, &row.id).await?;
        if row.dunning_invoice_id.as_deref() == Some(invoice_id) && row.next_retry_at.is_none() {
            row.next_retry_at = Some(now.plus_ms(RETRY_LATER_MS).as_ms());
            row.charging_invoice_id = None;
            save(&mut tx, &row).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The dunning invoice was voided: nothing is owed, the subscription is
/// active again.
async fn forgive(
    state: &AppState,
    row: &SubscriptionRow,
    invoice: &obol_store::billing::invoices::InvoiceRow,
) -> Result<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = lock(state, &mut tx, &row.brand_id, &row.id).await?;
    if row.dunning_invoice_id.as_deref() == Some(invoice.id.as_str()) {
        let from = status_of(&row)?;
        row.charging_invoice_id = None;
        let event = billing::settle(&mut row, from, now);
        row.updated_at = now.as_ms();
        save(&mut tx, &row).await?;
        if let Some(event) = event {
            record(state, &mut tx, event, &row, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
