//! The ledger: entries posted through `obol_server::ledger::post`, read back
//! through `/v1/balance` and `/v1/ledger`, and the books always adding up.

use crate::harness::{Backend, TestApp, ids, spawn};
use crate::on_both;
use obol_core::Currency;
use obol_server::AppState;
use obol_server::error::ApiError;
use obol_server::ledger::{AccountKey, AccountType, NewEntry, check_invariants, post};
use serde_json::{Value, json};

on_both!(
    capture_and_clearing_move_the_balance,
    wallet_never_goes_below_zero,
    another_brand_sees_nothing,
    lists_page_newest_first,
    invariant_check_catches_corruption,
    concurrent_wallet_debits_never_overdraw,
    concurrent_first_posts_share_accounts,
    busy_accounts_spread_over_balance_slots,
    teardown_fails_a_test_that_breaks_the_books,
);

/// The connector account a test's processor_clearing account belongs to.
const CONNECTOR_ACCOUNT: &str = "cna_test_connector_account";

fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR is supported")
}

fn key(app: &TestApp, account_type: AccountType, owner_id: Option<&str>) -> AccountKey {
    AccountKey {
        brand_id: obol_core::BrandId::from_text(app.brand_id.clone()),
        account_type,
        currency: eur(),
        owner_id: owner_id.map(str::to_owned),
    }
}

fn entry(app: &TestApp, description: &str, postings: Vec<(AccountKey, i64)>) -> NewEntry {
    NewEntry {
        brand_id: obol_core::BrandId::from_text(app.brand_id.clone()),
        description: description.into(),
        order_id: None,
        customer_id: None,
        postings,
    }
}

/// Posts `entry` in a transaction of its own: committed if it posts, rolled
/// back if not.
async fn post_entry(app: &TestApp, entry: NewEntry) -> Result<String, ApiError> {
    post_in(&app.state, entry).await
}

async fn post_in(state: &AppState, entry: NewEntry) -> Result<String, ApiError> {
    let mut tx = state.db.begin().await.expect("begin");
    match post(&mut tx, &state.caches, entry, state.now()).await {
        Ok(id) => {
            tx.commit().await.expect("commit");
            Ok(id.to_string())
        }
        Err(error) => {
            tx.rollback().await.expect("rollback");
            Err(error.into())
        }
    }
}

/// A capture of `amount` for `order_id`: the processor owes it, the brand is
/// owed it.
fn capture(app: &TestApp, order_id: &str, amount: i64) -> NewEntry {
    let mut capture = entry(
        app,
        "capture",
        vec![
            (
                key(app, AccountType::ProcessorClearing, Some(CONNECTOR_ACCOUNT)),
                amount,
            ),
            (key(app, AccountType::BrandPending, None), -amount),
        ],
    );
    capture.order_id = Some(order_id.into());
    capture
}

/// Grants `amount` of credit to a customer's wallet.
fn wallet_credit(app: &TestApp, customer_id: &str, amount: i64) -> NewEntry {
    let mut credit = entry(
        app,
        "granted credit",
        vec![
            (key(app, AccountType::Promotions, None), amount),
            (
                key(app, AccountType::CustomerWallet, Some(customer_id)),
                -amount,
            ),
        ],
    );
    credit.customer_id = Some(customer_id.into());
    credit
}

/// Spends `amount` from a customer's wallet.
fn wallet_debit(app: &TestApp, customer_id: &str, amount: i64) -> NewEntry {
    let mut debit = entry(
        app,
        "wallet payment",
        vec![
            (
                key(app, AccountType::CustomerWallet, Some(customer_id)),
                amount,
            ),
            (key(app, AccountType::Promotions, None), -amount),
        ],
    );
    debit.customer_id = Some(customer_id.into());
    debit
}

/// The one account of the list answering `query`.
async fn only_account(app: &TestApp, query: &str) -> Value {
    let list = app
        .get(&format!("/v1/ledger/accounts?{query}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
    list["data"][0].clone()
}

async fn assert_books_balance(app: &TestApp) {
    if let Err(problem) = check_invariants(&app.state.db).await {
        panic!("{problem}");
    }
}

/// A new order of `amount` EUR, made through the API; its id.
async fn order_id(app: &TestApp, amount: i64) -> String {
    let order = app
        .create_order(json!({"amount": amount, "currency": "EUR"}))
        .await;
    order["id"].as_str().expect("order id").to_owned()
}

async fn capture_and_clearing_move_the_balance(backend: Backend) {
    let app = spawn(backend).await;
    let order_id = order_id(&app, 8925).await;
    let capture_id = post_entry(&app, capture(&app, &order_id, 8925))
        .await
        .expect("capture posts");
    assert!(capture_id.starts_with("lje_"));
    let balance = app.get("/v1/balance").await.expect(200).clone();
    assert_eq!(
        balance,
        json!({"object": "balance", "pending": [{"currency": "EUR", "amount": 8925}], "available": []})
    );

    // Clearing: pending becomes available, less a 10 % reseller commission.
    let commission = obol_core::ledger::commission_minor(8925, 1000);
    assert_eq!(commission, 892);
    let clearing = entry(
        &app,
        "clearing",
        vec![
            (key(&app, AccountType::BrandPending, None), 8925),
            (
                key(&app, AccountType::BrandAvailable, None),
                -(8925 - commission),
            ),
            (key(&app, AccountType::Commission, None), -commission),
        ],
    );
    let clearing_id = post_entry(&app, clearing).await.expect("clearing posts");
    let balance = app.get("/v1/balance").await.expect(200).clone();
    assert_eq!(
        balance["pending"],
        json!([{"currency": "EUR", "amount": 0}])
    );
    assert_eq!(
        balance["available"],
        json!([{"currency": "EUR", "amount": 8033}])
    );

    let accounts = app.get("/v1/ledger/accounts").await.expect(200).clone();
    assert_eq!(accounts["object"], "list");
    assert_eq!(accounts["data"].as_array().map(Vec::len), Some(4));
    let clearing_account = only_account(&app, "type=processor_clearing").await;
    let pending = only_account(&app, "type=brand_pending&currency=EUR").await;
    assert_eq!(
        pending,
        json!({"id": pending["id"], "object": "ledger_account", "type": "brand_pending",
               "currency": "EUR", "balance": 0, "brand_id": app.brand_id, "customer_id": null})
    );
    assert_eq!(clearing_account["balance"], 8925);
    assert_eq!(only_account(&app, "type=commission").await["balance"], -892);
    let pending_id = pending["id"].as_str().expect("id");
    let fetched = app.get(&format!("/v1/ledger/accounts/{pending_id}")).await;
    assert_eq!(fetched.expect(200), &pending);
    let none = app.get("/v1/ledger/accounts?currency=USD").await;
    assert_eq!(none.expect(200)["data"], json!([]));
    assert_eq!(
        app.get("/v1/ledger/accounts?type=savings").await.param(),
        Some("type")
    );
    assert_eq!(
        app.get("/v1/ledger/accounts?currency=eur").await.code(),
        "currency_unsupported"
    );

    let entries = app
        .get(&format!("/v1/ledger/entries?account_id={pending_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&entries), [clearing_id.as_str(), capture_id.as_str()]);
    let newest = &entries["data"][0];
    assert_eq!(newest["object"], "ledger_entry");
    assert_eq!(newest["description"], "clearing");
    assert_eq!(newest["order_id"], Value::Null);
    assert!(
        newest["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let amounts: Vec<i64> = newest["postings"]
        .as_array()
        .expect("postings")
        .iter()
        .map(|posting| posting["amount"].as_i64().expect("amount"))
        .collect();
    assert_eq!(amounts.iter().sum::<i64>(), 0);
    assert_eq!(amounts.len(), 3);
    let oldest = &entries["data"][1];
    assert_eq!(
        oldest["postings"],
        json!([{"account_id": clearing_account["id"], "amount": 8925, "currency": "EUR"},
               {"account_id": pending_id, "amount": -8925, "currency": "EUR"}])
    );

    let by_order = app
        .get(&format!("/v1/ledger/entries?order_id={order_id}"))
        .await;
    assert_eq!(ids(by_order.expect(200)), [capture_id.as_str()]);
    let one = app.get(&format!("/v1/ledger/entries/{capture_id}")).await;
    assert_eq!(one.expect(200), oldest);
    let missing = app.get("/v1/ledger/entries?account_id=lac_unknown").await;
    missing.expect(404);
    assert_eq!(missing.param(), Some("account_id"));
    let no_order = app.get("/v1/ledger/entries?order_id=ord_unknown").await;
    no_order.expect(404);
    assert_eq!(no_order.param(), Some("order_id"));
    assert_books_balance(&app).await;
}

async fn wallet_never_goes_below_zero(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.create_customer("wallet@example.com").await;
    let customer_id = customer["id"].as_str().expect("id");
    post_entry(&app, wallet_credit(&app, customer_id, 1500))
        .await
        .expect("credit posts");
    let wallet_query = format!("customer_id={customer_id}");
    let wallet = only_account(&app, &wallet_query).await;
    assert_eq!(wallet["type"], "customer_wallet");
    assert_eq!(wallet["customer_id"], customer_id);
    assert_eq!(wallet["balance"], -1500);

    let entries_before = app.count("SELECT COUNT(*) FROM ledger_entries").await;
    let postings_before = app.count("SELECT COUNT(*) FROM ledger_postings").await;
    let mut overdraw = wallet_debit(&app, customer_id, 2000);
    overdraw.order_id = Some("ord_wallet".into());
    let refused = post_entry(&app, overdraw).await.expect_err("402");
    assert_eq!(refused.status().as_u16(), 402);
    assert_eq!(refused.error_type, "payment_error");
    assert_eq!(refused.code, "insufficient_funds");
    assert_eq!(refused.body()["error"]["order_id"], "ord_wallet");
    assert_eq!(refused.body()["error"]["transaction_id"], Value::Null);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger_entries").await,
        entries_before
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger_postings").await,
        postings_before
    );
    assert_eq!(only_account(&app, &wallet_query).await["balance"], -1500);

    post_entry(&app, wallet_debit(&app, customer_id, 1500))
        .await
        .expect("spending all of it posts");
    assert_eq!(only_account(&app, &wallet_query).await["balance"], 0);
    let empty = post_entry(&app, wallet_debit(&app, customer_id, 1)).await;
    assert_eq!(
        empty.map_err(|e| e.code).expect_err("402"),
        "insufficient_funds"
    );
    let unknown = app.get("/v1/ledger/accounts?customer_id=cus_unknown").await;
    unknown.expect(404);
    assert_eq!(unknown.param(), Some("customer_id"));
    assert_books_balance(&app).await;
}

async fn another_brand_sees_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let order_id = order_id(&app, 500).await;
    let entry_id = post_entry(&app, capture(&app, &order_id, 500))
        .await
        .expect("capture posts");
    let account_id = only_account(&app, "type=brand_pending").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, other_key) = app.other_brand("Other").await;
    let as_other = |path: String| {
        let key = other_key.clone();
        let app = &app;
        async move { app.send("GET", &path, Some(&key), None, &[]).await }
    };
    let account = as_other(format!("/v1/ledger/accounts/{account_id}")).await;
    assert_eq!(account.expect(404)["error"]["code"], "resource_missing");
    as_other(format!("/v1/ledger/entries/{entry_id}"))
        .await
        .expect(404);
    as_other(format!("/v1/ledger/entries?account_id={account_id}"))
        .await
        .expect(404);
    let balance = as_other("/v1/balance".into()).await;
    assert_eq!(
        balance.expect(200),
        &json!({"object": "balance", "pending": [], "available": []})
    );
    let accounts = as_other("/v1/ledger/accounts".into()).await;
    assert_eq!(accounts.expect(200)["data"], json!([]));
    let entries = as_other(format!("/v1/ledger/entries?order_id={order_id}")).await;
    assert_eq!(entries.expect(404)["error"]["param"], "order_id");
    let all = as_other("/v1/ledger/entries".into()).await;
    assert_eq!(all.expect(200)["data"], json!([]));
    let cursor = as_other(format!("/v1/ledger/entries?starting_after={entry_id}")).await;
    assert_eq!(cursor.expect(400)["error"]["param"], "starting_after");
}

async fn lists_page_newest_first(backend: Backend) {
    let app = spawn(backend).await;
    let mut entry_ids = Vec::new();
    let mut customer_ids = Vec::new();
    for i in 0..5 {
        let customer = app.create_customer(&format!("c{i}@example.com")).await;
        let customer_id = customer["id"].as_str().expect("id").to_owned();
        let id = post_entry(&app, wallet_credit(&app, &customer_id, 100 + i))
            .await
            .expect("credit posts");
        entry_ids.push(id);
        customer_ids.push(customer_id);
    }
    entry_ids.reverse();
    let first = app
        .get("/v1/ledger/entries?limit=2")
        .await
        .expect(200)
        .clone();
    assert_eq!(first["has_more"], true);
    assert_eq!(ids(&first), entry_ids[..2]);
    let rest = app
        .get(&format!(
            "/v1/ledger/entries?starting_after={}",
            entry_ids[1]
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(rest["has_more"], false);
    assert_eq!(ids(&rest), entry_ids[2..]);

    // Six accounts: one wallet per customer and the promotions account.
    let accounts = app
        .get("/v1/ledger/accounts?type=customer_wallet&limit=3")
        .await
        .expect(200)
        .clone();
    assert_eq!(accounts["has_more"], true);
    let owners: Vec<&str> = accounts["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|account| account["customer_id"].as_str().expect("customer"))
        .collect();
    assert_eq!(
        owners,
        [&customer_ids[4], &customer_ids[3], &customer_ids[2]]
    );
    let last = ids(&accounts)[2].clone();
    let more = app
        .get(&format!("/v1/ledger/accounts?starting_after={last}"))
        .await
        .expect(200)
        .clone();
    // The rest: the two older wallets and the promotions account, which the
    // first credit created alongside the first wallet.
    let rest = more["data"].as_array().expect("data");
    assert_eq!(more["has_more"], false);
    assert_eq!(rest.len(), 3);
    let promotions: Vec<&Value> = rest.iter().filter(|a| a["type"] == "promotions").collect();
    assert_eq!(promotions.len(), 1);
    assert_eq!(promotions[0]["balance"], 100 + 101 + 102 + 103 + 104);
    let older: Vec<&str> = rest
        .iter()
        .filter_map(|account| account["customer_id"].as_str())
        .collect();
    assert_eq!(older, [&customer_ids[1], &customer_ids[0]]);
    let unknown = app
        .get("/v1/ledger/accounts?starting_after=lac_unknown")
        .await;
    assert_eq!(unknown.expect(400)["error"]["param"], "starting_after");
    let limit = app.get("/v1/ledger/entries?limit=101").await;
    assert_eq!(limit.expect(400)["error"]["param"], "limit");
    let unknown_param = app.get("/v1/ledger/entries?acount_id=x").await;
    assert_eq!(unknown_param.code(), "parameter_unknown");
}

async fn invariant_check_catches_corruption(backend: Backend) {
    let app = spawn(backend).await;
    app.leave_ledger_broken();
    post_entry(&app, capture(&app, "ord_test_3", 700))
        .await
        .expect("capture posts");
    assert_books_balance(&app).await;

    // An unbalanced entry is a bug: refused, nothing written.
    let unbalanced = entry(
        &app,
        "broken",
        vec![
            (key(&app, AccountType::Fees, None), 10),
            (key(&app, AccountType::External, None), -9),
        ],
    );
    let refused = post_entry(&app, unbalanced).await.expect_err("refused");
    assert_eq!(refused.status().as_u16(), 500);
    assert_eq!(app.count("SELECT COUNT(*) FROM ledger_entries").await, 1);

    obol_store::sql::query(
        "UPDATE ledger_accounts SET balance = balance + 1 WHERE type = 'brand_pending'",
    )
    .execute(&app.state.db.pool)
    .await
    .expect("corrupt a balance");
    let problem = check_invariants(&app.state.db)
        .await
        .expect_err("a drifted balance is caught");
    assert!(problem.contains("balance -699"), "{problem}");

    obol_store::sql::query(
        "UPDATE ledger_accounts SET balance = balance - 1 WHERE type = 'brand_pending'",
    )
    .execute(&app.state.db.pool)
    .await
    .expect("repair the balance");
    assert_books_balance(&app).await;
    obol_store::sql::query("UPDATE ledger_postings SET amount = 701 WHERE amount = 700")
        .execute(&app.state.db.pool)
        .await
        .expect("corrupt a posting");
    let problem = check_invariants(&app.state.db)
        .await
        .expect_err("an unbalanced entry is caught");
    assert!(problem.contains("sums to 1 EUR"), "{problem}");
    assert!(problem.contains("all EUR postings sum to 1"), "{problem}");
}

async fn concurrent_wallet_debits_never_overdraw(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.create_customer("busy@example.com").await;
    let customer_id = customer["id"].as_str().expect("id").to_owned();
    post_entry(&app, wallet_credit(&app, &customer_id, 1000))
        .await
        .expect("credit posts");
    // Each debit on a task of its own, so they truly run in parallel.
    let debits = (0..20).map(|_| {
        let (state, debit) = (app.state.clone(), wallet_debit(&app, &customer_id, 100));
        tokio::spawn(async move { post_in(&state, debit).await })
    });
    let outcomes: Vec<Result<String, ApiError>> = futures_util::future::join_all(debits)
        .await
        .into_iter()
        .map(|joined| joined.expect("debit task"))
        .collect();
    let succeeded = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(succeeded, 10);
    for outcome in outcomes {
        if let Err(error) = outcome {
            assert_eq!(error.code, "insufficient_funds");
        }
    }
    let wallet = only_account(&app, &format!("customer_id={customer_id}")).await;
    assert_eq!(wallet["balance"], 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM ledger_entries").await, 11);
    assert_books_balance(&app).await;
}

async fn concurrent_first_posts_share_accounts(backend: Backend) {
    let app = spawn(backend).await;
    // The brand's first captures race to create the same two accounts, half
    // of them naming the legs in the other order.
    let captures = (0..20i64).map(|i| {
        let mut capture = capture(&app, "ord_race", 100 + i);
        if i % 2 == 1 {
            capture.postings.reverse();
        }
        let state = app.state.clone();
        tokio::spawn(async move { post_in(&state, capture).await })
    });
    for joined in futures_util::future::join_all(captures).await {
        joined.expect("capture task").expect("capture posts");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM ledger_accounts").await, 2);
    let pending = only_account(&app, "type=brand_pending").await;
    let total: i64 = (0..20).map(|i| 100 + i).sum();
    assert_eq!(pending["balance"], -total);
    assert_books_balance(&app).await;
}

async fn busy_accounts_spread_over_balance_slots(backend: Backend) {
    let app = spawn(backend).await;
    let customer = app.create_customer("slots@example.com").await;
    let customer_id = customer["id"].as_str().expect("id").to_owned();
    // The first posts create the accounts on their own rows; once they are
    // committed (a millisecond later), posts find them by id.
    post_entry(&app, capture(&app, "ord_slots", 1000))
        .await
        .expect("first capture posts");
    post_entry(&app, wallet_credit(&app, &customer_id, 500))
        .await
        .expect("first credit posts");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let posts = (0..20i64).map(|i| {
        let state = app.state.clone();
        let entry = if i % 4 == 0 {
            wallet_credit(&app, &customer_id, 10)
        } else {
            capture(&app, "ord_slots", 100 + i)
        };
        tokio::spawn(async move { post_in(&state, entry).await })
    });
    for joined in futures_util::future::join_all(posts).await {
        joined.expect("post task").expect("post");
    }
    let slot_rows = app.count("SELECT COUNT(*) FROM ledger_balance_slots").await;
    let wallet_slots = app
        .count(
            "SELECT COUNT(*) FROM ledger_balance_slots s JOIN ledger_accounts a \
             ON a.id = s.account_id WHERE a.type = 'customer_wallet'",
        )
        .await;
    assert_eq!(wallet_slots, 0, "a wallet's balance stays on its own row");
    match backend {
        // PostgreSQL connections add to their own slots of shared accounts.
        Backend::Postgres => assert!(slot_rows >= 2, "{slot_rows} slot rows"),
        Backend::Sqlite => assert_eq!(slot_rows, 0),
    }
    let captured: i64 = 1000 + (0..20).filter(|i| i % 4 != 0).map(|i| 100 + i).sum::<i64>();
    let pending = only_account(&app, "type=brand_pending").await;
    assert_eq!(pending["balance"], -captured);
    let clearing = only_account(&app, "type=processor_clearing").await;
    assert_eq!(clearing["balance"], captured);
    let balance = app.get("/v1/balance").await.expect(200).clone();
    assert_eq!(balance["pending"][0]["amount"], captured, "{balance}");
    let wallet = only_account(&app, &format!("customer_id={customer_id}")).await;
    assert_eq!(wallet["balance"], -550);
    assert_books_balance(&app).await;

    if backend == Backend::Postgres {
        app.leave_ledger_broken();
        obol_store::sql::query("UPDATE ledger_balance_slots SET balance = balance + 1")
            .execute(&app.state.db.pool)
            .await
            .expect("corrupt the slots");
        let problem = check_invariants(&app.state.db)
            .await
            .expect_err("a drifted slot is caught");
        assert!(problem.contains("but its postings sum to"), "{problem}");
        // PostgreSQL keeps no foreign key from postings to accounts: the
        // check finds a posting whose account is gone.
        obol_store::sql::query(
            "UPDATE ledger_postings SET account_id = 'lac_missing' \
             WHERE id = (SELECT MIN(id) FROM ledger_postings)",
        )
        .execute(&app.state.db.pool)
        .await
        .expect("orphan a posting");
        let problem = check_invariants(&app.state.db)
            .await
            .expect_err("an orphaned posting is caught");
        assert!(
            problem.contains("names account lac_missing, which does not exist"),
            "{problem}"
        );
    }
}

/// Every test's books are checked when its server goes away: a test that
/// leaves them broken fails without asking for the check.
async fn teardown_fails_a_test_that_breaks_the_books(backend: Backend) {
    let app = spawn(backend).await;
    app.sandbox_account().await;
    app.paid_order(1000, true).await;
    obol_store::sql::query(
        "UPDATE ledger_postings SET amount = amount + 1 WHERE id = (SELECT MIN(id) FROM ledger_postings)",
    )
    .execute(&app.state.db.pool)
    .await
    .expect("corrupt a posting");
    // The teardown runs where the test ends; on a task of its own, its
    // panic is an outcome to look at.
    let teardown = tokio::spawn(async move { drop(app) }).await;
    let failure = teardown.expect_err("the teardown passed broken books");
    assert!(failure.is_panic(), "{failure}");
}
