//! localstripe (a stateful fake of Stripe's API, from PyPI) for tests: one
//! process per test on a free port, behind a proxy that adds what Stripe
//! does and localstripe 1.15.10 does not:
//!
//! - `Idempotency-Key`: a repeated POST with the same key and parameters is
//!   answered as the first was (Stripe keeps the answer of a call it ran:
//!   2xx, 402 and 5xx); the same key with other parameters or on another
//!   path is 400 `idempotency_error`.
//! - `return_url` and `setup_future_usage`, which Stripe takes and
//!   localstripe refuses ("Unexpected …"), are dropped on the way.
//!
//! The proxy records every request as sent (to check where a card number
//! went) and can be told to fail one call: a 429 or a 500 without passing
//! it on, or an answer lost after localstripe acted on it.
//!
//! Self-contained (tokio, axum, reqwest, rustls, url, serde_json), so that
//! other test suites can include it by `#[path]`.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The localstripe release the tests are written against (`.ci/run` installs it).
pub const VERSION: &str = "1.15.10";

/// A secret key localstripe takes (any `sk_…`).
pub const SECRET_KEY: &str = "sk_test_obol_localstripe";

/// Parameters localstripe refuses where Stripe takes them.
const DROPPED_PARAMETERS: &[&str] = &["return_url", "setup_future_usage"];

const PATIENCE: Duration = Duration::from_secs(30);

/// A request as the proxy received it, before any parameter was dropped.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub body: String,
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
}

impl Recorded {
    /// The value of form parameter `key` in the body.
    pub fn param(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.into_owned())
    }
}

/// How the proxy fails one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 Too Many Requests; localstripe never sees the call.
    RateLimited,
    /// 500; localstripe never sees the call.
    ServerError,
    /// 400 with Stripe's `invalid_request_error` body naming a parameter, as
    /// Stripe answers a request it will not take; localstripe never sees it.
    InvalidRequest,
    /// localstripe acts on the call (and its answer is kept under its key),
    /// but the caller gets a 502 with an HTML body, as from a gateway.
    LoseAnswer,
}

struct Saved {
    method: String,
    path: String,
    body: String,
    status: u16,
    answer: Vec<u8>,
}

struct Proxy {
    upstream: String,
    client: reqwest::Client,
    recorded: Mutex<Vec<Recorded>>,
    /// (method, path without query, fault), used once each, in order.
    faults: Mutex<Vec<(String, String, Fault)>>,
    /// Answers by idempotency key; held while a keyed call runs, so that
    /// keyed calls run one at a time.
    saved: tokio::sync::Mutex<HashMap<String, Saved>>,
}

/// A localstripe process and its proxy; both stop when it is dropped.
pub struct LocalStripe {
    child: Child,
    log: std::path::PathBuf,
    port: u16,
    proxy: Arc<Proxy>,
    proxy_port: u16,
    server: tokio::task::JoinHandle<()>,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The reqwest client of the tests (rustls on ring, as the server's).
pub fn http_client() -> reqwest::Client {
    // An error only says that a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a plain client builds")
}

impl LocalStripe {
    /// Starts localstripe (`python3 -m localstripe --port N --from-scratch`)
    /// and the proxy; returns once both take connections. Fails the test,
    /// saying what to install, when localstripe is missing.
    pub async fn start() -> LocalStripe {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("obol_localstripe_{port}.log"));
        // Its access log goes to a file: a pipe nobody reads would fill and
        // block it.
        let log_file = std::fs::File::create(&log).expect("create the localstripe log");
        let child = Command::new("python3")
            .args([
                "-m",
                "localstripe",
                "--port",
                &port.to_string(),
                "--from-scratch",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("python3 runs (as .ci/run installs it)");
        let upstream = format!("http://127.0.0.1:{port}");
        let proxy = Arc::new(Proxy {
            upstream,
            client: http_client(),
            recorded: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            saved: tokio::sync::Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let proxy_port = listener.local_addr().expect("address").port();
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let mut stripe = LocalStripe {
            child,
            log,
            port,
            proxy,
            proxy_port,
            server,
        };
        stripe.wait_until_listening().await;
        stripe
    }

    async fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("localstripe state") {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!(
                    "localstripe did not start ({status}); install it with \
                     `pip install localstripe=={VERSION}`, as .ci/run does: {log}"
                );
            }
            assert!(Instant::now() < deadline, "localstripe never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `api_base` for the connector: the proxy.
    pub fn api_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy_port)
    }

    /// Every request the proxy received, in order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.proxy.recorded.lock().expect("not poisoned").clone()
    }

    /// Fails the next call of `method` on `path` (no query) as `fault` says.
    pub fn fail_next(&self, method: &str, path: &str, fault: Fault) {
        self.proxy.faults.lock().expect("not poisoned").push((
            method.to_owned(),
            path.to_owned(),
            fault,
        ));
    }

    /// GET `path` straight from localstripe, as JSON.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.proxy.upstream);
        let response = self
            .proxy
            .client
            .get(url)
            .bearer_auth(SECRET_KEY)
            .send()
            .await
            .expect("localstripe answers");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("JSON from localstripe")
    }

    /// POST `form` to `path` straight to localstripe; its status and body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let url = format!("{}{path}", self.proxy.upstream);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .proxy
            .client
            .post(url)
            .bearer_auth(SECRET_KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("localstripe answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("localstripe's body"))
    }

    /// Has localstripe sign its events of `types` with `secret` and send
    /// them to `url`.
    pub async fn send_events_to(&self, url: &str, secret: &str, types: &[&str]) {
        let mut form = vec![("url", url), ("secret", secret)];
        form.extend(types.iter().map(|kind| ("events[]", *kind)));
        let (status, body) = self.post("/_config/webhooks/obol", &form).await;
        assert_eq!(status, 200, "configuring localstripe's webhook: {body}");
    }

    /// Every object of a list (`/v1/payment_intents` …), all pages.
    pub async fn list(&self, path: &str) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        let mut query = "limit=100".to_owned();
        loop {
            let page = self.get(&format!("{path}?{query}")).await;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            let last = data
                .last()
                .and_then(|o| o["id"].as_str())
                .map(str::to_owned);
            all.extend(data);
            match (page["has_more"].as_bool(), last) {
                (Some(true), Some(last)) => query = format!("limit=100&starting_after={last}"),
                _ => return all,
            }
        }
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        self.server.abort();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Proxy {
    fn take_fault(&self, method: &str, path: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().expect("not poisoned");
        let index = faults
            .iter()
            .position(|(m, p, _)| m == method && p == path)?;
        Some(faults.remove(index).2)
    }

    /// The call on to localstripe, without the parameters it refuses.
    async fn pass_on(
        &self,
        method: &axum::http::Method,
        path: &str,
        headers: &axum::http::HeaderMap,
        body: &str,
    ) -> (u16, Vec<u8>) {
        let kept: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .filter(|(name, _)| !DROPPED_PARAMETERS.contains(&name.as_ref()))
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).expect("a method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.upstream));
        for name in ["authorization", "content-type"] {
            if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
                request = request.header(name, value);
            }
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        let response = request.send().await.expect("localstripe answers");
        let status = response.status().as_u16();
        let answer = response.bytes().await.expect("localstripe's body").to_vec();
        (status, answer)
    }
}

fn respond(status: u16, answer: Vec<u8>, lose: bool) -> Response {
    let (status, content_type, body) = match lose {
        true => (
            502,
            "text/html",
            b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        ),
        false => (status, "application/json", answer),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("a valid response")
}

fn stripe_error(status: u16, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"type": kind, "message": message}});
    respond(status, body.to_string().into_bytes(), false)
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let method = parts.method.to_string();
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let key = header("idempotency-key");
    proxy.recorded.lock().expect("not poisoned").push(Recorded {
        method: method.clone(),
        path: path.clone(),
        body: body.clone(),
        idempotency_key: key.clone(),
        authorization: header("authorization"),
    });
    let fault = proxy.take_fault(&method, parts.uri.path());
    match fault {
        Some(Fault::RateLimited) => {
            return stripe_error(
                429,
                "invalid_request_error",
                "Too many requests hit the API too quickly.",
            );
        }
        Some(Fault::ServerError) => return stripe_error(500, "api_error", "Something went wrong."),
        Some(Fault::InvalidRequest) => {
            return stripe_error(
                400,
                "invalid_request_error",
                "Amount must be at least €0.50 eur",
            );
        }
        _ => {}
    }
    let lose = fault == Some(Fault::LoseAnswer);
    // Stripe keys POSTs only; a GET is safe to repeat anyway.
    let Some(key) = key.filter(|_| method == "POST") else {
        let (status, answer) = proxy
            .pass_on(&parts.method, &path, &parts.headers, &body)
            .await;
        return respond(status, answer, lose);
    };
    let mut saved = proxy.saved.lock().await;
    if let Some(first) = saved.get(&key) {
        if (&first.method, &first.path, &first.body) != (&method, &path, &body) {
            return stripe_error(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            );
        }
        return respond(first.status, first.answer.clone(), lose);
    }
    let (status, answer) = proxy
        .pass_on(&parts.method, &path, &parts.headers, &body)
        .await;
    // A call refused before it ran (400, 401, 404 …) keeps no answer.
    if status < 400 || status == 402 || status >= 500 {
        saved.insert(
            key,
            Saved {
                method,
                path,
                body,
                status,
                answer: answer.clone(),
            },
        );
    }
    respond(status, answer, lose)
}
