//! Acceptance "Mandates (recurring payments)" on a Stripe account at
//! localstripe: a mandate set up with a zero-amount verify (a SetupIntent)
//! or by a sale is charged off session, on the Stripe Customer it was kept
//! for; a revoked one is refused before Stripe is called. Each scenario
//! ends as the same one on the sandbox does.

use super::stripe::{CHALLENGE, DECLINES, VISA, WEBHOOK_SECRET, World, event, now_unix, outcome};
use crate::harness::{Backend, Resp, id_of};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    a_verified_mandate_is_charged_off_session_twice,
    a_sale_sets_up_a_mandate_charged_once,
    a_revoked_mandate_is_not_charged,
    a_mandate_whose_charges_are_declined,
    a_challenged_setup_keeps_its_mandate_when_the_webhook_comes_first,
);

/// A new customer of the world's brand; its id.
async fn customer(world: &World, email: &str) -> String {
    id_of(&world.app.create_customer(email).await)
}

/// A `setup_mandate` EUR order of `amount` for `customer_id`, confirmed
/// with VISA on `account`; the order, which must be paid with a mandate.
async fn set_up(world: &World, customer_id: &str, amount: i64, account: &str) -> Value {
    set_up_with(world, customer_id, amount, account, VISA).await
}

/// [`set_up`] with the card `number`.
async fn set_up_with(
    world: &World,
    customer_id: &str,
    amount: i64,
    account: &str,
    number: &str,
) -> Value {
    let order = world
        .app
        .create_order(
            json!({"amount": amount, "currency": "EUR", "setup_mandate": true,
            "customer_id": customer_id}),
        )
        .await;
    let order = world
        .confirm(&id_of(&order), number, account)
        .await
        .expect(200)
        .clone();
    assert_eq!(order["status"], "paid", "{order}");
    assert!(order["mandate_id"].is_string(), "{order}");
    order
}

/// `POST /v1/orders` charging `mandate_id` at once with `amount` EUR.
async fn charge(world: &World, mandate_id: &str, amount: i64) -> Resp {
    world
        .app
        .post(
            "/v1/orders",
            json!({"amount": amount, "currency": "EUR", "mandate_id": mandate_id,
                "confirm": true}),
        )
        .await
}

/// Checks a paid charge of `mandate`: one succeeded `recurring` sale of
/// `amount`, captured, on the mandate's account; its transaction id.
#[track_caller]
fn assert_charged(order: &Value, mandate: &Value, amount: i64) -> String {
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["amount_captured"], amount, "{order}");
    assert_eq!(order["mandate_id"], mandate["id"]);
    assert_eq!(order["customer_id"], mandate["customer_id"]);
    let payments = order["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 1, "{order}");
    let txn = &payments[0];
    assert_eq!(
        json!([txn["kind"], txn["status"], txn["trigger"], txn["amount"]]),
        json!(["sale", "succeeded", "recurring", amount]),
        "{order}"
    );
    assert_eq!(txn["connector_account_id"], mandate["connector_account_id"]);
    assert_eq!(txn["payment_method"]["mandate_id"], mandate["id"]);
    txn["id"].as_str().expect("the transaction's id").to_owned()
}

/// The mandate `mandate_id`, read through the API.
async fn mandate(world: &World, mandate_id: &str) -> Value {
    world
        .app
        .get(&format!("/v1/mandates/{mandate_id}"))
        .await
        .expect(200)
        .clone()
}

/// A zero-amount setup on `account` charged 1500 then 2500: the outcomes
/// of the three orders, the mandate and the charges' transaction ids.
async fn verify_then_charge_twice(
    world: &World,
    account: &str,
    email: &str,
) -> (Vec<Value>, Value, Vec<String>) {
    let customer_id = customer(world, email).await;
    let setup = set_up(world, &customer_id, 0, account).await;
    assert_eq!(setup["payments"][0]["kind"], "verify", "{setup}");
    let mandate = mandate(world, setup["mandate_id"].as_str().expect("mandate")).await;
    assert_eq!(mandate["status"], "active");
    assert_eq!(mandate["order_id"], setup["id"]);
    assert_eq!(mandate["connector_account_id"], account);
    assert_eq!(
        mandate["payment_method"],
        json!({"type": "card", "brand": "visa", "last4": "4242",
            "exp_month": 12, "exp_year": 2030})
    );
    let mut outcomes = vec![outcome(&world.app, &id_of(&setup)).await];
    let mut transactions = Vec::new();
    for amount in [1500, 2500] {
        let order = charge(world, &id_of(&mandate), amount).await;
        transactions.push(assert_charged(order.expect(200), &mandate, amount));
        outcomes.push(outcome(&world.app, &id_of(&order.body)).await);
    }
    (outcomes, mandate, transactions)
}

async fn a_verified_mandate_is_charged_off_session_twice(backend: Backend) {
    let world = World::start(backend).await;
    let (on_sandbox, _, _) =
        verify_then_charge_twice(&world, &world.sandbox_account, "sandbox@example.com").await;
    let (on_stripe, _, transactions) =
        verify_then_charge_twice(&world, &world.stripe_account, "stripe@example.com").await;
    assert_eq!(on_sandbox, on_stripe);
    assert_eq!(
        on_stripe[0],
        json!({"status": "paid", "authorized": 0, "captured": 0, "refunded": 0,
            "transactions": [["verify", "succeeded", 0]]})
    );

    // The setup was a SetupIntent kept off session for a new Customer;
    // each charge, a PaymentIntent of that Customer, off session.
    let setups = world.stripe.list("/v1/setup_intents").await;
    assert_eq!(setups.len(), 1, "{setups:?}");
    assert_eq!(setups[0]["status"], "succeeded");
    assert_eq!(setups[0]["usage"], "off_session");
    let customer = setups[0]["customer"].as_str().expect("a Customer");
    let intents: Vec<Value> = world
        .stripe
        .list("/v1/payment_intents")
        .await
        .into_iter()
        .filter(|intent| intent["customer"] == customer)
        .collect();
    assert_eq!(intents.len(), 2, "{intents:?}");
    let mut tagged: Vec<_> = intents
        .iter()
        .map(|intent| {
            assert_eq!(intent["status"], "succeeded", "{intent}");
            assert_eq!(intent["payment_method"], setups[0]["payment_method"]);
            let txn = intent["metadata"]["obol_transaction_id"].as_str();
            let amount = intent["amount"].as_i64().expect("an amount");
            (txn.expect("Obol's transaction id").to_owned(), amount)
        })
        .collect();
    tagged.sort();
    let mut expected: Vec<_> = transactions.iter().cloned().zip([1500, 2500]).collect();
    expected.sort();
    assert_eq!(tagged, expected);
    // localstripe keeps no `off_session`: it is read off the calls made.
    let off_session: Vec<_> = world
        .stripe
        .recorded()
        .into_iter()
        .filter(|request| request.method == "POST" && request.path == "/v1/payment_intents")
        .filter(|request| request.param("off_session").as_deref() == Some("true"))
        .map(|request| {
            assert_eq!(request.param("customer").as_deref(), Some(customer));
            request.param("metadata[obol_transaction_id]")
        })
        .collect();
    let mut expected: Vec<_> = transactions.iter().cloned().map(Some).collect();
    expected.sort();
    let mut off_session = off_session;
    off_session.sort();
    assert_eq!(off_session, expected);
    // The card went to Stripe once, in the setup's PaymentMethod.
    assert_eq!(world.requests_with_card_data(), ["/v1/payment_methods"]);
    world.app.assert_ledger_balanced().await;
}

/// A 4900 sale with `setup_mandate` on `account`, then one 4900 charge
/// of its mandate: the two orders' outcomes.
async fn sale_then_charge(world: &World, account: &str, email: &str) -> Vec<Value> {
    let customer_id = customer(world, email).await;
    let sale = set_up(world, &customer_id, 4900, account).await;
    assert_eq!(sale["amount_captured"], 4900);
    assert_eq!(sale["payments"][0]["kind"], "sale");
    assert_eq!(sale["payments"][0]["trigger"], "api");
    let mandate = mandate(world, sale["mandate_id"].as_str().expect("mandate")).await;
    assert_eq!(mandate["order_id"], sale["id"]);
    assert_eq!(mandate["connector_account_id"], account);
    let renewal = charge(world, &id_of(&mandate), 4900).await;
    assert_charged(renewal.expect(200), &mandate, 4900);
    vec![
        outcome(&world.app, &id_of(&sale)).await,
        outcome(&world.app, &id_of(&renewal.body)).await,
    ]
}

async fn a_sale_sets_up_a_mandate_charged_once(backend: Backend) {
    let world = World::start(backend).await;
    let on_sandbox = sale_then_charge(&world, &world.sandbox_account, "sandbox@example.com").await;
    let on_stripe = sale_then_charge(&world, &world.stripe_account, "stripe@example.com").await;
    assert_eq!(on_sandbox, on_stripe);
    let sale = json!({"status": "paid", "authorized": 4900, "captured": 4900, "refunded": 0,
        "transactions": [["sale", "succeeded", 4900]]});
    assert_eq!(on_stripe, [sale.clone(), sale]);

    // The sale kept its card for a Customer; the renewal charged both.
    let intents = world.stripe.list("/v1/payment_intents").await;
    assert_eq!(intents.len(), 2, "{intents:?}");
    let customer = intents[0]["customer"].as_str().expect("a Customer");
    assert!(customer.starts_with("cus_"), "{customer}");
    assert_eq!(intents[1]["customer"], customer);
    assert_eq!(intents[0]["payment_method"], intents[1]["payment_method"]);
    let sale_call = world
        .stripe
        .recorded()
        .into_iter()
        .find(|request| request.path == "/v1/payment_intents")
        .expect("the sale's PaymentIntent");
    assert_eq!(
        sale_call.param("setup_future_usage").as_deref(),
        Some("off_session")
    );
    assert_eq!(world.requests_with_card_data(), ["/v1/payment_methods"]);
}

/// Sets up a mandate on `account`, revokes it and charges it: the refusal.
async fn charge_revoked(world: &World, account: &str, email: &str) -> (u16, String, Value) {
    let customer_id = customer(world, email).await;
    let setup = set_up(world, &customer_id, 0, account).await;
    let mandate_id = setup["mandate_id"].as_str().expect("mandate");
    let revoked = world
        .app
        .post(&format!("/v1/mandates/{mandate_id}/revoke"), json!({}))
        .await;
    assert_eq!(revoked.expect(200)["status"], "revoked");
    let refused = charge(world, mandate_id, 1500).await;
    // An order made for the mandate before it was revoked is refused too.
    let earlier = world
        .app
        .create_order(json!({"amount": 700, "currency": "EUR", "customer_id": customer_id}))
        .await;
    let at_confirm = world
        .app
        .post(
            &format!("/v1/orders/{}/confirm", id_of(&earlier)),
            json!({"payment_method": {"type": "mandate", "mandate_id": mandate_id}}),
        )
        .await;
    assert_eq!(
        (at_confirm.status, at_confirm.code()),
        (409, "invalid_state"),
        "{}",
        at_confirm.body
    );
    (
        refused.status,
        refused.code().to_owned(),
        outcome(&world.app, &id_of(&earlier)).await,
    )
}

async fn a_revoked_mandate_is_not_charged(backend: Backend) {
    let world = World::start(backend).await;
    let on_sandbox = charge_revoked(&world, &world.sandbox_account, "sandbox@example.com").await;
    let calls_before = world.stripe.recorded().len();
    let on_stripe = charge_revoked(&world, &world.stripe_account, "stripe@example.com").await;
    assert_eq!(on_sandbox, on_stripe);
    assert_eq!((on_stripe.0, on_stripe.1.as_str()), (409, "invalid_state"));
    assert_eq!(
        on_stripe.2,
        json!({"status": "in_progress", "authorized": 0, "captured": 0, "refunded": 0,
            "transactions": []})
    );
    // Stripe saw the setup (Customer, card, SetupIntent and its confirm)
    // and no PaymentIntent.
    let calls: Vec<_> = world.stripe.recorded()[calls_before..]
        .iter()
        .map(|request| request.path.clone())
        .collect();
    assert!(
        calls
            .iter()
            .all(|path| !path.starts_with("/v1/payment_intents")),
        "{calls:?}"
    );
    assert_eq!(
        world.stripe.list("/v1/payment_intents").await,
        Vec::<Value>::new()
    );
    // The refused charge made no order.
    assert_eq!(world.app.count("SELECT COUNT(*) FROM orders").await, 4);
}

/// A mandate of the card that passes a verify and is declined on every
/// charge, charged once on `account`: the answer's status, error and the
/// order's outcome.
async fn charge_declined(world: &World, account: &str, email: &str) -> (u16, Value, Value) {
    let customer_id = customer(world, email).await;
    let setup = set_up_with(world, &customer_id, 0, account, DECLINES).await;
    let mandate = mandate(world, setup["mandate_id"].as_str().expect("mandate")).await;
    assert_eq!(mandate["status"], "active");
    assert_eq!(mandate["payment_method"]["last4"], "0341");
    let declined = charge(world, &id_of(&mandate), 1500).await;
    let error = &declined.body["error"];
    let order_id = error["order_id"].as_str().expect("the order's id");
    let order = world.app.order(order_id).await;
    assert_eq!(order["payments"][0]["trigger"], "recurring", "{order}");
    assert_eq!(
        order["last_payment_error"]["code"], "card_declined",
        "{order}"
    );
    (
        declined.status,
        json!([error["type"], error["code"], error["decline_code"]]),
        outcome(&world.app, order_id).await,
    )
}

async fn a_mandate_whose_charges_are_declined(backend: Backend) {
    let world = World::start(backend).await;
    let on_sandbox = charge_declined(&world, &world.sandbox_account, "sandbox@example.com").await;
    let on_stripe = charge_declined(&world, &world.stripe_account, "stripe@example.com").await;
    assert_eq!(on_sandbox, on_stripe);
    assert_eq!(
        on_stripe,
        (
            402,
            json!(["payment_error", "card_declined", "generic_decline"]),
            json!({"status": "in_progress", "authorized": 0, "captured": 0, "refunded": 0,
                "transactions": [["sale", "failed", 1500]]})
        )
    );
    world.app.assert_ledger_balanced().await;
}

/// Stripe's events can beat the customer back: `requires_action` leaves
/// the challenge on the order, and the success that sets up a mandate is
/// applied as a retrieval of the intent answers it, so the mandate is
/// kept although the event carries none.
async fn a_challenged_setup_keeps_its_mandate_when_the_webhook_comes_first(backend: Backend) {
    let world = World::start(backend).await;
    let customer_id = customer(&world, "first@example.com").await;
    let order = world
        .app
        .create_order(
            json!({"amount": 3000, "currency": "EUR", "setup_mandate": true,
            "customer_id": customer_id}),
        )
        .await;
    let order_id = id_of(&order);
    let challenged = world
        .confirm(&order_id, CHALLENGE, &world.stripe_account)
        .await;
    assert_eq!(
        challenged.expect(200)["status"],
        "requires_action",
        "{}",
        challenged.body
    );
    let intent_id = world.intent_of(&order_id).await;
    let path = format!("/v1/payment_intents/{intent_id}");
    let intent = world.stripe.get(&path).await;
    let action = event("evt_first_1", "payment_intent.requires_action", intent);
    world
        .notify(&action, WEBHOOK_SECRET, now_unix())
        .await
        .expect(200);
    let waiting = world.app.order(&order_id).await;
    assert_eq!(waiting["status"], "requires_action", "{waiting}");
    assert!(waiting["next_action"]["url"].is_string(), "{waiting}");

    world.authenticate(&order_id).await;
    let intent = world.stripe.get(&path).await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    let succeeded = event("evt_first_2", "payment_intent.succeeded", intent);
    world
        .notify(&succeeded, WEBHOOK_SECRET, now_unix())
        .await
        .expect(200);
    let paid = world.app.order(&order_id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    let mandate_id = paid["mandate_id"].as_str().expect("a mandate").to_owned();
    // (localstripe challenges every charge of this card, even off session,
    // so the mandate is read, not charged.)
    assert_eq!(mandate(&world, &mandate_id).await["status"], "active");
}
