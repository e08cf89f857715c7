//! The sandbox connector over its store-backed state against a real
//! database: on a fresh SQLite file always, and on a fresh PostgreSQL
//! database when `OBOL_TEST_DATABASE_URL` is set.

use obol_connectors::sandbox::{ASYNC_APPROVAL_DELAY_MS, Sandbox};
use obol_connectors::{
    AccountContext, AuthorizeRequest, Connector, ConnectorError, ConnectorResponse,
    FollowUpRequest, Instrument, Operation, Outcome, SyncRequest,
};
use obol_core::card::{CardDetails, parse_card};
use obol_core::clock::Clock;
use obol_core::{Currency, Money, Timestamp, new_id};
use obol_payments::sandbox::StoreSandboxState;
use obol_store::Db;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const BASE_URL: &str = "https://obol.test";
const ACCOUNT: &str = "cna_sandbox_test";
const START: &str = "2026-11-23T10:00:00Z";

/// A clock that moves only when told.
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_ms(self.0.load(Ordering::SeqCst))
    }
}

impl TestClock {
    fn advance_ms(&self, delta_ms: i64) {
        self.0.fetch_add(delta_ms, Ordering::SeqCst);
    }
}

/// One test's world: a migrated database, a clock and the sandbox over them.
#[derive(Clone)]
struct Env {
    db: Db,
    clock: Arc<TestClock>,
    sandbox: Arc<Sandbox>,
}

impl Env {
    async fn new(url: &str) -> Env {
        let db = Db::connect(url)
            .await
            .expect("connect to the test database");
        db.migrate().await.expect("migrate the test database");
        let start = Timestamp::parse_rfc3339(START).expect("valid start");
        let clock = Arc::new(TestClock(AtomicI64::new(start.as_ms())));
        let sandbox = Arc::new(Sandbox::new(
            Arc::new(StoreSandboxState::new(db.clone())),
            clock.clone(),
            format!("{BASE_URL}/"),
        ));
        Env { db, clock, sandbox }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// An authorize, sale or verify with `number` for `transaction_id`.
    async fn pay(
        &self,
        transaction_id: &str,
        number: &str,
        operation: Operation,
        amount: i64,
    ) -> Result<ConnectorResponse, ConnectorError> {
        self.sandbox
            .authorize(authorize_request(
                transaction_id,
                number,
                operation,
                amount,
                self.now(),
            ))
            .await
    }

    async fn sync(&self, transaction_id: &str, operation: Operation) -> ConnectorResponse {
        self.sandbox
            .sync(SyncRequest {
                account: account(ACCOUNT),
                transaction_id: transaction_id.into(),
                operation,
                connector_transaction_id: None,
                payment_connector_transaction_id: None,
                amount: None,
            })
            .await
            .expect("the sandbox answers sync")
    }

    /// Runs follow-up `operation` of `amount` on the payment `payment_txn`.
    async fn follow(
        &self,
        operation: Operation,
        payment_txn: &str,
        amount: i64,
    ) -> Result<ConnectorResponse, ConnectorError> {
        self.follow_with(operation, &new_id("txn"), payment_txn, amount)
            .await
    }

    async fn follow_with(
        &self,
        operation: Operation,
        transaction_id: &str,
        payment_txn: &str,
        amount: i64,
    ) -> Result<ConnectorResponse, ConnectorError> {
        let request = follow_up_request(ACCOUNT, transaction_id, payment_txn, amount);
        let sandbox = &self.sandbox;
        match operation {
            Operation::Capture => sandbox.capture(request).await,
            Operation::IncrementAuthorization => sandbox.increment_authorization(request).await,
            Operation::Void => sandbox.void(request).await,
            Operation::Reverse => sandbox.reverse(request).await,
            Operation::Refund => sandbox.refund(request).await,
            other => panic!("{other:?} is not a follow-up"),
        }
    }

    /// The sandbox's stored payment for an Obol transaction id.
    async fn stored(&self, transaction_id: &str) -> obol_store::sandbox::PaymentRow {
        let mut conn = self.db.pool.acquire().await.expect("a connection");
        obol_store::sandbox::payment_by_transaction(&mut conn, ACCOUNT, transaction_id)
            .await
            .expect("query the payment")
            .expect("the payment is stored")
    }

    async fn count(&self, sql: &'static str, payment_id: &str) -> i64 {
        let mut conn = self.db.pool.acquire().await.expect("connection");
        obol_store::sql::query_scalar(sql)
            .bind(payment_id)
            .fetch_one(&mut conn)
            .await
            .expect("count rows")
    }
}

fn eur(amount_minor: i64) -> Money {
    Money {
        amount_minor,
        currency: Currency::parse("EUR").expect("EUR is known"),
    }
}

fn account(id: &str) -> AccountContext {
    AccountContext {
        account_id: id.into(),
        credentials: serde_json::json!({}),
    }
}

fn card(number: &str, now: Timestamp) -> CardDetails {
    let cvc = if number.starts_with("34") || number.starts_with("37") {
        "1234"
    } else {
        "123"
    };
    parse_card(number, 12, 2030, Some(cvc), Some("A B"), now).expect("test cards are valid")
}

fn authorize_request(
    transaction_id: &str,
    number: &str,
    operation: Operation,
    amount: i64,
    now: Timestamp,
) -> AuthorizeRequest {
    AuthorizeRequest {
        account: account(ACCOUNT),
        transaction_id: transaction_id.into(),
        order_id: new_id("ord").into(),
        amount: eur(amount),
        operation,
        instrument: Instrument::Card(card(number, now)),
        setup_mandate: false,
        return_url: "https://shop.example/done".to_owned(),
        customer: None,
    }
}

fn follow_up_request(
    account_id: &str,
    transaction_id: &str,
    payment_txn: &str,
    amount: i64,
) -> FollowUpRequest {
    FollowUpRequest {
        account: account(account_id),
        transaction_id: transaction_id.into(),
        payment_transaction_id: payment_txn.into(),
        connector_payment_id: None,
        amount: eur(amount),
    }
}

fn declined(code: &str) -> impl Fn(&Outcome) -> bool + '_ {
    move |outcome| matches!(outcome, Outcome::Declined { code: got, .. } if got == code)
}

fn assert_invalid(result: Result<ConnectorResponse, ConnectorError>, what: &str) {
    match result {
        Err(ConnectorError::Invalid(_)) => {}
        other => panic!("{what}: expected Invalid, got {other:?}"),
    }
}

fn ok(result: Result<ConnectorResponse, ConnectorError>, what: &str) -> ConnectorResponse {
    match result {
        Ok(response) => response,
        Err(error) => panic!("{what}: {error}"),
    }
}

/// Runs `test` on a fresh SQLite file, then on a fresh PostgreSQL database
/// when `OBOL_TEST_DATABASE_URL` is set; cleans up even when it fails.
async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Env) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = std::env::temp_dir().join(format!("obol-sbx-{}", new_id("t")));
    std::fs::create_dir_all(&dir).expect("make the temp dir");
    let env = Env::new(&format!("sqlite://{}/sandbox.db", dir.display())).await;
    let db = env.db.clone();
    let outcome = tokio::spawn(test(env)).await;
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
    if let Ok(admin_url) = std::env::var("OBOL_TEST_DATABASE_URL") {
        on_postgres(&admin_url, &test).await;
    }
}

async fn on_postgres<F, Fut>(admin_url: &str, test: &F)
where
    F: Fn(Env) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = format!("obol_sbx_{}", new_id("t").to_lowercase());
    let admin = Db::connect(admin_url)
        .await
        .expect("connect to OBOL_TEST_DATABASE_URL");
    let create = format!("CREATE DATABASE {name}");
    let mut conn = admin.pool.acquire().await.expect("connection");
    conn.execute_batch(&create)
        .await
        .expect("create the test database");
    let env = Env::new(&with_database(admin_url, &name)).await;
    let db = env.db.clone();
    let outcome = tokio::spawn(test(env)).await;
    db.close().await;
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    conn.execute_batch(&drop)
        .await
        .expect("drop the test database");
    std::mem::drop(conn);
    admin.close().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(base, query)| (base, Some(query)));
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let base = match base[authority_start..].find('/') {
        Some(index) => &base[..authority_start + index],
        None => base,
    };
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    format!("{base}/{name}{query}")
}

#[test]
fn database_names_are_replaced() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h/db?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}

mod cards;
mod crypto;
mod follow_ups;
mod mandates;
