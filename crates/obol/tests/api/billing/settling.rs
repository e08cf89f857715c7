//! Settling invoices: credit notes to the wallet and back to the card,
//! void, uncollectible and the ways an open invoice can be paid.

use super::*;
use crate::harness::{Backend, TestApp, id_of};
use crate::on_both;
use serde_json::json;

on_both!(
    credit_notes_go_to_the_wallet_or_back_to_the_card,
    void_uncollectible_and_pay_options,
);

async fn credit_notes_go_to_the_wallet_or_back_to_the_card(backend: Backend) {
    let app = billing_app(backend).await;
    let customer = customer(&app, "cn@example.com", None).await;
    let invoice = open_invoice(
        &app,
        &customer,
        json!([{"description": "Workshop", "unit_amount": 5000}]),
    )
    .await;
    let id = id_of(&invoice);
    let paid = app
        .post(
            &format!("/v1/invoices/{id}/pay"),
            json!({"payment_method": TestApp::card(VISA)}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount_due"], 0);

    let to_wallet = app
        .post(
            &format!("/v1/invoices/{id}/credit_notes"),
            json!({"amount": 1200, "reason": "order_change", "refund_to": "wallet"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(to_wallet["object"], "credit_note");
    let wallet = app
        .get(&format!("/v1/customers/{customer}/wallet"))
        .await
        .expect(200)
        .clone();
    assert_eq!(wallet["balances"][0]["paid"], 1200, "{wallet}");
    let entries = app
        .get(&format!("/v1/ledger/entries?customer_id={customer}"))
        .await
        .expect(200)
        .clone();
    assert!(
        entries["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|entry| entry["description"]
                .as_str()
                .unwrap_or_default()
                .starts_with("credit of invoice")),
        "{entries}"
    );

    let to_card = app
        .post(
            &format!("/v1/invoices/{id}/credit_notes"),
            json!({"lines": [{"description": "Late start", "amount": 800}],
                     "reason": "product_unsatisfactory", "refund_to": "payment"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(to_card["amount"], 800);
    let refund_id = to_card["refund_id"].as_str().expect("a refund");
    let refund = app
        .get(&format!("/v1/refunds/{refund_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (refund["status"].as_str(), refund["amount"].as_i64()),
        (Some("succeeded"), Some(800))
    );
    let order = app.order(paid["order_id"].as_str().expect("order")).await;
    assert_eq!(order["amount_refunded"], 800);

    let credited = super::invoice(&app, &id).await;
    assert_eq!(credited["amount_credited"], 2000);
    // A refund of the order made directly counts as given back too.
    app.post(
        "/v1/refunds",
        json!({"order_id": paid["order_id"], "amount": 2500}),
    )
    .await
    .expect(200);
    let past_it = app
        .post(
            &format!("/v1/invoices/{id}/credit_notes"),
            json!({"amount": 501, "reason": "duplicate", "refund_to": "wallet"}),
        )
        .await;
    assert_eq!(
        (past_it.status, past_it.param()),
        (400, Some("amount")),
        "{}",
        past_it.body
    );
    let too_much = app
        .post(
            &format!("/v1/invoices/{id}/credit_notes"),
            json!({"amount": 3001, "reason": "duplicate", "refund_to": "wallet"}),
        )
        .await;
    assert_eq!((too_much.status, too_much.param()), (400, Some("amount")));
    let open = open_invoice(
        &app,
        &customer,
        json!([{"description": "Other", "unit_amount": 100}]),
    )
    .await;
    let not_paid = app
        .post(
            &format!("/v1/invoices/{}/credit_notes", id_of(&open)),
            json!({"reason": "duplicate", "refund_to": "wallet"}),
        )
        .await;
    assert_eq!(not_paid.status, 409);
    assert_eq!(count_events(&app, "credit_note.created").await, 2);
}

async fn void_uncollectible_and_pay_options(backend: Backend) {
    let app = billing_app(backend).await;
    let (customer, mandate) = customer_with_mandate(&app, "opt@example.com", VISA).await;
    let invoice = open_invoice(
        &app,
        &customer,
        json!([{"description": "Thing", "unit_amount": 900}]),
    )
    .await;
    let id = id_of(&invoice);
    let options = app
        .get(&format!("/v1/invoices/{id}/pay_options"))
        .await
        .expect(200)
        .clone();
    assert_eq!(options["object"], "list");
    let types: Vec<&str> = options["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|o| o["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["mandate", "card"], "{options}");
    assert_eq!(options["data"][0]["mandate_id"], mandate.as_str());
    let order_id = invoice["order_id"].as_str().expect("order");
    assert!(
        options["data"][1]["url"]
            .as_str()
            .is_some_and(|url| url.contains(&format!("/pay/{order_id}?sig="))),
        "{options}"
    );

    let uncollectible = app
        .post(&format!("/v1/invoices/{id}/mark_uncollectible"), json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(uncollectible["status"], "uncollectible");
    assert_eq!(uncollectible["amount_due"], 900);
    // Still payable: by the mandate, as no payment method names another way.
    let paid = app
        .post(&format!("/v1/invoices/{id}/pay"), json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(paid["status"], "paid", "{paid}");
    let void_paid = app
        .post(&format!("/v1/invoices/{id}/void"), json!({}))
        .await;
    assert_eq!(void_paid.status, 409, "{}", void_paid.body);

    let other = open_invoice(
        &app,
        &customer,
        json!([{"description": "Other", "unit_amount": 400}]),
    )
    .await;
    let voided = app
        .post(&format!("/v1/invoices/{}/void", id_of(&other)), json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(voided["status"], "void");
    assert_eq!(voided["amount_due"], 0);
    let pay_void = app
        .post(&format!("/v1/invoices/{}/pay", id_of(&other)), json!({}))
        .await;
    assert_eq!(pay_void.status, 409);
    let empty = app
        .get(&format!("/v1/invoices/{}/pay_options", id_of(&other)))
        .await
        .expect(200)
        .clone();
    assert_eq!(empty["data"], json!([]));
    // Its order is no longer payable either.
    let order_id = other["order_id"].as_str().expect("order");
    let late = app.confirm_card(order_id, VISA).await;
    assert!(late.status == 409 || late.status == 400, "{}", late.body);
    let listed = app
        .get(&format!("/v1/invoices?customer_id={customer}&status=void"))
        .await
        .expect(200)
        .clone();
    assert_eq!(crate::harness::ids(&listed), [id_of(&other)]);
}
