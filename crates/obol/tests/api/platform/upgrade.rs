//! An upgrade: a database made by the previous binary migrates to this
//! binary's latest version and serves. The fixtures in
//! `tests/fixtures/upgrade/` (remade by `tests/fixtures/make.sh` from a given
//! binary) hold such a database per backend and what the old server answered
//! about it; today's server must answer the same with the old key, replay
//! the old idempotent requests, and take new payments on the old rows.

use crate::harness::{self, Backend, Options, TestDb};
use crate::on_both;
use serde_json::{Value, json};
use std::path::PathBuf;

on_both!(a_database_of_the_previous_binary_migrates_and_serves);

/// The base URL the fixtures were made with (make.sh), so that links in the
/// old answers match.
const FIXTURE_PUBLIC_URL: &str = "http://obol.test";

fn backend_dir(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// The fixture of `backend`: the database to copy and the old answers.
fn fixture(backend: Backend) -> (PathBuf, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upgrade")
        .join(backend_dir(backend));
    let database = dir.join(match backend {
        Backend::Sqlite => "obol.db",
        Backend::Postgres => "dump.sql",
    });
    let answers = dir.join("answers.json");
    for file in [&database, &answers] {
        assert!(
            file.is_file(),
            "the upgrade fixture {} is missing: remake it with tests/fixtures/make.sh",
            file.display()
        );
    }
    let text = std::fs::read_to_string(&answers).expect("answers.json reads");
    let answers = serde_json::from_str(&text).expect("answers.json is JSON");
    (database, answers)
}

/// The versions this binary carries for `backend`, from its migration files'
/// numbers (`NNNN_<domain>_<what>.sql`).
fn carried_versions(backend: Backend) -> Vec<i64> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../obol-store/migrations")
        .join(backend_dir(backend));
    let mut versions: Vec<i64> = std::fs::read_dir(&dir)
        .expect("the migrations folder")
        .map(|entry| entry.expect("a migration file").file_name())
        .filter_map(|name| {
            let name = name.to_string_lossy().into_owned();
            let number = name.strip_suffix(".sql")?.split('_').next()?.to_owned();
            Some(
                number
                    .parse()
                    .expect("a migration file starts with its number"),
            )
        })
        .collect();
    versions.sort_unstable();
    versions
}

async fn applied_versions(db: &obol_store::Db) -> Vec<i64> {
    obol_store::sql::query_scalar::<i64>("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(&db.pool)
        .await
        .expect("schema_migrations reads")
}

/// Where `now` differs from `old`: every field the old server answered must
/// read back the same; fields a later binary adds are allowed.
fn differences(old: &Value, now: &Value, at: &str, found: &mut Vec<String>) {
    match (old, now) {
        (Value::Object(old), Value::Object(now)) => {
            for (key, value) in old {
                match now.get(key) {
                    Some(current) => differences(value, current, &format!("{at}/{key}"), found),
                    None => found.push(format!("{at}/{key}: gone (was {value})")),
                }
            }
        }
        (Value::Array(old), Value::Array(now)) if old.len() == now.len() => {
            for (index, (value, current)) in old.iter().zip(now).enumerate() {
                differences(value, current, &format!("{at}/{index}"), found);
            }
        }
        _ if old == now => {}
        _ => found.push(format!("{at}: was {old}, now {now}")),
    }
}

#[track_caller]
fn assert_reads_back(old: &Value, now: &Value, what: &str) {
    let mut found = Vec::new();
    differences(old, now, "", &mut found);
    assert!(
        found.is_empty(),
        "{what} no longer answers as the previous binary did:\n{}",
        found.join("\n")
    );
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("answers.json has no {field}"))
}

async fn a_database_of_the_previous_binary_migrates_and_serves(backend: Backend) {
    let (database, answers) = fixture(backend);
    let db = TestDb::from_copy(backend, &database).await;
    let before = {
        let old = obol_store::Db::connect(&db.url)
            .await
            .expect("the copy opens");
        let versions = applied_versions(&old).await;
        old.close().await;
        versions
    };
    let latest = carried_versions(backend);
    assert!(
        !before.is_empty() && latest.starts_with(&before),
        "the fixture has versions {before:?}, this binary carries {latest:?}"
    );

    // The fixture was made on the test clock, whose time the database
    // keeps: its orders stay where they were left until the clock moves.
    let options = Options {
        test_clock: true,
        key_file: backend == Backend::Sqlite,
        public_url: Some(FIXTURE_PUBLIC_URL.into()),
        ..Options::default()
    };
    let mut app = harness::start(db, options).await;
    app.secret_key = text(&answers, "secret_key").to_owned();
    app.brand_id = text(&answers, "brand_id").to_owned();
    assert_eq!(applied_versions(&app.state.db).await, latest);

    // Everything the old server answered reads back the same, with its key.
    let reads = answers["reads"].as_array().expect("reads");
    assert!(!reads.is_empty());
    for read in reads {
        let path = text(read, "path");
        let now = app.get(path).await;
        assert_reads_back(&read["answer"], now.expect(200), &format!("GET {path}"));
    }

    // Its idempotent requests replay their first answers (their
    // fingerprints and sealed answers are under the old master key).
    let replays = answers["replays"].as_array().expect("replays");
    assert!(!replays.is_empty());
    for replay in replays {
        let path = text(replay, "path");
        let again = app
            .post_idempotent(path, text(replay, "key"), replay["body"].clone())
            .await;
        assert_eq!(Some(u64::from(again.status)), replay["status"].as_u64());
        assert_eq!(
            again.header("idempotent-replayed"),
            Some("true"),
            "POST {path}"
        );
        assert_reads_back(
            &replay["answer"],
            &again.body,
            &format!("replayed POST {path}"),
        );
    }

    // The old rows go on: the authorized order is captured, the captured one
    // refunded again (in part: a refunded order never clears), and the old
    // customer pays a new order.
    let orders = &answers["orders"];
    let authorized = text(orders, "authorized");
    let captured = app
        .post(&format!("/v1/orders/{authorized}/capture"), json!({}))
        .await;
    assert_eq!(captured.expect(200)["status"], "paid");
    let refunded_in_part = text(orders, "captured_refunded");
    let refund = app
        .post(
            "/v1/refunds",
            json!({"order_id": refunded_in_part, "amount": 2000}),
        )
        .await;
    refund.expect(200);
    let order = app.order(refunded_in_part).await;
    assert_eq!(order["status"], "partially_refunded");
    assert_eq!(order["amount_refunded"], 3000);
    let order = app
        .create_order(json!({"amount": 4200, "currency": "EUR",
            "customer_id": text(&answers, "customer_id")}))
        .await;
    let paid = app
        .confirm_card(&harness::id_of(&order), "4242424242424242")
        .await;
    assert_eq!(paid.expect(200)["status"], "paid");

    // Due work finds the old rows: past the clearing days every paid order
    // clears, and the declined one expires.
    app.advance(3 * 86_400).await;
    for order in [refunded_in_part, text(orders, "paid"), authorized] {
        assert!(
            !app.order(order).await["cleared_at"].is_null(),
            "{order} did not clear"
        );
    }
    assert_eq!(
        app.order(text(orders, "declined")).await["status"],
        "expired"
    );
    app.assert_ledger_balanced().await;
}
