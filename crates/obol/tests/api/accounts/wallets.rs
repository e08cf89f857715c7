//! Customer wallets: granted credit through the API, kept apart from paid
//! credit, spent soonest expiring first, given back by refunds to where it
//! came from, and removed at its expiry with a ledger entry.

use crate::harness::{Backend, Options, TestApp, spawn_with};
use crate::on_both;
use obol_core::{BrandId, Currency, CustomerId, Money, OrderId};
use obol_server::ledger::{AccountKey, AccountType};
use obol_server::wallets;
use serde_json::{Value, json};

on_both!(
    granted_credit_expires_with_a_ledger_entry,
    spending_takes_soonest_expiring_grants_then_paid_credit,
    bad_grants_change_nothing,
    a_retried_credit_whose_answer_was_lost_credits_once,
);

const DAY_S: i64 = 24 * 3600;

async fn app(backend: Backend) -> TestApp {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    spawn_with(backend, options).await
}

fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR")
}

async fn customer(app: &TestApp, email: &str) -> String {
    app.create_customer(email).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn wallet(app: &TestApp, customer_id: &str) -> Value {
    app.get(&format!("/v1/customers/{customer_id}/wallet"))
        .await
        .expect(200)
        .clone()
}

async fn grant(app: &TestApp, customer_id: &str, body: Value) -> crate::harness::Resp {
    app.post(&format!("/v1/customers/{customer_id}/wallet/credits"), body)
        .await
}

/// The RFC 3339 time `seconds` after the server's clock.
async fn in_seconds(app: &TestApp, seconds: i64) -> String {
    let now = app.state.now();
    obol_core::Timestamp::from_ms(now.as_ms() + seconds * 1000).to_rfc3339()
}

async fn granted_credit_expires_with_a_ledger_entry(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "granted@example.com").await;
    assert_eq!(
        wallet(&app, &customer_id).await,
        json!({"object": "wallet", "customer_id": customer_id, "balances": []})
    );
    let expires_at = in_seconds(&app, DAY_S).await;
    let granted = grant(
        &app,
        &customer_id,
        json!({"amount": 700, "currency": "EUR", "reason": "Welcome", "expires_at": expires_at}),
    )
    .await;
    assert_eq!(
        granted.expect(200)["balances"],
        json!([{"currency": "EUR", "available": 700, "paid": 0, "granted": 700}])
    );
    grant(
        &app,
        &customer_id,
        json!({"amount": 300, "currency": "EUR", "reason": "Goodwill"}),
    )
    .await
    .expect(200);
    let entries = app
        .get(&format!("/v1/ledger/entries?customer_id={customer_id}"))
        .await;
    assert_eq!(
        entries.expect(200)["data"].as_array().map(Vec::len),
        Some(2)
    );
    let credited = app
        .count("SELECT COUNT(*) FROM events WHERE type = 'wallet.credited'")
        .await;
    assert_eq!(credited, 2);

    app.advance(DAY_S + 60).await;
    assert_eq!(
        wallet(&app, &customer_id).await["balances"],
        json!([{"currency": "EUR", "available": 300, "paid": 0, "granted": 300}])
    );
    let expired = app
        .count("SELECT COUNT(*) FROM ledger_entries WHERE description LIKE '%expired'")
        .await;
    assert_eq!(expired, 1);
    let debited = app
        .count("SELECT COUNT(*) FROM events WHERE type = 'wallet.debited'")
        .await;
    assert_eq!(debited, 1);
    let promotions = app.get("/v1/ledger/accounts?type=promotions").await;
    assert_eq!(promotions.expect(200)["data"][0]["balance"], 300);
    app.assert_ledger_balanced().await;
}

fn account(app: &TestApp, account_type: AccountType, owner: Option<&str>) -> AccountKey {
    AccountKey {
        brand_id: BrandId::from_text(app.brand_id.clone()),
        account_type,
        currency: eur(),
        owner_id: owner.map(str::to_owned),
    }
}

/// Spends or gives back through the wallets' service, as payments will.
async fn in_tx<F>(app: &TestApp, run: F) -> Result<(), obol_server::error::ApiError>
where
    F: AsyncFnOnce(&mut obol_store::Conn) -> Result<(), obol_server::wallets::Error>,
{
    let mut tx = app.state.db.begin().await.expect("begin");
    match run(&mut tx).await {
        Ok(()) => {
            tx.commit().await.expect("commit");
            Ok(())
        }
        Err(error) => {
            tx.rollback().await.expect("rollback");
            Err(error.into())
        }
    }
}

async fn spending_takes_soonest_expiring_grants_then_paid_credit(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "spender@example.com").await;
    let later = in_seconds(&app, 10 * DAY_S).await;
    let sooner = in_seconds(&app, DAY_S).await;
    for (amount, expires_at) in [(200, Some(later)), (100, None), (150, Some(sooner))] {
        let mut body = json!({"amount": amount, "currency": "EUR", "reason": "promo"});
        if let Some(at) = expires_at {
            body["expires_at"] = json!(at);
        }
        grant(&app, &customer_id, body).await.expect(200);
    }
    let state = app.state.clone();
    let brand = BrandId::from_text(app.brand_id.clone());
    let customer = CustomerId::from(customer_id.as_str());
    let order = app
        .create_order(json!({"amount": 1000, "currency": "EUR", "customer_id": customer_id}))
        .await;
    let order = OrderId::from(order["id"].as_str().expect("id"));
    let of = wallets::OrderWallet {
        brand_id: &brand,
        customer_id: &customer,
        order_id: &order,
    };
    // A paid top-up of 500 (its money from the processor's clearing).
    let clearing = account(&app, AccountType::ProcessorClearing, Some("cna_test"));
    let money = |amount_minor| Money {
        amount_minor,
        currency: eur(),
    };
    in_tx(&app, async |tx| {
        wallets::credit_top_up(&state, tx, of, money(500), clearing.clone(), state.now()).await
    })
    .await
    .expect("top-up");
    let pending = account(&app, AccountType::BrandPending, None);
    // 400: the sooner grant (150), the later one (200), the one without
    // expiry (50 of 100); paid credit untouched.
    in_tx(&app, async |tx| {
        wallets::spend(&state, tx, of, money(400), pending.clone(), state.now()).await
    })
    .await
    .expect("spend");
    assert_eq!(
        wallet(&app, &customer_id).await["balances"],
        json!([{"currency": "EUR", "available": 550, "paid": 500, "granted": 50}])
    );
    // More than is left: refused whole, nothing changed.
    let refused = in_tx(&app, async |tx| {
        wallets::spend(&state, tx, of, money(551), pending.clone(), state.now()).await
    })
    .await
    .expect_err("insufficient");
    assert_eq!(refused.status().as_u16(), 402);
    assert_eq!(
        wallet(&app, &customer_id).await["balances"][0]["available"],
        550
    );
    // The sooner grant expires with nothing left of it: no entry moves.
    app.advance(DAY_S + 60).await;
    assert_eq!(
        wallet(&app, &customer_id).await["balances"][0]["granted"],
        50
    );
    // A refund of 300 of the 400: the granted part goes back to its grants,
    // the last spent first: 50 to the one without expiry, 200 to the later
    // one, and 50 of the sooner one's, which has expired, to promotions.
    in_tx(&app, async |tx| {
        wallets::refund(
            &state,
            tx,
            of,
            money(300),
            400,
            pending.clone(),
            state.now(),
        )
        .await
    })
    .await
    .expect("refund");
    let balances = wallet(&app, &customer_id).await["balances"].clone();
    assert_eq!(balances[0]["paid"], 500);
    assert_eq!(balances[0]["granted"], 50 + 300 - 50);
    app.assert_ledger_balanced().await;
}

async fn bad_grants_change_nothing(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "bad@example.com").await;
    let past = in_seconds(&app, -60).await;
    for (body, param) in [
        (
            json!({"amount": 0, "currency": "EUR", "reason": "x"}),
            "amount",
        ),
        (
            json!({"amount": -5, "currency": "EUR", "reason": "x"}),
            "amount",
        ),
        (
            json!({"amount": 5, "currency": "XXX", "reason": "x"}),
            "currency",
        ),
        (
            json!({"amount": 5, "currency": "EUR", "reason": " "}),
            "reason",
        ),
        (
            json!({"amount": 5, "currency": "EUR", "reason": "x", "expires_at": past}),
            "expires_at",
        ),
        (
            json!({"amount": 5, "currency": "EUR", "reason": "x", "expires_at": "soon"}),
            "expires_at",
        ),
    ] {
        let refused = grant(&app, &customer_id, body.clone()).await;
        refused.expect(400);
        assert_eq!(refused.param(), Some(param), "{body}");
    }
    let unknown = grant(
        &app,
        "cus_unknown",
        json!({"amount": 5, "currency": "EUR", "reason": "x"}),
    )
    .await;
    unknown.expect(404);
    app.get("/v1/customers/cus_unknown/wallet")
        .await
        .expect(404);
    // A deleted customer's wallet is read, never credited.
    let gone = customer(&app, "gone@example.com").await;
    app.delete(&format!("/v1/customers/{gone}"))
        .await
        .expect(200);
    let credited = grant(
        &app,
        &gone,
        json!({"amount": 5, "currency": "EUR", "reason": "x"}),
    )
    .await;
    credited.expect(404);
    app.get(&format!("/v1/customers/{gone}/wallet"))
        .await
        .expect(200);
    assert_eq!(app.count("SELECT COUNT(*) FROM wallet_grants").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM ledger_entries").await, 0);
}

/// A grant or redemption whose answer was lost after it committed (its
/// stored answer gone, as when the process died before keeping it): the
/// retry under the same key finds the credit bound to the key and answers
/// the wallet, crediting nothing again.
async fn a_retried_credit_whose_answer_was_lost_credits_once(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "retry@example.com").await;
    let path = format!("/v1/customers/{customer_id}/wallet/credits");
    let body = json!({"amount": 250, "currency": "EUR", "reason": "Sorry"});
    app.post_idempotent(&path, "grant-1", body.clone())
        .await
        .expect(200);
    let forget = "DELETE FROM idempotency_keys";
    obol_store::sql::query(forget)
        .execute(&app.state.db.pool)
        .await
        .expect("forget the stored answers");
    let again = app.post_idempotent(&path, "grant-1", body).await;
    assert_eq!(
        again.expect(200)["balances"][0]["granted"],
        250,
        "{}",
        again.body
    );
    let code = app
        .post(
            "/v1/redeem_codes",
            json!({"amount": 100, "currency": "EUR"}),
        )
        .await
        .expect(200)["code"]
        .clone();
    let redeem = json!({"code": code, "customer_id": customer_id});
    app.post_idempotent("/v1/redeem_codes/redeem", "redeem-1", redeem.clone())
        .await
        .expect(200);
    obol_store::sql::query(forget)
        .execute(&app.state.db.pool)
        .await
        .expect("forget the stored answers");
    let again = app
        .post_idempotent("/v1/redeem_codes/redeem", "redeem-1", redeem)
        .await;
    assert_eq!(
        again.expect(200)["balances"][0]["granted"],
        350,
        "{}",
        again.body
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM wallet_grants").await, 2);
    // The same key for another request is refused.
    let other = json!({"amount": 1, "currency": "EUR", "reason": "Other"});
    obol_store::sql::query(forget)
        .execute(&app.state.db.pool)
        .await
        .expect("forget the stored answers");
    let reused = app.post_idempotent(&path, "grant-1", other).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM wallet_grants").await, 2);
}
