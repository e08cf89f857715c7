//! Mandates: set up by a verify or a sale, charged off session.

use super::*;

#[tokio::test]
async fn a_mandate_is_set_up_then_charged_off_session_twice() {
    let world = World::start().await;
    let txn = new_id("txn");
    let mut verify = world.payment(&txn, card(VISA), Operation::Verify, 0);
    verify.setup_mandate = true;
    verify.customer = Some(CustomerRef {
        id: "cus_obol_1".into(),
        email: Some("ada@example.com".into()),
    });
    let verified = ok(world.connector.authorize(verify).await, "verify");
    assert_eq!(
        (verified.outcome.clone(), verified.amount),
        (Outcome::Succeeded, Some(0))
    );
    assert!(id_of(&verified).starts_with("seti_"));
    let mandate = verified.mandate.clone().expect("a mandate");
    let (customer_id, payment_method_id) = mandate.token.split_once('/').expect("cus/pm");
    assert!(
        customer_id.starts_with("cus_") && payment_method_id.starts_with("pm_"),
        "{mandate:?}"
    );
    assert_eq!(
        mandate,
        StoredMandate {
            token: mandate.token.clone(),
            card_brand: "visa".into(),
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2030,
        }
    );
    let customer = world
        .stripe
        .get(&format!("/v1/customers/{customer_id}"))
        .await;
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["metadata"]["obol_customer_id"], "cus_obol_1");
    // A lost verify is found by its transaction id, mandate and all.
    let synced = world.sync(&txn, Operation::Verify, None).await;
    assert_eq!(
        (synced.outcome, synced.mandate),
        (Outcome::Succeeded, Some(mandate.clone()))
    );

    for amount in [1000, 2000] {
        let txn = new_id("txn");
        let instrument = Instrument::Mandate {
            token: mandate.token.clone(),
        };
        let charged = ok(
            world
                .connector
                .authorize(world.payment(&txn, instrument, Operation::Sale, amount))
                .await,
            "charge",
        );
        assert_eq!(
            (charged.outcome.clone(), charged.amount),
            (Outcome::Succeeded, Some(amount))
        );
        let intent = world.intent(&id_of(&charged)).await;
        assert_eq!(
            (intent["status"].as_str(), intent["customer"].as_str()),
            (Some("succeeded"), Some(customer_id))
        );
        assert_eq!(intent["payment_method"], payment_method_id);
    }
    let charges = world.requests_to("POST", "/v1/payment_intents");
    assert_eq!(charges.len(), 2);
    assert!(
        charges
            .iter()
            .all(|c| c.param("off_session").as_deref() == Some("true"))
    );
    let with_number = world
        .stripe
        .recorded()
        .into_iter()
        .filter(|r| r.body.contains(VISA))
        .count();
    assert_eq!(with_number, 1);

    // Renewals that fail: set up fine, declined on every charge.
    let txn = new_id("txn");
    let mut verify = world.payment(&txn, card(DECLINES_CHARGES), Operation::Verify, 0);
    verify.setup_mandate = true;
    let verified = ok(world.connector.authorize(verify).await, "verify");
    let token = verified.mandate.expect("a mandate").token;
    let instrument = Instrument::Mandate { token };
    let renewal = ok(
        world
            .connector
            .authorize(world.payment(&new_id("txn"), instrument, Operation::Sale, 1000))
            .await,
        "renewal",
    );
    assert!(declined("generic_decline")(&renewal.outcome), "{renewal:?}");
}

#[tokio::test]
async fn a_sale_can_keep_its_card_as_a_mandate() {
    let world = World::start().await;
    let txn = new_id("txn");
    let mut sale = world.payment(&txn, card(VISA), Operation::Sale, 1500);
    sale.setup_mandate = true;
    let paid = ok(world.connector.authorize(sale).await, "sale");
    assert_eq!(paid.outcome, Outcome::Succeeded);
    let mandate = paid.mandate.expect("a mandate");
    let create = &world.requests_to("POST", "/v1/payment_intents")[0];
    assert_eq!(
        create.param("setup_future_usage").as_deref(),
        Some("off_session")
    );
    assert_eq!(
        create.param("customer").as_deref(),
        mandate.token.split('/').next()
    );
    let synced = world.sync(&txn, Operation::Sale, None).await;
    assert_eq!(synced.mandate, Some(mandate.clone()));

    let instrument = Instrument::Mandate {
        token: mandate.token,
    };
    let renewal = ok(
        world
            .connector
            .authorize(world.payment(&new_id("txn"), instrument, Operation::Sale, 1500))
            .await,
        "renewal",
    );
    assert_eq!(renewal.outcome, Outcome::Succeeded);
}
