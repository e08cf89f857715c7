//! The check of the whole books (`obol ledger check`, and every test's
//! teardown): each invariant is one query, but the per-entry sums are
//! scanned a page of entries at a time, so a large database shows
//! progress and no query holds the whole table.

use obol_store::Db;
use obol_store::ledger as store;

/// Entries summed per query of the scan.
const ENTRIES_PER_PAGE: i64 = 50_000;

/// What the check has got to.
pub enum Progress<'a> {
    /// Starting one of the invariants.
    Step(&'a str),
    /// Entries summed so far of the total.
    Entries { done: i64, total: i64 },
}

/// The books' size and what is wrong with them (empty: nothing).
pub struct Checked {
    pub entries: i64,
    pub postings: i64,
    pub accounts: i64,
    pub problems: Vec<String>,
}

fn failed(error: obol_store::StoreError) -> String {
    error.to_string()
}

/// Checks the books: every entry's postings sum to zero per currency, every
/// account's balance equals the sum of its postings, postings are in their
/// account's currency, an entry posts to another brand's account only to
/// its parent's commission, per currency all postings sum to zero, no
/// wallet is in debit, granted credit equals what its grants have left,
/// and every paid top-up credited its customer's wallet. `Err` only when
/// the database cannot be read.
pub async fn check(
    db: &Db,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Checked, String> {
    let mut conn = db.pool.acquire().await.map_err(|e| e.to_string())?;
    let (entries, postings, accounts) = store::sizes(&mut conn).await.map_err(failed)?;
    let mut problems = Vec::new();

    progress(Progress::Step("each entry sums to zero per currency"));
    let (mut after, mut done) = (String::new(), 0);
    progress(Progress::Entries {
        done,
        total: entries,
    });
    while let Some(upto) = store::entry_page_end(&mut conn, &after, ENTRIES_PER_PAGE)
        .await
        .map_err(failed)?
    {
        for (entry_id, currency, sum) in store::unbalanced_entries_in(&mut conn, &after, &upto)
            .await
            .map_err(failed)?
        {
            problems.push(format!("entry {entry_id} sums to {sum} {currency}"));
        }
        done = (done + ENTRIES_PER_PAGE).min(entries);
        progress(Progress::Entries {
            done,
            total: entries,
        });
        after = upto;
    }

    progress(Progress::Step("each balance equals its postings"));
    for (account_id, balance, posted) in store::drifted_accounts(&mut conn).await.map_err(failed)? {
        problems.push(format!(
            "account {account_id} has balance {balance} but its postings sum to {posted}"
        ));
    }
    progress(Progress::Step("postings are in their account's currency"));
    for (posting_id, account_id) in store::foreign_currency_postings(&mut conn)
        .await
        .map_err(failed)?
    {
        problems.push(format!(
            "posting {posting_id} is not in the currency of account {account_id}"
        ));
    }
    progress(Progress::Step(
        "postings and balances name existing accounts",
    ));
    for (table, key, account_id) in store::orphaned_rows(&mut conn).await.map_err(failed)? {
        problems.push(format!(
            "{table} row {key} names account {account_id}, which does not exist"
        ));
    }
    progress(Progress::Step(
        "entries post only to their brand and its parent's commission",
    ));
    for (posting_id, entry_id, account_id) in
        store::unshared_postings(&mut conn).await.map_err(failed)?
    {
        problems.push(format!(
            "posting {posting_id} of entry {entry_id} is on account {account_id} of another \
             brand, not the commission account of its parent"
        ));
    }
    progress(Progress::Step("each currency sums to zero"));
    for (currency, sum) in store::unbalanced_currencies(&mut conn)
        .await
        .map_err(failed)?
    {
        problems.push(format!("all {currency} postings sum to {sum}, not 0"));
    }
    progress(Progress::Step("no wallet below zero"));
    for (account_id, balance) in store::wallets_in_debit(&mut conn).await.map_err(failed)? {
        problems.push(format!(
            "wallet account {account_id} is {balance} in debit: the customer's credit is below zero"
        ));
    }
    progress(Progress::Step(
        "granted credit equals what its grants have left",
    ));
    for (brand_id, customer_id, currency, remaining, credit) in
        store::grants_disagreeing(&mut conn).await.map_err(failed)?
    {
        problems.push(format!(
            "customer {customer_id} of brand {brand_id} has {credit} {currency} of granted \
             credit but its grants have {remaining} left"
        ));
    }
    progress(Progress::Step("each paid top-up has its wallet credit"));
    for (order_id, captured) in store::top_ups_without_credit(&mut conn)
        .await
        .map_err(failed)?
    {
        problems.push(format!(
            "top-up {order_id} captured {captured} but credited its wallet less"
        ));
    }
    Ok(Checked {
        entries,
        postings,
        accounts,
        problems,
    })
}

/// `check` without progress; `Err` describes the violations found.
pub async fn check_invariants(db: &Db) -> Result<(), String> {
    let checked = check(db, &mut |_| {}).await?;
    if checked.problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "ledger invariants violated: {}",
            checked.problems.join("; ")
        ))
    }
}
