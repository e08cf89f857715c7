//! The double-entry ledger: accounts, entries, postings, running balances.
//!
//! `post` is the one way money moves: every capture, refund, clearing and
//! wallet movement is one balanced entry, written inside the caller's
//! transaction. Postings are signed, positive = debit. `check_invariants`
//! proves the books add up; the API views of `/v1/ledger` live here too.

use crate::cache::{AccountName, Caches};
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use obol_core::{Currency, Timestamp};
use obol_store::ledger::{AccountKeyRow, AccountRow, EntryRow, PostingRow};
use obol_store::{Conn, Db};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The kind of a ledger account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountType {
    /// Money owed to the brand, not yet cleared (credit-normal).
    BrandPending,
    /// Money owed to the brand, cleared for payout (credit-normal).
    BrandAvailable,
    /// Money a payment processor holds for us; one per connector account.
    ProcessorClearing,
    /// A customer's wallet; never below zero.
    CustomerWallet,
    /// Processor fees.
    Fees,
    /// A reseller's commission.
    Commission,
    /// Granted credit (redeem codes, goodwill).
    Promotions,
    /// Money entering or leaving the system.
    External,
}

impl AccountType {
    /// Every type, in the order the API lists them.
    pub const ALL: [AccountType; 8] = [
        AccountType::BrandPending,
        AccountType::BrandAvailable,
        AccountType::ProcessorClearing,
        AccountType::CustomerWallet,
        AccountType::Fees,
        AccountType::Commission,
        AccountType::Promotions,
        AccountType::External,
    ];

    /// The name stored and shown in the API (`brand_pending`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::BrandPending => "brand_pending",
            AccountType::BrandAvailable => "brand_available",
            AccountType::ProcessorClearing => "processor_clearing",
            AccountType::CustomerWallet => "customer_wallet",
            AccountType::Fees => "fees",
            AccountType::Commission => "commission",
            AccountType::Promotions => "promotions",
            AccountType::External => "external",
        }
    }

    /// The type with this name, if it is one.
    pub fn parse(name: &str) -> Option<AccountType> {
        AccountType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether accounts of this type have an owner: the connector account of
    /// `processor_clearing`, the customer of `customer_wallet`.
    pub fn has_owner(self) -> bool {
        matches!(
            self,
            AccountType::ProcessorClearing | AccountType::CustomerWallet
        )
    }
}

/// What names an account: it is created on first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    pub brand_id: String,
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
    pub brand_id: String,
    pub description: String,
    pub order_id: Option<String>,
    pub customer_id: Option<String>,
    pub postings: Vec<(AccountKey, i64)>,
}

/// Most legs one entry may have: real entries have two to four, so more is a
/// bug, and it bounds the statements built from them.
pub const MAX_POSTINGS_PER_ENTRY: usize = 16;

/// 402 `insufficient_funds`: a customer wallet would go below zero.
pub fn insufficient_funds(order_id: Option<&str>) -> ApiError {
    let mut extra = Map::new();
    extra.insert("order_id".into(), order_id.map_or(Value::Null, Value::from));
    extra.insert("transaction_id".into(), Value::Null);
    ApiError {
        status: StatusCode::PAYMENT_REQUIRED,
        error_type: "payment_error",
        code: "insufficient_funds".into(),
        message: "the customer's wallet balance is too low for this payment".into(),
        param: None,
        extra,
    }
}

/// Posts a balanced entry inside the caller's transaction; returns the entry id.
///
/// Accounts are created on first use. Balances change in SQL, so concurrent
/// posts never lose an update. A wallet that would go below zero fails the
/// post with 402 `insufficient_funds`; on any error the caller must roll the
/// transaction back. An unbalanced or malformed entry is a bug: 500.
pub async fn post(
    conn: &mut Conn,
    caches: &Caches,
    entry: NewEntry,
    now: Timestamp,
) -> Result<String, ApiError> {
    let legs = checked_legs(&entry)?;
    let entry_id = obol_core::new_id("lje");
    let debits_wallet = legs
        .iter()
        .any(|(key, amount)| key.account_type == AccountType::CustomerWallet && *amount < 0);
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
        apply_balances(conn, &postings, &accounts, entry.order_id.as_deref(), now).await?;
        obol_store::ledger::insert_entry(conn, &row, &postings).await?;
        return Ok(entry_id);
    }
    let changes = net_changes(&legs)?;
    let known: Option<Vec<(&AccountKey, String)>> = changes
        .iter()
        .map(|(key, _)| caches.account(&key.name()).map(|id| (*key, id)))
        .collect();
    match known {
        // Every account exists: the entry first, then the balances, queued
        // to go out with the commit, so balance rows are locked only while
        // it commits. Where the connection has a balance slot, shared
        // accounts change in it, not on the row every payment would wait for.
        Some(ids) => {
            let postings =
                postings_for(&entry_id, &legs, |key| id_of(&ids, key).map(str::to_owned))?;
            obol_store::ledger::insert_entry(conn, &row, &postings).await?;
            let slot = conn.balance_slot();
            let (in_slots, on_rows): (Vec<_>, Vec<_>) = changes.iter().partition(|(key, _)| {
                slot.is_some() && key.account_type != AccountType::CustomerWallet
            });
            // No wallet is debited here, so no change can be refused.
            let rows: Vec<_> = on_rows
                .iter()
                .map(|(key, change)| (key.as_row(), *change))
                .collect();
            obol_store::ledger::queue_add_balances(conn, &rows, now.as_ms()).await?;
            if let Some(slot) = slot {
                let slotted: Vec<(&str, i64)> = in_slots
                    .iter()
                    .filter_map(|(key, change)| id_of(&ids, key).map(|id| (id, *change)))
                    .collect();
                obol_store::ledger::queue_add_to_slot(conn, slot, &slotted, now.as_ms()).await?;
            }
        }
        None => {
            let ids =
                upsert_balances(conn, caches, &changes, entry.order_id.as_deref(), now).await?;
            let postings =
                postings_for(&entry_id, &legs, |key| id_of(&ids, key).map(str::to_owned))?;
            obol_store::ledger::insert_entry(conn, &row, &postings).await?;
        }
    }
    Ok(entry_id)
}

fn id_of<'a>(ids: &'a [(&AccountKey, String)], key: &AccountKey) -> Option<&'a str> {
    ids.iter()
        .find(|(named, _)| *named == key)
        .map(|(_, id)| id.as_str())
}

/// One posting per leg, on the account `account_id` finds for its key.
fn postings_for(
    entry_id: &str,
    legs: &[(&AccountKey, i64)],
    account_id: impl Fn(&AccountKey) -> Option<String>,
) -> ApiResult<Vec<PostingRow>> {
    legs.iter()
        .map(|(key, amount)| {
            Ok(PostingRow {
                id: obol_core::new_id("ljp"),
                entry_id: entry_id.to_owned(),
                account_id: account_id(key)
                    .ok_or_else(|| ApiError::internal("ledger account missing after creation"))?,
                amount: *amount,
                currency: key.currency.code().to_owned(),
            })
        })
        .collect()
}

/// Each account's net change, in key order: concurrent posts lock shared
/// accounts in the same order and cannot deadlock.
fn net_changes<'a>(legs: &[(&'a AccountKey, i64)]) -> ApiResult<Vec<(&'a AccountKey, i64)>> {
    let mut changes: Vec<(&AccountKey, i64)> = Vec::with_capacity(legs.len());
    for (key, amount) in legs {
        match changes.iter_mut().find(|(named, _)| named == key) {
            Some((_, sum)) => {
                *sum = sum
                    .checked_add(*amount)
                    .ok_or_else(|| ApiError::internal("ledger account change overflows"))?;
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
    order_id: Option<&str>,
    now: Timestamp,
) -> ApiResult<Vec<(&'a AccountKey, String)>> {
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
        debug_assert!(key.account_type != AccountType::CustomerWallet || account.balance >= 0);
        if account.created_at < now.as_ms() {
            caches.remember_account(key.name(), account.id.clone());
        }
        ids.push((*key, account.id.clone()));
    }
    Ok(ids)
}

/// The legs worth writing (zero legs move nothing and are dropped), after
/// checking the entry is balanced and every key well formed.
fn checked_legs(entry: &NewEntry) -> ApiResult<Vec<(&AccountKey, i64)>> {
    if entry.postings.len() > MAX_POSTINGS_PER_ENTRY {
        return Err(ApiError::internal(format!(
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
        return Err(ApiError::internal(format!(
            "unbalanced ledger entry '{}': {sums:?}",
            entry.description
        )));
    }
    for (key, _) in &entry.postings {
        if key.account_type.has_owner() != key.owner_id.is_some() || key.brand_id.is_empty() {
            return Err(ApiError::internal(format!(
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
) -> ApiResult<Vec<AccountRow>> {
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
    order_id: Option<&str>,
    now: Timestamp,
) -> ApiResult<()> {
    let mut changes: Vec<(&str, i64)> = Vec::with_capacity(postings.len());
    for posting in postings {
        match changes.iter_mut().find(|(id, _)| *id == posting.account_id) {
            Some((_, sum)) => {
                *sum = sum
                    .checked_add(posting.amount)
                    .ok_or_else(|| ApiError::internal("ledger account change overflows"))?;
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
                account.id == account_id
                    && account.account_type == AccountType::CustomerWallet.as_str()
            });
            debug_assert!(
                !is_wallet || balance >= 0,
                "wallet {account_id} went below zero: {balance}"
            );
        }
    }
    Ok(())
}

/// Checks the books: every entry's postings sum to zero per currency, every
/// account's balance equals the sum of its postings, postings are in their
/// account's currency, an entry posts to another brand's account only to
/// its parent's commission, and per currency all postings sum to zero.
/// `Err` describes the first violations found.
pub async fn check_invariants(db: &Db) -> Result<(), String> {
    use obol_store::ledger as store;
    let mut conn = db.pool.acquire().await.map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    for (entry_id, currency, sum) in store::unbalanced_entries(&mut conn)
        .await
        .map_err(|e| e.to_string())?
    {
        problems.push(format!("entry {entry_id} sums to {sum} {currency}"));
    }
    for (account_id, balance, posted) in store::drifted_accounts(&mut conn)
        .await
        .map_err(|e| e.to_string())?
    {
        problems.push(format!(
            "account {account_id} has balance {balance} but its postings sum to {posted}"
        ));
    }
    for (posting_id, account_id) in store::foreign_currency_postings(&mut conn)
        .await
        .map_err(|e| e.to_string())?
    {
        problems.push(format!(
            "posting {posting_id} is not in the currency of account {account_id}"
        ));
    }
    for (table, key, account_id) in store::orphaned_rows(&mut conn)
        .await
        .map_err(|e| e.to_string())?
    {
        problems.push(format!(
            "{table} row {key} names account {account_id}, which does not exist"
        ));
    }
    for (posting_id, entry_id, account_id) in store::unshared_postings(&mut conn)
        .await
        .map_err(|e| e.to_string())?
    {
        problems.push(format!(
            "posting {posting_id} of entry {entry_id} is on account {account_id} of another \
             brand, not the commission account of its parent"
        ));
    }
    for (currency, sum) in store::unbalanced_currencies(&mut conn)
        .await
        .map_err(|e| e.to_string())?
    {
        problems.push(format!("all {currency} postings sum to {sum}, not 0"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "ledger invariants violated: {}",
            problems.join("; ")
        ))
    }
}

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
    /// The customer of a `customer_wallet`, else null.
    pub customer_id: Option<String>,
}

impl From<AccountRow> for LedgerAccount {
    fn from(row: AccountRow) -> Self {
        let customer_id = if row.account_type == AccountType::CustomerWallet.as_str() {
            row.owner_id
        } else {
            None
        };
        LedgerAccount {
            id: row.id,
            object: "ledger_account",
            account_type: row.account_type,
            currency: row.currency,
            balance: row.balance,
            brand_id: row.brand_id,
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
                account_id: posting.account_id.clone(),
                amount: posting.amount,
                currency: posting.currency.clone(),
            })
            .collect();
        LedgerEntry {
            id: row.id,
            object: "ledger_entry",
            description: row.description,
            order_id: row.order_id,
            customer_id: row.customer_id,
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
    brand_id: &str,
    rows: Vec<EntryRow>,
) -> ApiResult<Vec<LedgerEntry>> {
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
}

/// The brand's money: pending (not yet cleared) and available, per currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Balance {
    /// Always `balance`.
    pub object: &'static str,
    pub pending: Vec<BalanceAmount>,
    pub available: Vec<BalanceAmount>,
}

impl Balance {
    /// Builds the view from the brand's pending and available accounts: they
    /// are credit-normal, so money owed to the brand is the negated balance.
    pub fn from_accounts(accounts: Vec<AccountRow>) -> ApiResult<Balance> {
        let mut balance = Balance {
            object: "balance",
            pending: Vec::new(),
            available: Vec::new(),
        };
        for account in accounts {
            let amount = account
                .balance
                .checked_neg()
                .ok_or_else(|| ApiError::internal("brand balance out of range"))?;
            let list = match AccountType::parse(&account.account_type) {
                Some(AccountType::BrandPending) => &mut balance.pending,
                Some(AccountType::BrandAvailable) => &mut balance.available,
                _ => continue,
            };
            list.push(BalanceAmount {
                currency: account.currency,
                amount,
            });
        }
        Ok(balance)
    }
}
