//! Redeem codes: made, listed, disabled; redeemed once per customer into
//! granted credit, never beyond `max_redemptions` even concurrently, and
//! guessing limited with 429.

use crate::harness::{Backend, Options, TestApp, id_of, spawn_with};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    codes_are_made_listed_and_disabled,
    a_code_credits_each_customer_once,
    concurrent_redemptions_never_exceed_the_maximum,
    guessing_codes_is_limited,
);

async fn app(backend: Backend) -> TestApp {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    spawn_with(backend, options).await
}

async fn customer(app: &TestApp, email: &str) -> String {
    id_of(&app.create_customer(email).await)
}

async fn code(app: &TestApp, body: Value) -> Value {
    app.post("/v1/redeem_codes", body).await.expect(200).clone()
}

async fn redeem(app: &TestApp, code: &str, customer_id: &str) -> crate::harness::Resp {
    app.post(
        "/v1/redeem_codes/redeem",
        json!({"code": code, "customer_id": customer_id}),
    )
    .await
}

async fn codes_are_made_listed_and_disabled(backend: Backend) {
    let app = app(backend).await;
    let generated = code(&app, json!({"amount": 500, "currency": "EUR"})).await;
    let text = generated["code"].as_str().expect("code");
    assert_eq!(text.len(), 19, "{text}");
    assert!(text.split('-').all(|part| part.len() == 4), "{text}");
    assert_eq!(generated["object"], "redeem_code");
    assert_eq!(generated["status"], "active");
    assert_eq!(generated["redemptions"], 0);
    let given = code(
        &app,
        json!({"amount": 100, "currency": "JPY", "code": "spring-2027", "max_redemptions": 3}),
    )
    .await;
    assert_eq!(given["code"], "SPRING-2027");
    let again = app
        .post(
            "/v1/redeem_codes",
            json!({"amount": 1, "currency": "EUR", "code": " Spring-2027 "}),
        )
        .await;
    again.expect(409);
    for (body, param) in [
        (json!({"amount": 0, "currency": "EUR"}), "amount"),
        (json!({"amount": 5, "currency": "EURO"}), "currency"),
        (
            json!({"amount": 5, "currency": "EUR", "max_redemptions": 0}),
            "max_redemptions",
        ),
        (
            json!({"amount": 5, "currency": "EUR", "code": "a b"}),
            "code",
        ),
        (
            json!({"amount": 5, "currency": "EUR", "expires_at": "2000-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let refused = app.post("/v1/redeem_codes", body.clone()).await;
        refused.expect(400);
        assert_eq!(refused.param(), Some(param), "{body}");
    }
    let list = app.get("/v1/redeem_codes").await.expect(200).clone();
    let ids: Vec<_> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, vec![id_of(&given), id_of(&generated)]);
    let disabled = app
        .post(
            &format!("/v1/redeem_codes/{}/disable", id_of(&given)),
            json!({}),
        )
        .await;
    assert_eq!(disabled.expect(200)["status"], "disabled");
    app.post(
        &format!("/v1/redeem_codes/{}/disable", id_of(&given)),
        json!({}),
    )
    .await
    .expect(409);
    app.get("/v1/redeem_codes/rdc_unknown").await.expect(404);
    // The code is sealed at rest, found by a keyed hash.
    let stored = app
        .count("SELECT COUNT(*) FROM redeem_codes WHERE code_hash LIKE '%SPRING%' OR code_ciphertext LIKE '%SPRING%'")
        .await;
    assert_eq!(stored, 0);
}

async fn a_code_credits_each_customer_once(backend: Backend) {
    let app = app(backend).await;
    let first = customer(&app, "first@example.com").await;
    let second = customer(&app, "second@example.com").await;
    let expires_at =
        obol_core::Timestamp::from_ms(app.state.now().as_ms() + 3_600_000).to_rfc3339();
    let welcome = code(
        &app,
        json!({"amount": 500, "currency": "EUR", "code": "WELCOME", "expires_at": expires_at}),
    )
    .await;
    let wallet = redeem(&app, "welcome", &first).await;
    assert_eq!(
        wallet.expect(200)["balances"],
        json!([{"currency": "EUR", "available": 500, "paid": 0, "granted": 500}])
    );
    let twice = redeem(&app, "WELCOME", &first).await;
    twice.expect(400);
    assert_eq!(twice.code(), "redeem_code_already_redeemed");
    for (text, customer_id, expected) in [("NOPE", first.as_str(), "redeem_code_invalid")] {
        let refused = redeem(&app, text, customer_id).await;
        refused.expect(400);
        assert_eq!(refused.code(), expected);
    }
    redeem(&app, "WELCOME", "cus_unknown").await.expect(404);
    app.advance(3_700).await;
    let late = redeem(&app, "WELCOME", &second).await;
    late.expect(400);
    assert_eq!(late.code(), "redeem_code_expired");
    let other = code(
        &app,
        json!({"amount": 100, "currency": "EUR", "code": "OFF1"}),
    )
    .await;
    app.post(
        &format!("/v1/redeem_codes/{}/disable", id_of(&other)),
        json!({}),
    )
    .await
    .expect(200);
    let off = redeem(&app, "OFF1", &second).await;
    off.expect(400);
    assert_eq!(off.code(), "redeem_code_disabled");
    let fetched = app
        .get(&format!("/v1/redeem_codes/{}", id_of(&welcome)))
        .await
        .expect(200)
        .clone();
    assert_eq!(fetched["redemptions"], 1);
    app.assert_ledger_balanced().await;
}

async fn concurrent_redemptions_never_exceed_the_maximum(backend: Backend) {
    let app = app(backend).await;
    let created = code(
        &app,
        json!({"amount": 250, "currency": "EUR", "code": "FIVE", "max_redemptions": 5}),
    )
    .await;
    let mut customers = Vec::new();
    for i in 0..20 {
        customers.push(customer(&app, &format!("c{i}@example.com")).await);
    }
    let attempts = customers
        .iter()
        .map(|customer_id| redeem(&app, "FIVE", customer_id));
    let answers = futures_util::future::join_all(attempts).await;
    let ok = answers.iter().filter(|answer| answer.status == 200).count();
    let exhausted = answers
        .iter()
        .filter(|answer| answer.status == 400 && answer.code() == "redeem_code_exhausted")
        .count();
    assert_eq!((ok, exhausted), (5, 15));
    let fetched = app
        .get(&format!("/v1/redeem_codes/{}", id_of(&created)))
        .await
        .expect(200)
        .clone();
    assert_eq!(fetched["redemptions"], 5);
    let promotions = app.get("/v1/ledger/accounts?type=promotions").await;
    assert_eq!(promotions.expect(200)["data"][0]["balance"], 5 * 250);
    assert_eq!(app.count("SELECT COUNT(*) FROM wallet_grants").await, 5);
    app.assert_ledger_balanced().await;
}

async fn guessing_codes_is_limited(backend: Backend) {
    let app = app(backend).await;
    let guesser = customer(&app, "guesser@example.com").await;
    code(
        &app,
        json!({"amount": 100, "currency": "EUR", "code": "REAL"}),
    )
    .await;
    let mut limited = None;
    for attempt in 0..30 {
        let answer = redeem(&app, &format!("GUESS{attempt}"), &guesser).await;
        if answer.status == 429 {
            limited = Some((attempt, answer));
            break;
        }
        assert_eq!(answer.code(), "redeem_code_invalid");
    }
    let (attempt, answer) = limited.expect("429 within 30 wrong codes");
    assert_eq!(attempt, 10, "ten wrong codes are allowed");
    assert_eq!(answer.body["error"]["type"], "rate_limit_error");
    let retry: u64 = answer
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    // Even the real code waits; another customer does not.
    redeem(&app, "REAL", &guesser).await.expect(429);
    let other = customer(&app, "other@example.com").await;
    redeem(&app, "REAL", &other).await.expect(200);
    // Past the window the customer may try again.
    app.advance(901).await;
    redeem(&app, "REAL", &guesser).await.expect(200);

    // Guesses sent all at once count each other: at most ten are tried.
    let rusher = customer(&app, "rusher@example.com").await;
    let guesses: Vec<String> = (0..40).map(|at| format!("RUSH{at}")).collect();
    let answers =
        futures_util::future::join_all(guesses.iter().map(|code| redeem(&app, code, &rusher)))
            .await;
    let tried = answers
        .iter()
        .filter(|answer| answer.status == 400 && answer.code() == "redeem_code_invalid")
        .count();
    let limited = answers.iter().filter(|answer| answer.status == 429).count();
    assert!(tried <= 10, "{tried} guesses were tried");
    assert_eq!(tried + limited, 40);
}
