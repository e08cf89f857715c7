//! Acceptance "Mandates (recurring payments)": a `setup_mandate` order paid
//! with a card leaves a mandate; orders that name it charge it with no
//! customer present (`trigger: recurring`) until it is revoked; the
//! mandate is the customer's and the brand's alone.

use crate::harness::{self, Backend, Options, Resp, TestApp, id_of, spawn_paying};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    set_up_charged_three_times_then_revoked,
    confirm_charges_a_mandate_stored_on_the_order,
    a_sale_can_set_up_a_mandate,
    another_customers_or_brands_mandate_is_not_found,
    three_d_secure_setup_then_charges_without_a_challenge,
    asynchronous_setup_leaves_its_mandate_once_settled,
    verify_only_card_sets_up_a_mandate_whose_charges_are_declined,
    bad_mandate_requests_are_refused,
    mandate_events_are_recorded,
    keys_that_may_not_read_or_revoke_mandates,
    a_mandate_is_set_up_and_used_as_named_only,
);

const VISA: &str = "4242424242424242";
const CHALLENGE: &str = "4000000000003220";
const ASYNC_APPROVAL: &str = "4000000000000077";
const VERIFY_ONLY: &str = "4000000000000341";

async fn app(backend: Backend) -> TestApp {
    spawn_paying(backend, Options::default()).await
}

/// A new customer of the app's brand; its id.
async fn customer(app: &TestApp, email: &str) -> String {
    id_of(&app.create_customer(email).await)
}

/// A `setup_mandate` EUR order of `amount` for `customer_id`, confirmed
/// with the card `number`.
async fn setup(app: &TestApp, customer_id: &str, amount: i64, number: &str) -> Resp {
    let order = app
        .create_order(
            json!({"amount": amount, "currency": "EUR", "setup_mandate": true,
                             "customer_id": customer_id}),
        )
        .await;
    app.confirm_card(&id_of(&order), number).await
}

/// Sets up a mandate for `customer_id` with a zero-amount verification of
/// `number`; the mandate.
async fn mandate(app: &TestApp, customer_id: &str, number: &str) -> Value {
    let order = setup(app, customer_id, 0, number).await.expect(200).clone();
    assert_eq!(order["status"], "paid", "{order}");
    let mandate_id = order["mandate_id"]
        .as_str()
        .expect("the order names its mandate");
    app.get(&format!("/v1/mandates/{mandate_id}"))
        .await
        .expect(200)
        .clone()
}

/// `POST /v1/orders` charging `mandate_id` at once with `amount` EUR.
async fn charge(app: &TestApp, mandate_id: &str, amount: i64) -> Resp {
    app.post(
        "/v1/orders",
        json!({"amount": amount, "currency": "EUR", "mandate_id": mandate_id, "confirm": true}),
    )
    .await
}

/// Checks a paid mandate charge: one `recurring` sale of `amount` through
/// the mandate's account, showing the mandate's card.
#[track_caller]
fn assert_charged(order: &Value, mandate: &Value, amount: i64) {
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], amount);
    assert_eq!(order["mandate_id"], mandate["id"]);
    assert_eq!(order["customer_id"], mandate["customer_id"]);
    assert_eq!(order["setup_mandate"], false);
    let payments = order["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 1, "{order}");
    let txn = &payments[0];
    assert_eq!(txn["kind"], "sale");
    assert_eq!(txn["status"], "succeeded");
    assert_eq!(txn["trigger"], "recurring");
    assert_eq!(txn["amount"], amount);
    assert_eq!(txn["connector_account_id"], mandate["connector_account_id"]);
    let card = &mandate["payment_method"];
    assert_eq!(
        txn["payment_method"],
        json!({"type": "card", "brand": card["brand"], "last4": card["last4"],
               "exp_month": card["exp_month"], "exp_year": card["exp_year"],
               "mandate_id": mandate["id"]})
    );
}

/// The order's ledger entries.
async fn ledger_entries(app: &TestApp, order_id: &str) -> Vec<Value> {
    app.get(&format!("/v1/ledger/entries?order_id={order_id}"))
        .await
        .expect(200)["data"]
        .as_array()
        .expect("data")
        .clone()
}

async fn set_up_charged_three_times_then_revoked(backend: Backend) {
    let app = app(backend).await;
    let account_id = app.get("/v1/connector_accounts").await.expect(200)["data"][0]["id"].clone();
    let customer_id = customer(&app, "renews@example.com").await;
    let setup_order = setup(&app, &customer_id, 0, VISA).await.expect(200).clone();
    assert_eq!(setup_order["status"], "paid");
    assert_eq!(setup_order["payments"][0]["kind"], "verify");
    assert_eq!(setup_order["payments"][0]["trigger"], "api");
    let mandate_id = setup_order["mandate_id"].as_str().expect("mandate_id");
    assert!(mandate_id.starts_with("mdt_"), "{mandate_id}");
    let mandate = app
        .get(&format!("/v1/mandates/{mandate_id}"))
        .await
        .expect(200)
        .clone();
    let created_at = mandate["created_at"].clone();
    assert!(created_at.is_string(), "{mandate}");
    assert_eq!(
        mandate,
        json!({"id": mandate_id, "object": "mandate", "customer_id": customer_id,
               "status": "active",
               "payment_method": {"type": "card", "brand": "visa", "last4": "4242",
                                  "exp_month": 12, "exp_year": 2030},
               "connector_account_id": account_id, "order_id": setup_order["id"],
               "created_at": created_at, "revoked_at": null})
    );

    let mut charged = Vec::new();
    for amount in [1500, 1500, 2500] {
        let order = charge(&app, mandate_id, amount).await.expect(200).clone();
        assert_charged(&order, &mandate, amount);
        let entries = ledger_entries(&app, &id_of(&order)).await;
        assert_eq!(entries.len(), 1, "one capture entry: {entries:?}");
        let postings = entries[0]["postings"].as_array().expect("postings");
        let moved: i64 = postings
            .iter()
            .map(|p| p["amount"].as_i64().expect("amount"))
            .filter(|amount| *amount > 0)
            .sum();
        assert_eq!(moved, amount);
        charged.push(id_of(&order));
    }
    // A recurring charge of the same mandate with the customer named too.
    let named = app
        .post(
            "/v1/orders",
            json!({"amount": 700, "currency": "EUR", "customer_id": customer_id,
                   "payment_method": {"type": "mandate", "mandate_id": mandate_id},
                   "confirm": true}),
        )
        .await;
    assert_charged(named.expect(200), &mandate, 700);
    let listed = app
        .get(&format!("/v1/orders?customer_id={customer_id}"))
        .await;
    assert_eq!(listed.expect(200)["data"].as_array().map(Vec::len), Some(5));
    let listed = app
        .get(&format!("/v1/mandates?customer_id={customer_id}"))
        .await;
    assert_eq!(harness::ids(listed.expect(200)), [mandate_id]);

    let revoked = app
        .post(&format!("/v1/mandates/{mandate_id}/revoke"), json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert_eq!(
        app.get(&format!("/v1/mandates/{mandate_id}"))
            .await
            .expect(200),
        &revoked
    );
    let again = app
        .post(&format!("/v1/mandates/{mandate_id}/revoke"), json!({}))
        .await;
    again.expect(409);
    assert_eq!(again.code(), "invalid_state");
    let after = charge(&app, mandate_id, 1500).await;
    after.expect(409);
    assert_eq!(after.code(), "invalid_state");
    assert!(
        after.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("revoked")),
        "{}",
        after.body
    );
    // Nothing was made for the refused charge.
    let orders = app.count("SELECT COUNT(*) FROM orders").await;
    assert_eq!(orders, 5);
    app.assert_ledger_balanced().await;
}

async fn confirm_charges_a_mandate_stored_on_the_order(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "later@example.com").await;
    let mandate = mandate(&app, &customer_id, VISA).await;
    let mandate_id = mandate["id"].as_str().expect("id");
    // No customer named: the order takes the mandate's.
    let order = app
        .create_order(json!({"amount": 1200, "currency": "EUR", "mandate_id": mandate_id}))
        .await;
    assert_eq!(order["status"], "in_progress");
    assert_eq!(order["mandate_id"], mandate_id);
    assert_eq!(order["customer_id"], customer_id.as_str());
    assert_eq!(order["customer_email"], "later@example.com");
    let path = format!("/v1/orders/{}/confirm", id_of(&order));
    let other = app
        .post(
            &path,
            json!({"payment_method": {"type": "mandate", "mandate_id": "mdt_other"}}),
        )
        .await;
    other.expect(400);
    assert_eq!(other.param(), Some("payment_method[mandate_id]"));
    let method = json!({"type": "mandate", "mandate_id": mandate_id});
    let paid = app.post(&path, json!({"payment_method": method})).await;
    assert_charged(paid.expect(200), &mandate, 1200);

    // A retried charge with its Idempotency-Key charges once.
    let body = json!({"amount": 800, "currency": "EUR", "mandate_id": mandate_id, "confirm": true});
    let first = app
        .post_idempotent("/v1/orders", "renewal-7", body.clone())
        .await;
    let first = first.expect(200).clone();
    assert_charged(&first, &mandate, 800);
    let retry = app.post_idempotent("/v1/orders", "renewal-7", body).await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.expect(200)["id"], first["id"]);
    let sales = app
        .count("SELECT COUNT(*) FROM transactions WHERE trigger_source = 'recurring'")
        .await;
    assert_eq!(sales, 2);

    // An order with no customer and no mandate takes the customer of the
    // mandate it is confirmed with.
    let order = app
        .create_order(json!({"amount": 900, "currency": "EUR"}))
        .await;
    assert_eq!(order["customer_id"], Value::Null);
    let path = format!("/v1/orders/{}/confirm", id_of(&order));
    let paid = app.post(&path, json!({"payment_method": method})).await;
    assert_charged(paid.expect(200), &mandate, 900);
    assert_eq!(
        app.order(&id_of(&order)).await["customer_id"],
        customer_id.as_str()
    );
    app.assert_ledger_balanced().await;
}

async fn a_sale_can_set_up_a_mandate(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "first@example.com").await;
    let order = setup(&app, &customer_id, 4900, VISA)
        .await
        .expect(200)
        .clone();
    assert_eq!(order["status"], "paid");
    assert_eq!(order["amount_captured"], 4900);
    assert_eq!(order["payments"][0]["kind"], "sale");
    let mandate_id = order["mandate_id"].as_str().expect("mandate_id");
    let mandate = app
        .get(&format!("/v1/mandates/{mandate_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(mandate["order_id"], order["id"]);
    let renewal = charge(&app, mandate_id, 4900).await;
    assert_charged(renewal.expect(200), &mandate, 4900);
    // A setup order paid by authorization sets one up as well.
    let held = app
        .create_order(
            json!({"amount": 300, "currency": "EUR", "setup_mandate": true,
                             "customer_id": customer_id, "auto_capture": false}),
        )
        .await;
    let held = app
        .confirm_card(&id_of(&held), VISA)
        .await
        .expect(200)
        .clone();
    assert_eq!(held["status"], "authorized");
    assert!(
        held["mandate_id"]
            .as_str()
            .is_some_and(|id| id != mandate_id)
    );
    let listed = app
        .get(&format!("/v1/mandates?customer_id={customer_id}&limit=1"))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        harness::ids(&listed),
        [held["mandate_id"].as_str().unwrap()]
    );
    assert_eq!(listed["has_more"], true);
    let next = app
        .get(&format!(
            "/v1/mandates?customer_id={customer_id}&starting_after={}",
            held["mandate_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(harness::ids(next.expect(200)), [mandate_id]);
    app.assert_ledger_balanced().await;
}

async fn another_customers_or_brands_mandate_is_not_found(backend: Backend) {
    let app = app(backend).await;
    let ann = customer(&app, "ann@example.com").await;
    let bob = customer(&app, "bob@example.com").await;
    let mandate = mandate(&app, &ann, VISA).await;
    let mandate_id = mandate["id"].as_str().expect("id");

    let as_bob = app
        .post(
            "/v1/orders",
            json!({"amount": 1000, "currency": "EUR", "customer_id": bob,
                   "mandate_id": mandate_id, "confirm": true}),
        )
        .await;
    as_bob.expect(404);
    assert_eq!(as_bob.code(), "resource_missing");
    assert_eq!(as_bob.param(), Some("mandate_id"));
    let bobs_order = app
        .create_order(json!({"amount": 1000, "currency": "EUR", "customer_id": bob}))
        .await;
    let confirm = app
        .post(
            &format!("/v1/orders/{}/confirm", id_of(&bobs_order)),
            json!({"payment_method": {"type": "mandate", "mandate_id": mandate_id}}),
        )
        .await;
    confirm.expect(404);
    assert_eq!(confirm.param(), Some("mandate_id"));
    assert_eq!(app.order(&id_of(&bobs_order)).await["payments"], json!([]));
    let unknown = charge(&app, "mdt_00000000000000000000000000", 1000).await;
    unknown.expect(404);
    assert_eq!(unknown.param(), Some("mandate_id"));

    let (_, other_key) = app.other_brand("Globex").await;
    let as_other = |method: &'static str, path: String, body: Option<Value>| {
        let key = other_key.clone();
        let app = &app;
        async move { app.send(method, &path, Some(&key), body, &[]).await }
    };
    as_other(
        "POST",
        "/v1/connector_accounts".into(),
        Some(json!({"connector": "sandbox", "payment_methods": ["card"]})),
    )
    .await
    .expect(200);
    let theirs = as_other(
        "POST",
        "/v1/orders".into(),
        Some(json!({"amount": 1000, "currency": "EUR", "mandate_id": mandate_id, "confirm": true})),
    )
    .await;
    theirs.expect(404);
    assert_eq!(theirs.param(), Some("mandate_id"));
    let read = as_other("GET", format!("/v1/mandates/{mandate_id}"), None).await;
    read.expect(404);
    let revoke = as_other(
        "POST",
        format!("/v1/mandates/{mandate_id}/revoke"),
        Some(json!({})),
    )
    .await;
    revoke.expect(404);
    let list = as_other("GET", "/v1/mandates".into(), None).await;
    assert_eq!(list.expect(200)["data"], json!([]));
    let list = as_other("GET", format!("/v1/mandates?customer_id={ann}"), None).await;
    list.expect(404);
    assert_eq!(list.param(), Some("customer_id"));
    // Still active, and still Ann's to be charged.
    let ours = app.get(&format!("/v1/mandates/{mandate_id}")).await;
    assert_eq!(ours.expect(200)["status"], "active");
    assert_charged(
        charge(&app, mandate_id, 1000).await.expect(200),
        &mandate,
        1000,
    );
}

async fn three_d_secure_setup_then_charges_without_a_challenge(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "secure@example.com").await;
    let order = setup(&app, &customer_id, 0, CHALLENGE)
        .await
        .expect(200)
        .clone();
    assert_eq!(order["status"], "requires_action");
    assert_eq!(order["mandate_id"], Value::Null);
    let order_id = id_of(&order);
    let payment_id = order["payments"][0]["connector_transaction_id"]
        .as_str()
        .expect("the sandbox's payment id");
    obol_payments::sandbox::sandbox(&app.state)
        .complete_challenge(payment_id, true)
        .await
        .expect("the challenge completes");
    let synced = app
        .post(&format!("/v1/orders/{order_id}/sync"), json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(synced["status"], "paid", "{synced}");
    let mandate_id = synced["mandate_id"].as_str().expect("mandate_id");
    // A second sync finds nothing open and sets up nothing more.
    let again = app
        .post(&format!("/v1/orders/{order_id}/sync"), json!({}))
        .await;
    assert_eq!(again.expect(200)["mandate_id"], mandate_id);
    assert_eq!(app.count("SELECT COUNT(*) FROM mandates").await, 1);
    let mandate = app
        .get(&format!("/v1/mandates/{mandate_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(mandate["payment_method"]["last4"], "3220");
    let renewal = charge(&app, mandate_id, 2000).await.expect(200).clone();
    assert_charged(&renewal, &mandate, 2000);
    assert_eq!(renewal["next_action"], Value::Null);
    app.assert_ledger_balanced().await;
}

async fn asynchronous_setup_leaves_its_mandate_once_settled(backend: Backend) {
    let app = harness::spawn_paying(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    let customer_id = customer(&app, "slow@example.com").await;
    let order = setup(&app, &customer_id, 0, ASYNC_APPROVAL)
        .await
        .expect(200)
        .clone();
    assert_eq!(order["status"], "processing", "{order}");
    assert_eq!(order["mandate_id"], Value::Null);
    // The transaction's sync job settles it once the sandbox has approved.
    app.advance(60).await;
    let settled = app.order(&id_of(&order)).await;
    assert_eq!(settled["status"], "paid", "{settled}");
    let mandate_id = settled["mandate_id"].as_str().expect("mandate_id");
    let mandate = app
        .get(&format!("/v1/mandates/{mandate_id}"))
        .await
        .expect(200)
        .clone();
    assert_charged(
        charge(&app, mandate_id, 500).await.expect(200),
        &mandate,
        500,
    );
}

async fn verify_only_card_sets_up_a_mandate_whose_charges_are_declined(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "lapsed@example.com").await;
    let mandate = mandate(&app, &customer_id, VERIFY_ONLY).await;
    assert_eq!(mandate["status"], "active");
    assert_eq!(mandate["payment_method"]["last4"], "0341");
    let declined = charge(&app, mandate["id"].as_str().expect("id"), 1500).await;
    declined.expect(402);
    let error = &declined.body["error"];
    assert_eq!(error["type"], "payment_error");
    assert_eq!(error["code"], "card_declined");
    assert_eq!(error["decline_code"], "generic_decline");
    let order_id = error["order_id"].as_str().expect("order_id");
    let order = app.order(order_id).await;
    assert_eq!(order["status"], "in_progress");
    assert_eq!(order["payments"][0]["status"], "failed");
    assert_eq!(order["payments"][0]["trigger"], "recurring");
    assert_eq!(
        order["last_payment_error"]["decline_code"],
        "generic_decline"
    );
    assert!(ledger_entries(&app, order_id).await.is_empty());
    // Charged directly, the card is declined too; so is a setup by sale.
    let direct = app
        .create_order(json!({"amount": 1500, "currency": "EUR"}))
        .await;
    let answer = app.confirm_card(&id_of(&direct), VERIFY_ONLY).await;
    answer.expect(402);
    assert_eq!(answer.body["error"]["decline_code"], "generic_decline");
    let by_sale = setup(&app, &customer_id, 1500, VERIFY_ONLY).await;
    by_sale.expect(402);
    assert_eq!(app.count("SELECT COUNT(*) FROM mandates").await, 1);
    app.assert_ledger_balanced().await;
}

async fn bad_mandate_requests_are_refused(backend: Backend) {
    let app = app(backend).await;
    let no_customer = app
        .post(
            "/v1/orders",
            json!({"amount": 0, "currency": "EUR", "setup_mandate": true}),
        )
        .await;
    no_customer.expect(400);
    assert_eq!(no_customer.code(), "parameter_missing");
    assert_eq!(no_customer.param(), Some("customer_id"));
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 0);

    let customer_id = customer(&app, "checks@example.com").await;
    let mandate = mandate(&app, &customer_id, VISA).await;
    let mandate_id = mandate["id"].as_str().expect("id");
    let refused = [
        (
            json!({"amount": 100, "currency": "EUR", "mandate_id": mandate_id, "confirm": true,
                   "payment_method": harness::TestApp::card(VISA)}),
            "payment_method[type]",
        ),
        (
            json!({"amount": 100, "currency": "EUR", "mandate_id": mandate_id, "confirm": true,
                   "payment_method": {"type": "mandate", "mandate_id": "mdt_other"}}),
            "payment_method[mandate_id]",
        ),
        (
            json!({"amount": 100, "currency": "EUR", "confirm": true,
                   "payment_method": {"type": "mandate"}}),
            "payment_method[mandate_id]",
        ),
        (
            json!({"amount": 0, "currency": "EUR", "setup_mandate": true,
                   "customer_id": customer_id, "mandate_id": mandate_id}),
            "mandate_id",
        ),
        (
            json!({"amount": 100, "currency": "EUR", "mandate_id": mandate_id, "confirm": true,
                   "connector_account_id": "cna_00000000000000000000000000"}),
            "connector_account_id",
        ),
        (
            json!({"amount": 100, "currency": "EUR", "confirm": true}),
            "payment_method",
        ),
    ];
    for (body, param) in refused {
        let answer = app.post("/v1/orders", body.clone()).await;
        answer.expect(400);
        assert_eq!(answer.param(), Some(param), "{body}: {}", answer.body);
    }
    // A setup order is confirmed with a card, not with a mandate.
    let setup_order = app
        .create_order(
            json!({"amount": 0, "currency": "EUR", "setup_mandate": true,
                             "customer_id": customer_id}),
        )
        .await;
    let answer = app
        .post(
            &format!("/v1/orders/{}/confirm", id_of(&setup_order)),
            json!({"payment_method": {"type": "mandate", "mandate_id": mandate_id}}),
        )
        .await;
    answer.expect(400);
    assert_eq!(answer.param(), Some("payment_method[type]"));
    // The refused requests made no order.
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 2);
    let missing = app.get("/v1/mandates?customer_id=cus_unknown").await;
    missing.expect(404);
    assert_eq!(missing.param(), Some("customer_id"));
    let cursor = app.get("/v1/mandates?starting_after=mdt_unknown").await;
    cursor.expect(400);
    assert_eq!(cursor.param(), Some("starting_after"));
    app.get("/v1/mandates/mdt_unknown").await.expect(404);
    // Its connector account disabled, a mandate takes no new charge.
    app.delete(&format!(
        "/v1/connector_accounts/{}",
        mandate["connector_account_id"].as_str().expect("account")
    ))
    .await
    .expect(200);
    let disabled = charge(&app, mandate_id, 100).await;
    disabled.expect(400);
    assert_eq!(disabled.code(), "no_connector_available");
    assert_eq!(disabled.param(), Some("mandate_id"));
}

async fn mandate_events_are_recorded(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "events@example.com").await;
    let mandate = mandate(&app, &customer_id, VISA).await;
    let mandate_id = mandate["id"].as_str().expect("id");
    let revoked = app
        .post(&format!("/v1/mandates/{mandate_id}/revoke"), json!({}))
        .await
        .expect(200)
        .clone();
    let created = app.get("/v1/events?type=mandate.created").await;
    let created = created.expect(200)["data"]
        .as_array()
        .expect("data")
        .clone();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["object"], mandate);
    let revocations = app.get("/v1/events?type=mandate.revoked").await;
    let revocations = revocations.expect(200)["data"]
        .as_array()
        .expect("data")
        .clone();
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0]["data"]["object"], revoked);
    // The setup order's paid event already names the mandate, and comes after it.
    let paid = app.get("/v1/events?type=order.paid").await;
    let paid = &paid.expect(200)["data"][0];
    assert_eq!(paid["data"]["object"]["mandate_id"], mandate_id);
    assert!(paid["sequence"].as_i64() > created[0]["sequence"].as_i64());
    // The token is no part of any answer or event.
    let token: String = obol_store::sql::query_scalar("SELECT connector_token FROM mandates")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("token");
    let everything = app
        .get("/v1/events?limit=100")
        .await
        .expect(200)
        .to_string();
    assert!(!everything.contains(&token));
    assert!(!mandate.to_string().contains(&token));
}

async fn keys_that_may_not_read_or_revoke_mandates(backend: Backend) {
    let app = app(backend).await;
    let customer_id = customer(&app, "keys@example.com").await;
    let mandate = mandate(&app, &customer_id, VISA).await;
    let mandate_id = mandate["id"].as_str().expect("id");
    let publishable = app.publishable_key.clone();
    for path in [
        format!("/v1/mandates/{mandate_id}"),
        format!("/v1/mandates?customer_id={customer_id}"),
    ] {
        let answer = app.send("GET", &path, Some(&publishable), None, &[]).await;
        answer.expect(401);
    }
    let revoke = format!("/v1/mandates/{mandate_id}/revoke");
    let answer = app
        .send("POST", &revoke, Some(&publishable), Some(json!({})), &[])
        .await;
    answer.expect(401);
    // A publishable key cannot charge one either, even with the order's secret.
    let order = app
        .create_order(json!({"amount": 100, "currency": "EUR", "customer_id": customer_id}))
        .await;
    let confirm = app
        .send(
            "POST",
            &format!("/v1/orders/{}/confirm", id_of(&order)),
            Some(&publishable),
            Some(
                json!({"payment_method": {"type": "mandate", "mandate_id": mandate_id},
                        "client_secret": order["client_secret"]}),
            ),
            &[],
        )
        .await;
    confirm.expect(401);
    for role in ["support", "read_only"] {
        let key = app.key_with_role(role).await;
        let read = app
            .send(
                "GET",
                &format!("/v1/mandates/{mandate_id}"),
                Some(&key),
                None,
                &[],
            )
            .await;
        read.expect(200);
        let answer = app
            .send("POST", &revoke, Some(&key), Some(json!({})), &[])
            .await;
        answer.expect(403);
    }
    let developer = app.key_with_role("developer").await;
    let answer = app
        .send("POST", &revoke, Some(&developer), Some(json!({})), &[])
        .await;
    assert_eq!(answer.expect(200)["status"], "revoked");
}

/// A mandate is set up by a card only (not crypto); an order named for a
/// mandate is paid by it, not by a card; a mandate revoked after its order
/// was made is refused at confirm, with no payment made.
async fn a_mandate_is_set_up_and_used_as_named_only(backend: Backend) {
    let app = app(backend).await;
    app.post(
        "/v1/connector_accounts",
        json!({"connector": "sandbox", "payment_methods": ["crypto"]}),
    )
    .await
    .expect(200);
    let buyer = customer(&app, "named@example.com").await;
    let setup_order = app
        .create_order(
            json!({"amount": 500, "currency": "EUR", "setup_mandate": true, "customer_id": buyer}),
        )
        .await;
    let crypto = app
        .post(
            &format!("/v1/orders/{}/confirm", id_of(&setup_order)),
            json!({"payment_method": {"type": "crypto"}}),
        )
        .await;
    assert_eq!(
        (crypto.status, crypto.code(), crypto.param()),
        (400, "operation_unsupported", Some("payment_method[type]")),
        "{}",
        crypto.body
    );
    let at_creation = app
        .post(
            "/v1/orders",
            json!({"amount": 500, "currency": "EUR", "setup_mandate": true, "customer_id": buyer,
                   "confirm": true, "payment_method": {"type": "crypto"}}),
        )
        .await;
    assert_eq!(
        (at_creation.status, at_creation.code()),
        (400, "operation_unsupported")
    );
    assert_eq!(
        app.order(&id_of(&setup_order)).await["payments"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    let mandate = mandate(&app, &buyer, VISA).await;
    let mandate_id = id_of(&mandate);
    let named = app
        .create_order(json!({"amount": 700, "currency": "EUR", "mandate_id": mandate_id}))
        .await;
    let named_id = id_of(&named);
    let by_card = app.confirm_card(&named_id, VISA).await;
    assert_eq!(
        (by_card.status, by_card.param()),
        (400, Some("payment_method[type]")),
        "{}",
        by_card.body
    );

    app.post(&format!("/v1/mandates/{mandate_id}/revoke"), json!({}))
        .await
        .expect(200);
    let sandbox_payments = app.count("SELECT COUNT(*) FROM sandbox_payments").await;
    let revoked = app
        .post(
            &format!("/v1/orders/{named_id}/confirm"),
            json!({"payment_method": {"type": "mandate", "mandate_id": mandate_id}}),
        )
        .await;
    assert_eq!(
        (revoked.status, revoked.code()),
        (409, "invalid_state"),
        "{}",
        revoked.body
    );
    let order = app.order(&named_id).await;
    assert_eq!(order["status"], "in_progress");
    assert_eq!(order["payments"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sandbox_payments").await,
        sandbox_payments
    );
}
