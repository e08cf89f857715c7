//! A real headless Chromium for page tests, driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`), with axe-core (npm, in
//! `tests/web`) loaded into pages for the accessibility check, and
//! screenshots kept under `target/screenshots/` for people to look at.
//!
//! A missing browser, driver or axe-core fails the test, saying what to
//! install: a page test never skips silently.

use base64::Engine;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The phone width every page must work at.
pub const PHONE_WIDTH: u32 = 360;
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a wait for the page may take before the test fails.
const WAIT: Duration = Duration::from_secs(20);

/// One browser at a time in this test binary: two cores cannot run many.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A browser session and the driver process behind it.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    driver: Child,
    /// The browser's throwaway profile, removed with the session.
    profile: PathBuf,
    screenshots: PathBuf,
    shots: usize,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// An element found on the page.
#[derive(Debug, Clone)]
pub struct Element(String);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// axe-core's script, installed by `npm ci --prefix crates/obol/tests/web`.
fn axe_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/web/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "axe-core is missing at {} ({error}): run `npm ci --prefix crates/obol/tests/web`",
            path.display()
        )
    })
}

impl Browser {
    /// Starts the driver and a headless browser `width` pixels wide; the
    /// screenshots of this session go to `target/screenshots/<name>/`.
    pub async fn start(name: &str, width: u32) -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: install Debian's {package} (apt-get install chromium chromium-driver)"
            );
        }
        let port = free_port();
        // Its own process group: the browser it starts goes with it.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let client = crate::harness::http_client();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = client.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(started.elapsed() < WAIT, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("obol-chromium-{port}"));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // A headless window is never narrower than 500 px: the
                // device metrics make the viewport the width asked.
                "mobileEmulation": {"deviceMetrics": {"width": width, "height": 800, "pixelRatio": 1.0}},
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--disable-crash-reporter", "--disable-breakpad",
                         format!("--window-size={width},900"),
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let session: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {session}"))
            .to_owned();
        let screenshots = target_dir().join("screenshots").join(name);
        let _ = std::fs::remove_dir_all(&screenshots);
        std::fs::create_dir_all(&screenshots).expect("screenshot folder");
        Browser {
            client,
            base: format!("{base}/session/{id}"),
            driver,
            profile,
            screenshots,
            shots: 0,
            _turn: turn,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("driver answers")
            .json()
            .await
            .expect("driver JSON");
        answer["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    pub async fn url(&self) -> String {
        let value = self.command(reqwest::Method::GET, "/url", None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The element matching `css`, if the page has one now.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let value = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        value[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned()))
    }

    /// Waits for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Some(element) = self.find(css).await {
                return element;
            }
            if started.elapsed() > WAIT {
                let url = self.url().await;
                panic!("no {css} on {url} after {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the browser is at a URL starting with `prefix`.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        let started = Instant::now();
        loop {
            let url = self.url().await;
            if url.starts_with(prefix) {
                return url;
            }
            assert!(
                started.elapsed() < WAIT,
                "still at {url}, not at {prefix}, after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(element) = self.find(css).await {
                let text = self.text(&element).await;
                if text.contains(needle) {
                    return text;
                }
            }
            assert!(
                started.elapsed() < WAIT,
                "{css} never said {needle:?} (at {})",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text(&self, element: &Element) -> String {
        let path = format!("/element/{}/text", element.0);
        let value = self.command(reqwest::Method::GET, &path, None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Types into an element, after clearing it.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await;
        self.post(
            &format!("/element/{}/value", element.0),
            json!({"text": text}),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    /// Presses keys on whatever has the focus (e.g. "\u{E004}" is Tab,
    /// "\u{E007}" is Enter).
    pub async fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
    }

    /// Runs a script in the page and returns its value.
    pub async fn script(&self, source: &str) -> Value {
        self.post("/execute/sync", json!({"script": source, "args": []}))
            .await
    }

    /// Saves a screenshot named `step` (numbered in order).
    pub async fn screenshot(&mut self, step: &str) {
        self.shots += 1;
        let value = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("screenshot data"))
            .expect("screenshot base64");
        let path = self
            .screenshots
            .join(format!("{:02}-{step}.png", self.shots));
        std::fs::write(&path, png).expect("screenshot written");
    }

    /// Runs axe-core on the page; panics listing every serious or critical
    /// violation.
    pub async fn assert_accessible(&self, what: &str) {
        let script = format!(
            "{}\nvar done = arguments[arguments.length - 1];\
             axe.run(document, {{resultTypes: ['violations']}}).then(function (r) {{\
               done(r.violations.map(function (v) {{ return {{id: v.id, impact: v.impact, help: v.help,\
                 nodes: v.nodes.map(function (n) {{ return n.target.join(' '); }})}}; }}));\
             }}, function (e) {{ done('axe failed: ' + e); }});",
            axe_source()
        );
        let result = self
            .post("/execute/async", json!({"script": script, "args": []}))
            .await;
        let violations = result
            .as_array()
            .unwrap_or_else(|| panic!("axe did not run on {what}: {result}"));
        let serious: Vec<&Value> = violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            serious.is_empty(),
            "axe-core finds serious or critical violations on {what}: {serious:#?}"
        );
    }

    /// The browser console's messages since the last call (a blocked
    /// load or form post shows here as a Content-Security-Policy report).
    pub async fn console(&self) -> Vec<String> {
        let value = self.post("/se/log", json!({"type": "browser"})).await;
        value
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails if the browser reported a Content-Security-Policy violation.
    pub async fn assert_no_csp_violation(&self, what: &str) {
        let blocked: Vec<String> = self
            .console()
            .await
            .into_iter()
            .filter(|message| message.contains("Content Security Policy"))
            .collect();
        assert!(
            blocked.is_empty(),
            "{what}: the page's CSP blocked something: {blocked:#?}"
        );
    }

    /// Whether the page fits the window's width (no sideways scrolling).
    pub async fn fits_width(&self) -> bool {
        self.script("return document.documentElement.scrollWidth <= window.innerWidth;")
            .await
            == Value::Bool(true)
    }
}

impl Browser {
    /// Ends the session (the browser quits), then the driver.
    pub async fn close(self) {
        let _ = self
            .client
            .delete(self.base.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver's process group holds the browser too: end them all.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
