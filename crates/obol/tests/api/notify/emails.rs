//! Emails: a real SMTP server process (aiosmtpd from PyPI) on 127.0.0.1
//! receives the payment and refund confirmations, parsed by Python's own
//! email package; SMTP down is retried on the test clock; brands' templates
//! are checked at save time; emails stay within their brand.

use super::receiver::{Answer, Receiver};
use super::webhooks::endpoint;
use crate::harness::{self, Backend, Options, TestApp, id_of};
use crate::on_both;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(20);

/// An aiosmtpd process storing what it receives in a maildir.
pub(crate) struct SmtpServer {
    port: u16,
    maildir: PathBuf,
    child: Option<Child>,
}

impl SmtpServer {
    /// A free port and an empty maildir; no process listens yet.
    fn reserve() -> SmtpServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let maildir = std::env::temp_dir().join(format!(
            "obol_maildir_{}",
            obol_core::id::random_token(12).to_lowercase()
        ));
        SmtpServer {
            port,
            maildir,
            child: None,
        }
    }

    /// `reserve`, then `listen`.
    pub(crate) async fn start() -> SmtpServer {
        let mut server = SmtpServer::reserve();
        server.listen().await;
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts aiosmtpd on the port; returns once it takes connections.
    /// Fails the test when Python or the package is missing.
    /// Whether the server answers a new connection with its `220` greeting.
    async fn greets(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let mut greeting = [0u8; 3];
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            stream.read_exact(&mut greeting),
        )
        .await;
        let greeted = matches!(read, Ok(Ok(_))) && &greeting == b"220";
        let _ = stream.write_all(b"QUIT\r\n").await;
        greeted
    }

    async fn listen(&mut self) {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (as .ci/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        loop {
            // Ready once it greets a client: a port that accepts may not
            // answer yet, and a send then finds an incomplete response.
            if self.greets().await {
                return;
            }
            let child = self.child.as_mut().expect("started");
            if let Some(status) = child.try_wait().expect("aiosmtpd state") {
                let mut stderr = String::new();
                use std::io::Read;
                let _ = child
                    .stderr
                    .take()
                    .map(|mut pipe| pipe.read_to_string(&mut stderr));
                panic!(
                    "aiosmtpd did not start ({status}; pip install aiosmtpd==1.4.6, as .ci/run does): {stderr}"
                );
            }
            assert!(Instant::now() < deadline, "aiosmtpd never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every message received, parsed by Python's email package.
    fn messages(&self) -> Vec<Value> {
        if !self.maildir.join("new").exists() {
            return Vec::new();
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api/notify/read_maildir.py"
        );
        let output = Command::new("python3")
            .arg(script)
            .arg(&self.maildir)
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "reading the maildir failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("JSON from read_maildir.py")
    }

    /// Waits (real time) for at least `count` messages.
    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages arrived: {messages:#?}",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// A paid card order (4242…) of `amount` in `currency` for `email`.
async fn paid(app: &TestApp, amount: i64, currency: &str, email: &str) -> Value {
    let order = app
        .create_order(
            json!({"amount": amount, "currency": currency, "customer_email": email,
            "items": [{"name": "Pro plan", "quantity": 1, "unit_amount": amount}]}),
        )
        .await;
    let paid = app
        .confirm_card(&id_of(&order), "4242424242424242")
        .await
        .expect(200)
        .clone();
    assert_eq!(paid["status"], "paid");
    paid
}

/// The order's emails, oldest first.
async fn emails_of(app: &TestApp, order_id: &str) -> Vec<Value> {
    let mut all = app
        .get(&format!("/v1/emails?order_id={order_id}"))
        .await
        .expect(200)["data"]
        .as_array()
        .expect("data")
        .clone();
    all.reverse();
    all
}

/// Waits (real time) until the order's emails satisfy `done`.
async fn wait_emails(app: &TestApp, order_id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let all = emails_of(app, order_id).await;
        if done(&all) {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "emails never got there: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The received message whose text part names `needle`.
fn message_naming<'a>(messages: &'a [Value], needle: &str) -> &'a Value {
    messages
        .iter()
        .find(|message| part(message, "text/plain").contains(needle))
        .unwrap_or_else(|| panic!("no message names {needle}: {messages:#?}"))
}

pub(crate) fn part<'a>(message: &'a Value, content_type: &str) -> &'a str {
    message["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|part| part["content_type"] == content_type)
        .and_then(|part| part["text"].as_str())
        .unwrap_or_default()
}

on_both!(
    confirmations_reach_the_smtp_server_in_each_currency_format,
    smtp_down_is_retried_then_sent,
    brand_templates_are_used_and_checked_at_save_time,
    emails_stay_within_their_brand,
    failing_endpoint_emails_the_support_address,
    sender_settings_are_checked,
);

async fn confirmations_reach_the_smtp_server_in_each_currency_format(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let options = Options {
        smtp_url: Some(smtp.url()),
        ..Options::default()
    };
    let app = harness::spawn_paying(backend, options).await;
    let brand = app
        .patch(
            &format!("/v1/brands/{}", app.brand_id),
            json!({"sender_name": "Acme Shop", "sender_email": "shop@acme.example",
                "support_email": "help@acme.example"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(brand["sender_name"], "Acme Shop");
    assert_eq!(brand["sender_email"], "shop@acme.example");

    let cases = [
        ("EUR", 8925, "€89.25", "ann@example.com"),
        ("JPY", 500, "¥500", "bo@example.com"),
        ("KWD", 1000, "KWD 1.000", "cy@example.com"),
    ];
    let mut orders = Vec::new();
    for (currency, amount, _, email) in cases {
        orders.push(id_of(&paid(&app, amount, currency, email).await));
    }
    let messages = smtp.wait_for(3).await;
    assert_eq!(messages.len(), 3, "{messages:#?}");
    for ((_, _, formatted, email), order_id) in cases.iter().zip(&orders) {
        let message = message_naming(&messages, order_id);
        assert_eq!(message["content_type"], "multipart/alternative");
        assert_eq!(message["from"], "\"Acme Shop\" <shop@acme.example>");
        assert_eq!(message["to"], *email);
        assert_eq!(
            message["subject"],
            format!("Your payment to Acme: {formatted}")
        );
        let (text, html) = (part(message, "text/plain"), part(message, "text/html"));
        for body in [text, html] {
            for expected in [*formatted, "Visa", "4242", order_id.as_str(), "Pro plan"] {
                assert!(body.contains(expected), "{expected} missing: {body}");
            }
            assert!(body.contains("help@acme.example"), "{body}");
        }
        assert!(
            text.contains(&format!("/pay/{order_id}?sig=")),
            "no receipt link: {text}"
        );
        // The link is in the href, its slashes escaped as HTML allows.
        assert!(html.contains("Your receipt</a>"), "{html}");
        assert!(html.contains("<table"), "{html}");
        assert!(!text.contains('<'), "{text}");

        let emails = wait_emails(&app, order_id, |all| {
            all.len() == 1 && all[0]["status"] == "sent"
        })
        .await;
        let stored = &emails[0];
        assert_eq!(stored["object"], "email");
        assert!(id_of(stored).starts_with("eml_"));
        assert_eq!(stored["template"], "payment_confirmation");
        assert_eq!(stored["to"], *email);
        assert_eq!(stored["from"], "Acme Shop <shop@acme.example>");
        assert_eq!(stored["attempts"], 1);
        assert_eq!(stored["last_error"], Value::Null);
        assert_eq!(stored["order_id"], order_id.as_str());
        assert!(stored["sent_at"].is_string());
        assert_eq!(stored["text"], text.replace("\r\n", "\n"));
        let one = app
            .get(&format!("/v1/emails/{}", id_of(stored)))
            .await
            .expect(200)
            .clone();
        assert_eq!(&one, stored);
    }

    // A partial refund: its confirmation, with the amount refunded.
    app.post(
        "/v1/refunds",
        json!({"order_id": orders[0], "amount": 2000}),
    )
    .await
    .expect(200);
    let messages = smtp.wait_for(4).await;
    let refund = messages
        .iter()
        .find(|message| message["subject"] == "Your refund from Acme: €20.00")
        .unwrap_or_else(|| panic!("no refund confirmation: {messages:#?}"));
    assert_eq!(refund["to"], "ann@example.com");
    let text = part(refund, "text/plain");
    assert!(text.contains(&orders[0]), "{text}");
    assert!(part(refund, "text/html").contains("€20.00"));
    let emails = wait_emails(&app, &orders[0], |all| {
        all.len() == 2 && all.iter().all(|email| email["status"] == "sent")
    })
    .await;
    assert_eq!(emails[1]["template"], "refund_confirmation");
}

async fn smtp_down_is_retried_then_sent(backend: Backend) {
    let mut smtp = SmtpServer::reserve();
    let options = Options {
        test_clock: true,
        smtp_url: Some(smtp.url()),
        ..Options::default()
    };
    let app = harness::spawn_paying(backend, options).await;
    let order_id = id_of(&paid(&app, 8925, "EUR", "ann@example.com").await);

    // Refused: the first attempt fails and the next is due in 30 s.
    let emails = wait_emails(&app, &order_id, |all| {
        all.len() == 1 && all[0]["attempts"] == 1
    })
    .await;
    let email = &emails[0];
    assert_eq!(email["status"], "queued");
    assert!(email["last_error"].is_string(), "{email}");
    assert!(email["sent_at"].is_null());
    let retry_at = obol_core::Timestamp::parse_rfc3339(
        email["next_attempt_at"].as_str().expect("a retry is due"),
    )
    .expect("a time");
    assert_eq!(retry_at.as_ms() - app.state.now().as_ms(), 30_000);
    app.advance(29).await;
    assert_eq!(emails_of(&app, &order_id).await[0]["attempts"], 1);

    smtp.listen().await;
    app.advance(1).await;
    let emails = emails_of(&app, &order_id).await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["status"], "sent", "{:#?}", emails[0]);
    assert_eq!(emails[0]["attempts"], 2);
    assert_eq!(emails[0]["last_error"], Value::Null);
    assert_eq!(emails[0]["next_attempt_at"], Value::Null);
    let messages = smtp.wait_for(1).await;
    assert_eq!(messages.len(), 1);
    assert!(part(&messages[0], "text/plain").contains("€89.25"));
    app.advance(3600).await;
    assert_eq!(smtp.messages().len(), 1, "sent twice");
}

async fn brand_templates_are_used_and_checked_at_save_time(backend: Backend) {
    // No SMTP server: emails are recorded, kept queued, and say why.
    let app = harness::spawn_paying(backend, Options::default()).await;
    let templates = app.get("/v1/email_templates").await.expect(200).clone();
    let names: Vec<&str> = templates["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|template| {
            assert_eq!(template["source"], "default");
            assert_eq!(template["object"], "email_template");
            template["name"].as_str().expect("name")
        })
        .collect();
    assert_eq!(
        names,
        [
            "payment_confirmation",
            "refund_confirmation",
            "invoice",
            "endpoint_failing"
        ]
    );

    let put = |body: Value| {
        app.send(
            "PUT",
            "/v1/email_templates/payment_confirmation",
            Some(&app.secret_key),
            Some(body),
            &[],
        )
    };
    let broken = put(json!({"subject": "Paid", "text": "ok", "html": "{{ unclosed"})).await;
    assert_eq!(broken.status, 400, "{}", broken.body);
    assert_eq!(broken.param(), Some("html"));
    let misspelt =
        put(json!({"subject": "Paid", "text": "{{ order.amuont }}", "html": "ok"})).await;
    assert_eq!(misspelt.status, 400, "{}", misspelt.body);
    assert_eq!(misspelt.param(), Some("text"));
    // Fine with a card, but not every payment has one.
    let unguarded = put(json!({"subject": "{{ card.last4 }}", "text": "t", "html": "h"})).await;
    assert_eq!(unguarded.status, 400, "{}", unguarded.body);
    assert_eq!(unguarded.param(), Some("subject"));
    let unknown = app
        .send(
            "PUT",
            "/v1/email_templates/no_such_template",
            Some(&app.secret_key),
            Some(json!({"subject": "s", "text": "t", "html": "h"})),
            &[],
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    let saved = put(json!({
        "subject": "Receipt {{ order.id }}",
        "text": "You paid {{ order.amount | money(order.currency) }}.",
        "html": "<p>{{ brand.name }} got {{ order.amount | money(order.currency) }}</p>",
    }))
    .await;
    let saved = saved.expect(200);
    assert_eq!(saved["source"], "brand");
    let templates = app.get("/v1/email_templates").await.expect(200).clone();
    let sources: Vec<&str> = templates["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|template| template["source"].as_str().expect("source"))
        .collect();
    assert_eq!(sources, ["brand", "default", "default", "default"]);

    let order_id = id_of(&paid(&app, 500, "JPY", "ann@example.com").await);
    let emails = wait_emails(&app, &order_id, |all| {
        all.len() == 1 && all[0]["last_error"].is_string()
    })
    .await;
    let email = &emails[0];
    assert_eq!(email["subject"], format!("Receipt {order_id}"));
    assert_eq!(email["text"], "You paid ¥500.");
    assert_eq!(email["html"], "<p>Acme got ¥500</p>");
    assert_eq!(email["status"], "queued");
    assert_eq!(email["attempts"], 0);
    assert!(email["next_attempt_at"].is_null());
    assert!(
        email["last_error"]
            .as_str()
            .is_some_and(|error| error.contains("OBOL_SMTP_URL")),
        "{email}"
    );
    // The default sender: the brand's name at the public host.
    assert_eq!(email["from"], "Acme <no-reply@127.0.0.1>");
}

async fn emails_stay_within_their_brand(backend: Backend) {
    let app = harness::spawn_paying(backend, Options::default()).await;
    let customer = app.create_customer("ann@example.com").await;
    let order = app
        .create_order(json!({"amount": 8925, "currency": "EUR",
            "customer_id": id_of(&customer), "customer_email": "ann@example.com"}))
        .await;
    let order_id = id_of(&order);
    app.confirm_card(&order_id, "4242424242424242")
        .await
        .expect(200);
    let emails = wait_emails(&app, &order_id, |all| all.len() == 1).await;
    let email_id = id_of(&emails[0]);
    assert_eq!(emails[0]["customer_id"], id_of(&customer).as_str());
    let by_customer = app
        .get(&format!("/v1/emails?customer_id={}", id_of(&customer)))
        .await
        .expect(200)
        .clone();
    assert_eq!(harness::ids(&by_customer), std::slice::from_ref(&email_id));

    let (_, other_key) = app.other_brand("Other").await;
    let other = |path: String| {
        let key = other_key.clone();
        let app = &app;
        async move { app.send("GET", &path, Some(&key), None, &[]).await }
    };
    let answer = other(format!("/v1/emails/{email_id}")).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    let answer = other(format!("/v1/emails?order_id={order_id}")).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(answer.param(), Some("order_id"));
    let answer = other(format!("/v1/emails?customer_id={}", id_of(&customer))).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    let answer = other("/v1/emails".into()).await;
    assert_eq!(harness::ids(answer.expect(200)), Vec::<String>::new());

    let unknown = app.get("/v1/emails/eml_nothing").await;
    assert_eq!(unknown.status, 404);
    let unknown_filter = app.get("/v1/emails?template=x").await;
    assert_eq!(unknown_filter.status, 400);
    let bad_cursor = app.get("/v1/emails?starting_after=eml_nothing").await;
    assert_eq!(bad_cursor.status, 400);
    let all = app.get("/v1/emails").await.expect(200).clone();
    assert_eq!(harness::ids(&all), [email_id]);
}

async fn failing_endpoint_emails_the_support_address(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let options = Options {
        test_clock: true,
        smtp_url: Some(smtp.url()),
        ..Options::default()
    };
    let app = harness::spawn_paying(backend, options).await;
    app.patch(
        &format!("/v1/brands/{}", app.brand_id),
        json!({"support_email": "help@acme.example"}),
    )
    .await
    .expect(200);
    let receiver = Receiver::start().await;
    receiver.always(Answer::status(500));
    let url = receiver.url("/down");
    let (endpoint_id, _) = endpoint(&app, &url, json!(["order.paid"])).await;
    // No customer email: the order itself sends none.
    app.paid_order(1000, true).await;
    app.advance(4 * 86_400).await;

    let messages = smtp.wait_for(1).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let message = &messages[0];
    assert_eq!(message["to"], "help@acme.example");
    assert_eq!(
        message["subject"],
        format!("Webhook endpoint failing: {url}")
    );
    assert!(part(message, "text/plain").contains(&endpoint_id));
    assert!(part(message, "text/html").contains(&endpoint_id));
    let all = app.get("/v1/emails").await.expect(200).clone();
    let email = &all["data"][0];
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(email["template"], "endpoint_failing");
    assert_eq!(email["status"], "sent");
    assert_eq!(email["order_id"], Value::Null);
}

async fn sender_settings_are_checked(backend: Backend) {
    let app = harness::spawn(backend).await;
    let path = format!("/v1/brands/{}", app.brand_id);
    let bad_email = app
        .patch(&path, json!({"sender_email": "not an address"}))
        .await;
    assert_eq!(bad_email.status, 400, "{}", bad_email.body);
    assert_eq!(bad_email.param(), Some("sender_email"));
    for name in [String::new(), "x".repeat(101)] {
        let bad_name = app.patch(&path, json!({"sender_name": name})).await;
        assert_eq!(bad_name.status, 400, "{}", bad_name.body);
        assert_eq!(bad_name.param(), Some("sender_name"));
    }
    let set = app
        .patch(
            &path,
            json!({"sender_name": "Acme Shop", "sender_email": "shop@acme.example"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(set["sender_name"], "Acme Shop");
    assert_eq!(set["sender_email"], "shop@acme.example");
    let cleared = app
        .patch(&path, json!({"sender_name": null, "sender_email": null}))
        .await
        .expect(200)
        .clone();
    assert_eq!(cleared["sender_name"], Value::Null);
    assert_eq!(cleared["sender_email"], Value::Null);
    let read = app.get(&path).await.expect(200).clone();
    assert_eq!(read["sender_email"], Value::Null);
}
