//! Disputes (chargebacks) Stripe notifies of: opened with their ledger
//! entry and event, answered with evidence, won or lost; and how clearing
//! treats what a dispute opened before it holds.

use super::notifications::posted;
use super::stripe::{VISA, WEBHOOK_SECRET, World, event, now_unix};
use crate::harness::{Backend, Options, id_of};
use crate::on_both;
use serde_json::json;

on_both!(
    a_dispute_opens_with_its_ledger_entry_and_event,
    clearing_leaves_out_what_disputes_hold,
);

/// Two days and a minute: past the default clearing delay.
const PAST_CLEARING_S: i64 = 2 * 24 * 3600 + 60;

async fn a_dispute_opens_with_its_ledger_entry_and_event(backend: Backend) {
    let world = World::start(backend).await;
    let order_id = world.order(5000, true).await;
    world
        .confirm(&order_id, VISA, &world.stripe_account)
        .await
        .expect(200);
    let intent_id = world.intent_of(&order_id).await;
    let sale = world.app.order(&order_id).await["payments"][0]["id"].clone();
    let due_by = now_unix() + 7 * 86_400;
    let dispute = json!({"id": "dp_obol_1", "object": "dispute", "charge": "ch_obol_1",
        "payment_intent": intent_id, "amount": 2000, "currency": "eur",
        "reason": "fraudulent", "status": "needs_response",
        "evidence_details": {"due_by": due_by}});
    let now = now_unix();
    // A dispute naming no payment Obol has seen succeed: 404 and not
    // recorded, so Stripe's retry of it may match later.
    let mut early = dispute.clone();
    early["payment_intent"] = json!("pi_not_seen_yet");
    let early = event("evt_dispute_0", "charge.dispute.created", early);
    let answer = world.notify(&early, WEBHOOK_SECRET, now).await;
    assert_eq!(
        (answer.status, answer.code()),
        (404, "resource_missing"),
        "{}",
        answer.body
    );
    let recorded = "SELECT COUNT(*) FROM connector_notifications WHERE event_id = 'evt_dispute_0'";
    assert_eq!(world.app.count(recorded).await, 0);
    let opened = event("evt_dispute_1", "charge.dispute.created", dispute.clone());
    let answer = world.notify(&opened, WEBHOOK_SECRET, now).await;
    assert_eq!(answer.expect(200)["result"], "applied");
    let again = world.notify(&opened, WEBHOOK_SECRET, now).await;
    assert_eq!(again.expect(200)["result"], "duplicate");

    let list = world.app.get("/v1/disputes").await.expect(200).clone();
    let disputes = list["data"].as_array().expect("data");
    assert_eq!(disputes.len(), 1);
    let dispute_view = &disputes[0];
    let dispute_id = id_of(dispute_view);
    assert!(dispute_id.starts_with("dsp_"));
    assert_eq!(dispute_view["object"], "dispute");
    assert_eq!(dispute_view["order_id"], order_id.as_str());
    assert_eq!(dispute_view["transaction_id"], sale);
    assert_eq!(dispute_view["amount"], 2000);
    assert_eq!(dispute_view["reason"], "fraudulent");
    assert_eq!(dispute_view["status"], "needs_response");
    assert!(dispute_view["evidence_due_by"].is_string());
    let fetched = world
        .app
        .get(&format!("/v1/disputes/{dispute_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(&fetched, dispute_view);
    // The disputed amount left the brand's (pending) balance.
    assert_eq!(posted(&world.app, "disputes").await, -2000);
    assert_eq!(posted(&world.app, "brand_pending").await, -5000 + 2000);
    let disputed = world
        .app
        .count("SELECT COUNT(*) FROM events WHERE type = 'order.disputed'")
        .await;
    assert_eq!(disputed, 1);
    world.app.assert_ledger_balanced().await;

    let evidence = format!("/v1/disputes/{dispute_id}/evidence");
    let empty = world.app.post(&evidence, json!({"text": " "})).await;
    empty.expect(400);
    assert_eq!(empty.param(), Some("text"));
    let answered = world
        .app
        .post(&evidence, json!({"text": "Delivered, signed for."}))
        .await;
    assert_eq!(answered.expect(200)["status"], "under_review");
    let twice = world.app.post(&evidence, json!({"text": "More."})).await;
    twice.expect(409);
    world.app.get("/v1/disputes/dsp_unknown").await.expect(404);

    // Won: the money is the brand's again.
    let closed = json!({"id": "dp_obol_1", "object": "dispute", "charge": "ch_obol_1",
        "payment_intent": intent_id, "amount": 2000, "currency": "eur",
        "reason": "fraudulent", "status": "won"});
    let won = event("evt_dispute_2", "charge.dispute.closed", closed);
    let answer = world.notify(&won, WEBHOOK_SECRET, now).await;
    assert_eq!(answer.expect(200)["result"], "applied");
    let fetched = world
        .app
        .get(&format!("/v1/disputes/{dispute_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(fetched["status"], "won");
    assert_eq!(posted(&world.app, "disputes").await, 0);
    assert_eq!(posted(&world.app, "brand_pending").await, -5000);
    let late = world.notify(&won, WEBHOOK_SECRET, now).await;
    assert_eq!(late.expect(200)["result"], "duplicate");

    // Lost: the money leaves to `external`.
    let other_order = world.order(3000, true).await;
    world
        .confirm(&other_order, VISA, &world.stripe_account)
        .await
        .expect(200);
    let other_intent = world.intent_of(&other_order).await;
    let dispute = |status: &str| {
        json!({"id": "dp_obol_2", "object": "dispute", "payment_intent": other_intent,
            "amount": 3000, "currency": "eur", "reason": "product_not_received",
            "status": status})
    };
    // Its close arrives first: 404 and not recorded, so Stripe retries it
    // after the opening.
    let lost = event("evt_dispute_4", "charge.dispute.closed", dispute("lost"));
    let early = world.notify(&lost, WEBHOOK_SECRET, now).await;
    assert_eq!(early.status, 404, "{}", early.body);
    let recorded = "SELECT COUNT(*) FROM connector_notifications WHERE event_id = 'evt_dispute_4'";
    assert_eq!(world.app.count(recorded).await, 0);
    let opened = event(
        "evt_dispute_3",
        "charge.dispute.created",
        dispute("needs_response"),
    );
    let answer = world.notify(&opened, WEBHOOK_SECRET, now).await;
    assert_eq!(answer.expect(200)["result"], "applied");
    assert_eq!(posted(&world.app, "disputes").await, -3000);
    let answer = world.notify(&lost, WEBHOOK_SECRET, now).await;
    assert_eq!(answer.expect(200)["result"], "applied");
    assert_eq!(posted(&world.app, "disputes").await, 0);
    assert_eq!(posted(&world.app, "external").await, -3000);
    assert_eq!(posted(&world.app, "brand_pending").await, -5000);
    let list = world.app.get("/v1/disputes").await.expect(200).clone();
    let statuses: Vec<_> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|dispute| dispute["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("lost"), json!("won")]);
    for sql in [
        "SELECT COUNT(*) FROM events WHERE type = 'dispute.won'",
        "SELECT COUNT(*) FROM events WHERE type = 'dispute.lost'",
        "SELECT COUNT(*) FROM events WHERE type = 'dispute.updated'",
    ] {
        assert_eq!(world.app.count(sql).await, 1, "{sql}");
    }
}

/// A dispute opened before clearing took its amount from pending: clearing
/// moves only the rest, a win then gives the amount back to available and
/// a loss leaves both balances right.
async fn clearing_leaves_out_what_disputes_hold(backend: Backend) {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    let world = World::start_with(backend, options).await;
    let now = now_unix();
    let dispute = |order: &str, intent: &str, amount: i64, status: &str| {
        json!({"id": format!("dp_{order}"), "object": "dispute", "payment_intent": intent,
            "amount": amount, "currency": "eur", "reason": "fraudulent", "status": status})
    };
    // Open at clearing, won after it.
    let kept = world.order(5000, true).await;
    world
        .confirm(&kept, VISA, &world.stripe_account)
        .await
        .expect(200);
    let kept_intent = world.intent_of(&kept).await;
    // Opened and lost before clearing.
    let lost = world.order(3000, true).await;
    world
        .confirm(&lost, VISA, &world.stripe_account)
        .await
        .expect(200);
    let lost_intent = world.intent_of(&lost).await;
    // Open at clearing, lost after it.
    let later = world.order(1000, true).await;
    world
        .confirm(&later, VISA, &world.stripe_account)
        .await
        .expect(200);
    let later_intent = world.intent_of(&later).await;
    let notices = [
        (
            "evt_c1",
            "charge.dispute.created",
            dispute(&kept, &kept_intent, 2000, "needs_response"),
        ),
        (
            "evt_c2",
            "charge.dispute.created",
            dispute(&lost, &lost_intent, 3000, "needs_response"),
        ),
        (
            "evt_c3",
            "charge.dispute.closed",
            dispute(&lost, &lost_intent, 3000, "lost"),
        ),
        (
            "evt_c4",
            "charge.dispute.created",
            dispute(&later, &later_intent, 400, "needs_response"),
        ),
    ];
    for (id, kind, object) in notices {
        let answer = world
            .notify(&event(id, kind, object), WEBHOOK_SECRET, now)
            .await;
        assert_eq!(answer.expect(200)["result"], "applied", "{id}");
    }
    assert_eq!(
        posted(&world.app, "brand_pending").await,
        -9000 + 2000 + 3000 + 400
    );
    assert_eq!(posted(&world.app, "disputes").await, -2400);

    world.app.advance(PAST_CLEARING_S).await;
    for order in [&kept, &lost, &later] {
        assert!(
            world.app.order(order).await["cleared_at"].is_string(),
            "{order}"
        );
    }
    // Nothing is left in pending, and available holds what no dispute does.
    assert_eq!(posted(&world.app, "brand_pending").await, 0);
    assert_eq!(posted(&world.app, "brand_available").await, -(3000 + 600));
    world.app.assert_ledger_balanced().await;

    let closed = [
        ("evt_c5", dispute(&kept, &kept_intent, 2000, "won")),
        ("evt_c6", dispute(&later, &later_intent, 400, "lost")),
    ];
    for (id, object) in closed {
        let answer = world
            .notify(
                &event(id, "charge.dispute.closed", object),
                WEBHOOK_SECRET,
                now,
            )
            .await;
        assert_eq!(answer.expect(200)["result"], "applied", "{id}");
    }
    assert_eq!(posted(&world.app, "brand_pending").await, 0);
    assert_eq!(posted(&world.app, "brand_available").await, -(5000 + 600));
    assert_eq!(posted(&world.app, "disputes").await, 0);
    assert_eq!(posted(&world.app, "external").await, -(3000 + 400));
    world.app.assert_ledger_balanced().await;
}
