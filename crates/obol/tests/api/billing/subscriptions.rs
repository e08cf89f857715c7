//! Subscriptions on the test clock: a trial, then renewals with their
//! invoices (gapless numbers), orders, ledger entries and events; calendar
//! edges; upgrades prorated by the second and downgrades at renewal;
//! dunning; cancel, pause and resume.

use super::*;
use crate::harness::{Backend, id_of};
use crate::on_both;
use obol_core::Timestamp;
use obol_core::time::DAY_MS;
use serde_json::{Value, json};

on_both!(
    a_trial_then_three_renewals_each_invoiced_and_charged,
    periods_keep_the_calendar_day,
    an_upgrade_is_prorated_by_the_second_and_a_downgrade_waits,
    a_declining_mandate_is_retried_then_unpaid_until_paid_by_link,
    cancel_pause_and_resume,
);

async fn a_trial_then_three_renewals_each_invoiced_and_charged(backend: Backend) {
    let app = billing_app(backend).await;
    app.patch(
        &format!("/v1/brands/{}", app.brand_id),
        json!({"invoice_prefix": "ACME"}),
    )
    .await
    .expect(200);
    let price = plan(&app, "Pro", 2900, 14).await;
    let (customer, mandate) = customer_with_mandate(&app, "ann@example.com", VISA).await;
    let start = now(&app).await;
    let created = app
        .post(
            "/v1/subscriptions",
            json!({"customer_id": customer, "price_id": price, "mandate_id": mandate}),
        )
        .await
        .expect(200)
        .clone();
    let id = id_of(&created);
    assert_eq!(created["status"], "trialing", "{created}");
    assert_eq!(created["latest_invoice_id"], serde_json::Value::Null);
    assert_eq!(time_of(&created, "trial_end"), start.plus_ms(14 * DAY_MS));

    // Day 11: the notice, no invoice yet.
    advance_to(&app, start.plus_ms(11 * DAY_MS)).await;
    assert_eq!(count_events(&app, "subscription.trial_will_end").await, 1);
    assert_eq!(subscription(&app, &id).await["status"], "trialing");
    assert!(invoices_of(&app, &id).await.is_empty());

    // Day 14: the first charge.
    advance_to(&app, start.plus_ms(14 * DAY_MS)).await;
    let active = subscription(&app, &id).await;
    assert_eq!(active["status"], "active", "{active}");
    let mut period_end = time_of(&active, "current_period_end");
    for _ in 0..3 {
        advance_to(&app, period_end).await;
        let renewed = subscription(&app, &id).await;
        assert_eq!(renewed["status"], "active", "{renewed}");
        assert_eq!(time_of(&renewed, "current_period_start"), period_end);
        period_end = time_of(&renewed, "current_period_end");
    }
    let invoices = invoices_of(&app, &id).await;
    let numbers: Vec<&str> = invoices
        .iter()
        .map(|i| i["number"].as_str().expect("number"))
        .collect();
    assert_eq!(
        numbers,
        ["ACME-000001", "ACME-000002", "ACME-000003", "ACME-000004"]
    );
    for invoice in &invoices {
        assert_eq!(invoice["status"], "paid", "{invoice}");
        assert_eq!(invoice["total"], 2900);
        assert_eq!(invoice["amount_paid"], 2900);
        let order = app
            .order(invoice["order_id"].as_str().expect("order"))
            .await;
        // Paid, and cleared by now for all but the newest.
        assert!(
            ["paid", "completed"].contains(&order["status"].as_str().unwrap_or_default()),
            "{order}"
        );
        assert_eq!(order["amount_captured"], 2900);
        assert_eq!(order["type"], "subscription");
        let entries = app
            .get(&format!("/v1/ledger/entries?order_id={}", id_of(&order)))
            .await
            .expect(200)
            .clone();
        assert!(
            !entries["data"].as_array().expect("data").is_empty(),
            "{entries}"
        );
        assert_eq!(
            event_types(&app, invoice["id"].as_str().expect("id")).await,
            ["invoice.created", "invoice.finalized", "invoice.paid"]
        );
    }
    assert_eq!(count_events(&app, "subscription.renewed").await, 3);
    assert_eq!(count_events(&app, "subscription.activated").await, 1);
    let types = event_types(&app, &id).await;
    assert_eq!(
        types.first().map(String::as_str),
        Some("subscription.created")
    );
}

async fn periods_keep_the_calendar_day(backend: Backend) {
    let app = billing_app(backend).await;
    let monthly = plan(&app, "Monthly", 1000, 0).await;
    let yearly_package = package(&app, "Yearly").await;
    let yearly = price(&app, &yearly_package, 10000, "year", 0).await;
    let (customer, mandate) = customer_with_mandate(&app, "cal@example.com", VISA).await;
    jump_to(
        &app,
        Timestamp::parse_rfc3339("2028-01-31T10:00:00Z").expect("a time"),
    )
    .await;
    let sub = subscribe(&app, &customer, &monthly, &mandate).await;
    let id = id_of(&sub);
    assert_eq!(sub["status"], "active", "{sub}");
    // The clock moves in whole seconds: the start keeps its milliseconds.
    let day_and_hour = |object: &Value, field: &str| -> String {
        object[field]
            .as_str()
            .expect("a time")
            .chars()
            .take(16)
            .collect()
    };
    let mut ends = vec![day_and_hour(&sub, "current_period_end")];
    let mut yearly_sub = None;
    for _ in 0..3 {
        advance_to(
            &app,
            time_of(&subscription(&app, &id).await, "current_period_end"),
        )
        .await;
        let renewed = subscription(&app, &id).await;
        assert_eq!(renewed["status"], "active", "{renewed}");
        ends.push(day_and_hour(&renewed, "current_period_end"));
        if yearly_sub.is_none() {
            // It is Feb 29: a yearly subscription starts on the leap day.
            let (customer, mandate) = customer_with_mandate(&app, "leap@example.com", VISA).await;
            yearly_sub = Some(subscribe(&app, &customer, &yearly, &mandate).await);
        }
    }
    assert_eq!(
        ends,
        [
            "2028-02-29T10:00",
            "2028-03-31T10:00",
            "2028-04-30T10:00",
            "2028-05-31T10:00"
        ]
    );
    let invoices = invoices_of(&app, &id).await;
    assert_eq!(invoices.len(), 4);
    assert_eq!(
        day_and_hour(&invoices[1]["lines"][0], "period_start"),
        "2028-02-29T10:00"
    );
    assert_eq!(
        day_and_hour(&invoices[1]["lines"][0], "period_end"),
        "2028-03-31T10:00"
    );
    app.post(&format!("/v1/subscriptions/{id}/cancel"), json!({}))
        .await
        .expect(200);

    // Yearly from a leap day: the 28th in other years, the 29th again in a leap one.
    let yearly_sub = yearly_sub.expect("made on Feb 29");
    let id = id_of(&yearly_sub);
    let mut ends = vec![day_and_hour(&yearly_sub, "current_period_start")];
    ends.push(day_and_hour(&yearly_sub, "current_period_end"));
    for _ in 0..4 {
        let end = time_of(&subscription(&app, &id).await, "current_period_end");
        jump_then_advance_to(&app, end).await;
        let renewed = subscription(&app, &id).await;
        assert_eq!(renewed["status"], "active", "{renewed}");
        ends.push(day_and_hour(&renewed, "current_period_end"));
    }
    assert_eq!(
        ends,
        [
            "2028-02-29T10:00",
            "2029-02-28T10:00",
            "2030-02-28T10:00",
            "2031-02-28T10:00",
            "2032-02-29T10:00",
            "2033-02-28T10:00"
        ]
    );
    assert_eq!(invoices_of(&app, &id).await.len(), 5);
}

async fn an_upgrade_is_prorated_by_the_second_and_a_downgrade_waits(backend: Backend) {
    let app = billing_app(backend).await;
    let basic_package = package(&app, "Basic").await;
    let pro_package = package(&app, "Pro").await;
    let basic = price(&app, &basic_package, 1000, "month", 0).await;
    let pro = price(&app, &pro_package, 3000, "month", 0).await;
    let (customer, mandate) = customer_with_mandate(&app, "up@example.com", VISA).await;
    let sub = subscribe(&app, &customer, &basic, &mandate).await;
    let id = id_of(&sub);
    let start = time_of(&sub, "current_period_start");
    let end = time_of(&sub, "current_period_end");
    // Ten days and a second in.
    advance_to(&app, start.plus_ms(10 * DAY_MS + 1000)).await;
    let changed_at = now(&app).await;
    let upgraded = app
        .post(
            &format!("/v1/subscriptions/{id}/change"),
            json!({"price_id": pro}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(upgraded["price_id"], pro.as_str());
    assert_eq!(upgraded["pending_price_id"], Value::Null);
    let proration = invoice(
        &app,
        upgraded["latest_invoice_id"].as_str().expect("invoice"),
    )
    .await;
    assert_eq!(proration["billing_reason"], "subscription_update");
    // By the second: over a 31-day period (2,678,400 s) with 1,814,399 s
    // left, the unused 1000 is 677.42 → 677 and the new 3000 is 2032.26 →
    // 2032. The test computes it for whatever month it runs in.
    let period = (end.as_ms() - start.as_ms()) / 1000;
    let remaining = (end.as_ms() - changed_at.as_ms()) / 1000;
    let prorated = |amount: i64| {
        half_even(
            i128::from(amount) * i128::from(remaining),
            i128::from(period),
        )
    };
    let lines = proration["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2, "{proration}");
    assert_eq!(lines[0]["amount"], -prorated(1000));
    assert_eq!(lines[0]["proration"], true);
    assert_eq!(lines[1]["amount"], prorated(3000));
    assert_eq!(proration["total"], prorated(3000) - prorated(1000));
    assert_eq!(proration["status"], "paid", "{proration}");
    assert_eq!(half_even(1000 * 1_814_399, 2_678_400), 677);
    assert_eq!(half_even(3000 * 1_814_399, 2_678_400), 2032);

    // A downgrade waits for the renewal.
    let downgraded = app
        .post(
            &format!("/v1/subscriptions/{id}/change"),
            json!({"price_id": basic}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(downgraded["price_id"], pro.as_str());
    assert_eq!(downgraded["pending_price_id"], basic.as_str());
    advance_to(&app, end).await;
    let renewed = subscription(&app, &id).await;
    assert_eq!(renewed["price_id"], basic.as_str(), "{renewed}");
    assert_eq!(renewed["pending_price_id"], Value::Null);
    let latest = invoice(
        &app,
        renewed["latest_invoice_id"].as_str().expect("invoice"),
    )
    .await;
    assert_eq!(latest["total"], 1000);
    assert_eq!(latest["lines"][0]["price_id"], basic.as_str());
}

async fn a_declining_mandate_is_retried_then_unpaid_until_paid_by_link(backend: Backend) {
    let app = billing_app(backend).await;
    let price = plan(&app, "Declines", 1500, 3).await;
    let (customer, mandate) = customer_with_mandate(&app, "dun@example.com", VERIFY_ONLY).await;
    let sub = subscribe(&app, &customer, &price, &mandate).await;
    let id = id_of(&sub);
    let trial_end = time_of(&sub, "trial_end");
    advance_to(&app, trial_end).await;
    let past_due = subscription(&app, &id).await;
    assert_eq!(past_due["status"], "past_due", "{past_due}");
    assert_eq!(
        time_of(&past_due, "next_retry_at"),
        trial_end.plus_ms(DAY_MS)
    );
    let invoice_id = past_due["latest_invoice_id"]
        .as_str()
        .expect("invoice")
        .to_owned();
    for (day, next) in [(1, Some(3)), (3, Some(5)), (5, Some(7)), (7, None)] {
        advance_to(&app, trial_end.plus_ms(day * DAY_MS)).await;
        let now_seen = subscription(&app, &id).await;
        match next {
            Some(next) => {
                assert_eq!(now_seen["status"], "past_due", "day {day}: {now_seen}");
                assert_eq!(
                    time_of(&now_seen, "next_retry_at"),
                    trial_end.plus_ms(next * DAY_MS)
                );
            }
            None => assert_eq!(now_seen["status"], "unpaid", "day {day}: {now_seen}"),
        }
    }
    let open = invoice(&app, &invoice_id).await;
    assert_eq!(open["status"], "open");
    let order_id = open["order_id"].as_str().expect("order").to_owned();
    let order = app.order(&order_id).await;
    let attempts = order["payments"].as_array().expect("payments").len();
    assert_eq!(attempts, 5, "the first charge and four retries: {order}");
    assert_eq!(count_events(&app, "subscription.past_due").await, 1);
    assert_eq!(count_events(&app, "subscription.unpaid").await, 1);
    assert_eq!(count_events(&app, "invoice.payment_failed").await, 5);

    // The customer pays through the link: the invoice and the subscription follow.
    app.confirm_card(&order_id, VISA).await.expect(200);
    assert_eq!(invoice(&app, &invoice_id).await["status"], "paid");
    let active = subscription(&app, &id).await;
    assert_eq!(active["status"], "active", "{active}");
    assert_eq!(active["next_retry_at"], Value::Null);
}

async fn cancel_pause_and_resume(backend: Backend) {
    let app = billing_app(backend).await;
    let price = plan(&app, "Life", 3000, 0).await;
    let (customer, mandate) = customer_with_mandate(&app, "life@example.com", VISA).await;

    // At the period's end: it renews no more.
    let sub = subscribe(&app, &customer, &price, &mandate).await;
    let id = id_of(&sub);
    let later = app
        .post(
            &format!("/v1/subscriptions/{id}/cancel"),
            json!({"at_period_end": true}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (
            later["status"].as_str(),
            later["cancel_at_period_end"].as_bool()
        ),
        (Some("active"), Some(true))
    );
    jump_then_advance_to(&app, time_of(&later, "current_period_end")).await;
    let ended = subscription(&app, &id).await;
    assert_eq!(ended["status"], "canceled", "{ended}");
    assert_eq!(ended["canceled_at"], later["current_period_end"]);
    assert_eq!(invoices_of(&app, &id).await.len(), 1);
    let again = app
        .post(&format!("/v1/subscriptions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(again.status, 409);

    // Now, with the unused time credited to the wallet: a third of the period left.
    let sub = subscribe(&app, &customer, &price, &mandate).await;
    let id = id_of(&sub);
    let (start, end) = (
        time_of(&sub, "current_period_start"),
        time_of(&sub, "current_period_end"),
    );
    let period_s = (end.as_ms() - start.as_ms()) / 1000;
    jump_to(&app, start.plus_ms(period_s * 2000 / 3)).await;
    let remaining_s = (end.as_ms() - now(&app).await.as_ms()) / 1000;
    let canceled = app
        .post(
            &format!("/v1/subscriptions/{id}/cancel"),
            json!({"refund_unused": true}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(canceled["status"], "canceled");
    let expected = half_even(3000 * i128::from(remaining_s), i128::from(period_s));
    assert!((999..=1001).contains(&expected));
    let wallet = app
        .get(&format!("/v1/customers/{customer}/wallet"))
        .await
        .expect(200)
        .clone();
    assert_eq!(wallet["balances"][0]["paid"], expected, "{wallet}");
    let first = &invoices_of(&app, &id).await[0];
    assert_eq!(first["amount_credited"], expected);

    // Pause: no invoices while paused; resume: a new period from then.
    let sub = subscribe(&app, &customer, &price, &mandate).await;
    let id = id_of(&sub);
    let paused = app
        .post(&format!("/v1/subscriptions/{id}/pause"), json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(paused["status"], "paused");
    let twice = app
        .post(&format!("/v1/subscriptions/{id}/pause"), json!({}))
        .await;
    assert_eq!(twice.status, 409);
    jump_then_advance_to(
        &app,
        time_of(&paused, "current_period_end").plus_ms(40 * DAY_MS),
    )
    .await;
    assert_eq!(
        invoices_of(&app, &id).await.len(),
        1,
        "no invoice while paused"
    );
    let resumed_at = now(&app).await;
    let resumed = app
        .post(&format!("/v1/subscriptions/{id}/resume"), json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(resumed["status"], "active", "{resumed}");
    assert_eq!(time_of(&resumed, "current_period_start"), resumed_at);
    let invoices = invoices_of(&app, &id).await;
    assert_eq!(invoices.len(), 2);
    assert_eq!(invoices[1]["status"], "paid");
    assert_eq!(count_events(&app, "subscription.paused").await, 1);
    assert_eq!(count_events(&app, "subscription.resumed").await, 1);
}
