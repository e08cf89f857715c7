//! Paying with the customer's wallet: no connector, so each operation is
//! one database transaction that records its transaction as succeeded,
//! moves the money between the wallet and the brand's pending (or
//! available) balance, and writes its events. Not enough credit rolls it
//! all back (402 `insufficient_funds`, no transaction).

use super::apply::{self, brand_account, currency_of};
use super::views::{self, Order, Refund, StatusChange};
use crate::error::{Error, Result};
use obol_accounts::ledger::{self, AccountType, NewEntry};
use obol_accounts::wallets::{self, OrderWallet};
use obol_core::order::{self as machine, OrderStatus, TransactionKind, TransactionStatus};
use obol_core::time::DAY_MS;
use obol_core::{ConnectorAccountId, CustomerId, Money, RefundId, Timestamp, TransactionId};
use obol_kernel::events;
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::idempotency::BoundObject;
use obol_store::orders::{OrderRow, RefundRow, TransactionRow};
use serde_json::json;

/// The `connector` of a wallet transaction; it has no connector account.
pub const CONNECTOR: &str = "wallet";

pub(crate) fn is_wallet(txn: &TransactionRow) -> bool {
    txn.connector == CONNECTOR
}

/// Refuses a wallet payment the order cannot take.
pub(crate) fn fits(order: &OrderRow) -> Result<&CustomerId> {
    let refuse = |message: &str| {
        Err(Error::invalid_request("operation_unsupported", message)
            .with_param("payment_method[type]"))
    };
    if super::top_ups::is_top_up(order) {
        return refuse("a credit top-up cannot be paid from the wallet it fills");
    }
    if order.setup_mandate != 0 {
        return Err(super::payment::setup_needs_a_card());
    }
    if order.amount == 0 || order.auto_capture == 0 {
        return refuse(
            "a wallet payment is a sale: the order needs a positive amount and auto_capture true",
        );
    }
    super::payment::instrument_fits_mandate(order)?;
    order.customer_id.as_ref().ok_or_else(|| {
        Error::invalid_request(
            "parameter_missing",
            "a wallet payment needs an order with a customer_id: the wallet is the customer's",
        )
        .with_param("customer_id")
    })
}

/// A succeeded wallet transaction of `kind` on the order.
fn transaction(
    order: &OrderRow,
    kind: TransactionKind,
    amount: i64,
    trigger: &str,
    now: Timestamp,
) -> Result<TransactionRow> {
    let history = vec![StatusChange {
        status: TransactionStatus::Succeeded.as_str().into(),
        at: now,
        amount,
        http_code: None,
    }];
    Ok(TransactionRow {
        id: TransactionId::new(),
        brand_id: order.brand_id.clone(),
        order_id: order.id.clone(),
        refund_id: None,
        payment_transaction_id: None,
        kind: kind.as_str().to_owned(),
        status: TransactionStatus::Succeeded.as_str().to_owned(),
        amount,
        currency: order.currency.clone(),
        connector: CONNECTOR.to_owned(),
        connector_account_id: ConnectorAccountId::from(""),
        connector_transaction_id: None,
        trigger_source: trigger.to_owned(),
        preauth: 0,
        payment_method: Some(json!({"type": "wallet"}).to_string()),
        error: None,
        status_history: serde_json::to_string(&history).map_err(Error::internal)?,
        version: 0,
        created_at: now.as_ms(),
        confirmed_at: Some(now.as_ms()),
        updated_at: now.as_ms(),
        sync_at: None,
        sync_attempts: 0,
        amount_received: None,
    })
}

fn order_wallet<'a>(order: &'a OrderRow, customer_id: &'a CustomerId) -> OrderWallet<'a> {
    OrderWallet {
        brand_id: &order.brand_id,
        customer_id,
        order_id: &order.id,
    }
}

/// Pays the locked order from its customer's wallet inside `tx`, which the
/// caller opened and commits: the sale, the wallet debit into the brand's
/// pending balance (cleared as any payment), and the events.
pub(crate) async fn pay(
    state: &AppState,
    tx: &mut Conn,
    mut order: OrderRow,
    trigger: &str,
    key: Option<&IdempotencyKey>,
) -> Result<Order> {
    let now = state.now();
    let customer_id = fits(&order)?.clone();
    let currency = currency_of(&order)?;
    let txn = transaction(&order, TransactionKind::Sale, order.amount, trigger, now)?;
    let money = Money {
        amount_minor: order.amount,
        currency,
    };
    let pending = brand_account(&order, AccountType::BrandPending, currency);
    wallets::spend(
        state,
        tx,
        order_wallet(&order, &customer_id),
        money,
        pending,
        now,
    )
    .await?;
    obol_store::orders::insert_transaction(tx, &txn).await?;
    let clearing_days = obol_store::brands::get(tx, &order.brand_id)
        .await?
        .ok_or_else(|| Error::internal("brand vanished"))?
        .clearing_days;
    let previous_status =
        std::mem::replace(&mut order.status, OrderStatus::Paid.as_str().to_owned());
    order.attempted = 1;
    order.last_payment_error = None;
    order.next_action = None;
    order.amount_authorized = order.amount;
    order.amount_captured = order.amount;
    order.captured_at = Some(now.as_ms());
    order.due_at = Some(now.plus_ms(clearing_days * DAY_MS).as_ms());
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(tx, &order).await?;
    super::bound::bind(tx, key, BoundObject::Transaction, &txn.id, now.as_ms()).await?;
    let rendered = events_of(state, tx, &order, &txn, now).await?;
    let change = crate::listeners::OrderChange {
        order: &order,
        previous_status: &previous_status,
        transaction: &txn,
        now,
    };
    crate::listeners::order_changed(state, tx, &change).await?;
    Ok(rendered)
}

/// `transaction.succeeded` and `order.<status>`; answers the order.
async fn events_of(
    state: &AppState,
    tx: &mut Conn,
    order: &OrderRow,
    txn: &TransactionRow,
    now: Timestamp,
) -> Result<Order> {
    let customer = order.customer_id.as_ref();
    let view = views::Transaction::try_from(txn)?;
    events::record(
        tx,
        &order.brand_id,
        "transaction.succeeded",
        &txn.id,
        customer,
        &view,
        now,
    )
    .await?;
    let rendered = views::render(state, tx, order).await?;
    let event_type = format!("order.{}", order.status);
    events::record(
        tx,
        &order.brand_id,
        &event_type,
        &order.id,
        customer,
        &rendered,
        now,
    )
    .await?;
    Ok(rendered)
}

/// Gives `amount` of a wallet-paid order back to the wallet: from pending
/// before clearing, from available after (with the reseller's commission
/// clawed back, as for a card refund).
async fn give_back(
    state: &AppState,
    tx: &mut Conn,
    order: &OrderRow,
    txn: &TransactionRow,
    unrefunded: i64,
    now: Timestamp,
) -> Result<()> {
    let customer_id = order.customer_id.as_ref().ok_or_else(|| {
        Error::internal(format!("wallet-paid order {} has no customer", order.id))
    })?;
    let currency = currency_of(order)?;
    let after_clearing = order.cleared_at.is_some();
    let source = if after_clearing {
        AccountType::BrandAvailable
    } else {
        AccountType::BrandPending
    };
    let money = Money {
        amount_minor: txn.amount,
        currency,
    };
    wallets::refund(
        state,
        tx,
        order_wallet(order, customer_id),
        money,
        unrefunded,
        brand_account(order, source, currency),
        now,
    )
    .await?;
    if after_clearing {
        // The commission entry alone: the brand's available pays the
        // parent's share back into the brand (see `claw_back_commission`).
        let mut entry = NewEntry {
            brand_id: order.brand_id.clone(),
            description: format!("commission returned on the refund of {}", order.id),
            order_id: Some(order.id.clone()),
            customer_id: order.customer_id.clone(),
            postings: vec![(
                brand_account(order, AccountType::BrandAvailable, currency),
                0,
            )],
        };
        super::refunds::claw_back_commission(tx, order, txn, &mut entry).await?;
        if entry.postings.len() > 1 {
            ledger::post(tx, &state.caches, entry, now).await?;
        }
    }
    Ok(())
}

/// What a refund request asks of a wallet-paid order, already reserved on
/// the locked order.
pub(crate) struct WalletRefund<'a> {
    pub amount: i64,
    pub reason: Option<String>,
    pub metadata: String,
    pub key: Option<&'a IdempotencyKey>,
}

/// Refunds a wallet-paid order inside `tx`: the refund succeeds at once.
pub(crate) async fn refund(
    state: &AppState,
    tx: &mut Conn,
    mut order: OrderRow,
    payment: &TransactionRow,
    request: WalletRefund<'_>,
) -> Result<Refund> {
    let now = state.now();
    let refund_id = RefundId::new();
    let mut txn = transaction(&order, TransactionKind::Refund, request.amount, "api", now)?;
    txn.refund_id = Some(refund_id.clone());
    txn.payment_transaction_id = Some(payment.id.clone());
    txn.payment_method = None;
    obol_store::orders::insert_transaction(tx, &txn).await?;
    let row = RefundRow {
        id: refund_id,
        brand_id: order.brand_id.clone(),
        order_id: order.id.clone(),
        transaction_id: txn.id.clone(),
        amount: request.amount,
        currency: order.currency.clone(),
        status: "succeeded".into(),
        reason: request.reason,
        failure_reason: None,
        metadata: request.metadata,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    obol_store::orders::insert_refund(tx, &row).await?;
    let unrefunded = order.amount_captured - order.amount_refunded;
    order.amount_refund_pending -= request.amount;
    order.amount_refunded += request.amount;
    let current =
        OrderStatus::parse(&order.status).ok_or_else(|| Error::internal("corrupt order status"))?;
    let previous = order.status.clone();
    order.status = machine::status_after_refund(apply::order_amounts(&order), current)
        .as_str()
        .to_owned();
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(tx, &order).await?;
    give_back(state, tx, &order, &txn, unrefunded, now).await?;
    super::bound::bind(
        tx,
        request.key,
        BoundObject::Transaction,
        &txn.id,
        now.as_ms(),
    )
    .await?;
    let view = Refund::try_from(&row)?;
    events::record(
        tx,
        &order.brand_id,
        "refund.succeeded",
        &row.id,
        order.customer_id.as_ref(),
        &view,
        now,
    )
    .await?;
    if order.status == previous {
        let txn_view = views::Transaction::try_from(&txn)?;
        events::record(
            tx,
            &order.brand_id,
            "transaction.succeeded",
            &txn.id,
            order.customer_id.as_ref(),
            &txn_view,
            now,
        )
        .await?;
    } else {
        events_of(state, tx, &order, &txn, now).await?;
    }
    Ok(view)
}

/// Reverses a wallet-paid order inside `tx`: all of it back to the wallet.
pub(crate) async fn reverse(
    state: &AppState,
    tx: &mut Conn,
    mut order: OrderRow,
    payment: &TransactionRow,
    trigger: &str,
    key: Option<&IdempotencyKey>,
) -> Result<Order> {
    let now = state.now();
    let amount = order.amount_captured;
    let mut txn = transaction(&order, TransactionKind::Reverse, amount, trigger, now)?;
    txn.payment_transaction_id = Some(payment.id.clone());
    txn.payment_method = None;
    obol_store::orders::insert_transaction(tx, &txn).await?;
    order.status = OrderStatus::Reversed.as_str().to_owned();
    order.due_at = None;
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(tx, &order).await?;
    give_back(state, tx, &order, &txn, amount, now).await?;
    super::bound::bind(tx, key, BoundObject::Transaction, &txn.id, now.as_ms()).await?;
    events_of(state, tx, &order, &txn, now).await
}
