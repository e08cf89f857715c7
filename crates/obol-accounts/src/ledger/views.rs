//! The API views of `/v1/balance` and `/v1/ledger`: accounts, entries as
//! the brand asking sees them, and the brand's balance.

use super::AccountType;
use crate::error::{Error, Result};
use obol_core::Timestamp;
use obol_core::{BrandId, CustomerId, OrderId};
use obol_store::Conn;
use obol_store::ledger::{AccountRow, EntryRow, PostingRow};
use serde::Serialize;
use utoipa::ToSchema;

/// A ledger account as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerAccount {
    pub id: String,
    /// Always `ledger_account`.
    pub object: &'static str,
    /// `brand_pending`, `brand_available`, `processor_clearing`,
    /// `customer_wallet`, `fees`, `commission`, `promotions` or `external`.
    #[serde(rename = "type")]
    pub account_type: String,
    pub currency: String,
    /// Sum of the account's postings in minor units; positive = debit.
    pub balance: i64,
    pub brand_id: String,
    /// The customer of a `customer_wallet` or `wallet_granted`, else null.
    pub customer_id: Option<String>,
}

impl From<AccountRow> for LedgerAccount {
    fn from(row: AccountRow) -> Self {
        let customer_id =
            if AccountType::parse(&row.account_type).is_some_and(AccountType::is_wallet) {
                row.owner_id
            } else {
                None
            };
        LedgerAccount {
            id: row.id.into_string(),
            object: "ledger_account",
            account_type: row.account_type,
            currency: row.currency,
            balance: row.balance,
            brand_id: row.brand_id.into_string(),
            customer_id,
        }
    }
}

/// One leg of a ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerPosting {
    pub account_id: String,
    /// Signed minor units: positive = debit, negative = credit.
    pub amount: i64,
    pub currency: String,
}

/// A ledger entry as the API shows it: its postings sum to zero per
/// currency. A parent brand sees a child brand's entry that moves its
/// commission with only the postings on its own accounts, and no order or
/// customer of the child.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    pub id: String,
    /// Always `ledger_entry`.
    pub object: &'static str,
    pub description: String,
    /// Null on a child brand's entry shown to its parent.
    pub order_id: Option<String>,
    /// Null on a child brand's entry shown to its parent.
    pub customer_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub postings: Vec<LedgerPosting>,
}

impl LedgerEntry {
    /// The view of `row`, taking its postings out of `postings`.
    pub fn new(row: EntryRow, postings: &[PostingRow]) -> LedgerEntry {
        let postings = postings
            .iter()
            .filter(|posting| posting.entry_id == row.id)
            .map(|posting| LedgerPosting {
                account_id: posting.account_id.to_string(),
                amount: posting.amount,
                currency: posting.currency.clone(),
            })
            .collect();
        LedgerEntry {
            id: row.id.into_string(),
            object: "ledger_entry",
            description: row.description,
            order_id: row.order_id.map(OrderId::into_string),
            customer_id: row.customer_id.map(CustomerId::into_string),
            created_at: Timestamp::from_ms(row.created_at),
            postings,
        }
    }

    /// The view a parent brand has of its child's entry `row`, given only
    /// the postings on the parent's accounts: the description names the
    /// child brand (which the parent knows), never its order or customer.
    fn shared(row: EntryRow, postings: &[PostingRow]) -> LedgerEntry {
        let child = row.brand_id.clone();
        let mut entry = LedgerEntry::new(row, postings);
        // The parent's accounts are credit-normal: a credit is commission
        // earned, a debit commission given back.
        let change: i128 = entry.postings.iter().map(|p| i128::from(p.amount)).sum();
        entry.description = match change.signum() {
            -1 => format!("commission on a payment of {child}"),
            1 => format!("commission returned to {child}"),
            _ => format!("entry of {child}"),
        };
        entry.order_id = None;
        entry.customer_id = None;
        entry
    }
}

/// The views of `rows` (entries `brand_id` sees, see
/// `obol_store::ledger::list_entries_seen_by`) as `brand_id` sees them: its
/// own in full, a child brand's reduced to the postings on its accounts.
pub async fn entries_seen_by(
    conn: &mut Conn,
    brand_id: &BrandId,
    rows: Vec<EntryRow>,
) -> Result<Vec<LedgerEntry>> {
    let (own, shared): (Vec<&EntryRow>, Vec<&EntryRow>) =
        rows.iter().partition(|row| row.brand_id == brand_id);
    let own_ids: Vec<&str> = own.iter().map(|row| row.id.as_str()).collect();
    let shared_ids: Vec<&str> = shared.iter().map(|row| row.id.as_str()).collect();
    let postings = obol_store::ledger::postings_of(conn, &own_ids).await?;
    let shared_postings =
        obol_store::ledger::postings_on_accounts_of(conn, brand_id, &shared_ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            if row.brand_id == brand_id {
                LedgerEntry::new(row, &postings)
            } else {
                LedgerEntry::shared(row, &shared_postings)
            }
        })
        .collect())
}

/// An amount of one currency in `GET /v1/balance`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceAmount {
    pub currency: String,
    /// Minor units owed to the brand; `available` goes negative when refunds
    /// exceed what cleared.
    pub amount: i64,
    /// With `report_currency`: this amount in it, at the brand's latest
    /// rate in force; absent without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converted: Option<ConvertedAmount>,
}

/// An amount converted to the report currency, rounded half-even to its
/// minor unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConvertedAmount {
    pub currency: String,
    /// Minor units of `currency`.
    pub amount: i64,
    /// The rate used (its inverse where the brand has only the rate of the
    /// other direction); null for an amount already in the currency.
    #[schema(value_type = Option<String>)]
    pub exchange_rate_id: Option<obol_core::ExchangeRateId>,
}

/// With `report_currency`: each side's converted amounts added up.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConvertedTotals {
    pub currency: String,
    /// Minor units of `currency`: the sum of `pending[].converted.amount`.
    pub pending: i64,
    /// Minor units of `currency`: the sum of `available[].converted.amount`.
    pub available: i64,
}

/// The brand's money: pending (not yet cleared) and available, per currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Balance {
    /// Always `balance`.
    pub object: &'static str,
    pub pending: Vec<BalanceAmount>,
    pub available: Vec<BalanceAmount>,
    /// With `report_currency`: the totals in it; absent without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converted_totals: Option<ConvertedTotals>,
}

impl Balance {
    /// Builds the view from the brand's pending and available accounts: they
    /// are credit-normal, so money owed to the brand is the negated balance.
    pub fn from_accounts(accounts: Vec<AccountRow>) -> Result<Balance> {
        let mut balance = Balance {
            object: "balance",
            pending: Vec::new(),
            available: Vec::new(),
            converted_totals: None,
        };
        for account in accounts {
            let amount = account
                .balance
                .checked_neg()
                .ok_or_else(|| Error::internal("brand balance out of range"))?;
            let list = match AccountType::parse(&account.account_type) {
                Some(AccountType::BrandPending) => &mut balance.pending,
                Some(AccountType::BrandAvailable) => &mut balance.available,
                _ => continue,
            };
            list.push(BalanceAmount {
                currency: account.currency,
                amount,
                converted: None,
            });
        }
        Ok(balance)
    }
}
