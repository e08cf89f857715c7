//! Test harness: a real server on 127.0.0.1:0 over a fresh database per test,
//! SQLite always and PostgreSQL when `OBOL_TEST_DATABASE_URL` is set.

use obol_server::jobs::JobRegistry;
use obol_server::{AppState, Config, Server};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

mod db;
use db::block_on_own_runtime;
pub use db::{TestDb, postgres_url};

pub const ADMIN_KEY: &str = "adm_test_admin_key_0123456789";
/// 32 bytes in hex: the master key of every test server.
pub const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// Connector timeout of test servers: short, so the timeout card is quick.
pub const CONNECTOR_TIMEOUT_MS: u64 = 500;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` as two tests: `name::sqlite` and
/// `name::postgres` (the latter returns at once when no PostgreSQL is set).
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if $crate::harness::postgres_url().is_some() {
                    super::$name($crate::harness::Backend::Postgres).await;
                }
            }
        }
    )*};
}

/// How to start a test server.
#[derive(Clone, Default)]
pub struct Options {
    pub test_clock: bool,
    pub jobs: Option<JobRegistry>,
    /// A one-shot failpoint (`OBOL_FAILPOINT`), disarmed until `arm_failpoint`.
    pub failpoint: Option<&'static str>,
    /// The connector timeout, when not `CONNECTOR_TIMEOUT_MS`.
    pub connector_timeout_ms: Option<u64>,
    /// On SQLite, the master key from the key file beside the database (as a
    /// server started without `OBOL_MASTER_KEY` reads it) instead of
    /// `MASTER_KEY`.
    pub key_file: bool,
    /// The base URL of links (`OBOL_PUBLIC_URL`), when not the listen address.
    pub public_url: Option<String>,
    /// Refuse outbound requests to private networks, as a server does by
    /// default; test servers allow them, as their receivers listen on
    /// 127.0.0.1.
    pub refuse_private_network: bool,
    /// The SMTP server emails go through (`OBOL_SMTP_URL`); none: emails
    /// are recorded, not sent.
    pub smtp_url: Option<String>,
}

/// A client for a test's own requests. Every reqwest client needs the TLS
/// provider installed first, and a test may run before any server starts.
pub fn http_client() -> reqwest::Client {
    obol_server::outbound::install_tls_provider();
    reqwest::Client::new()
}

/// The ids of a list answer's `data`, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

/// A running server with a brand to act as. When it goes away, at the end of
/// its test, the harness checks the ledger's invariants: every test that
/// moves money has its books checked without asking for it.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub brand_id: String,
    pub secret_key: String,
    pub publishable_key: String,
    pub db: TestDb,
    options: Options,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Cleared by a test that breaks the books on purpose.
    check_ledger: std::sync::atomic::AtomicBool,
}

/// A response: status, headers and the JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error `code`, for error answers.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn param(&self) -> Option<&str> {
        self.body["error"]["param"].as_str()
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        &self.body
    }
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, Options::default()).await
}

pub async fn spawn_with(backend: Backend, options: Options) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut app = start(db, options).await;
    let created = app.admin_post("/v1/brands", json!({"name": "Acme"})).await;
    let body = created.expect(200).clone();
    app.brand_id = body["brand"]["id"].as_str().expect("brand id").to_owned();
    app.secret_key = body["secret_key"].as_str().expect("secret key").to_owned();
    app.publishable_key = body["publishable_key"]
        .as_str()
        .expect("publishable key")
        .to_owned();
    app
}

/// `spawn_with`, and a sandbox connector account to pay with.
pub async fn spawn_paying(backend: Backend, options: Options) -> TestApp {
    let app = spawn_with(backend, options).await;
    app.sandbox_account().await;
    app
}

/// The `id` of an API object.
pub fn id_of(object: &Value) -> String {
    object["id"].as_str().expect("id").to_owned()
}

/// Builds and starts a server on `db` (which must already be empty or ours).
pub async fn start(db: TestDb, options: Options) -> TestApp {
    let mut config = Config::new(db.url.clone());
    config.admin_key = Some(ADMIN_KEY.into());
    config.master_key = (!options.key_file).then(|| MASTER_KEY.into());
    config.public_url = options.public_url.clone();
    config.connector_timeout_ms = options.connector_timeout_ms.unwrap_or(CONNECTOR_TIMEOUT_MS);
    config.test_clock = options.test_clock;
    config.job_poll_interval_ms = 50;
    config.failpoint = options.failpoint.map(str::to_owned);
    config.allow_private_network = !options.refuse_private_network;
    config.smtp_url = options.smtp_url.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    config.listen = address.to_string();
    let jobs = options
        .jobs
        .clone()
        .unwrap_or_else(obol_server::job_registry);
    let server = Server::new(&config, jobs).await.expect("server starts");
    let state = server.state.clone();
    state
        .failpoint_armed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    TestApp {
        url: format!("http://{address}"),
        client: http_client(),
        state,
        brand_id: String::new(),
        secret_key: String::new(),
        publishable_key: String::new(),
        db,
        options,
        stop: Some(stop),
        task: Some(task),
        check_ledger: std::sync::atomic::AtomicBool::new(true),
    }
}

impl TestApp {
    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Another server on this one's database, as a second process would be
    /// (its own pools, workers and clock); this app keeps the database and
    /// checks the ledger.
    pub async fn second_process(&self) -> TestApp {
        let db = TestDb::borrowed(self.db.url.clone(), self.db.backend);
        let mut app = start(db, self.options.clone()).await;
        app.brand_id = self.brand_id.clone();
        app.secret_key = self.secret_key.clone();
        app.publishable_key = self.publishable_key.clone();
        app.check_ledger
            .store(false, std::sync::atomic::Ordering::Relaxed);
        app
    }

    /// Stops this server and starts a new one on the same database.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let (brand_id, secret_key, publishable_key) = (
            self.brand_id.clone(),
            self.secret_key.clone(),
            self.publishable_key.clone(),
        );
        let options = self.options.clone();
        let db = std::mem::replace(
            &mut self.db,
            TestDb::borrowed(String::new(), Backend::Sqlite),
        );
        let mut app = start(db, options).await;
        app.brand_id = brand_id;
        app.secret_key = secret_key;
        app.publishable_key = publishable_key;
        app
    }

    /// Sends a request; panics on a 500, which is always a bug.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method.clone(), format!("{}{}", self.url, path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        self.finish(request, &method, path).await
    }

    /// Sends a raw body (for malformed JSON).
    pub async fn send_raw(&self, method: &str, path: &str, key: &str, body: &str) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let request = self
            .client
            .request(method.clone(), format!("{}{}", self.url, path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_owned());
        self.finish(request, &method, path).await
    }

    async fn finish(
        &self,
        request: reqwest::RequestBuilder,
        method: &reqwest::Method,
        path: &str,
    ) -> Resp {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        // A 500 is a bug, unless a test's failpoint makes one on purpose.
        if self.options.failpoint.is_none() {
            assert_ne!(status, 500, "{method} {path} answered 500: {body}");
        }
        assert!(
            headers.contains_key("request-id"),
            "{method} {path} has no Request-Id"
        );
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, Some(&self.secret_key.clone()), None, &[])
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(
            "POST",
            path,
            Some(&self.secret_key.clone()),
            Some(body),
            &[],
        )
        .await
    }

    pub async fn post_idempotent(&self, path: &str, key: &str, body: Value) -> Resp {
        self.send(
            "POST",
            path,
            Some(&self.secret_key.clone()),
            Some(body),
            &[("Idempotency-Key", key)],
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(
            "PATCH",
            path,
            Some(&self.secret_key.clone()),
            Some(body),
            &[],
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, Some(&self.secret_key.clone()), None, &[])
            .await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", path, Some(ADMIN_KEY), Some(body), &[])
            .await
    }

    pub async fn admin_get(&self, path: &str) -> Resp {
        self.send("GET", path, Some(ADMIN_KEY), None, &[]).await
    }

    /// Creates another brand; returns (brand id, secret key).
    pub async fn other_brand(&self, name: &str) -> (String, String) {
        let body = self
            .admin_post("/v1/brands", json!({"name": name}))
            .await
            .expect(200)
            .clone();
        (
            body["brand"]["id"].as_str().expect("id").to_owned(),
            body["secret_key"].as_str().expect("key").to_owned(),
        )
    }

    /// A new secret key of this brand with `role`.
    pub async fn key_with_role(&self, role: &str) -> String {
        let body = self
            .post("/v1/api_keys", json!({"name": role, "role": role}))
            .await
            .expect(200)
            .clone();
        body["secret"].as_str().expect("secret").to_owned()
    }

    pub async fn create_customer(&self, email: &str) -> Value {
        self.post("/v1/customers", json!({"email": email}))
            .await
            .expect(200)
            .clone()
    }

    /// One integer from SQL run on the test database.
    pub async fn count(&self, sql: &'static str) -> i64 {
        obol_store::sql::query_scalar::<i64>(sql)
            .fetch_one(&self.state.db.pool)
            .await
            .expect("count query")
    }

    /// Creates a sandbox card account of this brand via the API; its id.
    pub async fn sandbox_account(&self) -> String {
        let body = self
            .post(
                "/v1/connector_accounts",
                json!({"connector": "sandbox", "payment_methods": ["card"]}),
            )
            .await
            .expect(200)
            .clone();
        body["id"]
            .as_str()
            .expect("connector account id")
            .to_owned()
    }

    /// A card payment method with `number` (expiry 12/2030, CVC 123).
    pub fn card(number: &str) -> Value {
        json!({"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    }

    /// Creates an order from `body` via the API (must answer 200); the order.
    pub async fn create_order(&self, body: Value) -> Value {
        self.post("/v1/orders", body).await.expect(200).clone()
    }

    /// `GET /v1/orders/{id}` (must answer 200); the order.
    pub async fn order(&self, id: &str) -> Value {
        self.get(&format!("/v1/orders/{id}"))
            .await
            .expect(200)
            .clone()
    }

    /// `POST /v1/orders/{id}/confirm` with the test card `number`.
    pub async fn confirm_card(&self, order_id: &str, number: &str) -> Resp {
        self.post(
            &format!("/v1/orders/{order_id}/confirm"),
            json!({"payment_method": Self::card(number)}),
        )
        .await
    }

    /// A new EUR order of `amount` confirmed with 4242…: `paid` with
    /// `auto_capture`, else `authorized`. Needs a sandbox account.
    pub async fn paid_order(&self, amount: i64, auto_capture: bool) -> Value {
        let order = self
            .create_order(
                json!({"amount": amount, "currency": "EUR", "auto_capture": auto_capture}),
            )
            .await;
        let id = order["id"].as_str().expect("order id");
        self.confirm_card(id, "4242424242424242")
            .await
            .expect(200)
            .clone()
    }

    /// Advances the test clock by `seconds` (admin key), running due jobs.
    pub async fn advance(&self, seconds: i64) -> Value {
        self.admin_post("/v1/test_clock/advance", json!({"seconds": seconds}))
            .await
            .expect(200)
            .clone()
    }

    /// The SQLite database file and its log, checkpointed so the file holds
    /// everything; empty on PostgreSQL.
    pub async fn database_bytes(&self) -> Vec<u8> {
        let Some(path) = self.db.sqlite_path() else {
            return Vec::new();
        };
        obol_store::sql::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.state.db.pool)
            .await
            .expect("checkpoint");
        let mut bytes = std::fs::read(&path).expect("database file");
        bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
        bytes
    }

    /// Arms the one-shot failpoint of `Options::failpoint`: the next time it
    /// is reached, it fires.
    pub fn arm_failpoint(&self) {
        self.state
            .failpoint_armed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// This test corrupts the ledger on purpose: its teardown does not
    /// check the books.
    pub fn leave_ledger_broken(&self) {
        self.check_ledger
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Panics unless the ledger's books add up (the teardown checks them
    /// too; this is for a check in the middle of a test).
    #[track_caller]
    pub fn assert_ledger_balanced(&self) -> impl std::future::Future<Output = ()> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            if let Err(problems) = obol_server::ledger::check_invariants(&self.state.db).await {
                panic!("ledger invariants broken (checked at {caller}): {problems}");
            }
        }
    }
}

impl Drop for TestApp {
    /// Stops the server, then checks the books of its database (unless the
    /// test already failed, or a restart handed the database on).
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let check = self.check_ledger.load(std::sync::atomic::Ordering::Relaxed);
        if !check || std::thread::panicking() || self.db.url.is_empty() {
            return;
        }
        let url = self.db.url.clone();
        // Over a connection of its own: the server's pools are going away.
        let outcome = block_on_own_runtime(async move {
            let db = obol_store::Db::connect(&url)
                .await
                .map_err(|error| format!("cannot open the test database: {error}"))?;
            let checked = obol_server::ledger::check_invariants(&db).await;
            db.close().await;
            checked
        })
        .unwrap_or_else(|_| Err("the ledger check panicked".into()));
        if let Err(problems) = outcome {
            panic!("the test left the ledger broken: {problems}");
        }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
