//! The sandbox connector over its store-backed state against a real
//! database: on a fresh SQLite file always, and on a fresh PostgreSQL
//! database when `OBOL_TEST_DATABASE_URL` is set.

use obol_connectors::sandbox::{ASYNC_APPROVAL_DELAY_MS, Sandbox};
use obol_connectors::{
    AccountContext, AuthorizeRequest, Connector, ConnectorError, ConnectorResponse,
    FollowUpRequest, Operation, Outcome, SyncRequest,
};
use obol_core::card::{CardDetails, parse_card};
use obol_core::clock::Clock;
use obol_core::{Currency, Money, Timestamp, new_id};
use obol_payments::sandbox_state::StoreSandboxState;
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
        card: Some(card(number, now)),
        return_url: "https://shop.example/done".to_owned(),
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

#[tokio::test(flavor = "multi_thread")]
async fn approved_cards_and_capabilities() {
    on_each_backend(|env| async move {
        let capabilities = env.sandbox.capabilities();
        assert_eq!(capabilities.payment_methods, vec!["card"]);
        assert!(capabilities.currencies.is_none());
        for operation in [
            Operation::Authorize,
            Operation::Sale,
            Operation::Verify,
            Operation::Capture,
            Operation::IncrementAuthorization,
            Operation::Void,
            Operation::Reverse,
            Operation::Refund,
            Operation::Sync,
        ] {
            assert!(capabilities.supports(operation), "{operation:?}");
        }
        for (number, operation, brand) in [
            ("4242424242424242", Operation::Sale, "visa"),
            ("5555555555554444", Operation::Authorize, "mastercard"),
            ("378282246310005", Operation::Sale, "amex"),
            ("6011111111111117", Operation::Authorize, "discover"),
        ] {
            let txn = new_id("txn");
            let response = ok(env.pay(&txn, number, operation, 8925).await, number);
            assert_eq!(response.outcome, Outcome::Succeeded, "{number}");
            assert_eq!(response.http_code, Some(200));
            assert_eq!(response.amount, Some(8925));
            let id = response.connector_transaction_id.expect("an id");
            assert!(id.starts_with("sbx_pay_"), "{id}");
            let stored = env.stored(&txn).await;
            assert_eq!(stored.id, id);
            assert_eq!(
                (stored.card_brand.as_str(), stored.card_last4.as_str()),
                (brand, &number[number.len() - 4..])
            );
            // The number is kept nowhere in the row (there is no CVC column).
            let row = format!("{stored:?}");
            assert!(!row.contains(number), "{row}");
            assert_eq!(env.sync(&txn, operation).await.outcome, Outcome::Succeeded);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_holds_nothing() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let response = ok(
            env.pay(&txn, "4242424242424242", Operation::Verify, 0)
                .await,
            "verify",
        );
        assert_eq!(
            (response.outcome, response.amount),
            (Outcome::Succeeded, Some(0))
        );
        let stored = env.stored(&txn).await;
        assert_eq!((stored.authorized, stored.captured), (0, 0));
        assert_invalid(
            env.follow(Operation::Capture, &txn, 1).await,
            "capture of a verify",
        );
        assert_invalid(
            env.follow(Operation::Void, &txn, 0).await,
            "void of a verify",
        );
        assert_invalid(
            env.pay(&new_id("txn"), "4242424242424242", Operation::Verify, 100)
                .await,
            "verify with an amount",
        );
        let declined_verify = ok(
            env.pay(&new_id("txn"), "4000000000000002", Operation::Verify, 0)
                .await,
            "declined verify",
        );
        assert!(declined("generic_decline")(&declined_verify.outcome));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_refused() {
    on_each_backend(|env| async move {
        let now = env.now();
        let mut bad_luhn = authorize_request(
            &new_id("txn"),
            "4242424242424242",
            Operation::Sale,
            100,
            now,
        );
        if let Some(card) = bad_luhn.card.as_mut() {
            card.number = obol_core::card::Secret::new("4242424242424241".to_owned());
        }
        assert_invalid(
            env.sandbox.authorize(bad_luhn).await,
            "a Luhn-invalid number",
        );
        let mut no_card = authorize_request(
            &new_id("txn"),
            "4242424242424242",
            Operation::Sale,
            100,
            now,
        );
        no_card.card = None;
        assert_invalid(env.sandbox.authorize(no_card).await, "no card");
        assert_invalid(
            env.pay(&new_id("txn"), "4242424242424242", Operation::Sale, 0)
                .await,
            "a zero sale",
        );
        assert_invalid(
            env.pay(&new_id("txn"), "4242424242424242", Operation::Refund, 100)
                .await,
            "a refund as payment",
        );
        assert_invalid(
            env.follow(Operation::Refund, "txn_unknown", 100).await,
            "a follow-up on no payment",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn declined_cards() {
    on_each_backend(|env| async move {
        for (number, code) in [
            ("4000000000000002", "generic_decline"),
            ("4000000000009995", "insufficient_funds"),
            ("4000000000000069", "expired_card"),
            ("4000000000000127", "incorrect_cvc"),
        ] {
            let txn = new_id("txn");
            let response = ok(env.pay(&txn, number, Operation::Sale, 1000).await, number);
            assert!(
                declined(code)(&response.outcome),
                "{number}: {:?}",
                response.outcome
            );
            assert_eq!(response.http_code, Some(402));
            let again = ok(env.pay(&txn, number, Operation::Sale, 1000).await, "repeat");
            assert_eq!(again.outcome, response.outcome);
            assert_eq!(
                again.connector_transaction_id,
                response.connector_transaction_id
            );
            assert!(declined(code)(
                &env.sync(&txn, Operation::Sale).await.outcome
            ));
            assert_invalid(
                env.follow(Operation::Refund, &txn, 100).await,
                "refund of a decline",
            );
            assert_eq!(env.stored(&txn).await.captured, 0);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn challenge_card() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let response = ok(
            env.pay(&txn, "4000000000003220", Operation::Authorize, 5000)
                .await,
            "3ds",
        );
        let id = response.connector_transaction_id.clone().expect("an id");
        let url = format!("{BASE_URL}/sandbox/challenge/{id}");
        assert_eq!(
            response.outcome,
            Outcome::RequiresAction { url: url.clone() }
        );
        assert_eq!(
            env.sync(&txn, Operation::Authorize).await.outcome,
            Outcome::RequiresAction { url }
        );
        assert_invalid(
            env.follow(Operation::Capture, &txn, 5000).await,
            "capture before the challenge",
        );
        env.sandbox
            .complete_challenge(&id, true)
            .await
            .expect("challenge passed");
        env.sandbox
            .complete_challenge(&id, true)
            .await
            .expect("the same answer again is a no-op");
        assert!(env.sandbox.complete_challenge(&id, false).await.is_err());
        assert_eq!(
            env.sync(&txn, Operation::Authorize).await.outcome,
            Outcome::Succeeded
        );
        ok(
            env.follow(Operation::Capture, &txn, 5000).await,
            "capture after the challenge",
        );

        let failed = new_id("txn");
        let response = ok(
            env.pay(&failed, "4000000000003220", Operation::Sale, 5000)
                .await,
            "3ds sale",
        );
        let id = response.connector_transaction_id.expect("an id");
        env.sandbox
            .complete_challenge(&id, false)
            .await
            .expect("challenge failed");
        assert!(declined("generic_decline")(
            &env.sync(&failed, Operation::Sale).await.outcome
        ));
        assert_eq!(env.stored(&failed).await.captured, 0);
        assert!(
            env.sandbox
                .complete_challenge("sbx_pay_unknown", true)
                .await
                .is_err()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn void_cancels_a_pending_challenge() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let response = ok(
            env.pay(&txn, "4000000000003220", Operation::Authorize, 5000)
                .await,
            "3ds",
        );
        let id = response.connector_transaction_id.expect("an id");
        let void = ok(env.follow(Operation::Void, &txn, 5000).await, "void");
        assert_eq!(
            (void.outcome, void.amount),
            (Outcome::Succeeded, Some(5000))
        );
        assert!(
            void.connector_transaction_id
                .expect("an id")
                .starts_with("sbx_op_")
        );
        assert!(matches!(
            env.sync(&txn, Operation::Authorize).await.outcome,
            Outcome::Declined { .. }
        ));
        assert!(env.sandbox.complete_challenge(&id, true).await.is_err());
        assert_invalid(env.follow(Operation::Void, &txn, 5000).await, "second void");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn async_card_settles_after_ten_seconds() {
    on_each_backend(|env| async move {
        let sale = new_id("txn");
        let response = ok(
            env.pay(&sale, "4000000000000077", Operation::Sale, 3000)
                .await,
            "async sale",
        );
        assert_eq!(response.outcome, Outcome::Pending);
        env.clock.advance_ms(ASYNC_APPROVAL_DELAY_MS - 1);
        assert_eq!(
            env.sync(&sale, Operation::Sale).await.outcome,
            Outcome::Pending
        );
        assert_invalid(
            env.follow(Operation::Refund, &sale, 100).await,
            "refund while pending",
        );
        env.clock.advance_ms(1);
        let synced = env.sync(&sale, Operation::Sale).await;
        assert_eq!(
            (synced.outcome, synced.amount),
            (Outcome::Succeeded, Some(3000))
        );
        assert_eq!(env.stored(&sale).await.status, "succeeded");
        ok(
            env.follow(Operation::Refund, &sale, 3000).await,
            "refund once settled",
        );

        // A due authorization settles on the follow-up too, without a sync.
        let hold = new_id("txn");
        assert_eq!(
            ok(
                env.pay(&hold, "4000000000000077", Operation::Authorize, 3000)
                    .await,
                "async hold"
            )
            .outcome,
            Outcome::Pending
        );
        env.clock.advance_ms(ASYNC_APPROVAL_DELAY_MS);
        ok(
            env.follow(Operation::Capture, &hold, 3000).await,
            "capture once due",
        );
        assert_eq!(
            env.sync(&hold, Operation::Authorize).await.outcome,
            Outcome::Succeeded
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn processor_error_card() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        for attempt in ["first", "repeat"] {
            match env
                .pay(&txn, "4000000000000119", Operation::Sale, 1000)
                .await
            {
                Err(ConnectorError::Provider {
                    http_code: Some(500),
                    ..
                }) => {}
                other => panic!("{attempt}: expected a 500, got {other:?}"),
            }
        }
        let synced = env.sync(&txn, Operation::Sale).await;
        assert!(
            declined("processing_error")(&synced.outcome),
            "{:?}",
            synced.outcome
        );
        assert_eq!(env.stored(&txn).await.status, "failed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_card_takes_the_money() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let call = env.pay(&txn, "4000000000006975", Operation::Sale, 4000);
        assert!(
            tokio::time::timeout(Duration::from_millis(200), call)
                .await
                .is_err(),
            "the call must time out"
        );
        let synced = env.sync(&txn, Operation::Sale).await;
        assert_eq!(
            (synced.outcome, synced.amount),
            (Outcome::Succeeded, Some(4000))
        );
        assert_eq!(env.stored(&txn).await.captured, 4000);
        // A retry with the same key answers at once with what happened.
        let retry = env.pay(&txn, "4000000000006975", Operation::Sale, 4000);
        let retry = tokio::time::timeout(Duration::from_millis(2000), retry)
            .await
            .expect("a replay answers at once");
        assert_eq!(ok(retry, "replay").outcome, Outcome::Succeeded);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_and_increment_rules() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        ok(
            env.pay(&txn, "4242424242424242", Operation::Authorize, 10000)
                .await,
            "authorize",
        );
        assert_invalid(
            env.follow(Operation::Capture, &txn, 10001).await,
            "capture above authorized",
        );
        assert_invalid(
            env.follow(Operation::Capture, &txn, 0).await,
            "capture of nothing",
        );
        assert_invalid(
            env.follow(Operation::Reverse, &txn, 10000).await,
            "reverse of an authorization",
        );
        assert_invalid(
            env.follow(Operation::Refund, &txn, 100).await,
            "refund of an authorization",
        );
        assert_invalid(
            env.follow(Operation::IncrementAuthorization, &txn, 10000)
                .await,
            "increment to the same total",
        );
        let increment = ok(
            env.follow(Operation::IncrementAuthorization, &txn, 12000)
                .await,
            "increment",
        );
        assert_eq!(increment.amount, Some(12000));
        let capture = ok(env.follow(Operation::Capture, &txn, 11000).await, "capture");
        assert_eq!(capture.amount, Some(11000));
        assert_invalid(
            env.follow(Operation::Capture, &txn, 100).await,
            "second capture",
        );
        assert_invalid(
            env.follow(Operation::IncrementAuthorization, &txn, 13000)
                .await,
            "increment after capture",
        );
        assert_invalid(
            env.follow(Operation::Void, &txn, 0).await,
            "void after capture",
        );
        assert_invalid(
            env.follow(Operation::Refund, &txn, 11001).await,
            "refund above captured",
        );
        ok(
            env.follow(Operation::Refund, &txn, 5000).await,
            "partial refund",
        );
        ok(
            env.follow(Operation::Refund, &txn, 6000).await,
            "rest refunded",
        );
        assert_invalid(
            env.follow(Operation::Refund, &txn, 1).await,
            "refund beyond captured",
        );
        let stored = env.stored(&txn).await;
        assert_eq!(
            (stored.authorized, stored.captured, stored.refunded),
            (12000, 11000, 11000)
        );

        let sale = new_id("txn");
        ok(
            env.pay(&sale, "4242424242424242", Operation::Sale, 1000)
                .await,
            "sale",
        );
        assert_invalid(
            env.follow(Operation::Capture, &sale, 1000).await,
            "capture of a sale",
        );
        let mut usd = follow_up_request(ACCOUNT, &new_id("txn"), &sale, 100);
        usd.amount.currency = Currency::parse("USD").expect("USD is known");
        assert_invalid(env.sandbox.refund(usd).await, "refund in another currency");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn void_and_reverse_rules() {
    on_each_backend(|env| async move {
        let hold = new_id("txn");
        ok(
            env.pay(&hold, "5555555555554444", Operation::Authorize, 10000)
                .await,
            "authorize",
        );
        let void = ok(env.follow(Operation::Void, &hold, 10000).await, "void");
        assert_eq!(void.amount, Some(10000));
        assert_invalid(
            env.follow(Operation::Void, &hold, 10000).await,
            "double void",
        );
        assert_invalid(
            env.follow(Operation::Capture, &hold, 100).await,
            "capture after void",
        );
        assert_eq!(
            env.sync(&hold, Operation::Authorize).await.outcome,
            Outcome::Succeeded
        );

        let sale = new_id("txn");
        ok(
            env.pay(&sale, "4242424242424242", Operation::Sale, 7000)
                .await,
            "sale",
        );
        let reverse = ok(env.follow(Operation::Reverse, &sale, 7000).await, "reverse");
        assert_eq!(reverse.amount, Some(7000));
        assert_invalid(
            env.follow(Operation::Reverse, &sale, 7000).await,
            "second reverse",
        );
        assert_invalid(
            env.follow(Operation::Refund, &sale, 100).await,
            "refund after reverse",
        );

        let refunded = new_id("txn");
        ok(
            env.pay(&refunded, "4242424242424242", Operation::Sale, 7000)
                .await,
            "sale",
        );
        ok(
            env.follow(Operation::Refund, &refunded, 1000).await,
            "refund",
        );
        assert_invalid(
            env.follow(Operation::Reverse, &refunded, 7000).await,
            "reverse after refund",
        );
        assert_eq!(env.stored(&refunded).await.state, "captured");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeats_are_idempotent() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let first = ok(
            env.pay(&txn, "4242424242424242", Operation::Sale, 5000)
                .await,
            "sale",
        );
        let again = ok(
            env.pay(&txn, "4242424242424242", Operation::Sale, 5000)
                .await,
            "repeat",
        );
        assert_eq!(
            first.connector_transaction_id,
            again.connector_transaction_id
        );
        let payment_id = first.connector_transaction_id.expect("an id");
        let refund_txn = new_id("txn");
        let refund = ok(
            env.follow_with(Operation::Refund, &refund_txn, &txn, 1000)
                .await,
            "refund",
        );
        let repeat = ok(
            env.follow_with(Operation::Refund, &refund_txn, &txn, 1000)
                .await,
            "repeat",
        );
        assert_eq!(
            refund.connector_transaction_id,
            repeat.connector_transaction_id
        );
        assert_eq!(env.stored(&txn).await.refunded, 1000);
        assert_invalid(
            env.follow_with(Operation::Reverse, &refund_txn, &txn, 0)
                .await,
            "the key of a refund reused",
        );
        let synced = env.sync(&refund_txn, Operation::Refund).await;
        assert_eq!(
            (synced.outcome, synced.amount),
            (Outcome::Succeeded, Some(1000))
        );
        assert_eq!(
            synced.connector_transaction_id,
            refund.connector_transaction_id
        );
        assert_eq!(
            env.sync("txn_never_seen", Operation::Refund).await.outcome,
            Outcome::NotFound
        );
        assert_eq!(
            env.sync("txn_never_seen", Operation::Sale).await.outcome,
            Outcome::NotFound
        );

        // The same keys in parallel: still one payment, one refund.
        let parallel = new_id("txn");
        let calls = (0..10).map(|_| {
            let env = env.clone();
            let parallel = parallel.clone();
            tokio::spawn(async move {
                env.pay(&parallel, "4242424242424242", Operation::Sale, 5000)
                    .await
            })
        });
        let mut ids = Vec::new();
        for call in calls.collect::<Vec<_>>() {
            ids.push(ok(call.await.expect("task"), "parallel sale").connector_transaction_id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1);
        let refund_txn = new_id("txn");
        let calls: Vec<_> = (0..10)
            .map(|_| {
                let env = env.clone();
                let (refund_txn, parallel) = (refund_txn.clone(), parallel.clone());
                tokio::spawn(async move {
                    env.follow_with(Operation::Refund, &refund_txn, &parallel, 700)
                        .await
                })
            })
            .collect();
        for call in calls {
            ok(call.await.expect("task"), "parallel refund repeat");
        }
        assert_eq!(env.stored(&parallel).await.refunded, 700);
        let payment = env.stored(&parallel).await.id;
        assert_eq!(
            env.count(
                "SELECT COUNT(*) FROM sandbox_operations WHERE payment_id = $1",
                &payment
            )
            .await,
            1
        );
        assert_eq!(
            env.count(
                "SELECT COUNT(*) FROM sandbox_operations WHERE payment_id = $1",
                &payment_id
            )
            .await,
            1
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refunds_never_exceed_the_capture() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        ok(
            env.pay(&txn, "4242424242424242", Operation::Sale, 10000)
                .await,
            "sale",
        );
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let (env, txn) = (env.clone(), txn.clone());
                tokio::spawn(async move { env.follow(Operation::Refund, &txn, 1000).await })
            })
            .collect();
        let (mut succeeded, mut refused) = (0, 0);
        for call in calls {
            match call.await.expect("task") {
                Ok(response) if response.outcome == Outcome::Succeeded => succeeded += 1,
                Err(ConnectorError::Invalid(_)) => refused += 1,
                other => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!((succeeded, refused), (10, 10));
        let stored = env.stored(&txn).await;
        assert_eq!(stored.refunded, 10000);
        assert_eq!(
            env.count(
                "SELECT COUNT(*) FROM sandbox_operations WHERE payment_id = $1",
                &stored.id
            )
            .await,
            10
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_are_isolated_and_ids_work_too() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let sale = ok(
            env.pay(&txn, "4242424242424242", Operation::Sale, 2000)
                .await,
            "sale",
        );
        let other = follow_up_request("cna_other", &new_id("txn"), &txn, 100);
        assert_invalid(env.sandbox.refund(other).await, "another account's payment");
        let sync = env.sandbox.sync(SyncRequest {
            account: account("cna_other"),
            transaction_id: txn.as_str().into(),
            operation: Operation::Sale,
            connector_transaction_id: None,
        });
        assert_eq!(sync.await.expect("sync").outcome, Outcome::NotFound);
        let mut by_id = follow_up_request(ACCOUNT, &new_id("txn"), "txn_not_the_key", 500);
        by_id.connector_payment_id = sale.connector_transaction_id;
        assert_eq!(
            ok(env.sandbox.refund(by_id).await, "refund by sandbox id").amount,
            Some(500)
        );
    })
    .await;
}
