//! Acceptance "Real connectors: Stripe": a Stripe connector account pointed
//! at localstripe (a stateful fake of Stripe's API from PyPI) behind the
//! proxy of obol-connectors' tests, which adds Stripe's idempotency keys,
//! records every request and can lose an answer. Payments go through
//! Obol's API as a merchant's would; webhooks are signed in the test the
//! way Stripe signs them, with the account's `webhook_secret`.

#[path = "../../../../obol-connectors/tests/support/localstripe.rs"]
pub(super) mod localstripe;

use crate::harness::{self, Backend, Options, Resp, TestApp, id_of};
use crate::on_both;
use hmac::{Hmac, Mac};
use localstripe::{Fault, LocalStripe, SECRET_KEY};
use serde_json::{Value, json};

on_both!(
    stripe_and_the_sandbox_agree,
    a_decline_and_a_challenge_completed_then_synced,
    a_signed_webhook_applies_once_and_a_forged_one_changes_nothing,
    a_lost_answer_is_settled_by_sync_with_one_charge,
    a_request_stripe_refuses_is_400_with_its_message,
    wrong_credentials_are_refused_and_nothing_is_stored,
);

pub(super) const WEBHOOK_SECRET: &str = "whsec_test_obol_stripe";
pub(super) const VISA: &str = "4242424242424242";
/// localstripe declines every charge of this card.
pub(super) const DECLINES: &str = "4000000000000341";
/// localstripe asks for 3-D Secure on every confirm of this card.
pub(super) const CHALLENGE: &str = "4000000000003220";
/// Distinct from every test card number's digits: searched for in what is stored.
const CVC: &str = "987";

/// A server with a sandbox card account and a Stripe account at localstripe.
pub(super) struct World {
    pub(super) app: TestApp,
    pub(super) stripe: LocalStripe,
    pub(super) sandbox_account: String,
    pub(super) stripe_account: String,
}

impl World {
    pub(super) async fn start(backend: Backend) -> World {
        World::start_with(backend, Options::default()).await
    }

    pub(super) async fn start_with(backend: Backend, options: Options) -> World {
        let stripe = LocalStripe::start().await;
        let app = harness::spawn_with(backend, options).await;
        let sandbox_account = app.sandbox_account().await;
        let created = app
            .post(
                "/v1/connector_accounts",
                json!({"connector": "stripe", "payment_methods": ["card"],
                    "credentials": stripe_credentials(&stripe, SECRET_KEY)}),
            )
            .await;
        let stripe_account = id_of(created.expect(200));
        World {
            app,
            stripe,
            sandbox_account,
            stripe_account,
        }
    }

    /// A new EUR order of `amount`; its id.
    pub(super) async fn order(&self, amount: i64, auto_capture: bool) -> String {
        let order = self
            .app
            .create_order(
                json!({"amount": amount, "currency": "EUR", "auto_capture": auto_capture}),
            )
            .await;
        id_of(&order)
    }

    /// Confirms the order with card `number` on connector account `account`.
    pub(super) async fn confirm(&self, order_id: &str, number: &str, account: &str) -> Resp {
        self.app
            .post(
                &format!("/v1/orders/{order_id}/confirm"),
                json!({"connector_account_id": account, "payment_method": {"type": "card",
                    "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": CVC}}}),
            )
            .await
    }

    pub(super) async fn call(&self, order_id: &str, action: &str, body: Value) -> Resp {
        self.app
            .post(&format!("/v1/orders/{order_id}/{action}"), body)
            .await
    }

    pub(super) async fn refund(&self, order_id: &str, amount: i64) -> Resp {
        self.app
            .post(
                "/v1/refunds",
                json!({"order_id": order_id, "amount": amount}),
            )
            .await
    }

    /// The Stripe PaymentIntent of the order's first payment.
    pub(super) async fn intent_of(&self, order_id: &str) -> String {
        let order = self.app.order(order_id).await;
        order["payments"][0]["connector_transaction_id"]
            .as_str()
            .expect("the payment's Stripe id")
            .to_owned()
    }

    /// Completes the 3-D Secure challenge of the order's payment at
    /// localstripe, as the customer would; the PaymentIntent's id.
    pub(super) async fn authenticate(&self, order_id: &str) -> String {
        let intent_id = self.intent_of(order_id).await;
        let path = format!("/v1/payment_intents/{intent_id}");
        let intent = self.stripe.get(&path).await;
        let secret = intent["client_secret"].as_str().expect("a client secret");
        let (status, body) = self
            .stripe
            .post(
                &format!("{path}/_authenticate"),
                &[("client_secret", secret), ("success", "true")],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        intent_id
    }

    /// Posts `event` to the Stripe account's notification URL, signed at
    /// `signed_at` (Unix seconds) with `secret`.
    pub(super) async fn notify(&self, event: &Value, secret: &str, signed_at: i64) -> Resp {
        let body = event.to_string();
        let header = format!("t={signed_at},v1={}", sign(secret, signed_at, &body));
        let response = self
            .app
            .client
            .post(format!("{}/v1/ipn/{}", self.app.url, self.stripe_account))
            .header("content-type", "application/json")
            .header("stripe-signature", header)
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        Resp {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// Recorded requests to localstripe that carry the card's number or CVC.
    pub(super) fn requests_with_card_data(&self) -> Vec<String> {
        self.stripe
            .recorded()
            .into_iter()
            .filter(|request| {
                request.param("card[number]").is_some()
                    || request.param("card[cvc]").is_some()
                    || request.body.contains(VISA)
            })
            .map(|request| request.path)
            .collect()
    }
}

fn stripe_credentials(stripe: &LocalStripe, secret_key: &str) -> Value {
    json!({"secret_key": secret_key, "webhook_secret": WEBHOOK_SECRET,
        "api_base": stripe.api_base()})
}

/// Stripe's signature: hex HMAC-SHA256 of `{t}.{body}` under the whole secret.
fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub(super) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .try_into()
        .expect("in range")
}

pub(super) fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "data": {"object": object}})
}

/// What an order came to: its status, amounts, and its transactions'
/// kinds and statuses, oldest first.
pub(super) async fn outcome(app: &TestApp, order_id: &str) -> Value {
    let order = app.order(order_id).await;
    let mut transactions = app
        .get(&format!("/v1/transactions?order_id={order_id}"))
        .await
        .expect(200)["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|txn| json!([txn["kind"], txn["status"], txn["amount"]]))
        .collect::<Vec<_>>();
    transactions.reverse();
    json!({"status": order["status"], "authorized": order["amount_authorized"],
        "captured": order["amount_captured"], "refunded": order["amount_refunded"],
        "transactions": transactions})
}

/// The scenarios where the sandbox and Stripe behave alike, run on
/// `account`; what each came to, by name.
async fn scenarios(world: &World, account: &str) -> Vec<(&'static str, Value)> {
    let mut results = Vec::new();

    let sale = world.order(8925, true).await;
    world.confirm(&sale, VISA, account).await.expect(200);
    results.push(("sale", outcome(&world.app, &sale).await));

    let held = world.order(5000, false).await;
    let authorized = world.confirm(&held, VISA, account).await;
    assert_eq!(authorized.expect(200)["status"], "authorized");
    world
        .call(&held, "capture", json!({"amount": 3000}))
        .await
        .expect(200);
    results.push((
        "authorize_partial_capture",
        outcome(&world.app, &held).await,
    ));

    let voided = world.order(4000, false).await;
    world.confirm(&voided, VISA, account).await.expect(200);
    world.call(&voided, "void", json!({})).await.expect(200);
    results.push(("void", outcome(&world.app, &voided).await));

    let refunded = world.order(5000, true).await;
    world.confirm(&refunded, VISA, account).await.expect(200);
    let partial = world.refund(&refunded, 2000).await;
    assert_eq!(partial.expect(200)["status"], "succeeded");
    results.push(("partial_refund", outcome(&world.app, &refunded).await));
    world.refund(&refunded, 3000).await.expect(200);
    results.push(("full_refund", outcome(&world.app, &refunded).await));
    results
}

async fn stripe_and_the_sandbox_agree(backend: Backend) {
    let world = World::start(backend).await;
    let on_sandbox = scenarios(&world, &world.sandbox_account).await;
    let on_stripe = scenarios(&world, &world.stripe_account).await;
    assert_eq!(on_sandbox, on_stripe);
    let expected = [
        ("sale", "paid", 8925),
        ("authorize_partial_capture", "paid", 3000),
        ("void", "canceled", 0),
        ("partial_refund", "partially_refunded", 5000),
        ("full_refund", "refunded", 5000),
    ];
    for ((name, result), (expected_name, status, captured)) in on_stripe.iter().zip(expected) {
        assert_eq!(*name, expected_name);
        assert_eq!(result["status"], status, "{name}: {result}");
        assert_eq!(result["captured"], captured, "{name}: {result}");
    }

    // A card's number and CVC went to Stripe in one request per card
    // payment (its PaymentMethod), and are nowhere in the database.
    let with_card = world.requests_with_card_data();
    assert_eq!(with_card.len(), 4, "{with_card:?}");
    assert!(with_card.iter().all(|path| path == "/v1/payment_methods"));
    let bytes = world.app.database_bytes().await;
    assert!(!harness::contains(&bytes, VISA.as_bytes()));
    assert!(!harness::contains(&bytes, b"\"cvc\""));
    assert!(!harness::contains(&bytes, format!("\"{CVC}\"").as_bytes()));
}

async fn a_decline_and_a_challenge_completed_then_synced(backend: Backend) {
    let world = World::start(backend).await;
    let declined = world.order(2500, true).await;
    let answer = world
        .confirm(&declined, DECLINES, &world.stripe_account)
        .await;
    answer.expect(402);
    assert_eq!(answer.code(), "card_declined", "{}", answer.body);
    assert!(answer.body["error"]["decline_code"].is_string());
    let order = world.app.order(&declined).await;
    assert_eq!(order["status"], "in_progress");
    assert_eq!(order["amount_captured"], 0);

    let challenged = world.order(2500, true).await;
    let answer = world
        .confirm(&challenged, CHALLENGE, &world.stripe_account)
        .await;
    let order = answer.expect(200).clone();
    assert_eq!(order["status"], "requires_action", "{order}");
    // localstripe asks for Stripe.js with no page of its own: the customer
    // goes to Obol's page, confirms with the bank, and continues there.
    let intent_id = world.intent_of(&challenged).await;
    let page_url = format!(
        "{}/stripe/challenge/{}/{intent_id}",
        world.app.url, world.stripe_account
    );
    assert_eq!(order["next_action"]["url"], page_url.as_str(), "{order}");
    let page = world
        .app
        .client
        .get(&page_url)
        .send()
        .await
        .expect("the page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("HTML");
    assert!(
        html.contains("2.500,00") || html.contains("25.00"),
        "{html}"
    );
    let token = html
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's token")
        .to_owned();
    let forged = continue_after_bank(&page_url, "forged").await;
    assert_eq!(forged.0, 400);
    // Not confirmed at the bank yet: the page again, the payment as it was.
    let early = continue_after_bank(&page_url, &token).await;
    assert_eq!(early.0, 200);
    assert!(early.2.contains("has not confirmed"), "{}", early.2);
    assert_eq!(
        world.app.order(&challenged).await["status"],
        "requires_action"
    );
    world.authenticate(&challenged).await;
    let (status, location, _) = continue_after_bank(&page_url, &token).await;
    assert_eq!(status, 303);
    assert!(
        location.contains(&format!("/pay/{challenged}")),
        "{location}"
    );
    let order = world.app.order(&challenged).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["amount_captured"], 2500);
    let unknown = format!(
        "{}/stripe/challenge/{}/pi_unknown",
        world.app.url, world.stripe_account
    );
    let missing = world
        .app
        .client
        .get(&unknown)
        .send()
        .await
        .expect("the page");
    assert_eq!(missing.status(), 404);
}

/// Posts "continue" on Obol's bank approval page: status, `Location`, body.
async fn continue_after_bank(url: &str, token: &str) -> (u16, String, String) {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .expect("the page answers");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, response.text().await.unwrap_or_default())
}

async fn a_signed_webhook_applies_once_and_a_forged_one_changes_nothing(backend: Backend) {
    let world = World::start(backend).await;
    let order_id = world.order(3100, true).await;
    world
        .confirm(&order_id, CHALLENGE, &world.stripe_account)
        .await
        .expect(200);
    let intent_id = world.authenticate(&order_id).await;
    let succeeded = world
        .stripe
        .get(&format!("/v1/payment_intents/{intent_id}"))
        .await;
    assert_eq!(succeeded["status"], "succeeded");
    let event = event("evt_obol_1", "payment_intent.succeeded", succeeded);
    let now = now_unix();

    // Refused, changing nothing: another secret (Obol's own account
    // secret is not Stripe's), no signature, a signature out of tolerance.
    for (secret, signed_at) in [
        ("whsec_someone_else", now),
        (WEBHOOK_SECRET, now - 301),
        (WEBHOOK_SECRET, now + 301),
    ] {
        let refused = world.notify(&event, secret, signed_at).await;
        refused.expect(400);
        assert_eq!(refused.code(), "signature_invalid", "{}", refused.body);
    }
    let unsigned = world
        .app
        .client
        .post(format!("{}/v1/ipn/{}", world.app.url, world.stripe_account))
        .body(event.to_string())
        .send()
        .await
        .expect("answers");
    assert_eq!(unsigned.status().as_u16(), 400);
    assert_eq!(
        world.app.order(&order_id).await["status"],
        "requires_action"
    );

    let applied = world.notify(&event, WEBHOOK_SECRET, now - 10).await;
    assert_eq!(applied.expect(200)["result"], "applied");
    let again = world.notify(&event, WEBHOOK_SECRET, now).await;
    assert_eq!(again.expect(200)["result"], "duplicate");
    let order = world.app.order(&order_id).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["amount_captured"], 3100);
    let paid = world
        .app
        .count("SELECT COUNT(*) FROM events WHERE type = 'order.paid'")
        .await;
    assert_eq!(paid, 1);

    // A type Obol does not act on is taken and changes nothing.
    let other = event_of_other_type();
    let ignored = world.notify(&other, WEBHOOK_SECRET, now).await;
    assert_eq!(ignored.expect(200)["result"], "ignored");
}

fn event_of_other_type() -> Value {
    event(
        "evt_obol_2",
        "customer.created",
        json!({"id": "cus_1", "object": "customer"}),
    )
}

async fn a_lost_answer_is_settled_by_sync_with_one_charge(backend: Backend) {
    let world = World::start(backend).await;
    let order_id = world.order(4200, true).await;
    world
        .stripe
        .fail_next("POST", "/v1/payment_intents", Fault::LoseAnswer);
    let lost = world.confirm(&order_id, VISA, &world.stripe_account).await;
    lost.expect(502);
    assert_eq!(lost.code(), "connector_error", "{}", lost.body);
    let synced = world.call(&order_id, "sync", json!({})).await;
    assert_eq!(synced.expect(200)["status"], "paid", "{}", synced.body);
    let order = world.app.order(&order_id).await;
    assert_eq!(order["amount_captured"], 4200);
    let txn = order["payments"][0]["id"].as_str().expect("txn").to_owned();
    let intents = world.stripe.list("/v1/payment_intents").await;
    let charged: Vec<_> = intents
        .iter()
        .filter(|intent| intent["metadata"]["obol_transaction_id"] == txn.as_str())
        .collect();
    assert_eq!(charged.len(), 1, "{charged:?}");
    assert_eq!(charged[0]["status"], "succeeded");
}

/// Stripe's 400 for a request it will not take reaches the caller as 400
/// with Stripe's message, and no card data; the order stays payable.
async fn a_request_stripe_refuses_is_400_with_its_message(backend: Backend) {
    let world = World::start(backend).await;
    let order_id = world.order(4200, true).await;
    world
        .stripe
        .fail_next("POST", "/v1/payment_intents", Fault::InvalidRequest);
    let refused = world.confirm(&order_id, VISA, &world.stripe_account).await;
    refused.expect(400);
    assert_eq!(refused.code(), "connector_refused", "{}", refused.body);
    let message = refused.body["error"]["message"]
        .as_str()
        .expect("a message");
    assert!(message.contains("Amount must be at least"), "{message}");
    assert_eq!(refused.body["error"]["order_id"], order_id.as_str());
    let body = refused.body.to_string();
    assert!(!body.contains(VISA) && !body.contains(CVC), "{body}");
    let order = world.app.order(&order_id).await;
    assert_eq!(order["status"], "in_progress", "{order}");
    assert_eq!(order["payments"][0]["status"], "failed", "{order}");
    assert_eq!(
        message,
        "Stripe refused the request: Amount must be at least €0.50 eur"
    );
    let paid = world.confirm(&order_id, VISA, &world.stripe_account).await;
    assert_eq!(paid.expect(200)["status"], "paid", "{}", paid.body);
}

async fn wrong_credentials_are_refused_and_nothing_is_stored(backend: Backend) {
    let stripe = LocalStripe::start().await;
    let app = harness::spawn(backend).await;
    let before = app.count("SELECT COUNT(*) FROM connector_accounts").await;
    // localstripe takes any `sk_…`: a key of another shape is refused.
    let wrong_key = "pk_test_not_a_secret_key_4711";
    let refused = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "stripe", "payment_methods": ["card"],
                "credentials": stripe_credentials(&stripe, wrong_key)}),
        )
        .await;
    refused.expect(400);
    assert_eq!(refused.param(), Some("credentials[secret_key]"));
    assert!(
        !refused.body.to_string().contains(wrong_key),
        "{}",
        refused.body
    );

    let missing = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "stripe", "payment_methods": ["card"],
                "credentials": {"secret_key": SECRET_KEY, "api_base": stripe.api_base()}}),
        )
        .await;
    missing.expect(400);
    assert_eq!(missing.param(), Some("credentials[webhook_secret]"));
    let none = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "stripe", "payment_methods": ["card"]}),
        )
        .await;
    none.expect(400);
    assert_eq!(none.param(), Some("credentials"));
    let unknown = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "stripe", "payment_methods": ["card"],
                "credentials": {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET,
                    "api_base": stripe.api_base(), "publishable_key": "pk_1"}}),
        )
        .await;
    unknown.expect(400);
    assert_eq!(unknown.param(), Some("credentials[publishable_key]"));
    let crypto = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "stripe", "payment_methods": ["crypto"],
                "credentials": stripe_credentials(&stripe, SECRET_KEY)}),
        )
        .await;
    crypto.expect(400);
    assert_eq!(crypto.param(), Some("payment_methods[0]"));

    let after = app.count("SELECT COUNT(*) FROM connector_accounts").await;
    assert_eq!(after, before);
    // Only the one check of the wrong key reached Stripe.
    let checks = stripe.recorded();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0].path, "/v1/balance");

    // A PATCH is checked the same way, and a refused one changes nothing.
    let created = app
        .post(
            "/v1/connector_accounts",
            json!({"connector": "stripe", "payment_methods": ["card"],
                "credentials": stripe_credentials(&stripe, SECRET_KEY)}),
        )
        .await;
    let account = id_of(created.expect(200));
    let path = format!("/v1/connector_accounts/{account}");
    let kept = sealed_credentials(&app, &account).await;
    for (credentials, param) in [
        (
            stripe_credentials(&stripe, wrong_key),
            "credentials[secret_key]",
        ),
        (
            json!({"secret_key": SECRET_KEY}),
            "credentials[webhook_secret]",
        ),
        (Value::Null, "credentials"),
    ] {
        let refused = app.patch(&path, json!({"credentials": credentials})).await;
        refused.expect(400);
        assert_eq!(refused.param(), Some(param), "{}", refused.body);
    }
    assert_eq!(sealed_credentials(&app, &account).await, kept);
    let bytes = app.database_bytes().await;
    assert!(!harness::contains(&bytes, wrong_key.as_bytes()));
}

/// The account's credentials as stored (sealed).
async fn sealed_credentials(app: &TestApp, account: &str) -> String {
    obol_store::sql::query_scalar::<String>(
        "SELECT credentials_ciphertext FROM connector_accounts WHERE id = $1",
    )
    .bind(account)
    .fetch_one(&app.state.db.pool)
    .await
    .expect("the account's credentials")
}
