//! System constants and exchange rates: the currencies, countries and time
//! zones anyone may read; a brand's rates, the one in force at a time, and
//! its balance reported in one currency, converted half-even.

use crate::harness::{Backend, Options, TestApp, spawn_paying};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    constants_need_no_key,
    the_balance_is_reported_in_one_currency_half_even,
    a_balance_without_a_rate_to_the_report_currency_is_refused,
    the_rate_in_force_is_the_latest_that_started,
    bad_rates_are_refused_and_change_nothing,
    only_writing_roles_make_rates,
);

const VISA: &str = "4242424242424242";
/// Two days and a minute: past the default clearing delay.
const PAST_CLEARING_S: i64 = 2 * 24 * 3600 + 60;

async fn app(backend: Backend) -> TestApp {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    spawn_paying(backend, options).await
}

/// A paid card order of `amount` minor units of `currency`.
async fn pay(app: &TestApp, amount: i64, currency: &str) {
    let order = app
        .create_order(json!({"amount": amount, "currency": currency}))
        .await;
    let id = order["id"].as_str().expect("order id");
    let paid = app.confirm_card(id, VISA).await;
    assert_eq!(paid.expect(200)["status"], "paid", "{}", paid.body);
}

async fn rate(app: &TestApp, body: Value) -> Value {
    app.post("/v1/exchange_rates", body)
        .await
        .expect(200)
        .clone()
}

/// The side's amount in `currency`, with its conversion.
fn amount_of<'a>(side: &'a Value, currency: &str) -> &'a Value {
    side.as_array()
        .expect("a side of the balance")
        .iter()
        .find(|amount| amount["currency"] == currency)
        .unwrap_or_else(|| panic!("no {currency} in {side}"))
}

async fn constants_need_no_key(backend: Backend) {
    let app = app(backend).await;
    let get = async |path: &str| {
        let answer = app.send("GET", path, None, None, &[]).await;
        let body = answer.expect(200).clone();
        assert_eq!(
            (&body["object"], &body["has_more"]),
            (&json!("list"), &json!(false))
        );
        body["data"].as_array().expect("data").clone()
    };
    let currencies = get("/v1/currencies").await;
    let find = |list: &[Value], field: &str, value: &str| {
        list.iter()
            .find(|item| item[field] == value)
            .unwrap_or_else(|| panic!("no {value}"))
            .clone()
    };
    let jpy = find(&currencies, "code", "JPY");
    assert_eq!(jpy["minor_units"], 0, "{jpy}");
    assert_eq!(jpy["name"], "Japanese yen");
    assert_eq!(jpy["symbol"], "¥");
    assert_eq!(find(&currencies, "code", "KWD")["minor_units"], 3);
    let eur = find(&currencies, "code", "EUR");
    assert_eq!(
        (&eur["minor_units"], &eur["symbol"]),
        (&json!(2), &json!("€"))
    );
    assert!(
        currencies
            .iter()
            .all(|c| c["code"] != "XXX" && c["code"] != "XAU")
    );
    assert!(currencies.len() > 150);

    let countries = get("/v1/countries").await;
    assert!(countries.len() >= 249, "{}", countries.len());
    let germany = find(&countries, "code", "DE");
    assert_eq!(
        (&germany["default_currency"], &germany["eu_vat"]),
        (&json!("EUR"), &json!(true))
    );
    let uk = find(&countries, "code", "GB");
    assert_eq!(
        (&uk["default_currency"], &uk["eu_vat"]),
        (&json!("GBP"), &json!(false))
    );
    assert_eq!(countries.iter().filter(|c| c["eu_vat"] == true).count(), 27);
    let japan = find(&countries, "code", "JP");
    assert_eq!(japan["default_currency"], "JPY");

    let zones = get("/v1/time_zones").await;
    for name in ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"] {
        find(&zones, "name", name);
    }
    // Read only.
    let post = app
        .send("POST", "/v1/currencies", None, Some(json!({})), &[])
        .await;
    assert_eq!(post.status, 405, "{}", post.body);
}

async fn the_balance_is_reported_in_one_currency_half_even(backend: Backend) {
    let app = app(backend).await;
    // EUR 10.00 cleared (available), then GBP 12.50 and JPY 1000 pending.
    pay(&app, 1000, "EUR").await;
    app.advance(PAST_CLEARING_S).await;
    pay(&app, 1250, "GBP").await;
    pay(&app, 1000, "JPY").await;
    let plain = app.get("/v1/balance").await.expect(200).clone();
    assert_eq!(
        amount_of(&plain["available"], "EUR")["amount"],
        1000,
        "{plain}"
    );
    assert_eq!(amount_of(&plain["pending"], "GBP")["amount"], 1250);
    assert_eq!(amount_of(&plain["pending"], "JPY")["amount"], 1000);
    assert!(plain.get("converted_totals").is_none(), "{plain}");
    assert!(
        amount_of(&plain["pending"], "GBP")
            .get("converted")
            .is_none()
    );

    // Older rates that newer ones replace, and one not yet in force.
    let eur_old = json!({"base": "EUR", "quote": "USD", "rate": "1.5",
        "valid_from": "2020-01-01T00:00:00Z"});
    rate(&app, eur_old).await;
    // 10.00 × 1.0825 = 10.825: a tie, to the even 10.82.
    let eur = rate(
        &app,
        json!({"base": "EUR", "quote": "USD", "rate": "1.0825"}),
    )
    .await;
    rate(
        &app,
        json!({"base": "EUR", "quote": "USD", "rate": "9",
        "valid_from": "2999-01-01T00:00:00Z"}),
    )
    .await;
    // 12.50 × 1.25 = 15.625: a tie, to the even 15.62.
    let gbp = rate(&app, json!({"base": "GBP", "quote": "USD", "rate": "1.25"})).await;
    // Only USD → JPY: 1000 JPY ÷ 149.25 = 6.70017… → 6.70.
    let jpy = rate(
        &app,
        json!({"base": "USD", "quote": "JPY", "rate": "149.25"}),
    )
    .await;

    let report = app
        .get("/v1/balance?report_currency=USD")
        .await
        .expect(200)
        .clone();
    let converted = |side: &str, currency: &str| amount_of(&report[side], currency).clone();
    let eur_amount = converted("available", "EUR");
    assert_eq!(eur_amount["amount"], 1000, "{report}");
    assert_eq!(
        eur_amount["converted"],
        json!({"currency": "USD", "amount": 1082, "exchange_rate_id": eur["id"]})
    );
    assert_eq!(
        converted("pending", "GBP")["converted"],
        json!({"currency": "USD", "amount": 1562, "exchange_rate_id": gbp["id"]})
    );
    assert_eq!(
        converted("pending", "JPY")["converted"],
        json!({"currency": "USD", "amount": 670, "exchange_rate_id": jpy["id"]})
    );
    assert_eq!(
        report["converted_totals"],
        json!({"currency": "USD", "pending": 1562 + 670, "available": 1082})
    );

    // In JPY (0 minor units): EUR 10.00 needs EUR → JPY; GBP too. The
    // USD → JPY rate alone does not cover them.
    let refused = app.get("/v1/balance?report_currency=JPY").await;
    assert_eq!(
        (refused.status, refused.param()),
        (400, Some("report_currency"))
    );

    // A currency held in the report currency is itself.
    rate(
        &app,
        json!({"base": "EUR", "quote": "JPY", "rate": "161.55"}),
    )
    .await;
    rate(
        &app,
        json!({"base": "GBP", "quote": "JPY", "rate": "187.3"}),
    )
    .await;
    let in_jpy = app
        .get("/v1/balance?report_currency=JPY")
        .await
        .expect(200)
        .clone();
    let jpy_amount = amount_of(&in_jpy["pending"], "JPY")["converted"].clone();
    assert_eq!(
        jpy_amount,
        json!({"currency": "JPY", "amount": 1000, "exchange_rate_id": null})
    );
    // EUR 10.00 × 161.55 = 1615.5 → 1616 (tie to even); GBP 12.50 × 187.3 = 2341.25 → 2341.
    assert_eq!(
        in_jpy["converted_totals"],
        json!({"currency": "JPY", "pending": 2341 + 1000, "available": 1616})
    );
    app.assert_ledger_balanced().await;
}

async fn a_balance_without_a_rate_to_the_report_currency_is_refused(backend: Backend) {
    let app = app(backend).await;
    pay(&app, 1000, "EUR").await;
    let refused = app.get("/v1/balance?report_currency=CHF").await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.code(), "parameter_invalid");
    assert_eq!(refused.param(), Some("report_currency"));
    let message = refused.body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("EUR") && message.contains("CHF"),
        "{message}"
    );

    let unknown = app.get("/v1/balance?report_currency=XYZ").await;
    assert_eq!(
        (unknown.status, unknown.code(), unknown.param()),
        (400, "currency_unsupported", Some("report_currency"))
    );
    let extra = app.get("/v1/balance?report=USD").await;
    assert_eq!((extra.status, extra.code()), (400, "parameter_unknown"));
    // A rate valid only from later is not in force now.
    rate(
        &app,
        json!({"base": "EUR", "quote": "CHF", "rate": "0.94",
        "valid_from": "2999-01-01T00:00:00Z"}),
    )
    .await;
    let still = app.get("/v1/balance?report_currency=CHF").await;
    assert_eq!(still.status, 400, "{}", still.body);
    // The inverse of CHF → EUR is.
    rate(
        &app,
        json!({"base": "CHF", "quote": "EUR", "rate": "1.0638"}),
    )
    .await;
    let report = app
        .get("/v1/balance?report_currency=CHF")
        .await
        .expect(200)
        .clone();
    // 10.00 ÷ 1.0638 = 9.4003… → 9.40.
    assert_eq!(
        amount_of(&report["pending"], "EUR")["converted"]["amount"],
        940,
        "{report}"
    );
    // A direct rate older than that inverse one is not the latest.
    rate(
        &app,
        json!({"base": "EUR", "quote": "CHF", "rate": "0.5",
        "valid_from": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let report = app
        .get("/v1/balance?report_currency=CHF")
        .await
        .expect(200)
        .clone();
    assert_eq!(
        amount_of(&report["pending"], "EUR")["converted"]["amount"],
        940,
        "{report}"
    );
}

async fn the_rate_in_force_is_the_latest_that_started(backend: Backend) {
    let app = app(backend).await;
    let older = rate(
        &app,
        json!({"base": "EUR", "quote": "USD", "rate": "1.10",
        "valid_from": "2026-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(older["object"], "exchange_rate");
    assert!(
        older["id"].as_str().expect("id").starts_with("fxr_"),
        "{older}"
    );
    assert_eq!(older["rate"], "1.1", "normalized: {older}");
    assert_eq!(older["valid_from"], "2026-01-01T00:00:00Z");
    let newer = rate(
        &app,
        json!({"base": "EUR", "quote": "USD", "rate": "1.2000",
        "valid_from": "2026-06-01T00:00:00Z"}),
    )
    .await;
    rate(
        &app,
        json!({"base": "USD", "quote": "EUR", "rate": "0.5",
        "valid_from": "2026-03-01T00:00:00Z"}),
    )
    .await;

    let at = async |when: &str| {
        app.get(&format!("/v1/exchange_rates?base=EUR&quote=USD&at={when}"))
            .await
    };
    assert_eq!(
        at("2026-03-01T00:00:00Z").await.expect(200)["id"],
        older["id"]
    );
    assert_eq!(
        at("2026-01-01T00:00:00Z").await.expect(200)["id"],
        older["id"]
    );
    assert_eq!(
        at("2026-06-01T00:00:00Z").await.expect(200)["id"],
        newer["id"]
    );
    let later = at("2027-01-01T00:00:00Z").await;
    assert_eq!(later.expect(200)["rate"], "1.2");
    let before = at("2025-12-31T23:59:59Z").await;
    assert_eq!((before.status, before.code()), (404, "resource_missing"));
    let bad_at = at("yesterday").await;
    assert_eq!((bad_at.status, bad_at.param()), (400, Some("at")));
    let half = app.get("/v1/exchange_rates?base=EUR").await;
    assert_eq!(
        (half.status, half.code(), half.param()),
        (400, "parameter_missing", Some("quote"))
    );
    let unknown = app.get("/v1/exchange_rates?base=EUR&quote=ABC").await;
    assert_eq!((unknown.status, unknown.param()), (400, Some("quote")));

    // Without a pair: the brand's rates, newest first, paged.
    let all = app.get("/v1/exchange_rates").await.expect(200).clone();
    assert_eq!(all["object"], "list");
    assert_eq!(all["data"].as_array().expect("data").len(), 3);
    assert_eq!(all["data"][2]["id"], older["id"]);
    let first = app
        .get("/v1/exchange_rates?limit=2")
        .await
        .expect(200)
        .clone();
    assert_eq!(first["has_more"], true);
    let last_id = first["data"][1]["id"].as_str().expect("id").to_owned();
    let rest = app
        .get(&format!(
            "/v1/exchange_rates?limit=2&starting_after={last_id}"
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(rest["data"][0]["id"], older["id"]);
    assert_eq!(rest["has_more"], false);

    // Another brand sees none of them.
    let (_, other_key) = app.other_brand("Other").await;
    let theirs = app
        .send("GET", "/v1/exchange_rates", Some(&other_key), None, &[])
        .await;
    assert_eq!(theirs.expect(200)["data"], json!([]));
    let lookup = app
        .send(
            "GET",
            "/v1/exchange_rates?base=EUR&quote=USD",
            Some(&other_key),
            None,
            &[],
        )
        .await;
    assert_eq!(lookup.status, 404);
    let created = app
        .count("SELECT COUNT(*) FROM events WHERE type = 'exchange_rate.created'")
        .await;
    assert_eq!(created, 3);
}

async fn bad_rates_are_refused_and_change_nothing(backend: Backend) {
    let app = app(backend).await;
    let good = json!({"base": "EUR", "quote": "USD", "rate": "1.0835"});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("rate", json!("0")), "rate"),
        (with("rate", json!("0.000")), "rate"),
        (with("rate", json!("-1")), "rate"),
        (with("rate", json!("1e5")), "rate"),
        (with("rate", json!("1.234567890123")), "rate"),
        (with("rate", json!("1234567890123")), "rate"),
        (with("rate", json!(".5")), "rate"),
        (with("rate", json!(" 1.1")), "rate"),
        (with("base", json!("XYZ")), "base"),
        (with("base", json!("eur")), "base"),
        (with("quote", json!("XXX")), "quote"),
        (with("quote", json!("EUR")), "quote"),
        (with("valid_from", json!("tomorrow")), "valid_from"),
    ];
    for (body, param) in cases {
        let refused = app.post("/v1/exchange_rates", body.clone()).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        assert_eq!(refused.param(), Some(param), "{body}: {}", refused.body);
    }
    // A number is no decimal string, and unknown fields are refused.
    for body in [with("rate", json!(1.0835)), with("extra", json!(1))] {
        let refused = app.post("/v1/exchange_rates", body.clone()).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM exchange_rates").await, 0);
    let created = app
        .count("SELECT COUNT(*) FROM events WHERE type = 'exchange_rate.created'")
        .await;
    assert_eq!(created, 0);
    // 12 significant digits are fine, leading and trailing zeros aside.
    let fine = rate(&app, with("rate", json!("0.000123456789012000"))).await;
    assert_eq!(fine["rate"], "0.000123456789012");
}

async fn only_writing_roles_make_rates(backend: Backend) {
    let app = app(backend).await;
    let body = json!({"base": "EUR", "quote": "USD", "rate": "1.0835"});
    for role in ["read_only", "support"] {
        let key = app.key_with_role(role).await;
        let refused = app
            .send(
                "POST",
                "/v1/exchange_rates",
                Some(&key),
                Some(body.clone()),
                &[],
            )
            .await;
        assert_eq!(refused.status, 403, "{role}: {}", refused.body);
        let read = app
            .send("GET", "/v1/exchange_rates", Some(&key), None, &[])
            .await;
        assert_eq!(read.status, 200, "{role}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM exchange_rates").await, 0);
    let developer = app.key_with_role("developer").await;
    let made = app
        .send(
            "POST",
            "/v1/exchange_rates",
            Some(&developer),
            Some(body),
            &[],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let read_only = app.key_with_role("read_only").await;
    let lookup = app
        .send(
            "GET",
            "/v1/exchange_rates?base=EUR&quote=USD",
            Some(&read_only),
            None,
            &[],
        )
        .await;
    assert_eq!(lookup.expect(200)["rate"], "1.0835");
    let no_key = app.send("GET", "/v1/exchange_rates", None, None, &[]).await;
    assert_eq!(no_key.status, 401);
}
