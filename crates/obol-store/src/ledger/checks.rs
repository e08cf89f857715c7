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
