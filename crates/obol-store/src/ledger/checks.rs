//! The queries `check_invariants` proves the books with: each finds the
//! first few rows breaking one invariant.

use crate::{Conn, Result};

/// How many violations of each invariant a check reports at most.
const VIOLATIONS_SHOWN: i64 = 5;

/// Entries whose postings do not sum to zero in a currency:
/// (entry id, currency, sum).
pub async fn unbalanced_entries(conn: &mut Conn) -> Result<Vec<(String, String, i64)>> {
    // PostgreSQL sums BIGINT as NUMERIC: cast back for the `Any` driver.
    crate::sql::query_as(
        "SELECT entry_id, currency, CAST(SUM(amount) AS BIGINT) FROM ledger_postings \
         GROUP BY entry_id, currency HAVING SUM(amount) <> 0 ORDER BY entry_id LIMIT $1",
    )
    .bind(VIOLATIONS_SHOWN)
    .fetch_all(conn)
    .await
}

/// Accounts whose running balance differs from the sum of their postings:
/// (account id, balance, sum of postings).
pub async fn drifted_accounts(conn: &mut Conn) -> Result<Vec<(String, i64, i64)>> {
    crate::sql::query_as(concat!(
        "SELECT a.id, a.balance, a.posted FROM (SELECT id, ",
        account_balance!(),
        ", COALESCE((SELECT CAST(SUM(p.amount) AS BIGINT) FROM ledger_postings p \
         WHERE p.account_id = ledger_accounts.id), 0) AS posted FROM ledger_accounts) a \
         WHERE a.balance <> a.posted ORDER BY a.id LIMIT $1",
    ))
    .bind(VIOLATIONS_SHOWN)
    .fetch_all(conn)
    .await
}

/// Postings and balance slots of accounts that do not exist: (table, row
/// key, account id).
pub async fn orphaned_rows(conn: &mut Conn) -> Result<Vec<(String, String, String)>> {
    crate::sql::query_as(
        "SELECT 'ledger_postings', p.id, p.account_id FROM ledger_postings p \
         WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = p.account_id) \
         UNION ALL SELECT 'ledger_balance_slots', CAST(s.slot AS TEXT), s.account_id \
         FROM ledger_balance_slots s \
         WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = s.account_id) \
         ORDER BY 2 LIMIT $1",
    )
    .bind(VIOLATIONS_SHOWN)
    .fetch_all(conn)
    .await
}

/// Postings on another brand's account than their entry's, unless on the
/// commission account of the entry brand's parent: (posting id, entry id,
/// account id). A parent's entry list finds other brands' entries through
/// its commission accounts alone.
pub async fn unshared_postings(conn: &mut Conn) -> Result<Vec<(String, String, String)>> {
    crate::sql::query_as(
        "SELECT p.id, p.entry_id, p.account_id FROM ledger_postings p \
         JOIN ledger_entries e ON e.id = p.entry_id JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE a.brand_id <> e.brand_id AND (a.type <> 'commission' OR NOT EXISTS \
         (SELECT 1 FROM brands b WHERE b.id = e.brand_id AND b.parent_brand_id = a.brand_id)) \
         ORDER BY p.id LIMIT $1",
    )
    .bind(VIOLATIONS_SHOWN)
    .fetch_all(conn)
    .await
}

/// Currencies whose postings do not sum to zero overall: (currency, sum).
pub async fn unbalanced_currencies(conn: &mut Conn) -> Result<Vec<(String, i64)>> {
    crate::sql::query_as(
        "SELECT currency, CAST(SUM(amount) AS BIGINT) FROM ledger_postings \
         GROUP BY currency HAVING SUM(amount) <> 0 ORDER BY currency",
    )
    .fetch_all(conn)
    .await
}

/// Postings in another currency than their account: (posting id, account id).
pub async fn foreign_currency_postings(conn: &mut Conn) -> Result<Vec<(String, String)>> {
    crate::sql::query_as(
        "SELECT p.id, a.id FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE p.currency <> a.currency ORDER BY p.id LIMIT $1",
    )
    .bind(VIOLATIONS_SHOWN)
    .fetch_all(conn)
    .await
}

/// How many entries, postings and accounts the books hold.
pub async fn sizes(conn: &mut Conn) -> Result<(i64, i64, i64)> {
    crate::sql::query_as(
        "SELECT (SELECT COUNT(*) FROM ledger_entries), (SELECT COUNT(*) FROM ledger_postings), \
         (SELECT COUNT(*) FROM ledger_accounts)",
    )
    .fetch_one(conn)
    .await
}

/// The id of the entry `size` entries after `after` (or the last one
/// before that), bounding the next page of a scan; `None` at the end.
pub async fn entry_page_end(conn: &mut Conn, after: &str, size: i64) -> Result<Option<String>> {
    let rows: Vec<(String,)> = crate::sql::query_as(
        "SELECT id FROM (SELECT id FROM ledger_entries WHERE id > $1 ORDER BY id LIMIT $2) page \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(after)
    .bind(size)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().next().map(|(id,)| id))
}

/// `unbalanced_entries` over the entries with `after < id <= upto`.
pub async fn unbalanced_entries_in(
    conn: &mut Conn,
    after: &str,
    upto: &str,
) -> Result<Vec<(String, String, i64)>> {
    crate::sql::query_as(
        "SELECT entry_id, currency, CAST(SUM(amount) AS BIGINT) FROM ledger_postings \
         WHERE entry_id > $1 AND entry_id <= $2 \
         GROUP BY entry_id, currency HAVING SUM(amount) <> 0 ORDER BY entry_id LIMIT $3",
    )
    .bind(after)
    .bind(upto)
    .bind(VIOLATIONS_SHOWN)
    .fetch_all(conn)
    .await
}

/// Customer wallet accounts in debit: Obol never owes a customer less than
/// nothing. (account id, balance.)
pub async fn wallets_in_debit(conn: &mut Conn) -> Result<Vec<(String, i64)>> {
    crate::sql::query_as(concat!(
        "SELECT a.id, a.balance FROM (SELECT id, ",
        account_balance!(),
        " FROM ledger_accounts WHERE type IN ('customer_wallet', 'wallet_granted')) a \
         WHERE a.balance > 0 ORDER BY a.id LIMIT $1",
    ))
    .bind(VIOLATIONS_SHOWN)
    .fetch_all(conn)
    .await
}

/// Granted-credit accounts whose balance is not what their grants have
/// left, and customers with grants left but no such account: (brand id,
/// customer id, currency, what the grants have left, the account's credit).
pub async fn grants_disagreeing(
    conn: &mut Conn,
) -> Result<Vec<(String, String, String, i64, i64)>> {
    crate::sql::query_as(concat!(
        "SELECT a.brand_id, a.owner_id, a.currency, a.remaining, -a.balance FROM \
         (SELECT brand_id, owner_id, currency, ",
        account_balance!(),
        ", COALESCE((SELECT CAST(SUM(g.remaining) AS BIGINT) FROM wallet_grants g \
         WHERE g.brand_id = ledger_accounts.brand_id AND g.customer_id = ledger_accounts.owner_id \
         AND g.currency = ledger_accounts.currency), 0) AS remaining \
         FROM ledger_accounts WHERE type = 'wallet_granted') a WHERE a.remaining <> -a.balance \
         UNION ALL SELECT g.brand_id, g.customer_id, g.currency, CAST(SUM(g.remaining) AS BIGINT), 0 \
         FROM wallet_grants g WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a \
         WHERE a.type = 'wallet_granted' AND a.brand_id = g.brand_id \
         AND a.owner_id = g.customer_id AND a.currency = g.currency) \
         GROUP BY g.brand_id, g.customer_id, g.currency HAVING SUM(g.remaining) > 0 \
         ORDER BY 1, 2, 3 LIMIT $1",
    ))
    .bind(VIOLATIONS_SHOWN)
    .fetch_all(conn)
    .await
}

/// Paid credit top-ups whose entries credited the customer's paid wallet
/// less than they captured: (order id, amount captured). (A hold for a
/// refund debits the wallet and its release credits it again, so what was
/// credited is at least what was captured.)
pub async fn top_ups_without_credit(conn: &mut Conn) -> Result<Vec<(String, i64)>> {
    crate::sql::query_as(
        "SELECT o.id, o.amount_captured FROM orders o \
         WHERE o.type = 'credit_top_up' AND o.amount_captured > 0 \
         AND COALESCE((SELECT CAST(-SUM(p.amount) AS BIGINT) FROM ledger_entries e \
         JOIN ledger_postings p ON p.entry_id = e.id \
         JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE e.brand_id = o.brand_id AND e.order_id = o.id \
         AND a.type = 'customer_wallet' AND p.amount < 0), 0) < o.amount_captured \
         ORDER BY o.id LIMIT $1",
    )
    .bind(VIOLATIONS_SHOWN)
    .fetch_all(conn)
    .await
}
