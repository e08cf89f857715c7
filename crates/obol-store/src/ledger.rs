//! The double-entry ledger: accounts with running balances, entries and their
//! signed postings (positive = debit).

use crate::page::{Page, PageRequest};
use crate::{Conn, Result};
use obol_core::{BrandId, CustomerId, LedgerAccountId, LedgerEntryId, OrderId};

/// A stored ledger account; `balance` is the running sum of its postings.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: LedgerAccountId,
    pub brand_id: BrandId,
    pub account_type: String,
    pub currency: String,
    pub owner_id: Option<String>,
    pub balance: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}
crate::from_row!(AccountRow { id, brand_id, account_type = "type", currency, owner_id, balance, version, created_at, updated_at });

/// An account's balance, selected from `ledger_accounts`: its row's plus its
/// slots' (migration 0008).
macro_rules! account_balance {
    () => {
        "balance + COALESCE((SELECT CAST(SUM(s.balance) AS BIGINT) FROM ledger_balance_slots s \
         WHERE s.account_id = ledger_accounts.id), 0) AS balance"
    };
}

// After `account_balance!`, which the drift check uses too.
mod checks;
mod entries;

pub use checks::{
    drifted_accounts, entry_page_end, foreign_currency_postings, grants_disagreeing, orphaned_rows,
    sizes, top_ups_without_credit, unbalanced_currencies, unbalanced_entries,
    unbalanced_entries_in, unshared_postings, wallets_in_debit,
};
pub use entries::{
    EntryFilter, get_entry_seen_by, list_entries_seen_by, postings_of, postings_on_accounts_of,
};

const ACCOUNT_COLUMNS: &str = concat!(
    "id, brand_id, type, currency, owner_id, ",
    account_balance!(),
    ", version, created_at, updated_at"
);

/// What names an account: brand, type, currency and owner (the connector
/// account of `processor_clearing`, the customer of `customer_wallet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKeyRow<'a> {
    pub brand_id: &'a str,
    pub account_type: &'a str,
    pub currency: &'a str,
    pub owner_id: Option<&'a str>,
}

impl AccountKeyRow<'_> {
    /// `owner_id` or `''`, as in the unique constraint.
    pub fn owner_key(&self) -> &str {
        self.owner_id.unwrap_or("")
    }

    /// Whether `row` is the account this key names.
    pub fn names(&self, row: &AccountRow) -> bool {
        row.brand_id == self.brand_id
            && row.account_type == self.account_type
            && row.currency == self.currency
            && row.owner_id.as_deref() == self.owner_id
    }
}

/// A stored ledger entry.
#[derive(Debug, Clone)]
pub struct EntryRow {
    pub id: LedgerEntryId,
    pub brand_id: BrandId,
    pub description: String,
    pub order_id: Option<OrderId>,
    pub customer_id: Option<CustomerId>,
    pub created_at: i64,
}
crate::from_row!(EntryRow {
    id,
    brand_id,
    description,
    order_id,
    customer_id,
    created_at
});

const ENTRY_COLUMNS: &str = "id, brand_id, description, order_id, customer_id, created_at";

/// A stored posting: a signed amount on one account, part of one entry.
#[derive(Debug, Clone)]
pub struct PostingRow {
    pub id: String,
    pub entry_id: LedgerEntryId,
    pub account_id: LedgerAccountId,
    pub amount: i64,
    pub currency: String,
}
crate::from_row!(PostingRow {
    id,
    entry_id,
    account_id,
    amount,
    currency
});

/// `($first, $first+1, …)` for `width` placeholders.
fn placeholders(first: usize, width: usize) -> String {
    let list: Vec<String> = (first..first + width).map(|n| format!("${n}")).collect();
    format!("({})", list.join(", "))
}

/// Creates the named accounts that do not exist yet, at balance zero, in one
/// statement; concurrent creators meet on the unique constraint.
pub async fn create_missing_accounts(
    conn: &mut Conn,
    keys: &[AccountKeyRow<'_>],
    now_ms: i64,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    // The last parameter is the time; each row is six parameters then the
    // zero balance and version.
    let now_param = 1 + keys.len() * 6;
    let rows: Vec<String> = (0..keys.len())
        .map(|i| {
            let n = 1 + i * 6;
            format!(
                "(${n}, ${}, ${}, ${}, ${}, ${}, 0, 0, ${now_param}, ${now_param})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO ledger_accounts (id, brand_id, type, currency, owner_id, owner_key, balance, \
         version, created_at, updated_at) VALUES {} \
         ON CONFLICT (brand_id, type, currency, owner_key) DO NOTHING",
        rows.join(", ")
    );
    let mut query = crate::sql::query(sql);
    for key in keys {
        query = query
            .bind(obol_core::new_id("lac"))
            .bind(key.brand_id)
            .bind(key.account_type)
            .bind(key.currency)
            .bind(key.owner_id)
            .bind(key.owner_key());
    }
    query = query.bind(now_ms);
    query.execute(conn).await?;
    Ok(())
}

/// The accounts the keys name (those that exist), in one statement.
pub async fn find_accounts(conn: &mut Conn, keys: &[AccountKeyRow<'_>]) -> Result<Vec<AccountRow>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let groups: Vec<String> = (0..keys.len())
        .map(|i| {
            let n = 1 + i * 4;
            format!(
                "(brand_id = ${n} AND type = ${} AND currency = ${} AND owner_key = ${})",
                n + 1,
                n + 2,
                n + 3
            )
        })
        .collect();
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE {}",
        groups.join(" OR ")
    );
    let mut query = crate::sql::query_as(sql);
    for key in keys {
        query = query
            .bind(key.brand_id)
            .bind(key.account_type)
            .bind(key.currency)
            .bind(key.owner_key());
    }
    query.fetch_all(conn).await
}

/// An account as the balance upsert returns it.
#[derive(Debug, Clone)]
pub struct UpsertedAccount {
    pub id: LedgerAccountId,
    pub brand_id: BrandId,
    pub account_type: String,
    pub currency: String,
    pub owner_key: String,
    pub balance: i64,
    pub created_at: i64,
}
crate::from_row!(UpsertedAccount { id, brand_id, account_type = "type", currency, owner_key, balance, created_at });

/// Creates each account if missing and adds its change to its balance, all
/// in one statement (never read-modify-write). Rows lock in the order given,
/// so callers pass them sorted and concurrent posts cannot deadlock. A
/// customer wallet only changes if it stays at or above zero: its row is
/// missing from the answer when it would not.
pub async fn upsert_add_balances(
    conn: &mut Conn,
    changes: &[(AccountKeyRow<'_>, i64)],
    now_ms: i64,
) -> Result<Vec<UpsertedAccount>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{} RETURNING id, brand_id, type, currency, owner_key, balance, created_at",
        balances_sql(changes.len())
    );
    let mut query = crate::sql::query_as(sql);
    for (key, amount) in changes {
        query = bind_change(query, key, *amount);
    }
    query.bind(now_ms).fetch_all(conn).await
}

/// `upsert_add_balances` for changes no wallet check can refuse (no wallet
/// is debited), queued with the transaction's other writes.
pub async fn queue_add_balances(
    conn: &mut Conn,
    changes: &[(AccountKeyRow<'_>, i64)],
    now_ms: i64,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut query = crate::sql::query(balances_sql(changes.len()));
    for (key, amount) in changes {
        query = bind_change(query, key, *amount);
    }
    query.bind(now_ms).queue(conn).await
}

fn balances_sql(rows: usize) -> String {
    let now_param = 1 + rows * 7;
    let rows: Vec<String> = (0..rows)
        .map(|i| {
            let n = 1 + i * 7;
            format!(
                "(${n}, ${}, ${}, ${}, ${}, ${}, ${}, 1, ${now_param}, ${now_param})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6
            )
        })
        .collect();
    format!(
        "INSERT INTO ledger_accounts (id, brand_id, type, currency, owner_id, owner_key, balance, \
         version, created_at, updated_at) VALUES {} \
         ON CONFLICT (brand_id, type, currency, owner_key) DO UPDATE SET \
         balance = ledger_accounts.balance + excluded.balance, \
         version = ledger_accounts.version + 1, updated_at = excluded.updated_at \
         WHERE ledger_accounts.type NOT IN ('customer_wallet', 'wallet_granted') \
         OR ledger_accounts.balance + excluded.balance <= 0",
        rows.join(", ")
    )
}

fn bind_change<O: crate::sql::Output>(
    query: crate::sql::Query<O>,
    key: &AccountKeyRow<'_>,
    amount: i64,
) -> crate::sql::Query<O> {
    query
        .bind(obol_core::new_id("lac"))
        .bind(key.brand_id)
        .bind(key.account_type)
        .bind(key.currency)
        .bind(key.owner_id)
        .bind(key.owner_key())
        .bind(amount)
}

/// Most balance slots an account has: one per connection a process may
/// open, so that within a process each connection's slot is its own.
pub const BALANCE_SLOTS: u64 = crate::POSTGRES_MAX_CONNECTIONS as u64;

/// Adds each account's change to the connection's slot of it (created at
/// zero on first use), queued with the transaction's other writes. Only for
/// accounts no check reads the balance of: never a customer wallet.
pub async fn queue_add_to_slot(
    conn: &mut Conn,
    slot: i64,
    changes: &[(&LedgerAccountId, i64)],
    now_ms: i64,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let now_param = 1 + changes.len() * 2 + 1;
    let rows: Vec<String> = (0..changes.len())
        .map(|i| {
            let n = 2 + i * 2;
            format!("(${n}, $1, ${}, 1, ${now_param})", n + 1)
        })
        .collect();
    let sql = format!(
        "INSERT INTO ledger_balance_slots (account_id, slot, balance, version, updated_at) \
         VALUES {} ON CONFLICT (account_id, slot) DO UPDATE SET \
         balance = ledger_balance_slots.balance + excluded.balance, \
         version = ledger_balance_slots.version + 1, updated_at = excluded.updated_at",
        rows.join(", ")
    );
    let mut query = crate::sql::query(sql).bind(slot);
    for (account_id, change) in changes {
        query = query.bind(*account_id).bind(*change);
    }
    query.bind(now_ms).queue(conn).await
}

/// Adds `amount` to an account's balance in SQL, never read-modify-write, so
/// concurrent posts cannot lose an update. A customer wallet is only changed
/// if it stays at or above zero: `None` when it would not (nothing changed).
/// Returns the new balance.
pub async fn add_to_balance(
    conn: &mut Conn,
    account_id: &LedgerAccountId,
    amount: i64,
    now_ms: i64,
) -> Result<Option<i64>> {
    crate::sql::query_scalar(
        "UPDATE ledger_accounts SET balance = balance + $1, version = version + 1, updated_at = $3 \
         WHERE id = $2 AND (type NOT IN ('customer_wallet', 'wallet_granted') OR balance + $1 <= 0) \
         RETURNING balance",
    )
    .bind(amount)
    .bind(account_id)
    .bind(now_ms)
    .fetch_optional(conn)
    .await
}

/// Inserts an entry and its postings: two statements whatever the legs,
/// queued with the transaction's other writes.
pub async fn insert_entry(
    conn: &mut Conn,
    entry: &EntryRow,
    postings: &[PostingRow],
) -> Result<()> {
    crate::sql::query(
        "INSERT INTO ledger_entries (id, brand_id, description, order_id, customer_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&entry.id)
    .bind(&entry.brand_id)
    .bind(&entry.description)
    .bind(&entry.order_id)
    .bind(&entry.customer_id)
    .bind(entry.created_at)
    .queue(conn)
    .await?;
    if postings.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..postings.len())
        .map(|i| placeholders(1 + i * 5, 5))
        .collect();
    let sql = format!(
        "INSERT INTO ledger_postings (id, entry_id, account_id, amount, currency) VALUES {}",
        rows.join(", ")
    );
    let mut query = crate::sql::query(sql);
    for posting in postings {
        query = query
            .bind(&posting.id)
            .bind(&posting.entry_id)
            .bind(&posting.account_id)
            .bind(posting.amount)
            .bind(&posting.currency);
    }
    query.queue(conn).await
}

/// An account of the brand.
pub async fn get_account(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &LedgerAccountId,
) -> Result<Option<AccountRow>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// Filters of the account list.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub account_type: Option<String>,
    pub currency: Option<String>,
    /// Only this customer's wallets.
    pub customer_id: Option<CustomerId>,
}

/// The brand's accounts, newest first.
pub async fn list_accounts(
    conn: &mut Conn,
    brand_id: &BrandId,
    filter: &AccountFilter,
    page: &PageRequest,
) -> Result<Page<AccountRow>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE brand_id = $1 \
         AND ($2 IS NULL OR type = $2) AND ($3 IS NULL OR currency = $3) \
         AND ($4 IS NULL OR (type IN ('customer_wallet', 'wallet_granted') AND owner_id = $4)) \
         AND ($5 IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
    );
    let rows = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(&filter.account_type)
        .bind(&filter.currency)
        .bind(&filter.customer_id)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}

/// The brand's own money accounts (`brand_pending`, `brand_available`), by
/// currency.
pub async fn brand_money_accounts(conn: &mut Conn, brand_id: &BrandId) -> Result<Vec<AccountRow>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE brand_id = $1 \
         AND type IN ('brand_pending', 'brand_available') ORDER BY currency, type"
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .fetch_all(conn)
        .await
}

/// The customer's wallet accounts, paid and granted, every currency.
pub async fn wallet_accounts(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &str,
) -> Result<Vec<AccountRow>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE brand_id = $1 \
         AND type IN ('customer_wallet', 'wallet_granted') AND owner_key = $2 \
         ORDER BY currency, type"
    );
    crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(customer_id)
        .fetch_all(conn)
        .await
}
