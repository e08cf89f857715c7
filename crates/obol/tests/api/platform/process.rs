//! Acceptance "From a fresh clone, `obol serve` on an empty directory creates
//! the database and prints the admin key and demo brand keys; after a restart
//! the data is there and no secret is printed": the real binary, as a process.

pub(crate) use super::serve::{CARD, Serve, WorkDir, call, card, database, obol, printed, url_of};
use crate::harness::{self, Backend, TestDb};
use crate::on_both;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

on_both!(
    serve_on_empty_directory_then_restart,
    brand_create_and_migrate_commands
);

async fn serve_on_empty_directory_then_restart(backend: Backend) {
    let dir = WorkDir::new();
    let db = database(backend).await;
    let url = db.as_ref().map(|db| db.url.as_str());

    // First start: creates the database and shows the secrets once.
    let mut server = Serve::start(obol(&dir.0, url));
    let (first_lines, base) = server.listening().await;
    let admin_key = printed(&first_lines, "admin key:");
    let secret_key = printed(&first_lines, "demo secret key:");
    let publishable_key = printed(&first_lines, "demo publishable key:");
    let demo_id = printed(&first_lines, "demo brand:");
    assert!(
        admin_key.starts_with("adm_") && admin_key.len() > 20,
        "admin key {admin_key}"
    );
    assert!(
        secret_key.starts_with("sk_") && secret_key.len() > 20,
        "secret key {secret_key}"
    );
    assert!(
        publishable_key.starts_with("pk_") && publishable_key.len() > 20,
        "publishable key {publishable_key}"
    );
    assert!(
        obol_core::id::has_prefix(&demo_id, "brd"),
        "demo brand id {demo_id}"
    );
    assert_eq!(
        dir.0.join("obol.db").exists(),
        backend == Backend::Sqlite,
        "obol.db in the working directory"
    );
    let key_file =
        obol_server::crypto::key_file_path("sqlite://obol.db").expect("a key file place");
    let key_file = dir.0.join(key_file);
    assert_eq!(
        key_file.exists(),
        backend == Backend::Sqlite,
        "{} in the working directory",
        key_file.display()
    );
    let master_key = std::fs::read(&key_file).ok();

    let (status, health) = call(reqwest::Method::GET, format!("{base}/health"), "", None).await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
    let (status, customer) = call(
        reqwest::Method::POST,
        format!("{base}/v1/customers"),
        &secret_key,
        Some(json!({"email": "first@example.com"})),
    )
    .await;
    assert_eq!(status, 200, "create customer: {customer}");
    let customer_id = customer["id"].as_str().expect("customer id").to_owned();
    let (status, brand) = call(
        reqwest::Method::GET,
        format!("{base}/v1/brands/{demo_id}"),
        &admin_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "get demo brand: {brand}");
    assert_eq!(brand["id"], demo_id.as_str());
    // The publishable key is no secret key.
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{base}/v1/customers/{customer_id}"),
        &publishable_key,
        None,
    )
    .await;
    assert_eq!(status, 401);

    let (status, rest) = server.terminate().await;
    assert!(
        status.success(),
        "obol serve exited with {status} on SIGTERM; stderr:\n{}",
        server.stderr()
    );
    assert!(rest.iter().all(|line| !line.contains("sk_")), "{rest:?}");
    let log = server.stderr();
    assert!(
        !log.contains(&secret_key) && !log.contains(&admin_key),
        "a secret was logged:\n{log}"
    );
    drop(server);

    // Second start: same data, no secret printed.
    let mut server = Serve::start(obol(&dir.0, url));
    let (lines, base) = server.listening().await;
    assert_eq!(
        std::fs::read(&key_file).ok(),
        master_key,
        "the key file changed on restart"
    );
    let (status, customer) = call(
        reqwest::Method::GET,
        format!("{base}/v1/customers/{customer_id}"),
        &secret_key,
        None,
    )
    .await;
    assert_eq!(
        status, 200,
        "the customer is gone after a restart: {customer}"
    );
    assert_eq!(customer["email"], "first@example.com");
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{base}/v1/brands/{demo_id}"),
        &admin_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "the generated admin key no longer works");
    let (status, list) = call(
        reqwest::Method::GET,
        format!("{base}/v1/customers"),
        &secret_key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "a second start seeded data again: {list}"
    );
    let (status, rest) = server.terminate().await;
    assert!(
        status.success(),
        "obol serve exited with {status} on SIGTERM; stderr:\n{}",
        server.stderr()
    );

    let all: Vec<&String> = lines.iter().chain(&rest).collect();
    for secret in [
        "admin key",
        "secret key",
        "sk_",
        "pk_",
        "adm_",
        &admin_key,
        &secret_key,
        &publishable_key,
    ] {
        assert!(
            all.iter().all(|line| !line.contains(secret)),
            "the second start printed {secret:?}: {all:#?}"
        );
    }
    assert!(
        !server.stderr().contains(&secret_key) && !server.stderr().contains(&admin_key),
        "a secret was logged"
    );
}

fn run(mut command: Command, args: &[&str]) -> (ExitStatus, String, String) {
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("obol runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn brand_create_and_migrate_commands(backend: Backend) {
    let dir = WorkDir::new();
    let db = database(backend).await;
    let url = match &db {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.0.join("cli.db").display()),
    };

    let (status, stdout, stderr) = run(obol(&dir.0, Some(&url)), &["migrate"]);
    assert!(status.success(), "obol migrate failed: {stderr}");
    assert!(stdout.contains("migrations applied"), "{stdout}");
    // Again: nothing to do, still a success.
    let (status, _, stderr) = run(obol(&dir.0, Some(&url)), &["migrate"]);
    assert!(status.success(), "obol migrate twice failed: {stderr}");
    let (status, _, _) = run(obol(&dir.0, Some("mysql://nowhere/obol")), &["migrate"]);
    assert!(!status.success(), "migrate on an unsupported URL succeeded");

    let (status, stdout, stderr) = run(
        obol(&dir.0, Some(&url)),
        &["brand", "create", "--name", "Cli Brand"],
    );
    assert!(status.success(), "obol brand create failed: {stderr}");
    let created: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("not JSON: {stdout}"));
    let secret_key = created["secret_key"].as_str().expect("secret_key");
    assert!(secret_key.starts_with("sk_"), "{created}");
    assert!(
        created["publishable_key"]
            .as_str()
            .expect("publishable_key")
            .starts_with("pk_")
    );
    assert_eq!(created["brand"]["name"], "Cli Brand");
    let brand_id = created["brand"]["id"].as_str().expect("brand id");

    // The brand and its key are in the database: a server on it accepts them.
    let mut command = obol(&dir.0, Some(&url));
    command.env("OBOL_ADMIN_KEY", "adm_process_test_admin_key_0123");
    let mut server = Serve::start(command);
    let (lines, base) = server.listening().await;
    assert!(
        lines.iter().all(|line| !line.contains("admin key")),
        "printed an admin key though one is set: {lines:?}"
    );
    let (status, brand) = call(
        reqwest::Method::GET,
        format!("{base}/v1/brands/{brand_id}"),
        secret_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{brand}");
    assert_eq!(brand["name"], "Cli Brand");
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{base}/v1/brands/{brand_id}"),
        "adm_process_test_admin_key_0123",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = server.terminate().await;
    assert!(status.success(), "obol serve exited with {status}");
    assert!(
        !dir.0.join("obol.db").exists(),
        "the default database was used instead of DATABASE_URL"
    );
}

on_both!(
    crash_between_connector_call_and_step_3,
    card_data_is_never_stored_or_logged,
);

/// A server started with a failpoint, and an order of 5000 EUR to pay.
pub(crate) struct Unpaid {
    pub(crate) dir: WorkDir,
    pub(crate) db: Option<TestDb>,
    pub(crate) url: String,
    pub(crate) first: Serve,
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) order_id: String,
}

impl Unpaid {
    pub(crate) async fn start(backend: Backend, failpoint: &str) -> Unpaid {
        let dir = WorkDir::new();
        let db = database(backend).await;
        let url = url_of(&dir.0, db.as_ref());
        let mut command = obol(&dir.0, db.as_ref().map(|db| db.url.as_str()));
        command.env("OBOL_FAILPOINT", failpoint);
        let mut first = Serve::start(command);
        let (lines, base) = first.listening().await;
        let key = printed(&lines, "demo secret key:");
        let (status, order) = call(
            reqwest::Method::POST,
            format!("{base}/v1/orders"),
            &key,
            Some(json!({"amount": 5000, "currency": "EUR"})),
        )
        .await;
        assert_eq!(status, 200, "{order}");
        let order_id = order["id"].as_str().expect("order id").to_owned();
        Unpaid {
            dir,
            db,
            url,
            first,
            base,
            key,
            order_id,
        }
    }
}

/// Acceptance: a server killed between the connector call and step 3 leaves
/// a `pending` transaction that sync completes after a restart; nothing is
/// charged twice.
async fn crash_between_connector_call_and_step_3(backend: Backend) {
    let Unpaid {
        dir,
        db,
        url,
        mut first,
        base,
        key,
        order_id,
    } = Unpaid::start(backend, "pause_after_connector_call").await;
    let confirm_url = format!("{base}/v1/orders/{order_id}/confirm");
    let confirm_key = key.clone();
    let confirm = tokio::spawn(async move {
        let _ = harness::http_client()
            .post(confirm_url)
            .bearer_auth(confirm_key)
            .header("content-type", "application/json")
            .body(card(CARD, "123").to_string())
            .send()
            .await;
    });
    first
        .wait_for_log("failpoint pause_after_connector_call reached")
        .await;
    first.kill_hard().await;
    let _ = confirm.await;

    let store = obol_store::Db::connect(&url).await.expect("database");
    let charges: i64 = obol_store::sql::query_scalar("SELECT COUNT(*) FROM sandbox_payments")
        .fetch_one(&store.pool)
        .await
        .expect("count");
    assert_eq!(charges, 1, "the sandbox charged before the crash");
    let pending: String =
        obol_store::sql::query_scalar("SELECT status FROM transactions WHERE order_id = $1")
            .bind(&order_id)
            .fetch_one(&store.pool)
            .await
            .expect("transaction");
    assert_eq!(pending, "pending", "step 3 never ran");

    let mut second = Serve::start(obol(&dir.0, db.as_ref().map(|db| db.url.as_str())));
    let (lines, base) = second.listening().await;
    assert!(
        lines.iter().all(|line| !line.contains("sk_")),
        "a restart prints no secret"
    );
    let order_url = format!("{base}/v1/orders/{order_id}");
    let (status, again) = call(
        reqwest::Method::POST,
        format!("{order_url}/confirm"),
        &key,
        Some(card(CARD, "123")),
    )
    .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("invalid_state")),
        "{again}"
    );
    let (status, synced) = call(
        reqwest::Method::POST,
        format!("{order_url}/sync"),
        &key,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{synced}");
    assert_eq!(synced["status"], "paid");
    assert_eq!(synced["amount_captured"], 5000);
    let payments = synced["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 1);
    let history: Vec<&str> = payments[0]["status_history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(history, ["pending", "succeeded"]);
    let charges: i64 = obol_store::sql::query_scalar("SELECT COUNT(*) FROM sandbox_payments")
        .fetch_one(&store.pool)
        .await
        .expect("count");
    assert_eq!(charges, 1, "nothing charged twice");
    let (_, balance) = call(
        reqwest::Method::GET,
        format!("{base}/v1/balance"),
        &key,
        None,
    )
    .await;
    assert_eq!(
        balance["pending"],
        json!([{"currency": "EUR", "amount": 5000}])
    );
    obol_server::ledger::check_invariants(&store)
        .await
        .expect("ledger balanced");
    store.close().await;
    second.terminate().await;
}

/// Acceptance: after every test card (and refused ones) neither the database
/// nor the logs hold a full card number or a CVC.
async fn card_data_is_never_stored_or_logged(backend: Backend) {
    const CARDS: [&str; 9] = [
        "4242424242424242",
        "5555555555554444",
        "4000000000000002",
        "4000000000009995",
        "4000000000000069",
        "4000000000000127",
        "4000000000003220",
        "4000000000000077",
        "4000000000000119",
    ];
    let dir = WorkDir::new();
    let db = database(backend).await;
    let url = url_of(&dir.0, db.as_ref());
    let mut command = obol(&dir.0, db.as_ref().map(|db| db.url.as_str()));
    command
        .env("OBOL_LOG", "debug")
        .env("OBOL_CONNECTOR_TIMEOUT_MS", "300");
    let mut serve = Serve::start(command);
    let (lines, base) = serve.listening().await;
    let key = printed(&lines, "demo secret key:");
    let mut numbers: Vec<String> = CARDS.iter().map(|n| n.to_string()).collect();
    numbers.push("4000000000006975".into());
    for number in &numbers {
        let (status, order) = call(
            reqwest::Method::POST,
            format!("{base}/v1/orders"),
            &key,
            Some(json!({"amount": 1500, "currency": "EUR"})),
        )
        .await;
        assert_eq!(status, 200);
        let confirm = format!(
            "{base}/v1/orders/{}/confirm",
            order["id"].as_str().expect("id")
        );
        let (status, answer) = call(
            reqwest::Method::POST,
            confirm.clone(),
            &key,
            Some(card(number, "987")),
        )
        .await;
        assert!([200, 402, 502].contains(&status), "{number}: {answer}");
        assert!(
            !answer.to_string().contains(number.as_str()),
            "an answer echoes the card number"
        );
    }
    // Refused by Obol's own checks: bad Luhn, expired, bad CVC shape.
    let (_, order) = call(
        reqwest::Method::POST,
        format!("{base}/v1/orders"),
        &key,
        Some(json!({"amount": 1500, "currency": "EUR"})),
    )
    .await;
    let confirm = format!(
        "{base}/v1/orders/{}/confirm",
        order["id"].as_str().expect("id")
    );
    let refused = [
        json!({"payment_method": {"type": "card", "card": {"number": "4242424242424241", "exp_month": 12, "exp_year": 2030, "cvc": "987"}}}),
        json!({"payment_method": {"type": "card", "card": {"number": CARD, "exp_month": 1, "exp_year": 2020, "cvc": "987"}}}),
        json!({"payment_method": {"type": "card", "card": {"number": CARD, "exp_month": 12, "exp_year": 2030, "cvc": "98x"}}}),
        json!({"payment_method": {"type": "card", "card": {"number": 4242424242424242u64, "exp_month": 12, "exp_year": 2030}}}),
    ];
    numbers.push("4242424242424241".into());
    for body in refused {
        let (status, answer) = call(reqwest::Method::POST, confirm.clone(), &key, Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            !answer.to_string().contains("424242424242"),
            "an error echoes the card number: {answer}"
        );
    }
    serve.terminate().await;

    let dump = database_dump(&dir.0, &url).await;
    let log = serve.stderr();
    for number in &numbers {
        assert!(
            !dump.contains(number.as_str()),
            "card number {number} is in the database"
        );
        assert!(
            !log.contains(number.as_str()),
            "card number {number} is in the log"
        );
    }
    assert!(dump.contains("4242"), "the dump is real: last4 is kept");
    // The decline code `incorrect_cvc` is the only mention of a CVC allowed.
    // A stored CVC would be a JSON field or a column named so; a bare "cvc"
    // can occur by chance inside random keys and ids.
    let dump = dump.replace("incorrect_cvc", "");
    let log = log.to_lowercase().replace("incorrect_cvc", "");
    assert!(
        !dump.contains("\"cvc\"") && !dump.to_lowercase().contains("cvc text"),
        "a CVC field is in the database"
    );
    // The CVC value as a debug or JSON string would show it quoted.
    assert!(
        !log.contains("\"987\"") && !log.contains("cvc=987") && !log.contains("cvc: 987"),
        "a CVC is in the log"
    );
}

/// Everything the database holds, as text: the SQLite files, or every row
/// of every PostgreSQL table as JSON.
async fn database_dump(dir: &Path, url: &str) -> String {
    if url.starts_with("sqlite") {
        let mut bytes = std::fs::read(dir.join("obol.db")).expect("database file");
        bytes.extend(std::fs::read(dir.join("obol.db-wal")).unwrap_or_default());
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let db = obol_store::Db::connect(url).await.expect("database");
    let tables: Vec<String> = obol_store::sql::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&db.pool)
    .await
    .expect("tables");
    let mut dump = String::new();
    for table in tables {
        let sql = format!("SELECT row_to_json(t)::text FROM {table} t");
        let rows: Vec<String> = obol_store::sql::query_scalar(sql)
            .fetch_all(&db.pool)
            .await
            .expect("rows");
        dump.push_str(&rows.join("\n"));
    }
    db.close().await;
    dump
}
