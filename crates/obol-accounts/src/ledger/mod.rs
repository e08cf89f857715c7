//! The double-entry ledger: accounts, entries, postings, running balances.
//!
//! `post` is the one way money moves: every capture, refund, clearing and
//! wallet movement is one balanced entry, written inside the caller's
//! transaction. Postings are signed, positive = debit. `check_invariants`
//! proves the books add up; the API views of `/v1/ledger` are in `views`.

use crate::customers;
use crate::error::{Error, Result};
use obol_core::{BrandId, CustomerId, LedgerAccountId, LedgerEntryId, OrderId};
use obol_core::{Currency, Timestamp};
use obol_kernel::cache::{AccountName, Caches};
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::ledger::{AccountKeyRow, AccountRow, EntryRow, PostingRow};

pub(crate) mod api;
mod check;
mod views;

pub use check::{Checked, Progress, check, check_invariants};
pub use obol_store::ledger::{AccountFilter, EntryFilter};
pub use views::{
    Balance, BalanceAmount, ConvertedAmount, ConvertedTotals, LedgerAccount, LedgerEntry,
    LedgerPosting, entries_seen_by,
};

/// The kind of a ledger account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountType {
    /// Money owed to the brand, not yet cleared (credit-normal).
    BrandPending,
    /// Money owed to the brand, cleared for payout (credit-normal).
    BrandAvailable,
    /// Money a payment processor holds for us; one per connector account.
    ProcessorClearing,
    /// A customer's paid credit: what Obol owes the customer for top-ups
    /// (credit-normal; never in debit, so the customer never owes it).
    CustomerWallet,
    /// A customer's granted credit (grants, redeem codes), apart from paid
    /// credit so reports tell one from the other; credit-normal like it.
    WalletGranted,
    /// Processor fees.
    Fees,
    /// A reseller's commission.
    Commission,
    /// Granted credit (redeem codes, goodwill).
    Promotions,
    /// Money entering or leaving the system.
    External,
    /// The brand's money a connector holds back while a dispute
    /// (chargeback) of a payment is open (credit-normal).
    Disputes,
}

impl AccountType {
    /// Every type, in the order the API lists them.
    pub const ALL: [AccountType; 10] = [
        AccountType::BrandPending,
        AccountType::BrandAvailable,
        AccountType::ProcessorClearing,
        AccountType::CustomerWallet,
        AccountType::WalletGranted,
        AccountType::Fees,
        AccountType::Commission,
        AccountType::Promotions,
        AccountType::External,
        AccountType::Disputes,
    ];

    /// The name stored and shown in the API (`brand_pending`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::BrandPending => "brand_pending",
            AccountType::BrandAvailable => "brand_available",
            AccountType::ProcessorClearing => "processor_clearing",
            AccountType::CustomerWallet => "customer_wallet",
            AccountType::WalletGranted => "wallet_granted",
            AccountType::Fees => "fees",
            AccountType::Commission => "commission",
            AccountType::Promotions => "promotions",
            AccountType::External => "external",
            AccountType::Disputes => "disputes",
        }
    }

    /// The type with this name, if it is one.
    pub fn parse(name: &str) -> Option<AccountType> {
        AccountType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether accounts of this type have an owner: the connector account of
    /// `processor_clearing`, the customer of a wallet account.
    pub fn has_owner(self) -> bool {
        self == AccountType::ProcessorClearing || self.is_wallet()
    }

    /// A customer's wallet account (paid or granted): never in debit.
    pub fn is_wallet(self) -> bool {
        matches!(
            self,
            AccountType::CustomerWallet | AccountType::WalletGranted
        )
    }
}

/// What names an account: it is created on first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    pub brand_id: BrandId,
    pub account_type: AccountType,
    pub currency: Currency,
    /// The connector account id for `processor_clearing`, the customer id for
    /// `customer_wallet`, else `None`.
    pub owner_id: Option<String>,
}

impl AccountKey {
    /// What the account cache knows it by.
    fn name(&self) -> AccountName {
        (
            self.brand_id.clone(),
            self.account_type.as_str(),
            self.currency.code(),
            self.owner_id.clone(),
        )
    }

    fn as_row(&self) -> AccountKeyRow<'_> {
        AccountKeyRow {
            brand_id: &self.brand_id,
            account_type: self.account_type.as_str(),
            currency: self.currency.code(),
            owner_id: self.owner_id.as_deref(),
        }
    }
}

/// An entry to post: signed legs (positive = debit) summing to zero per
/// currency.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub brand_id: BrandId,
    pub description: String,
    pub order_id: Option<OrderId>,
    pub customer_id: Option<CustomerId>,
    pub postings: Vec<(AccountKey, i64)>,
}

/// Most legs one entry may have: real entries have two to four, so more is a
/// bug, and it bounds the statements built from them.
pub const MAX_POSTINGS_PER_ENTRY: usize = 16;

/// `insufficient_funds`: a customer wallet would go below zero.
pub fn insufficient_funds(order_id: Option<&OrderId>) -> Error {
    Error::InsufficientFunds {
        order_id: order_id.map(OrderId::to_string),
    }
}

/// Posts a balanced entry inside the caller's transaction; returns the entry id.
///
/// Accounts are created on first use. Balances change in SQL, so concurrent
/// posts never lose an update. A wallet that would go below zero fails the
/// post with `insufficient_funds`; on any error the caller must roll the
/// transaction back. An unbalanced or malformed entry is a bug (`Internal`).
pub async fn post(
    conn: &mut Conn,
    caches: &Caches,
    entry: NewEntry,
    now: Timestamp,
) -> Result<LedgerEntryId> {
    let legs = checked_legs(&entry)?;
    let entry_id = LedgerEntryId::new();
    let debits_wallet = legs
        .iter()
        .any(|(key, amount)| key.account_type.is_wallet() && *amount > 0);
    let row = EntryRow {
        id: entry_id.clone(),
        brand_id: entry.brand_id.clone(),
        description: entry.description.clone(),
        order_id: entry.order_id.clone(),
        customer_id: entry.customer_id.clone(),
        created_at: now.as_ms(),
    };
    if debits_wallet {
        // Not the upsert: its proposed new row would carry the negative
        // amount and fail the wallet's `balance >= 0` check even when the
        // wallet exists, so a wallet debit finds the wallet and then updates.
        let accounts = accounts_for(conn, &legs, now).await?;
        let postings = postings_for(&entry_id, &legs, |key| {
            accounts
                .iter()
                .find(|account| key.as_row().names(account))
                .map(|account| account.id.clone())
        })?;
        apply_balances(conn, &postings, &accounts, entry.order_id.as_ref(), now).await?;
        obol_store::ledger::insert_entry(conn, &row, &postings).await?;
        return Ok(entry_id);
    }
    let changes = net_changes(&legs)?;
    let known: Option<Vec<(&AccountKey, LedgerAccountId)>> = changes
        .iter()
        .map(|(key, _)| caches.account(&key.name()).map(|id| (*key, id)))
        .collect();
    match known {
        // Every account exists: the entry first, then the balances, queued
        // to go out with the commit, so balance rows are locked only while
        // it commits. Where the connection has a balance slot, shared
        // accounts change in it, not on the row every payment would wait for.
        Some(ids) => {
            let postings = postings_for(&entry_id, &legs, |key| id_of(&ids, key).cloned())?;
            obol_store::ledger::insert_entry(conn, &row, &postings).await?;
            let slot = conn.balance_slot();
            let (in_slots, on_rows): (Vec<_>, Vec<_>) = changes
                .iter()
                .partition(|(key, _)| slot.is_some() && !key.account_type.is_wallet());
            // No wallet is debited here, so no change can be refused.
            let rows: Vec<_> = on_rows
                .iter()
                .map(|(key, change)| (key.as_row(), *change))
                .collect();
            obol_store::ledger::queue_add_balances(conn, &rows, now.as_ms()).await?;
            if let Some(slot) = slot {
                let slotted: Vec<(&LedgerAccountId, i64)> = in_slots
                    .iter()
                    .filter_map(|(key, change)| id_of(&ids, key).map(|id| (id, *change)))
                    .collect();
                obol_store::ledger::queue_add_to_slot(conn, slot, &slotted, now.as_ms()).await?;
            }
        }
        None => {
            let ids = upsert_balances(conn, caches, &changes, entry.order_id.as_ref(), now).await?;
            let postings = postings_for(&entry_id, &legs, |key| id_of(&ids, key).cloned())?;
            obol_store::ledger::insert_entry(conn, &row, &postings).await?;
        }
    }
    Ok(entry_id)
}

fn id_of<'a>(
    ids: &'a [(&AccountKey, LedgerAccountId)],
    key: &AccountKey,
) -> Option<&'a LedgerAccountId> {
    ids.iter()
        .find(|(named, _)| *named == key)
        .map(|(_, id)| id)
}

/// One posting per leg, on the account `account_id` finds for its key.
fn postings_for(
    entry_id: &LedgerEntryId,
    legs: &[(&AccountKey, i64)],
    account_id: impl Fn(&AccountKey) -> Option<LedgerAccountId>,
) -> Result<Vec<PostingRow>> {
    legs.iter()
        .map(|(key, amount)| {
            Ok(PostingRow {
                id: obol_core::new_id("ljp"),
                entry_id: entry_id.clone(),
                account_id: account_id(key)
                    .ok_or_else(|| Error::internal("ledger account missing after creation"))?,
                amount: *amount,
                currency: key.currency.code().to_owned(),
            })
        })
        .collect()
}

/// Each account's net change, in key order: concurrent posts lock shared
/// accounts in the same order and cannot deadlock.
fn net_changes<'a>(legs: &[(&'a AccountKey, i64)]) -> Result<Vec<(&'a AccountKey, i64)>> {
    let mut changes: Vec<(&AccountKey, i64)> = Vec::with_capacity(legs.len());
    for (key, amount) in legs {
        match changes.iter_mut().find(|(named, _)| named == key) {
            Some((_, sum)) => {
                *sum = sum
                    .checked_add(*amount)
                    .ok_or_else(|| Error::internal("ledger account change overflows"))?;
            }
            None => changes.push((key, *amount)),
        }
    }
    changes.sort_by_key(|(key, _)| key.name());
    Ok(changes)
}

/// Creates missing accounts and adds each one's change to its balance, in
/// one statement. Returns the ids, and remembers those of accounts that
/// existed before this transaction (one it created may still roll back).
async fn upsert_balances<'a>(
    conn: &mut Conn,
    caches: &Caches,
    changes: &[(&'a AccountKey, i64)],
    order_id: Option<&OrderId>,
    now: Timestamp,
) -> Result<Vec<(&'a AccountKey, LedgerAccountId)>> {
    let rows: Vec<_> = changes
        .iter()
        .map(|(key, change)| (key.as_row(), *change))
        .collect();
    let upserted = obol_store::ledger::upsert_add_balances(conn, &rows, now.as_ms()).await?;
    let mut ids = Vec::with_capacity(changes.len());
    for (key, _) in changes {
        let row = key.as_row();
        let account = upserted
            .iter()
            .find(|account| {
                account.brand_id == row.brand_id
                    && account.account_type == row.account_type
                    && account.currency == row.currency
                    && account.owner_key == row.owner_key()
            })
            // Only a wallet whose balance would go below zero is missing.
            .ok_or_else(|| insufficient_funds(order_id))?;
        debug_assert!(!key.account_type.is_wallet() || account.balance <= 0);
        if account.created_at < now.as_ms() {
            caches.remember_account(key.name(), account.id.clone());
        }
        ids.push((*key, account.id.clone()));
    }
    Ok(ids)
}

/// The legs worth writing (zero legs move nothing and are dropped), after
/// checking the entry is balanced and every key well formed.
fn checked_legs(entry: &NewEntry) -> Result<Vec<(&AccountKey, i64)>> {
    if entry.postings.len() > MAX_POSTINGS_PER_ENTRY {
        return Err(Error::internal(format!(
            "ledger entry '{}' has {} legs, more than {MAX_POSTINGS_PER_ENTRY}",
            entry.description,
            entry.postings.len()
        )));
    }
    let sums: Vec<(Currency, i64)> = entry
        .postings
        .iter()
        .map(|(key, amount)| (key.currency, *amount))
        .collect();
    if !obol_core::ledger::is_balanced(&sums) {
        return Err(Error::internal(format!(
            "unbalanced ledger entry '{}': {sums:?}",
            entry.description
        )));
    }
    for (key, _) in &entry.postings {
        if key.account_type.has_owner() != key.owner_id.is_some() || key.brand_id.is_empty() {
            return Err(Error::internal(format!(
                "malformed ledger account key in entry '{}': {key:?}",
                entry.description
            )));
        }
    }
    Ok(entry
        .postings
        .iter()
        .filter(|(_, amount)| *amount != 0)
        .map(|(key, amount)| (key, *amount))
        .collect())
}

/// Gets or creates the accounts the legs name: two statements in all. New
/// accounts are inserted in one fixed order, so two first posts racing to
/// create the same accounts on PostgreSQL cannot deadlock either.
async fn accounts_for(
    conn: &mut Conn,
    legs: &[(&AccountKey, i64)],
    now: Timestamp,
) -> Result<Vec<AccountRow>> {
    let mut keys: Vec<AccountKeyRow<'_>> = Vec::with_capacity(legs.len());
    for (key, _) in legs {
        let row = key.as_row();
        if !keys.contains(&row) {
            keys.push(row);
        }
    }
    keys.sort_by_key(|k| {
        (
            k.brand_id,
            k.account_type,
            k.currency,
            k.owner_id.unwrap_or(""),
        )
    });
    obol_store::ledger::create_missing_accounts(conn, &keys, now.as_ms()).await?;
    Ok(obol_store::ledger::find_accounts(conn, &keys).await?)
}

/// Adds each account's net change to its running balance, one conditional
/// update per account, in account id order: PostgreSQL then always locks
/// accounts in the same order, so two posts cannot deadlock.
async fn apply_balances(
    conn: &mut Conn,
    postings: &[PostingRow],
    accounts: &[AccountRow],
    order_id: Option<&OrderId>,
    now: Timestamp,
) -> Result<()> {
    let mut changes: Vec<(&LedgerAccountId, i64)> = Vec::with_capacity(postings.len());
    for posting in postings {
        match changes
            .iter_mut()
            .find(|(id, _)| **id == posting.account_id)
        {
            Some((_, sum)) => {
                *sum = sum
                    .checked_add(posting.amount)
                    .ok_or_else(|| Error::internal("ledger account change overflows"))?;
            }
            None => changes.push((&posting.account_id, posting.amount)),
        }
    }
    changes.sort_unstable();
    for (account_id, change) in changes.into_iter().filter(|(_, change)| *change != 0) {
        let balance =
            obol_store::ledger::add_to_balance(conn, account_id, change, now.as_ms()).await?;
        let Some(balance) = balance else {
            // Only a wallet update is conditional: it would have gone below zero.
            return Err(insufficient_funds(order_id));
        };
        if cfg!(debug_assertions) {
            let is_wallet = accounts.iter().any(|account| {
                account.id == *account_id
                    && AccountType::parse(&account.account_type).is_some_and(AccountType::is_wallet)
            });
            debug_assert!(
                !is_wallet || balance <= 0,
                "wallet {account_id} went into debit: {balance}"
            );
        }
    }
    Ok(())
}

/// The brand's money per currency: pending and available.
pub async fn balance(state: &AppState, brand_id: &BrandId) -> Result<Balance> {
    let mut conn = state.db.pool.acquire().await?;
    let accounts = obol_store::ledger::brand_money_accounts(&mut conn, brand_id).await?;
    Balance::from_accounts(accounts)
}

/// Whether `id` names a ledger account of the brand.
async fn account_exists(conn: &mut Conn, brand_id: &BrandId, id: &str) -> obol_store::Result<bool> {
    Ok(
        obol_store::ledger::get_account(conn, brand_id, &LedgerAccountId::from(id))
            .await?
            .is_some(),
    )
}

/// One of the brand's ledger accounts.
pub async fn get_account(
    state: &AppState,
    brand_id: &BrandId,
    id: &LedgerAccountId,
) -> Result<LedgerAccount> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::ledger::get_account(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("ledger account", id))?;
    Ok(LedgerAccount::from(row))
}

/// A page of the brand's ledger accounts, newest first.
pub async fn list_accounts(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<AccountFilter>,
) -> Result<List<LedgerAccount>> {
    let ListRequest { page, filter } = request;
    let mut conn = state.db.pool.acquire().await?;
    customers::check_filter(&mut conn, brand_id, filter.customer_id.as_deref()).await?;
    let rows = list::fetch(
        &mut conn,
        &page,
        async |conn, after| account_exists(conn, brand_id, after).await,
        async |conn, page| obol_store::ledger::list_accounts(conn, brand_id, &filter, page).await,
    )
    .await?;
    Ok(List::mapped(rows, LedgerAccount::from))
}

/// One ledger entry the brand sees, as `entries_seen_by` shows it.
pub async fn get_entry(
    state: &AppState,
    brand_id: &BrandId,
    id: &LedgerEntryId,
) -> Result<LedgerEntry> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::ledger::get_entry_seen_by(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("ledger entry", id))?;
    let mut views = entries_seen_by(&mut conn, brand_id, vec![row]).await?;
    views
        .pop()
        .ok_or_else(|| Error::internal("ledger entry view missing"))
}

/// A page of the ledger entries the brand sees, newest first, as
/// `entries_seen_by` shows them. The filters name an account and an order
/// of the brand.
pub async fn list_entries(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<EntryFilter>,
) -> Result<List<LedgerEntry>> {
    let ListRequest { page, filter } = request;
    let mut conn = state.db.pool.acquire().await?;
    let account_id = filter.account_id.as_deref();
    list::check_filter(
        &mut conn,
        "ledger account",
        account_id,
        "account_id",
        async |conn, id| account_exists(conn, brand_id, id).await,
    )
    .await?;
    let order_id = filter.order_id.as_deref();
    list::check_filter(
        &mut conn,
        "order",
        order_id,
        "order_id",
        async |conn, id| {
            Ok(
                obol_store::orders::get_order(conn, brand_id, &OrderId::from(id))
                    .await?
                    .is_some(),
            )
        },
    )
    .await?;
    list::check_filter(
        &mut conn,
        "customer",
        filter.customer_id.as_ref().map(CustomerId::as_str),
        "customer_id",
        async |conn, id| customers::exists(conn, brand_id, id).await,
    )
    .await?;
    let rows = list::fetch(
        &mut conn,
        &page,
        async |conn, after| {
            let entry =
                obol_store::ledger::get_entry_seen_by(conn, brand_id, &LedgerEntryId::from(after))
                    .await?;
            Ok(entry.is_some())
        },
        async |conn, page| {
            obol_store::ledger::list_entries_seen_by(conn, brand_id, &filter, page).await
        },
    )
    .await?;
    let data = entries_seen_by(&mut conn, brand_id, rows.data).await?;
    Ok(List::new(data, rows.has_more))
}
