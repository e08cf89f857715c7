//! Money a customer sent that is not the brand's: what arrived for a crypto
//! payment beyond its amount, or for one that failed underpaid. The
//! processor holds it, so it is in `processor_clearing`; it is owed back
//! to the customer outside Obol, so its other leg is `external`.

use super::apply::{brand_account, clearing_account, currency_of};
use crate::error::Result;
use obol_accounts::ledger::{AccountType, NewEntry};
use obol_store::orders::{OrderRow, TransactionRow};

/// Money that arrived for a payment that failed (a crypto invoice that
/// expired underpaid): the processor holds it, and it is the customer's,
/// owed outside Obol; `None` when nothing arrived.
pub(crate) fn unapplied_receipt(
    order: &OrderRow,
    txn: &TransactionRow,
) -> Result<Option<NewEntry>> {
    let Some(received) = txn.amount_received.filter(|received| *received > 0) else {
        return Ok(None);
    };
    let currency = currency_of(order)?;
    Ok(Some(NewEntry {
        brand_id: order.brand_id.clone(),
        description: format!("underpayment of {}", order.id),
        order_id: Some(order.id.clone()),
        customer_id: order.customer_id.clone(),
        postings: vec![
            (clearing_account(order, txn, currency), received),
            (
                brand_account(order, AccountType::External, currency),
                -received,
            ),
        ],
    }))
}
