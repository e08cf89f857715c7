//! Acceptance "No card number or CVC in the database, the logs or the
//! stand-ins' recorded requests other than the one call to Stripe's API":
//! the real `obol serve`, logging everything it can (`OBOL_LOG=trace`), pays
//! a Stripe account at localstripe with a sale, a declined card and a 3-D
//! Secure card; then its output, every row of every table and every request
//! localstripe received but the PaymentMethods are searched for them.

use super::stripe::WEBHOOK_SECRET;
use super::stripe::localstripe::{LocalStripe, SECRET_KEY};
use crate::harness::Backend;
use crate::on_both;
use crate::platform::serve::{Serve, WorkDir, call, database, obol, printed, url_of};
use reqwest::Method;
use serde_json::{Value, json};

on_both!(no_card_number_or_cvc_outside_the_call_to_stripe);

/// A Visa number (Luhn-valid) used by no other test: found only if leaked.
const SALE_CARD: &str = "4917483192650713";
/// localstripe declines every charge of this card.
const DECLINED_CARD: &str = "4000000000000341";
/// localstripe asks for 3-D Secure on every confirm of this card.
const CHALLENGE_CARD: &str = "4000000000003220";
/// localstripe takes three digits only.
const CVC: &str = "836";
const CARDS: [&str; 3] = [SALE_CARD, DECLINED_CARD, CHALLENGE_CARD];

/// Whether `needle` occurs in `haystack` with no digit right before or after
/// it (a number of its own, not part of a longer one).
fn contains_number(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack
        .windows(needle.len())
        .enumerate()
        .any(|(at, window)| {
            window == needle
                && !at
                    .checked_sub(1)
                    .is_some_and(|before| haystack[before].is_ascii_digit())
                && !haystack
                    .get(at + needle.len())
                    .is_some_and(u8::is_ascii_digit)
        })
}

/// Whether `haystack` holds the CVC as a card's: labelled `cvc` (as a
/// card's JSON, form, or `Debug` would have it) and right after the label.
/// Three digits alone are in timestamps, sizes and random ids by chance.
fn contains_cvc(haystack: &[u8]) -> bool {
    const REACH: usize = 12;
    let lower = haystack.to_ascii_lowercase();
    lower.windows(3).enumerate().any(|(at, window)| {
        let after = at + 3;
        window == b"cvc"
            && contains_number(&haystack[after..(after + REACH).min(haystack.len())], CVC)
    })
}

/// Which of the cards' numbers and the CVC `text` holds, as `what: needle`.
fn card_data_in(what: &str, text: &[u8]) -> Vec<String> {
    let mut found: Vec<String> = CARDS
        .iter()
        .filter(|number| contains_number(text, number))
        .map(|number| format!("{what}: {number}"))
        .collect();
    if contains_cvc(text) {
        found.push(format!("{what}: cvc {CVC}"));
    }
    found
}

/// On every order: searched for in the log.
const CUSTOMER_EMAIL: &str = "private.buyer.4711@example.com";

/// The server of the test, its base URL and the demo brand's secret key.
struct Running {
    server: Serve,
    stdout: Vec<String>,
    base: String,
    key: String,
}

impl Running {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        call(
            Method::POST,
            format!("{}{path}", self.base),
            &self.key,
            Some(body),
        )
        .await
    }

    /// A new EUR order of `amount` confirmed with `number` on `account`.
    async fn pay(&self, account: &str, amount: i64, number: &str) -> (u16, Value) {
        let (status, order) = self
            .post(
                "/v1/orders",
                json!({"amount": amount, "currency": "EUR", "customer_email": CUSTOMER_EMAIL}),
            )
            .await;
        assert_eq!(status, 200, "{order}");
        let id = order["id"].as_str().expect("the order's id");
        self.post(
            &format!("/v1/orders/{id}/confirm"),
            json!({"connector_account_id": account, "payment_method": {"type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": CVC}}}),
        )
        .await
    }
}

async fn no_card_number_or_cvc_outside_the_call_to_stripe(backend: Backend) {
    let stripe = LocalStripe::start().await;
    let dir = WorkDir::new();
    let db = database(backend).await;
    let mut command = obol(&dir.0, db.as_ref().map(|db| db.url.as_str()));
    command
        .env("OBOL_LOG", "trace")
        .env("OBOL_ALLOW_PRIVATE_NETWORK", "1");
    let mut server = Serve::start(command);
    let (stdout, base) = server.listening().await;
    let key = printed(&stdout, "demo secret key:");
    let mut running = Running {
        server,
        stdout,
        base,
        key,
    };

    let (status, account) = running
        .post(
            "/v1/connector_accounts",
            json!({"connector": "stripe", "payment_methods": ["card"],
                "credentials": {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET,
                    "api_base": stripe.api_base()}}),
        )
        .await;
    assert_eq!(status, 200, "{account}");
    let account = account["id"].as_str().expect("the account's id").to_owned();
    let (status, sale) = running.pay(&account, 2500, SALE_CARD).await;
    assert_eq!((status, &sale["status"]), (200, &json!("paid")), "{sale}");
    let (status, declined) = running.pay(&account, 2600, DECLINED_CARD).await;
    assert_eq!(status, 402, "{declined}");
    assert_eq!(declined["error"]["code"], "card_declined");
    let (status, challenged) = running.pay(&account, 2700, CHALLENGE_CARD).await;
    assert_eq!(
        (status, &challenged["status"]),
        (200, &json!("requires_action")),
        "{challenged}"
    );
    authenticate(&stripe, &challenged).await;
    let id = challenged["id"].as_str().expect("the order's id");
    let (status, synced) = running
        .post(&format!("/v1/orders/{id}/sync"), json!({}))
        .await;
    assert_eq!(
        (status, &synced["status"]),
        (200, &json!("paid")),
        "{synced}"
    );

    let (exit, rest) = running.server.terminate().await;
    assert!(exit.success(), "{exit}: {}", running.server.stderr());
    running.stdout.extend(rest);
    let log = running.server.stderr();
    // Trace level: the server's own request handling is in the log.
    assert!(log.contains("TRACE") && log.contains("DEBUG"), "{log}");

    // Nor is what a customer stored, as a database driver's statement log
    // would show it.
    assert!(!log.contains(CUSTOMER_EMAIL), "the log shows stored values");

    let mut found = card_data_in("stdout", running.stdout.join("\n").as_bytes());
    found.extend(card_data_in("stderr", log.as_bytes()));
    let url = url_of(&dir.0, db.as_ref());
    let dump = database_text(&url).await;
    for (table, rows) in &dump {
        found.extend(card_data_in(&format!("table {table}"), rows.as_bytes()));
    }
    // The dump holds what is stored: the sale's last four digits.
    let transactions = dump.iter().find(|(table, _)| table == "transactions");
    assert!(
        transactions.is_some_and(|(_, rows)| rows.contains("0713")),
        "{dump:?}"
    );
    if backend == Backend::Sqlite {
        found.extend(card_data_in("obol.db", &sqlite_bytes(&dir.0)));
    }
    let recorded = stripe.recorded();
    let mut with_card = 0;
    for request in &recorded {
        let call = format!("{} {}", request.method, request.path);
        if call == "POST /v1/payment_methods" {
            with_card += 1;
        } else {
            let text = format!("{call}\n{}", request.body);
            found.extend(card_data_in(&call, text.as_bytes()));
        }
    }
    assert_eq!(found, Vec::<String>::new());
    // Each card went to Stripe once, with its CVC: the search finds them.
    assert_eq!(with_card, 3, "{recorded:?}");
    let sent: Vec<_> = recorded
        .iter()
        .filter(|request| request.path == "/v1/payment_methods")
        .flat_map(|request| card_data_in("sent", request.body.as_bytes()))
        .collect();
    assert_eq!(
        sent,
        CARDS
            .iter()
            .flat_map(|card| [format!("sent: {card}"), format!("sent: cvc {CVC}")])
            .collect::<Vec<_>>()
    );
    drop(db);
}

/// Completes the 3-D Secure challenge of the order's payment at
/// localstripe, as the customer would.
async fn authenticate(stripe: &LocalStripe, order: &Value) {
    let intent_id = order["payments"][0]["connector_transaction_id"]
        .as_str()
        .expect("the payment's PaymentIntent");
    let path = format!("/v1/payment_intents/{intent_id}");
    let intent = stripe.get(&path).await;
    let secret = intent["client_secret"].as_str().expect("a client secret");
    let (status, body) = stripe
        .post(
            &format!("{path}/_authenticate"),
            &[("client_secret", secret), ("success", "true")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Every row of every table of the database at `url` as text, by table.
async fn database_text(url: &str) -> Vec<(String, String)> {
    let db = obol_store::Db::connect(url)
        .await
        .expect("connect to the database");
    let postgres = url.starts_with("postgres");
    let tables_sql = match postgres {
        true => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        }
        false => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1",
    };
    let tables: Vec<String> = obol_store::sql::query_scalar(tables_sql)
        .fetch_all(&db.pool)
        .await
        .expect("the tables");
    assert!(
        tables.iter().any(|table| table == "transactions"),
        "{tables:?}"
    );
    let mut dump = Vec::new();
    for table in tables {
        let rows_sql = match postgres {
            // A row as text holds every column, bytea as hex.
            true => format!("SELECT t::text FROM \"{table}\" t"),
            false => sqlite_row_text(&db, &table).await,
        };
        let rows: Vec<String> = obol_store::sql::query_scalar(rows_sql)
            .fetch_all(&db.pool)
            .await
            .unwrap_or_else(|error| panic!("reading {table}: {error}"));
        dump.push((table, rows.join("\n")));
    }
    db.close().await;
    dump
}

/// A SELECT of each row of `table` as one text: its columns, quoted
/// (blobs as hex), joined.
async fn sqlite_row_text(db: &obol_store::Db, table: &str) -> String {
    let columns: Vec<String> =
        obol_store::sql::query_scalar(format!("SELECT name FROM pragma_table_info('{table}')"))
            .fetch_all(&db.pool)
            .await
            .expect("the columns");
    let quoted: Vec<String> = columns
        .iter()
        .map(|column| format!("quote(\"{column}\")"))
        .collect();
    format!("SELECT {} FROM \"{table}\"", quoted.join(" || ',' || "))
}

/// The SQLite file and its write-ahead log as they are on disk, free pages
/// included (what was written once and deleted is there too).
fn sqlite_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(dir.join("obol.db")).expect("obol.db");
    bytes.extend(std::fs::read(dir.join("obol.db-wal")).unwrap_or_default());
    bytes
}

#[test]
fn a_card_number_or_cvc_is_found_as_leaked_only() {
    assert!(contains_number(b"x4917483192650713y", SALE_CARD));
    assert!(!contains_number(b"49174831926507131", SALE_CARD));
    for leaked in [
        &b"card[cvc]=836&"[..],
        b"card%5Bcvc%5D=836",
        b"{\"cvc\":\"836\"}",
        b"cvc: Some(\"836\")",
        b"CVC=836",
    ] {
        assert!(contains_cvc(leaked), "{}", String::from_utf8_lossy(leaked));
    }
    for other in [
        &b"t=12.836 read 836 bytes"[..],
        b"cvc=0836",
        b"cvc: None, after 12 ms: 836",
    ] {
        assert!(!contains_cvc(other), "{}", String::from_utf8_lossy(other));
    }
}
