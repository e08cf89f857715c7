//! Acceptance "Publishable keys": with a `pk_` key and the order's client
//! secret, the hosted page reads exactly what it needs of the order and of
//! its payments, in the answer to a read, a confirm and a replayed confirm.

use crate::harness::{Backend, Resp, TestApp, spawn};
use crate::on_both;
use serde_json::{Value, json};
use std::collections::BTreeSet;

on_both!(publishable_key_reads_the_checkout_view_only);

/// The order fields a publishable key sees (api.md, "Publishable keys").
const CHECKOUT_FIELDS: [&str; 13] = [
    "amount",
    "currency",
    "customer_email",
    "description",
    "expires_at",
    "id",
    "items",
    "last_payment_error",
    "next_action",
    "object",
    "payments",
    "return_url",
    "status",
];

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Checks the checkout view of an order: its fields, and each payment's
/// status and card (`(status, last4)`, oldest first) only.
#[track_caller]
fn assert_checkout_view(order: &Value, payments: &[(&str, &str)]) {
    assert_eq!(keys(order), CHECKOUT_FIELDS.into(), "{order}");
    let shown: Vec<Value> = order["payments"].as_array().expect("payments").clone();
    let expected: Vec<Value> = payments
        .iter()
        .map(|(status, last4)| {
            json!({"status": status, "payment_method": {"type": "card", "brand": "visa", "last4": last4}})
        })
        .collect();
    assert_eq!(shown, expected, "{order}");
}

async fn as_publishable(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Resp {
    let key = app.publishable_key.clone();
    let replay_key = [("Idempotency-Key", "checkout-1")];
    let headers: &[(&str, &str)] = if method == "POST" { &replay_key } else { &[] };
    app.send(method, path, Some(&key), body, headers).await
}

async fn publishable_key_reads_the_checkout_view_only(backend: Backend) {
    let app = spawn(backend).await;
    let account = app.sandbox_account().await;
    let customer = app.create_customer("buyer@example.com").await;
    let order = app
        .create_order(json!({
            "amount": 2500, "currency": "EUR", "customer_id": customer["id"],
            "description": "Pro plan", "items": [{"name": "Pro", "quantity": 1, "unit_amount": 2500}],
            "return_url": "https://shop.example/done", "callback_url": "https://shop.example/hook",
            "metadata": {"internal_ref": "crm-7"}}))
        .await;
    let id = order["id"].as_str().expect("id").to_owned();
    let secret = order["client_secret"].as_str().expect("secret").to_owned();
    let read_path = format!("/v1/orders/{id}?client_secret={secret}");

    let read = as_publishable(&app, "GET", &read_path, None).await;
    let unpaid = read.expect(200);
    assert_checkout_view(unpaid, &[]);
    assert_eq!(unpaid["customer_email"], "buyer@example.com");
    assert_eq!(unpaid["items"][0]["name"], "Pro");
    assert_eq!(unpaid["return_url"], "https://shop.example/done");

    // A declined card: the error names the order and the attempt, nothing more.
    let confirm_path = format!("/v1/orders/{id}/confirm");
    let declined = app
        .send(
            "POST",
            &confirm_path,
            Some(&app.publishable_key.clone()),
            Some(json!({"payment_method": TestApp::card("4000000000000002"), "client_secret": secret})),
            &[],
        )
        .await;
    declined.expect(402);
    let error_keys = keys(&declined.body["error"]);
    for key in error_keys {
        assert!(
            [
                "type",
                "code",
                "decline_code",
                "message",
                "param",
                "order_id",
                "transaction_id"
            ]
            .contains(&key),
            "the error carries {key}: {}",
            declined.body
        );
    }

    let after_decline = as_publishable(&app, "GET", &read_path, None).await;
    let after_decline = after_decline.expect(200);
    assert_checkout_view(after_decline, &[("failed", "0002")]);
    assert_eq!(after_decline["last_payment_error"]["code"], "card_declined");

    let body =
        json!({"payment_method": TestApp::card("4242424242424242"), "client_secret": secret});
    let paid = as_publishable(&app, "POST", &confirm_path, Some(body.clone())).await;
    let paid = paid.expect(200).clone();
    // The success clears the decline the first attempt left.
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["last_payment_error"], Value::Null);
    let replayed = as_publishable(&app, "POST", &confirm_path, Some(body)).await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.expect(200), &paid);
    let read = as_publishable(&app, "GET", &read_path, None).await;
    let read = read.expect(200).clone();
    for view in [&paid, &read] {
        assert_checkout_view(view, &[("failed", "0002"), ("succeeded", "4242")]);
        let text = view.to_string();
        for hidden in [
            customer["id"].as_str().expect("customer id"),
            account.as_str(),
            "crm-7",
            "shop.example/hook",
            "fingerprint",
            "sbx_",
            "txn_",
        ] {
            assert!(
                !text.contains(hidden),
                "the checkout view shows {hidden}: {text}"
            );
        }
    }

    // The brand's own key still reads everything.
    let full = app.order(&id).await;
    assert_eq!(full["customer_id"], customer["id"]);
    assert_eq!(full["metadata"], json!({"internal_ref": "crm-7"}));
    assert_eq!(full["callback_url"], "https://shop.example/hook");
    assert!(full["payments"][1]["payment_method"]["fingerprint"].is_string());
    assert!(full["payments"][1]["status_history"].is_array());
}
