//! Reading entries: those a brand sees, with the postings it may see.

use super::{ENTRY_COLUMNS, EntryRow, PostingRow, placeholders};
use crate::page::{Page, PageRequest};
use crate::{Conn, Result};
use obol_core::{BrandId, CustomerId, LedgerAccountId, LedgerEntryId, OrderId};

/// An entry the brand sees: its own, or another brand's with a posting on
/// one of the brand's commission accounts (see `list_entries_seen_by`).
pub async fn get_entry_seen_by(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &LedgerEntryId,
) -> Result<Option<EntryRow>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE id = $1");
    let row: Option<EntryRow> = crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    if row.brand_id == brand_id {
        return Ok(Some(row));
    }
    let shared: Option<i64> = crate::sql::query_scalar(
        "SELECT 1 FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE p.entry_id = $1 AND a.brand_id = $2 AND a.type = 'commission' LIMIT 1",
    )
    .bind(id)
    .bind(brand_id)
    .fetch_optional(conn)
    .await?;
    Ok(shared.map(|_| row))
}

/// Filters of the entry list.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    /// Only entries with a posting on this account.
    pub account_id: Option<LedgerAccountId>,
    pub order_id: Option<OrderId>,
    /// Only entries of this customer (their wallet's, their orders').
    pub customer_id: Option<CustomerId>,
}

/// The entries the brand sees, newest first: its own, and other brands'
/// with a posting on one of its commission accounts (its child brands'
/// clearings and clawbacks). Commission accounts are the only ones another
/// brand posts to (`unshared_postings` checks it).
pub async fn list_entries_seen_by(
    conn: &mut Conn,
    brand_id: &BrandId,
    filter: &EntryFilter,
    page: &PageRequest,
) -> Result<Page<EntryRow>> {
    // An order or customer filter names one of the brand, which no other
    // brand's entry carries.
    let shared = match (&filter.order_id, &filter.customer_id) {
        (None, None) => {
            newest_on_commission(conn, brand_id, filter.account_id.as_deref(), page).await?
        }
        _ => Vec::new(),
    };
    let own = format!(
        "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE brand_id = $1 \
         AND ($2 IS NULL OR id IN (SELECT entry_id FROM ledger_postings WHERE account_id = $2)) \
         AND ($3 IS NULL OR order_id = $3) AND ($6 IS NULL OR customer_id = $6) \
         AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    );
    let sql = if shared.is_empty() {
        own
    } else {
        // Other brands' entries by primary key, named one by one: no plan
        // may trade that for a walk over every brand's entries.
        format!(
            "SELECT {ENTRY_COLUMNS} FROM (SELECT {ENTRY_COLUMNS} FROM ({own}) AS own \
             UNION ALL SELECT {ENTRY_COLUMNS} FROM ledger_entries \
             WHERE id IN {} AND brand_id <> $1) AS seen ORDER BY id DESC LIMIT $5",
            placeholders(7, shared.len())
        )
    };
    let mut query = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(&filter.account_id)
        .bind(&filter.order_id)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .bind(&filter.customer_id);
    for entry_id in &shared {
        query = query.bind(entry_id);
    }
    let rows = query.fetch_all(conn).await?;
    Ok(Page::from_rows(rows, page.limit))
}

/// The ids of the newest entries (past the page's cursor, a page and one of
/// them at most) with a posting on one of the brand's commission accounts,
/// or on `account_id` alone when given: every entry of another brand that
/// the page can show is among them, since each has fewer than a page of
/// newer entries the brand sees, and so fewer newer ones on its account.
async fn newest_on_commission(
    conn: &mut Conn,
    brand_id: &BrandId,
    account_id: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<String>> {
    let mut accounts: Vec<String> = crate::sql::query_scalar(
        "SELECT id FROM ledger_accounts WHERE brand_id = $1 AND type = 'commission' ORDER BY id",
    )
    .bind(brand_id)
    .fetch_all(&mut *conn)
    .await?;
    if let Some(account_id) = account_id {
        accounts.retain(|id| id == account_id);
    }
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    // One backward walk of the postings' (account_id, entry_id) index per
    // account (one per currency), each cut at the page.
    let walks: Vec<String> = (0..accounts.len())
        .map(|i| {
            format!(
                "SELECT entry_id FROM (SELECT DISTINCT entry_id FROM ledger_postings \
                 WHERE account_id = ${} AND ($1 IS NULL OR entry_id < $1) \
                 ORDER BY entry_id DESC LIMIT $2) AS a{i}",
                3 + i
            )
        })
        .collect();
    let mut query = crate::sql::query_scalar(walks.join(" UNION ALL "))
        .bind(&page.starting_after)
        .bind(page.limit + 1);
    for account_id in &accounts {
        query = query.bind(account_id);
    }
    let mut entry_ids: Vec<String> = query.fetch_all(conn).await?;
    entry_ids.sort_unstable_by(|a, b| b.cmp(a));
    entry_ids.dedup();
    entry_ids.truncate(usize::try_from(page.limit + 1).unwrap_or(0));
    Ok(entry_ids)
}

/// The postings of these entries, in the order they were written.
pub async fn postings_of(conn: &mut Conn, entry_ids: &[&str]) -> Result<Vec<PostingRow>> {
    if entry_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, entry_id, account_id, amount, currency FROM ledger_postings \
         WHERE entry_id IN {} ORDER BY entry_id, id",
        placeholders(1, entry_ids.len())
    );
    let mut query = crate::sql::query_as(sql);
    for id in entry_ids {
        query = query.bind(*id);
    }
    query.fetch_all(conn).await
}

/// The postings of these entries on the brand's own accounts, in the order
/// they were written: what a parent sees of its child brands' entries.
pub async fn postings_on_accounts_of(
    conn: &mut Conn,
    brand_id: &BrandId,
    entry_ids: &[&str],
) -> Result<Vec<PostingRow>> {
    if entry_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT p.id, p.entry_id, p.account_id, p.amount, p.currency FROM ledger_postings p \
         JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE p.entry_id IN {} AND a.brand_id = $1 ORDER BY p.entry_id, p.id",
        placeholders(2, entry_ids.len())
    );
    let mut query = crate::sql::query_as(sql).bind(brand_id);
    for id in entry_ids {
        query = query.bind(*id);
    }
    query.fetch_all(conn).await
}
