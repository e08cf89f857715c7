//! A property test of the wallets: random histories of top-ups, grants,
//! redeem codes, wallet payments, refunds, reverses, grant expiries and
//! clearings, driven through the API on the test clock. A model of the
//! wallets predicts each step's answer; after every step the ledger's
//! invariants hold and every wallet shows the model's paid and granted
//! credit, never below zero.

use crate::harness::{Backend, Options, Resp, TestApp, id_of, spawn_paying};
use crate::on_both;
use model::{Code, Grant, Model, Order};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

mod model;

on_both!(
    random_wallet_histories_keep_the_books_and_the_model,
    refund_gives_granted_credit_back_last_spent_first,
);

const VISA: &str = "4242424242424242";
const HOUR_MS: i64 = 3_600_000;
/// The brand's default clearing delay, two days.
const CLEARING_MS: i64 = 48 * HOUR_MS;
const CUSTOMERS: usize = 2;
const CASES: u32 = 12;

/// One step of a history. Customers are indices into the case's customers;
/// codes and orders pick from those the case has made so far.
#[derive(Debug, Clone)]
enum Step {
    TopUp {
        customer: usize,
        amount: i64,
    },
    /// Granted credit; with an expiry half an hour past a whole number of
    /// hours, so an advance (whole hours) never lands on it.
    Grant {
        customer: usize,
        amount: i64,
        expires_in_h: Option<i64>,
    },
    MakeCode {
        amount: i64,
        max_redemptions: i64,
        expires_in_h: Option<i64>,
    },
    DisableCode {
        code: Index,
    },
    Redeem {
        customer: usize,
        code: Index,
    },
    Pay {
        customer: usize,
        amount: i64,
    },
    Refund {
        order: Index,
        amount: RefundAmount,
    },
    Reverse {
        order: Index,
    },
    Advance {
        hours: i64,
    },
}

#[derive(Debug, Clone, Copy)]
enum RefundAmount {
    /// No amount: everything still refundable.
    Rest,
    /// This percentage of what is still refundable (at least 1).
    Percent(i64),
    /// One more than is still refundable.
    AboveRefundable,
}

fn step() -> impl Strategy<Value = Step> {
    let customer = 0..CUSTOMERS;
    let tens = |max: i64| (1..=max).prop_map(|n| n * 10);
    let expiry = proptest::option::of(0..72i64);
    let refund_amount = prop_oneof![
        1 => Just(RefundAmount::Rest),
        4 => (1..=100i64).prop_map(RefundAmount::Percent),
        1 => Just(RefundAmount::AboveRefundable),
    ];
    prop_oneof![
        4 => (customer.clone(), tens(60))
            .prop_map(|(customer, amount)| Step::TopUp { customer, amount }),
        4 => (customer.clone(), tens(40), expiry.clone()).prop_map(
            |(customer, amount, expires_in_h)| Step::Grant { customer, amount, expires_in_h }
        ),
        2 => (tens(30), 1..=3i64, expiry).prop_map(|(amount, max_redemptions, expires_in_h)| {
            Step::MakeCode { amount, max_redemptions, expires_in_h }
        }),
        1 => any::<Index>().prop_map(|code| Step::DisableCode { code }),
        3 => (customer.clone(), any::<Index>())
            .prop_map(|(customer, code)| Step::Redeem { customer, code }),
        5 => (customer, tens(30)).prop_map(|(customer, amount)| Step::Pay { customer, amount }),
        3 => (any::<Index>(), refund_amount)
            .prop_map(|(order, amount)| Step::Refund { order, amount }),
        1 => any::<Index>().prop_map(|order| Step::Reverse { order }),
        2 => prop_oneof![1..=12i64, Just(24), Just(49)].prop_map(|hours| Step::Advance { hours }),
    ]
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Nothing to do yet (no code or order to pick).
    Skipped,
    /// Refused as the model predicted, or (making or disabling a code) done
    /// without moving money: nothing in the ledger may change.
    Unchanged,
    /// Money moved as the model predicted.
    Moved,
}

/// A case's own customers and its number (for unique code texts).
struct Case {
    number: usize,
    customers: Vec<String>,
}

async fn random_wallet_histories_keep_the_books_and_the_model(backend: Backend) {
    // One server per backend for all cases, each case with customers and
    // codes of its own: a fresh database per case would cost more than its
    // steps (migrations, and on PostgreSQL a database), a case reads only
    // its own customers' wallets, and the ledger check after every step
    // covers the whole database, earlier cases' orders still clearing and
    // grants still expiring included.
    let app = app(backend).await;
    let cases = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(step(), 10..=25);
    let handle = tokio::runtime::Handle::current();
    // The runner is synchronous: each case runs to its end on this worker
    // thread while the server goes on on the others.
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&strategy, |steps| {
            let number = cases.fetch_add(1, Ordering::Relaxed);
            handle.block_on(run_case(&app, number, steps))
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

async fn app(backend: Backend) -> TestApp {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    spawn_paying(backend, options).await
}

async fn run_case(app: &TestApp, number: usize, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut customers = Vec::new();
    for at in 0..CUSTOMERS {
        let email = format!("case{number}-{at}@example.com");
        customers.push(id_of(&app.create_customer(&email).await));
    }
    let case = Case { number, customers };
    let mut model = Model {
        now_ms: app.state.now().as_ms(),
        paid: [0; CUSTOMERS],
        grants: Vec::new(),
        orders: Vec::new(),
        codes: Vec::new(),
    };
    for (at, step) in steps.iter().enumerate() {
        let before = footprint(app).await;
        let outcome = run_step(app, &case, &mut model, step)
            .await
            .map_err(|error| TestCaseError::fail(format!("step {at} {step:?}: {error}")))?;
        if outcome != Outcome::Moved {
            prop_assert_eq!(
                footprint(app).await,
                before,
                "step {} {:?} moved no money but wrote to the ledger",
                at,
                step
            );
        }
        check(app, &case, &model)
            .await
            .map_err(|error| TestCaseError::fail(format!("after step {at} {step:?}: {error}")))?;
    }
    Ok(())
}

/// Rows a change of money adds to.
async fn footprint(app: &TestApp) -> (i64, i64) {
    (
        app.count("SELECT COUNT(*) FROM transactions").await,
        app.count("SELECT COUNT(*) FROM ledger_entries").await,
    )
}

/// The ledger's invariants, and each wallet as the model has it.
async fn check(app: &TestApp, case: &Case, model: &Model) -> Result<(), TestCaseError> {
    if let Err(problems) = obol_server::ledger::check_invariants(&app.state.db).await {
        return Err(TestCaseError::fail(format!(
            "ledger invariants: {problems}"
        )));
    }
    for (at, customer_id) in case.customers.iter().enumerate() {
        let (paid, granted, available) = wallet(app, customer_id).await?;
        prop_assert!(
            paid >= 0 && granted >= 0,
            "customer {} wallet below zero: paid {}, granted {}",
            at,
            paid,
            granted
        );
        prop_assert_eq!(available, paid + granted);
        prop_assert_eq!(
            (paid, granted),
            (model.paid[at], model.granted(at)),
            "customer {} (paid, granted) differs from the model",
            at
        );
    }
    Ok(())
}

/// The customer's EUR wallet: (paid, granted, available); zero before any.
async fn wallet(app: &TestApp, customer_id: &str) -> Result<(i64, i64, i64), TestCaseError> {
    let answer = app
        .get(&format!("/v1/customers/{customer_id}/wallet"))
        .await;
    prop_assert_eq!(answer.status, 200, "{}", answer.body);
    let balances = answer.body["balances"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    prop_assert!(balances.len() <= 1, "{}", answer.body);
    let Some(eur) = balances.first() else {
        return Ok((0, 0, 0));
    };
    prop_assert_eq!(&eur["currency"], "EUR");
    let amount = |name: &str| eur[name].as_i64().unwrap_or(i64::MIN);
    Ok((amount("paid"), amount("granted"), amount("available")))
}

/// Checks an answer's status and, for an error, its code.
fn expect(answer: &Resp, status: u16, code: Option<&str>) -> Result<(), TestCaseError> {
    prop_assert_eq!(answer.status, status, "{}", answer.body);
    if let Some(code) = code {
        prop_assert_eq!(answer.code(), code, "{}", answer.body);
    }
    Ok(())
}

fn rfc3339(ms: i64) -> String {
    obol_core::Timestamp::from_ms(ms).to_rfc3339()
}

/// Half an hour past `hours` from now.
fn expiry(model: &Model, hours: Option<i64>) -> Option<i64> {
    hours.map(|hours| model.now_ms + hours * HOUR_MS + HOUR_MS / 2)
}

/// Runs one step and checks its answer against the model, which it then
/// updates; whether the step changed anything.
async fn run_step(
    app: &TestApp,
    case: &Case,
    model: &mut Model,
    step: &Step,
) -> Result<Outcome, TestCaseError> {
    match *step {
        Step::TopUp { customer, amount } => {
            let order = app
                .create_order(json!({"type": "credit_top_up", "amount": amount,
                    "currency": "EUR", "customer_id": case.customers[customer]}))
                .await;
            let paid = app.confirm_card(&id_of(&order), VISA).await;
            expect(&paid, 200, None)?;
            prop_assert_eq!(&paid.body["status"], "paid");
            model.paid[customer] += amount;
            model.orders.push(Order {
                id: id_of(&order),
                customer,
                amount,
                refunded: 0,
                refunds: 0,
                paid_at_ms: model.now_ms,
                reversed: false,
                spends: None,
            });
            Ok(Outcome::Moved)
        }
        Step::Grant {
            customer,
            amount,
            expires_in_h,
        } => {
            let expires_at_ms = expiry(model, expires_in_h);
            let mut body = json!({"amount": amount, "currency": "EUR", "reason": "property"});
            if let Some(at) = expires_at_ms {
                body["expires_at"] = json!(rfc3339(at));
            }
            let path = format!("/v1/customers/{}/wallet/credits", case.customers[customer]);
            expect(&app.post(&path, body).await, 200, None)?;
            model.grants.push(Grant {
                customer,
                remaining: amount,
                expires_at_ms,
                expired: false,
            });
            Ok(Outcome::Moved)
        }
        Step::MakeCode {
            amount,
            max_redemptions,
            expires_in_h,
        } => {
            let text = format!("PROP-{}-{}", case.number, model.codes.len());
            let expires_at_ms = expiry(model, expires_in_h);
            let mut body = json!({"amount": amount, "currency": "EUR", "code": text,
                "max_redemptions": max_redemptions});
            if let Some(at) = expires_at_ms {
                body["expires_at"] = json!(rfc3339(at));
            }
            let made = app.post("/v1/redeem_codes", body).await;
            expect(&made, 200, None)?;
            model.codes.push(Code {
                id: id_of(&made.body),
                text,
                amount,
                max_redemptions,
                expires_at_ms,
                disabled: false,
                redeemed_by: Vec::new(),
            });
            // Making a code moves no money.
            Ok(Outcome::Unchanged)
        }
        Step::DisableCode { code } => {
            if model.codes.is_empty() {
                return Ok(Outcome::Skipped);
            }
            let at = code.index(model.codes.len());
            let code = &mut model.codes[at];
            let answer = app
                .post(&format!("/v1/redeem_codes/{}/disable", code.id), json!({}))
                .await;
            if code.disabled {
                expect(&answer, 409, None)?;
            } else {
                expect(&answer, 200, None)?;
                code.disabled = true;
            }
            Ok(Outcome::Unchanged)
        }
        Step::Redeem { customer, code } => redeem(app, case, model, customer, code).await,
        Step::Pay { customer, amount } => pay(app, case, model, customer, amount).await,
        Step::Refund { order, amount } => refund(app, model, order, amount).await,
        Step::Reverse { order } => reverse(app, model, order).await,
        Step::Advance { hours } => {
            app.advance(hours * 3600).await;
            model.advance(hours * HOUR_MS);
            prop_assert_eq!(app.state.now().as_ms(), model.now_ms);
            Ok(Outcome::Moved)
        }
    }
}

async fn redeem(
    app: &TestApp,
    case: &Case,
    model: &mut Model,
    customer: usize,
    code: Index,
) -> Result<Outcome, TestCaseError> {
    if model.codes.is_empty() {
        return Ok(Outcome::Skipped);
    }
    let now_ms = model.now_ms;
    let at = code.index(model.codes.len());
    let code = &mut model.codes[at];
    let refusal = if code.disabled {
        Some("redeem_code_disabled")
    } else if code.expires_at_ms.is_some_and(|at| at <= now_ms) {
        Some("redeem_code_expired")
    } else if code.redeemed_by.contains(&customer) {
        Some("redeem_code_already_redeemed")
    } else if code.redeemed_by.len() as i64 >= code.max_redemptions {
        Some("redeem_code_exhausted")
    } else {
        None
    };
    // Lower case and padded: codes match without regard to either.
    let text = format!(" {} ", code.text.to_lowercase());
    let answer = app
        .post(
            "/v1/redeem_codes/redeem",
            json!({"code": text, "customer_id": case.customers[customer]}),
        )
        .await;
    if let Some(refusal) = refusal {
        expect(&answer, 400, Some(refusal))?;
        return Ok(Outcome::Unchanged);
    }
    expect(&answer, 200, None)?;
    code.redeemed_by.push(customer);
    let amount = code.amount;
    model.grants.push(Grant {
        customer,
        remaining: amount,
        expires_at_ms: None,
        expired: false,
    });
    Ok(Outcome::Moved)
}

async fn pay(
    app: &TestApp,
    case: &Case,
    model: &mut Model,
    customer: usize,
    amount: i64,
) -> Result<Outcome, TestCaseError> {
    let order = app
        .create_order(json!({"amount": amount, "currency": "EUR",
            "customer_id": case.customers[customer]}))
        .await;
    let id = id_of(&order);
    let answer = app
        .post(
            &format!("/v1/orders/{id}/confirm"),
            json!({"payment_method": {"type": "wallet"}}),
        )
        .await;
    let Some(spends) = model.spend(customer, amount) else {
        expect(&answer, 402, Some("insufficient_funds"))?;
        prop_assert_eq!(&answer.body["error"]["order_id"], &Value::from(id));
        return Ok(Outcome::Unchanged);
    };
    expect(&answer, 200, None)?;
    prop_assert_eq!(&answer.body["status"], "paid");
    model.orders.push(Order {
        id,
        customer,
        amount,
        refunded: 0,
        refunds: 0,
        paid_at_ms: model.now_ms,
        reversed: false,
        spends: Some(spends),
    });
    Ok(Outcome::Moved)
}

async fn refund(
    app: &TestApp,
    model: &mut Model,
    order: Index,
    amount: RefundAmount,
) -> Result<Outcome, TestCaseError> {
    if model.orders.is_empty() {
        return Ok(Outcome::Skipped);
    }
    let at = order.index(model.orders.len());
    let order = &model.orders[at];
    let refundable = order.amount - order.refunded;
    let requested = match amount {
        RefundAmount::Rest => None,
        RefundAmount::Percent(percent) => Some((refundable * percent / 100).max(1)),
        RefundAmount::AboveRefundable => Some(refundable + 1),
    };
    let value = requested.unwrap_or(refundable);
    let mut body = json!({"order_id": order.id});
    if let Some(requested) = requested {
        body["amount"] = json!(requested);
    }
    let answer = app.post("/v1/refunds", body).await;
    let top_up = order.spends.is_none();
    if order.reversed || refundable == 0 {
        expect(&answer, 409, Some("invalid_state"))?;
        return Ok(Outcome::Unchanged);
    }
    if value > refundable {
        expect(&answer, 400, Some("amount_too_large"))?;
        return Ok(Outcome::Unchanged);
    }
    // A top-up gives back only paid credit not yet spent.
    if top_up && value > model.paid[order.customer] {
        expect(&answer, 409, Some("invalid_state"))?;
        return Ok(Outcome::Unchanged);
    }
    expect(&answer, 200, None)?;
    prop_assert_eq!(&answer.body["status"], "succeeded");
    prop_assert_eq!(&answer.body["amount"], &json!(value));
    if top_up {
        model.paid[order.customer] -= value;
    } else {
        model.refund_wallet_payment(at, value);
    }
    let order = &mut model.orders[at];
    order.refunded += value;
    order.refunds += 1;
    Ok(Outcome::Moved)
}

async fn reverse(app: &TestApp, model: &mut Model, order: Index) -> Result<Outcome, TestCaseError> {
    if model.orders.is_empty() {
        return Ok(Outcome::Skipped);
    }
    let at = order.index(model.orders.len());
    let order = &model.orders[at];
    let answer = app
        .post(&format!("/v1/orders/{}/reverse", order.id), json!({}))
        .await;
    let top_up = order.spends.is_none();
    let refused = order.reversed
        || order.refunds > 0
        || model.cleared(order)
        || (top_up && order.amount > model.paid[order.customer]);
    if refused {
        expect(&answer, 409, Some("invalid_state"))?;
        return Ok(Outcome::Unchanged);
    }
    expect(&answer, 200, None)?;
    prop_assert_eq!(&answer.body["status"], "reversed");
    let (customer, amount) = (order.customer, order.amount);
    if top_up {
        model.paid[customer] -= amount;
    } else {
        model.refund_wallet_payment(at, amount);
    }
    let order = &mut model.orders[at];
    order.refunded = amount;
    order.reversed = true;
    Ok(Outcome::Moved)
}

/// The smallest history where the order of a refund's give-back shows:
/// grant A (no expiry), then grant B (expiring in an hour); a payment of
/// 150 spends B's 100, then 50 of A; a refund of 50 goes back to A, spent
/// last (not to B, the newer grant), so when B expires the wallet keeps
/// 100 of granted credit. Random histories rarely build it.
async fn refund_gives_granted_credit_back_last_spent_first(backend: Backend) {
    let app = app(backend).await;
    let customer_id = id_of(&app.create_customer("order@example.com").await);
    let credits = format!("/v1/customers/{customer_id}/wallet/credits");
    app.post(
        &credits,
        json!({"amount": 100, "currency": "EUR", "reason": "A"}),
    )
    .await
    .expect(200);
    let in_an_hour = rfc3339(app.state.now().as_ms() + HOUR_MS);
    app.post(
        &credits,
        json!({"amount": 100, "currency": "EUR", "reason": "B", "expires_at": in_an_hour}),
    )
    .await
    .expect(200);
    let order = app
        .create_order(json!({"amount": 150, "currency": "EUR", "customer_id": customer_id}))
        .await;
    let order_id = id_of(&order);
    app.post(
        &format!("/v1/orders/{order_id}/confirm"),
        json!({"payment_method": {"type": "wallet"}}),
    )
    .await
    .expect(200);
    app.post("/v1/refunds", json!({"order_id": order_id, "amount": 50}))
        .await
        .expect(200);
    app.advance(2 * 3600).await;
    let (paid, granted, _) = wallet(&app, &customer_id).await.expect("wallet");
    // A has 100 again; B, given nothing back, expired with nothing left.
    assert_eq!((paid, granted), (0, 100));
}
