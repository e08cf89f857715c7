//! Disputes (chargebacks): a connector's notice opens one on a succeeded
//! sale or capture, moving the disputed amount from the brand's balance to
//! its `disputes` account in the same database transaction as the dispute
//! and its `order.disputed` event; won, the money goes back to the brand,
//! lost, to `external`. The brand answers with evidence (`under_review`).

pub(crate) mod api;

use crate::error::{Error, Result};
use crate::notifications::Receipt;
use crate::orders::apply::{brand_account, currency_of};
use obol_accounts::ledger::{self, AccountKey, AccountType, NewEntry};
use obol_connectors::{DisputeChange, DisputeNotice};
use obol_core::{BrandId, Currency, DisputeId, Money, Timestamp, validate};
use obol_kernel::events;
use obol_kernel::list::{self, List};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::connector_accounts::ConnectorAccountRow;
use obol_store::disputes::DisputeRow;
use obol_store::notifications::NewNotification;
use obol_store::orders::OrderRow;
use obol_store::page::PageRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const NEEDS_RESPONSE: &str = "needs_response";
const UNDER_REVIEW: &str = "under_review";
/// Longest evidence text, in characters.
const EVIDENCE_MAX_CHARS: usize = 20_000;

/// A dispute as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dispute {
    pub id: String,
    /// Always `dispute`.
    pub object: &'static str,
    pub order_id: String,
    /// The disputed sale or capture.
    pub transaction_id: String,
    /// Disputed amount, in the currency's minor units.
    pub amount: i64,
    pub currency: String,
    /// The connector's reason (`fraudulent`, `general` …).
    pub reason: String,
    /// `needs_response`, `under_review`, `won` or `lost`.
    pub status: String,
    /// The evidence given, once given.
    pub evidence: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub evidence_due_by: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&DisputeRow> for Dispute {
    fn from(row: &DisputeRow) -> Dispute {
        Dispute {
            id: row.id.to_string(),
            object: "dispute",
            order_id: row.order_id.to_string(),
            transaction_id: row.transaction_id.to_string(),
            amount: row.amount,
            currency: row.currency.clone(),
            reason: row.reason.clone(),
            status: row.status.clone(),
            evidence: row.evidence.clone(),
            evidence_due_by: row.evidence_due_by.map(Timestamp::from_ms),
            created_at: Timestamp::from_ms(row.created_at),
            updated_at: Timestamp::from_ms(row.updated_at),
        }
    }
}

/// `POST /v1/disputes/{id}/evidence`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitEvidence {
    /// What the brand answers the dispute with: 1 to 20000 characters.
    pub text: String,
}

/// Applies a connector's dispute notice for `account`, once per event id:
/// opens the dispute on the payment it names, or closes it.
pub async fn open(
    state: &AppState,
    account: &ConnectorAccountRow,
    notice: DisputeNotice,
) -> Result<Receipt> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let disputed = obol_store::disputes::disputed_transaction(
        &mut tx,
        &account.id,
        &notice.connector_transaction_id,
    )
    .await?;
    let record = NewNotification {
        connector_account_id: &account.id,
        event_id: &notice.event_id,
        event_type: &notice.event_type,
        connector_transaction_id: &notice.connector_transaction_id,
        transaction_id: disputed.as_ref(),
        now_ms: now.as_ms(),
    };
    if !obol_store::notifications::insert(&mut tx, &record).await? {
        return Ok(Receipt::Duplicate);
    }
    let receipt = match notice.change {
        DisputeChange::Opened {
            amount,
            reason,
            evidence_due_by,
        } => {
            let opening = Opening {
                account,
                connector_dispute_id: &notice.connector_dispute_id,
                amount,
                reason,
                evidence_due_by,
            };
            match disputed {
                Some(txn_id) => open_on(state, &mut tx, &txn_id, opening, now).await?,
                None => {
                    // Not recorded: the payment may not have succeeded in
                    // Obol yet (its answer lost, its sync not run), so the
                    // connector's retry may match, as with payments.
                    tx.rollback().await?;
                    tracing::info!(connector_account_id = %account.id, event_id = %notice.event_id,
                        connector_transaction_id = %notice.connector_transaction_id,
                        "a dispute names no succeeded payment yet: not recorded, to be retried");
                    return Err(Error::not_found(
                        "succeeded payment with this connector id",
                        &notice.connector_transaction_id,
                    ));
                }
            }
        }
        DisputeChange::Closed { won } => {
            close(
                state,
                &mut tx,
                account,
                &notice.connector_dispute_id,
                won,
                now,
            )
            .await?
        }
    };
    if receipt == Receipt::Unmatched {
        tracing::warn!(connector_account_id = %account.id, event_id = %notice.event_id,
            connector_transaction_id = %notice.connector_transaction_id,
            "a dispute notice matches no succeeded payment or dispute: recorded, not applied");
    }
    tx.commit().await?;
    Ok(receipt)
}

/// What a connector says of a dispute it opened.
struct Opening<'a> {
    account: &'a ConnectorAccountRow,
    connector_dispute_id: &'a str,
    amount: Money,
    reason: String,
    evidence_due_by: Option<Timestamp>,
}

/// Opens the dispute on transaction `txn_id`, with its ledger entry and
/// `order.disputed`; an amount in another currency or beyond the payment
/// is unmatched.
async fn open_on(
    state: &AppState,
    tx: &mut Conn,
    txn_id: &obol_core::TransactionId,
    opening: Opening<'_>,
    now: Timestamp,
) -> Result<Receipt> {
    let brand_id = &opening.account.brand_id;
    let txn = obol_store::orders::get_transaction(tx, brand_id, txn_id)
        .await?
        .ok_or_else(|| Error::internal(format!("transaction {txn_id} vanished")))?;
    let order = obol_store::orders::lock_order(tx, state.db.backend, brand_id, &txn.order_id)
        .await?
        .ok_or_else(|| Error::internal(format!("order {} vanished", txn.order_id)))?;
    let currency = currency_of(&order)?;
    if opening.amount.currency != currency
        || !(1..=txn.amount).contains(&opening.amount.amount_minor)
    {
        return Ok(Receipt::Unmatched);
    }
    let from_available = order.cleared_at.is_some();
    let row = DisputeRow {
        id: DisputeId::new(),
        brand_id: brand_id.clone(),
        order_id: order.id.clone(),
        transaction_id: txn.id.clone(),
        connector_account_id: opening.account.id.clone(),
        connector_dispute_id: opening.connector_dispute_id.to_owned(),
        amount: opening.amount.amount_minor,
        currency: currency.code().to_owned(),
        reason: validate::text("reason", &opening.reason, 1, 100)
            .unwrap_or_else(|_| "general".to_owned()),
        status: NEEDS_RESPONSE.into(),
        evidence: None,
        evidence_due_by: opening.evidence_due_by.map(Timestamp::as_ms),
        from_available: i64::from(from_available),
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    if !obol_store::disputes::insert(tx, &row).await? {
        return Ok(Receipt::Unchanged);
    }
    let entry = NewEntry {
        brand_id: brand_id.clone(),
        description: format!("dispute {} of {}", row.id, order.id),
        order_id: Some(order.id.clone()),
        customer_id: order.customer_id.clone(),
        postings: vec![
            (
                brand_account(&order, balance_of(&row), currency),
                row.amount,
            ),
            (disputes_account(brand_id, currency), -row.amount),
        ],
    };
    ledger::post(tx, &state.caches, entry, now).await?;
    record_event(tx, &order, &row, "order.disputed", now).await?;
    Ok(Receipt::Applied)
}

/// Closes the account's dispute: won, the amount goes back to the balance
/// it came from; lost, out to `external`. A closed one stays as it is.
async fn close(
    state: &AppState,
    tx: &mut Conn,
    account: &ConnectorAccountRow,
    connector_dispute_id: &str,
    won: bool,
    now: Timestamp,
) -> Result<Receipt> {
    let Some(mut row) = obol_store::disputes::find_by_connector_id(
        tx,
        state.db.backend,
        &account.id,
        connector_dispute_id,
    )
    .await?
    else {
        // Not recorded: its opening may still be on its way (refused while
        // its payment was unknown, retried by the connector), and this
        // close must apply after it, so the connector retries it too.
        tracing::info!(connector_account_id = %account.id, %connector_dispute_id,
            "a dispute closes before Obol knows it: not recorded, to be retried");
        return Err(Error::not_found(
            "dispute with this connector id",
            connector_dispute_id,
        ));
    };
    if ![NEEDS_RESPONSE, UNDER_REVIEW].contains(&row.status.as_str()) {
        return Ok(Receipt::Unchanged);
    }
    let order = obol_store::orders::get_order(tx, &row.brand_id, &row.order_id)
        .await?
        .ok_or_else(|| Error::internal(format!("order {} vanished", row.order_id)))?;
    let currency = currency_of(&order)?;
    let (status, to) = if won {
        ("won", brand_account(&order, balance_of(&row), currency))
    } else {
        (
            "lost",
            brand_account(&order, AccountType::External, currency),
        )
    };
    row.status = status.into();
    row.updated_at = now.as_ms();
    obol_store::disputes::update(tx, &row).await?;
    let entry = NewEntry {
        brand_id: row.brand_id.clone(),
        description: format!("dispute {} {status}", row.id),
        order_id: Some(order.id.clone()),
        customer_id: order.customer_id.clone(),
        postings: vec![
            (disputes_account(&row.brand_id, currency), row.amount),
            (to, -row.amount),
        ],
    };
    ledger::post(tx, &state.caches, entry, now).await?;
    record_event(tx, &order, &row, &format!("dispute.{status}"), now).await?;
    Ok(Receipt::Applied)
}

/// The brand balance a dispute took its amount from.
fn balance_of(row: &DisputeRow) -> AccountType {
    if row.from_available != 0 {
        AccountType::BrandAvailable
    } else {
        AccountType::BrandPending
    }
}

fn disputes_account(brand_id: &BrandId, currency: Currency) -> AccountKey {
    AccountKey {
        brand_id: brand_id.clone(),
        account_type: AccountType::Disputes,
        currency,
        owner_id: None,
    }
}

async fn record_event(
    tx: &mut Conn,
    order: &OrderRow,
    row: &DisputeRow,
    event_type: &str,
    now: Timestamp,
) -> Result<()> {
    events::record(
        tx,
        &row.brand_id,
        event_type,
        &row.id,
        order.customer_id.as_ref(),
        &Dispute::from(row),
        now,
    )
    .await?;
    Ok(())
}

/// The brand's dispute, or not found.
pub async fn find(state: &AppState, brand_id: &BrandId, id: &DisputeId) -> Result<Dispute> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::disputes::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("dispute", id))?;
    Ok(Dispute::from(&row))
}

/// A page of the brand's disputes, newest first.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<Dispute>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| {
            Ok(
                obol_store::disputes::get(conn, brand_id, &DisputeId::from(after))
                    .await?
                    .is_some(),
            )
        },
        async |conn, page| obol_store::disputes::list(conn, brand_id, page).await,
    )
    .await?;
    List::of(rows, |row| Ok::<_, Error>(Dispute::from(&row)))
}

/// Records the brand's evidence on a dispute that needs a response, which
/// then stands `under_review` (`dispute.updated`); any other status is
/// `invalid_state`.
pub async fn submit_evidence(
    state: &AppState,
    brand_id: &BrandId,
    id: &DisputeId,
    input: SubmitEvidence,
) -> Result<Dispute> {
    let text = input.text.trim();
    if text.is_empty() || text.chars().count() > EVIDENCE_MAX_CHARS {
        return Err(Error::invalid(
            "text",
            format!("text must be 1 to {EVIDENCE_MAX_CHARS} characters"),
        ));
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = obol_store::disputes::get_for_update(&mut tx, state.db.backend, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("dispute", id))?;
    if row.status != NEEDS_RESPONSE {
        return Err(Error::invalid_state(format!(
            "dispute {id} is {}; evidence is taken while it needs a response",
            row.status
        )));
    }
    row.status = UNDER_REVIEW.into();
    row.evidence = Some(text.to_owned());
    row.updated_at = now.as_ms();
    obol_store::disputes::update(&mut tx, &row).await?;
    let order = obol_store::orders::get_order(&mut tx, brand_id, &row.order_id)
        .await?
        .ok_or_else(|| Error::internal(format!("order {} vanished", row.order_id)))?;
    record_event(&mut tx, &order, &row, "dispute.updated", now).await?;
    tx.commit().await?;
    Ok(Dispute::from(&row))
}
