//! Credit top-ups: a `credit_top_up` order's captured money is the
//! customer's paid wallet credit, never the brand's, so it never clears.
//! Giving it back (a refund or a reverse) first holds the credit out of the
//! wallet, in the transaction that records the operation, so that credit
//! already spent refuses the operation before any connector call; the hold
//! sits in `external` (money on its way out) until the connector answers:
//! succeeded, it leaves the processor's clearing; failed, it goes back to
//! the wallet.

use super::apply::{brand_account, clearing_account, currency_of};
use crate::error::{Error, Result};
use obol_accounts::ledger::{self, AccountType, NewEntry};
use obol_accounts::wallets;
use obol_core::{CustomerId, Money, Timestamp};
use obol_kernel::events;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::orders::{OrderRow, TransactionRow};
use serde_json::json;

pub(crate) const ORDER_TYPE: &str = "credit_top_up";

pub(crate) fn is_top_up(order: &OrderRow) -> bool {
    order.order_type == ORDER_TYPE
}

fn customer_of(order: &OrderRow) -> Result<&CustomerId> {
    order
        .customer_id
        .as_ref()
        .ok_or_else(|| Error::internal(format!("top-up {} has no customer", order.id)))
}

/// The capture of a top-up: into the processor's clearing, owed to the
/// customer as paid credit.
pub(crate) fn capture_entry(
    order: &OrderRow,
    txn: &TransactionRow,
    received: i64,
) -> Result<NewEntry> {
    let currency = currency_of(order)?;
    let customer_id = customer_of(order)?;
    let mut postings = vec![
        (clearing_account(order, txn, currency), received),
        (
            wallets::paid_account(&order.brand_id, customer_id, currency),
            -txn.amount,
        ),
    ];
    if received > txn.amount {
        postings.push((
            brand_account(order, AccountType::External, currency),
            txn.amount - received,
        ));
    }
    Ok(NewEntry {
        brand_id: order.brand_id.clone(),
        description: format!("top-up {}", order.id),
        order_id: Some(order.id.clone()),
        customer_id: Some(customer_id.clone()),
        postings,
    })
}

/// A late payment on a top-up no longer payable: into the processor's
/// clearing, owed back outside Obol (`external`) until its return succeeds.
pub(crate) fn late_capture(order: &OrderRow, txn: &TransactionRow) -> Result<NewEntry> {
    let currency = currency_of(order)?;
    Ok(NewEntry {
        brand_id: order.brand_id.clone(),
        description: format!("late payment on top-up {}, to be returned", order.id),
        order_id: Some(order.id.clone()),
        customer_id: order.customer_id.clone(),
        postings: vec![
            (clearing_account(order, txn, currency), txn.amount),
            (
                brand_account(order, AccountType::External, currency),
                -txn.amount,
            ),
        ],
    })
}

/// `wallet.credited` or `wallet.debited` for the top-up's movement of
/// `amount`, with the wallet as it stands after it.
pub(crate) async fn record_movement(
    conn: &mut Conn,
    order: &OrderRow,
    event_type: &str,
    source: &str,
    amount: i64,
    now: Timestamp,
) -> Result<()> {
    let customer_id = customer_of(order)?;
    let wallet = wallets::wallet_in(conn, &order.brand_id, customer_id).await?;
    let movement = json!({"object": "wallet_movement", "customer_id": customer_id,
        "currency": order.currency, "amount": amount, "source": source,
        "order_id": order.id, "grant_id": null, "wallet": wallet});
    events::record(
        conn,
        &order.brand_id,
        event_type,
        customer_id.as_str(),
        Some(customer_id),
        &movement,
        now,
    )
    .await?;
    Ok(())
}

/// Holds `amount` of the top-up's credit out of the wallet before it is
/// given back; credit already spent is 409 and changes nothing.
pub(crate) async fn hold(
    state: &AppState,
    conn: &mut Conn,
    order: &OrderRow,
    amount: i64,
    now: Timestamp,
) -> Result<()> {
    let currency = currency_of(order)?;
    let customer_id = customer_of(order)?;
    let entry = NewEntry {
        brand_id: order.brand_id.clone(),
        description: format!("top-up {} credit held for its return", order.id),
        order_id: Some(order.id.clone()),
        customer_id: Some(customer_id.clone()),
        postings: vec![
            (
                wallets::paid_account(&order.brand_id, customer_id, currency),
                amount,
            ),
            (
                brand_account(order, AccountType::External, currency),
                -amount,
            ),
        ],
    };
    match ledger::post(conn, &state.caches, entry, now).await {
        Ok(_) => {}
        Err(obol_accounts::Error::InsufficientFunds { .. }) => {
            let money = Money {
                amount_minor: amount,
                currency,
            };
            return Err(Error::invalid_state(format!(
                "the top-up's credit is spent: giving back {} needs that much paid credit in the wallet",
                obol_core::money::format_amount(money.amount_minor, money.currency)
            )));
        }
        Err(error) => return Err(error.into()),
    }
    record_movement(conn, order, "wallet.debited", "refund", amount, now).await
}

/// The return succeeded: the held amount leaves the processor's clearing.
pub(crate) fn returned(order: &OrderRow, txn: &TransactionRow, what: &str) -> Result<NewEntry> {
    let currency = currency_of(order)?;
    Ok(NewEntry {
        brand_id: order.brand_id.clone(),
        description: format!("{what} of top-up {}", order.id),
        order_id: Some(order.id.clone()),
        customer_id: order.customer_id.clone(),
        postings: vec![
            (
                brand_account(order, AccountType::External, currency),
                txn.amount,
            ),
            (clearing_account(order, txn, currency), -txn.amount),
        ],
    })
}

/// The return failed: the held amount is the customer's credit again.
pub(crate) fn released(order: &OrderRow, txn: &TransactionRow) -> Result<NewEntry> {
    let currency = currency_of(order)?;
    let customer_id = customer_of(order)?;
    Ok(NewEntry {
        brand_id: order.brand_id.clone(),
        description: format!("top-up {} credit back after a failed return", order.id),
        order_id: Some(order.id.clone()),
        customer_id: Some(customer_id.clone()),
        postings: vec![
            (
                brand_account(order, AccountType::External, currency),
                txn.amount,
            ),
            (
                wallets::paid_account(&order.brand_id, customer_id, currency),
                -txn.amount,
            ),
        ],
    })
}
