//! A webhook receiver on 127.0.0.1 for the tests: it records every request
//! and answers as the test plans (a status, after a delay), and it can go
//! down (connections refused) and come back up on the same port.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Call {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            delay: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct Plan {
    next: VecDeque<Answer>,
    default: Option<Answer>,
    calls: Vec<Call>,
}

pub struct Receiver {
    pub port: u16,
    plan: Arc<Mutex<Plan>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// A receiver answering `200` until told otherwise.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let mut receiver = Receiver {
            port,
            plan: Arc::default(),
            task: None,
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let plan = self.plan.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let plan = plan.clone();
                async move {
                    let answer = {
                        let mut plan = plan.lock().unwrap();
                        plan.calls.push(Call {
                            path: uri.path().to_owned(),
                            headers: headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        plan.next
                            .pop_front()
                            .or(plan.default)
                            .unwrap_or(Answer::status(200))
                    };
                    tokio::time::sleep(answer.delay).await;
                    (
                        StatusCode::from_u16(answer.status).expect("a status"),
                        format!("answered {}", answer.status),
                    )
                }
            },
        );
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers the next requests as given, in order, then as by default.
    pub fn then(&self, answers: impl IntoIterator<Item = Answer>) {
        self.plan.lock().unwrap().next.extend(answers);
    }

    /// How every request without a planned answer is answered.
    pub fn always(&self, answer: Answer) {
        self.plan.lock().unwrap().default = Some(answer);
    }

    /// Stops listening: connections are refused until `up`.
    pub async fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the same port again");
        self.serve(listener);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.plan.lock().unwrap().calls.clone()
    }

    /// The calls to `path`.
    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }

    /// Waits (real time) until `path` got at least `count` calls; panics after `within`.
    pub async fn wait_for(&self, path: &str, count: usize, within: Duration) -> Vec<Call> {
        let deadline = Instant::now() + within;
        loop {
            let calls = self.calls_to(path);
            if calls.len() >= count {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "{path} got {} of {count} calls in {within:?}: {calls:#?}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Whether the Standard Webhooks library from PyPI (`standardwebhooks`, an
/// implementation independent of Obol's) accepts the call's signature
/// under `secret`. Fails the test when Python or the package is missing.
pub fn verifies(secret: &str, call: &Call) -> bool {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/api/notify/verify_webhook.py"
    );
    let request = serde_json::json!({"headers": call.headers, "body": call.body});
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (as .ci/run installs it)");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write the request");
    let output = child.wait_with_output().expect("python3 finishes");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        stdout == "valid" || stdout == "invalid",
        "the verifier failed (pip install standardwebhooks==1.1.0, as .ci/run does): {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout == "valid"
}
