//! Renewals at scale and dunning's edges: two processes renewing 500
//! subscriptions bill each once; a trial canceled at its end is never
//! billed; a trial without a card fails at its end; only billing's own
//! charges count for dunning.

use super::*;
use crate::harness::{Backend, id_of};
use crate::on_both;
use serde_json::json;

on_both!(
    two_processes_renew_five_hundred_subscriptions_once_each,
    trials_end_as_told_and_only_billings_own_charges_count_for_dunning,
);

async fn two_processes_renew_five_hundred_subscriptions_once_each(backend: Backend) {
    const COUNT: usize = 500;
    let app = billing_app(backend).await;
    let price = plan(&app, "Many", 1000, 0).await;
    let (customer, mandate) = customer_with_mandate(&app, "many@example.com", VISA).await;
    let mut ids = Vec::new();
    for chunk in 0..COUNT / 10 {
        let made = futures_util::future::join_all(
            (0..10).map(|_| subscribe(&app, &customer, &price, &mandate)),
        )
        .await;
        assert_eq!(made.len(), 10, "chunk {chunk}");
        ids.extend(made.iter().map(id_of));
    }
    let end = time_of(&subscription(&app, &ids[0]).await, "current_period_end");
    let last_end = time_of(
        &subscription(&app, &ids[COUNT - 1]).await,
        "current_period_end",
    );
    let second = app.second_process().await;
    // Both processes' clocks move past every renewal; then both workers run
    // what is due at once.
    let at = last_end.plus_ms(1000).max(end);
    for state in [&app.state, &second.state] {
        state
            .test_clock
            .as_ref()
            .expect("a test clock")
            .set(&state.db, at)
            .await
            .expect("set");
    }
    let (one, two) = tokio::join!(
        obol_server::jobs::run_due(&app.state),
        obol_server::jobs::run_due(&second.state)
    );
    let (one, two) = (one.expect("first worker"), two.expect("second worker"));
    assert!(one + two >= COUNT, "{one} + {two} steps ran");
    let invoices = app
        .count("SELECT COUNT(*) FROM invoices WHERE subscription_id IS NOT NULL")
        .await;
    assert_eq!(
        invoices,
        2 * COUNT as i64,
        "each subscription billed once per period"
    );
    let per_period = app
        .count(
            "SELECT COUNT(*) FROM (SELECT subscription_id, period_index FROM invoices \
             GROUP BY subscription_id, period_index HAVING COUNT(*) > 1) AS twice",
        )
        .await;
    assert_eq!(per_period, 0);
    let sales = app
        .count("SELECT COUNT(*) FROM transactions WHERE kind = 'sale' AND status = 'succeeded' AND amount = 1000")
        .await;
    assert_eq!(sales, 2 * COUNT as i64, "each invoice charged once");
    let unpaid = app
        .count(
            "SELECT COUNT(*) FROM invoices WHERE subscription_id IS NOT NULL AND status <> 'paid'",
        )
        .await;
    assert_eq!(unpaid, 0);
    for id in [&ids[0], &ids[COUNT / 2], &ids[COUNT - 1]] {
        let renewed = subscription(&app, id).await;
        assert_eq!(renewed["status"], "active");
        assert_eq!(
            time_of(&renewed, "current_period_start").as_ms() / 1000,
            time_of(&subscription(&app, id).await, "current_period_start").as_ms() / 1000
        );
    }
}

async fn trials_end_as_told_and_only_billings_own_charges_count_for_dunning(backend: Backend) {
    let app = billing_app(backend).await;
    let price = plan(&app, "Trial", 1200, 5).await;
    let (customer, mandate) = customer_with_mandate(&app, "trial@example.com", VISA).await;

    // Canceled at the period's end during the trial: it ends with the trial, never billed.
    let sub = subscribe(&app, &customer, &price, &mandate).await;
    let id = id_of(&sub);
    app.post(
        &format!("/v1/subscriptions/{id}/cancel"),
        json!({"at_period_end": true}),
    )
    .await
    .expect(200);
    advance_to(&app, time_of(&sub, "trial_end")).await;
    let ended = subscription(&app, &id).await;
    assert_eq!(ended["status"], "canceled", "{ended}");
    assert_eq!(ended["canceled_at"], sub["trial_end"]);
    assert!(invoices_of(&app, &id).await.is_empty());

    // A deactivated price still bills those on it; a trial without a
    // mandate whose card was never given fails at its end: past_due, the
    // invoice open with its link.
    let lonely = id_of(&app.create_customer("nocard@example.com").await);
    let sub = app
        .post(
            "/v1/subscriptions",
            json!({"customer_id": lonely, "price_id": price}),
        )
        .await
        .expect(200)
        .clone();
    let id = id_of(&sub);
    assert!(
        sub["setup_payment_link"]
            .as_str()
            .is_some_and(|link| link.contains("/pay/")),
        "{sub}"
    );
    app.patch(&format!("/v1/prices/{price}"), json!({"active": false}))
        .await
        .expect(200);
    advance_to(&app, time_of(&sub, "trial_end")).await;
    let failed = subscription(&app, &id).await;
    assert_eq!(failed["status"], "past_due", "{failed}");
    let invoice_id = failed["latest_invoice_id"]
        .as_str()
        .expect("invoice")
        .to_owned();
    assert_eq!(invoice(&app, &invoice_id).await["status"], "open");
    assert_eq!(
        event_types(&app, &invoice_id)
            .await
            .last()
            .map(String::as_str),
        Some("invoice.payment_failed")
    );

    // A brand's own attempt with a declining mandate is a decline, not a
    // dunning retry: the schedule stands.
    let order = app
        .create_order(
            json!({"amount": 0, "currency": "EUR", "setup_mandate": true, "customer_id": lonely}),
        )
        .await;
    let verified = app
        .confirm_card(&id_of(&order), VERIFY_ONLY)
        .await
        .expect(200)
        .clone();
    let lonely_mandate = verified["mandate_id"].as_str().expect("mandate").to_owned();
    let retry_at = failed["next_retry_at"].clone();
    let declined = app
        .post(
            &format!("/v1/invoices/{invoice_id}/pay"),
            json!({"payment_method": {"type": "mandate", "mandate_id": lonely_mandate}}),
        )
        .await;
    assert_eq!(declined.status, 402, "{}", declined.body);
    let after = subscription(&app, &id).await;
    assert_eq!(
        (after["status"].clone(), after["next_retry_at"].clone()),
        (json!("past_due"), retry_at)
    );
}
