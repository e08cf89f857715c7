//! Step 3 of a payment operation: apply a connector's outcome to the
//! transaction, order, ledger and events in one database transaction, only
//! if the transaction is still open (the writer that wins goes on).

use super::payment::Report;
use super::views::{self, StatusChange};
use crate::error::{Error, Result};
use obol_accounts::ledger::{self, AccountKey, AccountType, NewEntry};
use obol_core::order::{
    self as machine, Amounts, CallResult, OrderStatus, TransactionKind, TransactionStatus,
};
use obol_core::time::DAY_MS;
use obol_core::{Currency, Timestamp, TransactionId};
use obol_kernel::events;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::orders::{LockedOrder, OrderRow, TransactionRow};
use serde_json::json;

/// How long an authorization may wait for its capture.
pub const CAPTURE_WINDOW_MS: i64 = 7 * DAY_MS;

/// The order and transaction after step 3, and whether this call changed them.
pub struct Applied {
    pub order: OrderRow,
    pub transaction: TransactionRow,
    pub changed: bool,
    /// The order as rendered for its event, when its status changed.
    pub rendered: Option<views::Order>,
}

/// Step 3 written inside a caller's database transaction, not yet
/// committed; `finish` once it is.
pub(crate) struct Staged {
    applied: Applied,
    /// A return of a payment that landed on an order no longer payable,
    /// recorded with the outcome: it is sent once the outcome commits.
    compensation: Option<TransactionRow>,
}

impl Staged {
    /// Whether this step changed the transaction.
    pub(crate) fn changed(&self) -> bool {
        self.applied.changed
    }

    /// After the caller's commit: sends the compensation, if any (it
    /// applies its own outcome in turn).
    pub(crate) async fn finish(self, state: &AppState) -> Result<Applied> {
        if let Some(compensation) = self.compensation
            // Test hook: as if the process died before sending the return.
            && state.failpoint.as_deref() != Some("order_expires_then_crash")
        {
            // Boxed: sending the compensation applies its outcome in turn.
            Box::pin(super::operations::resend_follow_up(state, &compensation)).await?;
        }
        Ok(self.applied)
    }
}

/// Applies `report` to transaction `transaction_id` if it is still open,
/// in a database transaction of its own.
pub async fn apply(
    state: &AppState,
    transaction_id: &TransactionId,
    report: Report,
) -> Result<Applied> {
    if state.failpoint_once("fail_step_3") {
        // Test hook: the connector moved money, and step 3 fails.
        return Err(Error::internal("failpoint fail_step_3"));
    }
    let mut tx = state.db.begin().await?;
    let staged = apply_in(state, &mut tx, transaction_id, report).await?;
    tx.commit().await?;
    staged.finish(state).await
}

/// Applies `report` to transaction `transaction_id` if it is still open,
/// inside the caller's database transaction `tx` (a notification records
/// itself in the same one). The caller commits, then calls `finish`.
pub(crate) async fn apply_in(
    state: &AppState,
    tx: &mut Conn,
    transaction_id: &TransactionId,
    report: Report,
) -> Result<Staged> {
    let now = state.now();
    // The order is locked first; its transactions, read under that lock,
    // also render its event without another read.
    let (locked, mut transactions) =
        obol_store::orders::lock_order_and_transactions(tx, state.db.backend, transaction_id)
            .await?;
    let LockedOrder {
        mut order,
        clearing_days,
    } = locked.ok_or_else(|| Error::internal(format!("transaction {transaction_id} vanished")))?;
    let mut txn = transactions
        .iter()
        .find(|t| t.id == transaction_id)
        .cloned()
        .ok_or_else(|| Error::internal(format!("transaction {transaction_id} vanished")))?;
    let from = parse_status(&txn)?;
    let to = report.result.transaction_status();
    let kind = TransactionKind::parse(&txn.kind)
        .ok_or_else(|| Error::internal("corrupt transaction kind"))?;
    // The same open status again (a first `pending` answer) changes the
    // transaction nothing, but may still move the order to `processing`,
    // or record a new amount received (a crypto payment partly paid).
    let refresh = from == to && to.is_open();
    let order_moves = kind.is_payment()
        && awaiting_payment(&order)
        && machine::status_after_payment(kind, report.result).as_str() != order.status;
    let received_news =
        report.amount_received.is_some() && report.amount_received != txn.amount_received;
    if !(machine::transaction_may_move(from, to) || (refresh && (order_moves || received_news))) {
        // Final already, or nothing new: a late or repeated report changes nothing.
        if from.is_final() && to.is_final() && from != to {
            tracing::warn!(
                transaction_id = transaction_id.as_str(),
                reported = to.as_str(),
                kept = from.as_str(),
                "conflicting late report ignored"
            );
        }
        return Ok(unchanged(order, txn));
    }
    let expected_version = txn.version;
    record_transaction(&mut txn, &report, to, now, !refresh)?;
    if !obol_store::orders::update_transaction(tx, &txn, expected_version).await? {
        // Another writer won (nothing is written yet): as it left it.
        let transaction = obol_store::orders::find_transaction(tx, transaction_id)
            .await?
            .ok_or_else(|| Error::internal("transaction vanished"))?;
        return Ok(unchanged(order, transaction));
    }
    let previous_status = order.status.clone();
    let captured_before = order.amount_captured;
    let mut entries = Vec::new();
    let step = Step {
        now,
        clearing_days,
        report: &report,
    };
    let compensation =
        apply_to_order(state, tx, &mut order, &txn, kind, &step, &mut entries).await?;
    if (to.is_final() || to == TransactionStatus::RequiresAction)
        && order.in_flight_transaction_id.as_deref() == Some(&txn.id)
    {
        order.in_flight_transaction_id = None;
    }
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(tx, &order).await?;
    // A void also closes other open payments: then read them afresh.
    let known = if kind == TransactionKind::Void {
        None
    } else {
        for row in transactions.iter_mut().filter(|t| t.id == txn.id) {
            *row = txn.clone();
        }
        Some(transactions.as_slice())
    };
    let rendered = write_events(state, tx, &order, &txn, known, &previous_status, now).await?;
    // Ledger entries go last: their balance rows are shared by every payment
    // of the brand, so their row locks are held only until the commit.
    for entry in entries {
        ledger::post(tx, &state.caches, entry, now).await?;
    }
    if super::top_ups::is_top_up(&order) && order.amount_captured > captured_before {
        let credited = order.amount_captured - captured_before;
        super::top_ups::record_movement(tx, &order, "wallet.credited", "top_up", credited, now)
            .await?;
    }
    let change = crate::listeners::OrderChange {
        order: &order,
        previous_status: &previous_status,
        transaction: &txn,
        now,
    };
    crate::listeners::order_changed(state, tx, &change).await?;
    let applied = Applied {
        order,
        transaction: txn,
        changed: true,
        rendered,
    };
    Ok(Staged {
        applied,
        compensation,
    })
}

/// Step 3 that changed nothing.
fn unchanged(order: OrderRow, transaction: TransactionRow) -> Staged {
    let applied = Applied {
        order,
        transaction,
        changed: false,
        rendered: None,
    };
    Staged {
        applied,
        compensation: None,
    }
}

fn parse_status(txn: &TransactionRow) -> Result<TransactionStatus> {
    TransactionStatus::parse(&txn.status)
        .ok_or_else(|| Error::internal(format!("transaction {} has a corrupt status", txn.id)))
}

fn record_transaction(
    txn: &mut TransactionRow,
    report: &Report,
    to: TransactionStatus,
    now: Timestamp,
    append_history: bool,
) -> Result<()> {
    if append_history {
        let mut history: Vec<StatusChange> =
            serde_json::from_str(&txn.status_history).map_err(Error::internal)?;
        history.push(StatusChange {
            status: to.as_str().to_owned(),
            at: now,
            amount: txn.amount,
            http_code: report.http_code,
        });
        txn.status_history = serde_json::to_string(&history).map_err(Error::internal)?;
    }
    txn.status = to.as_str().to_owned();
    if report.amount_received.is_some() {
        txn.amount_received = report.amount_received;
    }
    if report.connector_transaction_id.is_some() {
        txn.connector_transaction_id = report.connector_transaction_id.clone();
    }
    txn.error = report.error.as_ref().map(|error| error.to_string());
    if to.is_final() {
        txn.confirmed_at = Some(now.as_ms());
        txn.sync_at = None;
    }
    txn.version += 1;
    txn.updated_at = now.as_ms();
    Ok(())
}

fn set_status(order: &mut OrderRow, status: OrderStatus) {
    order.status = status.as_str().to_owned();
}

/// Whether a payment outcome may still move the order (it was not canceled
/// or expired meanwhile).
fn awaiting_payment(order: &OrderRow) -> bool {
    matches!(
        OrderStatus::parse(&order.status),
        Some(OrderStatus::InProgress | OrderStatus::Processing | OrderStatus::RequiresAction)
    )
}

/// What step 3 applies, and when.
struct Step<'a> {
    now: Timestamp,
    /// The brand's delay from capture to clearing.
    clearing_days: i64,
    report: &'a Report,
}

/// Applies the outcome to the order; answers the compensating operation it
/// recorded, if any, to be sent once this transaction commits.
async fn apply_to_order(
    state: &AppState,
    conn: &mut Conn,
    order: &mut OrderRow,
    txn: &TransactionRow,
    kind: TransactionKind,
    step: &Step<'_>,
    entries: &mut Vec<NewEntry>,
) -> Result<Option<TransactionRow>> {
    let result = step.report.result;
    if is_compensation(order, txn, kind) {
        if kind == TransactionKind::Reverse && result == CallResult::Succeeded {
            entries.push(if super::top_ups::is_top_up(order) {
                super::top_ups::returned(order, txn, "return of a late payment")?
            } else {
                money_back(order, txn, "return of a late payment", false)?
            });
        }
        if result == CallResult::Failed {
            tracing::error!(order_id = %order.id, transaction_id = %txn.id,
                "the connector refused to return a payment that landed on an order no longer payable");
        }
        return Ok(None);
    }
    match kind {
        TransactionKind::Authorize | TransactionKind::Sale | TransactionKind::Verify => {
            if !awaiting_payment(order) {
                if result == CallResult::Succeeded {
                    return super::late::late_success(state, conn, order, txn, kind, entries).await;
                }
                return Ok(None);
            }
            apply_payment(order, txn, kind, step, entries)?;
            if result == CallResult::Succeeded {
                let mandate = step.report.mandate.as_ref();
                crate::mandates::record_setup(conn, order, txn, mandate, step.now).await?;
            }
            Ok(None)
        }
        _ => follow_up_outcome(conn, order, txn, kind, step, entries)
            .await
            .map(|()| None),
    }
}

/// Applies a follow-up operation's outcome (capture, increment, void,
/// reverse, refund) to the order.
async fn follow_up_outcome(
    conn: &mut Conn,
    order: &mut OrderRow,
    txn: &TransactionRow,
    kind: TransactionKind,
    step: &Step<'_>,
    entries: &mut Vec<NewEntry>,
) -> Result<()> {
    let (report, now) = (step.report, step.now);
    let result = report.result;
    match kind {
        TransactionKind::Capture if result == CallResult::Succeeded => {
            order.amount_captured = txn.amount;
            order.captured_at = Some(now.as_ms());
            set_status(order, OrderStatus::Paid);
            captured(order, txn, step, entries)
        }
        TransactionKind::IncrementAuthorization if result == CallResult::Succeeded => {
            order.amount = txn.amount;
            order.amount_authorized = txn.amount;
            Ok(())
        }
        TransactionKind::Void if result == CallResult::Succeeded => {
            let status = if txn.trigger_source == "system" {
                OrderStatus::Expired
            } else {
                OrderStatus::Canceled
            };
            set_status(order, status);
            order.next_action = None;
            order.due_at = None;
            close_open_payment(conn, order, now).await
        }
        TransactionKind::Reverse if result == CallResult::Succeeded => {
            set_status(order, OrderStatus::Reversed);
            order.due_at = None;
            let entry = if super::top_ups::is_top_up(order) {
                super::top_ups::returned(order, txn, "reverse")?
            } else {
                money_back(order, txn, "reverse", order.cleared_at.is_some())?
            };
            entries.push(entry);
            Ok(())
        }
        // The credit held for a top-up's reverse is the customer's again.
        TransactionKind::Reverse
            if result == CallResult::Failed && super::top_ups::is_top_up(order) =>
        {
            entries.push(super::top_ups::released(order, txn)?);
            super::top_ups::record_movement(
                conn,
                order,
                "wallet.credited",
                "refund",
                txn.amount,
                step.now,
            )
            .await
        }
        TransactionKind::Refund => {
            super::refunds::settle(conn, order, txn, result, report, now, entries).await
        }
        _ => Ok(()),
    }
}

/// A system operation returning a payment that succeeded on an order no
/// longer payable (expired or canceled meanwhile).
fn is_compensation(order: &OrderRow, txn: &TransactionRow, kind: TransactionKind) -> bool {
    txn.trigger_source == "system"
        && matches!(kind, TransactionKind::Void | TransactionKind::Reverse)
        && matches!(
            OrderStatus::parse(&order.status),
            Some(OrderStatus::Expired | OrderStatus::Canceled)
        )
}

fn apply_payment(
    order: &mut OrderRow,
    txn: &TransactionRow,
    kind: TransactionKind,
    step: &Step<'_>,
    entries: &mut Vec<NewEntry>,
) -> Result<()> {
    let (report, now) = (step.report, step.now);
    set_status(order, machine::status_after_payment(kind, report.result));
    order.next_action = report
        .action_url
        .as_ref()
        .map(|url| json!({"type": "redirect", "url": url}).to_string());
    match report.result {
        CallResult::Succeeded => {
            order.last_payment_error = None;
            order.amount_authorized = txn.amount;
            match kind {
                TransactionKind::Authorize => {
                    let capture_before = now.plus_ms(CAPTURE_WINDOW_MS);
                    order.capture_before = Some(capture_before.as_ms());
                    order.due_at = Some(capture_before.as_ms());
                }
                TransactionKind::Sale => {
                    order.amount_captured = txn.amount;
                    order.captured_at = Some(now.as_ms());
                    captured(order, txn, step, entries)?;
                }
                _ => order.due_at = None,
            }
        }
        CallResult::Failed => {
            let mut error = report
                .error
                .clone()
                .unwrap_or_else(|| json!({"code": "card_declined"}));
            error["transaction_id"] = json!(txn.id);
            order.last_payment_error = Some(error.to_string());
            if let Some(entry) = super::received::unapplied_receipt(order, txn)? {
                entries.push(entry);
            }
        }
        CallResult::Pending | CallResult::Unknown | CallResult::RequiresAction => {}
    }
    Ok(())
}

/// Money captured: the ledger entry, and clearing falls due.
fn captured(
    order: &mut OrderRow,
    txn: &TransactionRow,
    step: &Step<'_>,
    entries: &mut Vec<NewEntry>,
) -> Result<()> {
    debug_assert!(order.amount_captured <= order.amount_authorized);
    entries.push(capture_entry(order, txn)?);
    order.due_at = Some(step.now.plus_ms(step.clearing_days * DAY_MS).as_ms());
    Ok(())
}

/// The ledger entry of money a connector took for the order: into the
/// processor's clearing account, owed to the brand as pending. An
/// overpayment (crypto) puts all that arrived into clearing; the excess is
/// the customer's, owed outside Obol (`external`), never the brand's.
pub(crate) fn capture_entry(order: &OrderRow, txn: &TransactionRow) -> Result<NewEntry> {
    let currency = currency_of(order)?;
    let received = txn.amount_received.unwrap_or(txn.amount).max(txn.amount);
    if super::top_ups::is_top_up(order) {
        return super::top_ups::capture_entry(order, txn, received);
    }
    let mut postings = vec![
        (clearing_account(order, txn, currency), received),
        (
            brand_account(order, AccountType::BrandPending, currency),
            -txn.amount,
        ),
    ];
    if received > txn.amount {
        let external = brand_account(order, AccountType::External, currency);
        postings.push((external, txn.amount - received));
    }
    Ok(NewEntry {
        brand_id: order.brand_id.clone(),
        description: format!("capture of {}", order.id),
        order_id: Some(order.id.clone()),
        customer_id: order.customer_id.clone(),
        postings,
    })
}

/// Marks the order's still-open payment (a 3-D Secure one) failed when the
/// order is voided, so a late success cannot apply.
async fn close_open_payment(conn: &mut Conn, order: &OrderRow, now: Timestamp) -> Result<()> {
    for mut payment in obol_store::orders::transactions_of_order(conn, &order.id).await? {
        let open =
            TransactionStatus::parse(&payment.status).is_some_and(TransactionStatus::is_open);
        let is_payment =
            TransactionKind::parse(&payment.kind).is_some_and(TransactionKind::is_payment);
        if !(open && is_payment) {
            continue;
        }
        let expected = payment.version;
        let report = Report {
            result: CallResult::Failed,
            connector_transaction_id: None,
            http_code: None,
            error: Some(
                json!({"code": "canceled", "message": "the order was voided before the payment completed"}),
            ),
            action_url: None,
            not_found: false,
            mandate: None,
            amount_received: None,
        };
        record_transaction(&mut payment, &report, TransactionStatus::Failed, now, true)?;
        if obol_store::orders::update_transaction(conn, &payment, expected).await? {
            let view = super::views::Transaction::try_from(&payment)?;
            events::record(
                conn,
                &order.brand_id,
                "transaction.failed",
                &payment.id,
                order.customer_id.as_ref(),
                &view,
                now,
            )
            .await?;
        }
    }
    Ok(())
}

pub(crate) fn currency_of(order: &OrderRow) -> Result<Currency> {
    Currency::parse(&order.currency)
        .ok_or_else(|| Error::internal(format!("order {} has a corrupt currency", order.id)))
}

pub(crate) fn brand_account(
    order: &OrderRow,
    account_type: AccountType,
    currency: Currency,
) -> AccountKey {
    AccountKey {
        brand_id: order.brand_id.clone(),
        account_type,
        currency,
        owner_id: None,
    }
}

pub(crate) fn clearing_account(
    order: &OrderRow,
    txn: &TransactionRow,
    currency: Currency,
) -> AccountKey {
    AccountKey {
        brand_id: order.brand_id.clone(),
        account_type: AccountType::ProcessorClearing,
        currency,
        owner_id: Some(txn.connector_account_id.to_string()),
    }
}

/// Money going back to the customer: out of pending before clearing, out
/// of available after.
pub(crate) fn money_back(
    order: &OrderRow,
    txn: &TransactionRow,
    what: &str,
    after_clearing: bool,
) -> Result<NewEntry> {
    let currency = currency_of(order)?;
    let source = if after_clearing {
        AccountType::BrandAvailable
    } else {
        AccountType::BrandPending
    };
    Ok(NewEntry {
        brand_id: order.brand_id.clone(),
        description: format!("{what} of {}", order.id),
        order_id: Some(order.id.clone()),
        customer_id: order.customer_id.clone(),
        postings: vec![
            (brand_account(order, source, currency), txn.amount),
            (clearing_account(order, txn, currency), -txn.amount),
        ],
    })
}

/// `transaction.succeeded|failed`, and `order.<status>` when the status changed.
#[allow(clippy::too_many_arguments)]
async fn write_events(
    state: &AppState,
    conn: &mut Conn,
    order: &OrderRow,
    txn: &TransactionRow,
    transactions: Option<&[TransactionRow]>,
    previous_status: &str,
    now: Timestamp,
) -> Result<Option<views::Order>> {
    let customer = order.customer_id.as_ref();
    let mut written = Vec::with_capacity(2);
    if let status @ ("succeeded" | "failed") = txn.status.as_str() {
        let view = super::views::Transaction::try_from(txn)?;
        let event_type = format!("transaction.{status}");
        written.push(events::pending(
            &order.brand_id,
            &event_type,
            &txn.id,
            customer,
            &view,
            now,
        ));
    }
    let mut rendered = None;
    if order.status != previous_status && order.status != OrderStatus::InProgress.as_str() {
        let view = match transactions {
            Some(list) => views::render_with(state, order, list)?,
            None => views::render(state, conn, order).await?,
        };
        let event_type = format!("order.{}", order.status);
        written.push(events::pending(
            &order.brand_id,
            &event_type,
            &order.id,
            customer,
            &view,
            now,
        ));
        rendered = Some(view);
    }
    events::record_all(conn, &written).await?;
    Ok(rendered)
}

/// The order's amounts, as the state machine reads them.
pub(crate) fn order_amounts(order: &OrderRow) -> Amounts {
    Amounts {
        amount: order.amount,
        authorized: order.amount_authorized,
        captured: order.amount_captured,
        refunded: order.amount_refunded,
        refund_pending: order.amount_refund_pending,
    }
}
