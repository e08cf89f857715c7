//! The real `obol` binary as a process, for the tests that start, stop and
//! kill it: a fresh working directory, the environment of a fresh clone,
//! its output, and calls to it.

use crate::harness::{self, Backend, TestDb};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

const OBOL: &str = env!("CARGO_BIN_EXE_obol");
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const LISTENING: &str = "obol listening on http://";

/// An empty working directory, removed with this value.
pub(crate) struct WorkDir(pub(crate) PathBuf);

impl WorkDir {
    pub(crate) fn new() -> WorkDir {
        let name = format!(
            "obol_process_{}",
            obol_core::id::random_token(12).to_lowercase()
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).expect("work dir");
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The environment of a fresh clone: nothing configured but what is given.
pub(crate) fn obol(dir: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(OBOL);
    command
        .current_dir(dir)
        .env_remove("OBOL_ADMIN_KEY")
        .env_remove("OBOL_TEST_CLOCK")
        .env_remove("OBOL_PUBLIC_URL")
        .env_remove("OBOL_LISTEN")
        .env_remove("OBOL_MASTER_KEY")
        .env_remove("OBOL_CONNECTOR_TIMEOUT_MS")
        .env_remove("DATABASE_URL")
        .env("OBOL_LOG", "info");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
        // PostgreSQL needs the master key shared by every process; SQLite
        // makes a key file beside the database.
        if url.starts_with("postgres") {
            command.env("OBOL_MASTER_KEY", harness::MASTER_KEY);
        }
    }
    command
}

/// A running `obol serve`: its stdout line by line, its stderr kept for
/// failure messages; killed if the test fails before stopping it.
pub(crate) struct Serve {
    child: Child,
    lines: UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    pub(crate) fn start(mut command: Command) -> Serve {
        let mut child = command
            .arg("serve")
            .env("OBOL_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("obol serve starts");
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = send.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let keep = stderr.clone();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut keep = keep.lock().unwrap();
                keep.push_str(&line);
                keep.push('\n');
            }
        });
        Serve {
            child,
            lines,
            stderr,
        }
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Reads stdout up to the listening line; returns the lines before it
    /// and the base URL.
    pub(crate) async fn listening(&mut self) -> (Vec<String>, String) {
        let mut before = Vec::new();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!(
                    "obol serve exited before listening; stdout {before:?}; stderr:\n{}",
                    self.stderr()
                ),
                Err(_) => panic!(
                    "obol serve did not listen within {START_TIMEOUT:?}; stdout {before:?}; stderr:\n{}",
                    self.stderr()
                ),
            };
            if let Some(address) = line.strip_prefix(LISTENING) {
                return (before, format!("http://{}", address.trim()));
            }
            before.push(line);
        }
    }

    /// Sends SIGTERM, waits for the exit; returns its status and the rest of
    /// stdout.
    pub(crate) async fn terminate(&mut self) -> (ExitStatus, Vec<String>) {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "obol serve did not stop on SIGTERM; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut rest = Vec::new();
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
        {
            rest.push(line);
        }
        (status, rest)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value printed after `label:` on one of `lines`.
pub(crate) fn printed(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find_map(|line| {
            line.trim_start()
                .strip_prefix(label)
                .map(|rest| rest.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no '{label}' line in {lines:#?}"))
}

pub(crate) async fn call(
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = harness::http_client().request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// For PostgreSQL a fresh database; for SQLite none: the default
/// `sqlite://obol.db` in the working directory is used.
pub(crate) async fn database(backend: Backend) -> Option<TestDb> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDb::new(backend).await),
    }
}

impl Serve {
    /// SIGKILL: the process dies wherever it is, with no cleanup.
    pub(crate) async fn kill_hard(&mut self) {
        let sent = Command::new("kill")
            .arg("-KILL")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -KILL failed");
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        while self.child.try_wait().expect("wait").is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "obol serve survived SIGKILL"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until stderr contains `needle`.
    pub(crate) async fn wait_for_log(&self, needle: &str) {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while !self.stderr().contains(needle) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no '{needle}' in the log:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The database URL a server in `dir` uses: the given one, or the default file.
pub(crate) fn url_of(dir: &Path, db: Option<&TestDb>) -> String {
    match db {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.join("obol.db").display()),
    }
}

pub(crate) const CARD: &str = "4242424242424242";

pub(crate) fn card(number: &str, cvc: &str) -> Value {
    json!({"payment_method": {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": cvc}}})
}
