//! Customers and their events.

use crate::harness::{Backend, spawn};
use crate::on_both;
use serde_json::json;

on_both!(
    crud_and_soft_delete,
    events_in_the_same_transaction,
    events_page_newest_first
);

async fn crud_and_soft_delete(backend: Backend) {
    let app = spawn(backend).await;
    let created = app
        .post("/v1/customers", json!({"email": "Ann@Example.com", "name": "Ann", "country": "DE", "metadata": {"plan": "pro"}}))
        .await;
    let customer = created.expect(200).clone();
    assert_eq!(customer["object"], "customer");
    assert_eq!(customer["email"], "Ann@example.com");
    assert_eq!(customer["status"], "active");
    let id = customer["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("cus_"));

    let fetched = app.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(fetched.expect(200), &customer);

    let updated = app
        .patch(
            &format!("/v1/customers/{id}"),
            json!({"name": null, "status": "suspended", "metadata": {"plan": "", "tier": "b"}}),
        )
        .await;
    let updated = updated.expect(200);
    assert_eq!(updated["name"], serde_json::Value::Null);
    assert_eq!(updated["status"], "suspended");
    assert_eq!(updated["metadata"], json!({"tier": "b"}));

    let by_email = app.get("/v1/customers?email=Ann@example.com").await;
    assert_eq!(by_email.expect(200)["data"][0]["id"], id.as_str());
    let by_status = app.get("/v1/customers?status=active").await;
    assert_eq!(
        by_status.expect(200)["data"].as_array().map(Vec::len),
        Some(0)
    );

    let deleted = app.delete(&format!("/v1/customers/{id}")).await;
    assert_eq!(deleted.expect(200)["deleted"], true);
    let listed = app.get("/v1/customers").await;
    assert_eq!(listed.expect(200)["data"].as_array().map(Vec::len), Some(0));
    let still_there = app.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(still_there.expect(200)["deleted"], true);
    assert_eq!(
        app.patch(&format!("/v1/customers/{id}"), json!({"name": "x"}))
            .await
            .code(),
        "invalid_state"
    );
    // The email is free again once its customer is deleted.
    app.create_customer("ann@example.com").await;

    let types: Vec<String> = app.get("/v1/events?limit=100").await.expect(200)["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|event| event["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "customer.created",
            "customer.deleted",
            "customer.updated",
            "customer.created"
        ]
    );
}

async fn events_in_the_same_transaction(backend: Backend) {
    let app = spawn(backend).await;
    app.create_customer("dup@example.com").await;
    let duplicate = app
        .post("/v1/customers", json!({"email": "dup@example.com"}))
        .await;
    duplicate.expect(409);
    assert_eq!(duplicate.code(), "resource_already_exists");
    assert_eq!(duplicate.body["error"]["type"], "invalid_request_error");
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 1);

    let other = app.create_customer("other@example.com").await;
    let taken = app
        .patch(
            &format!("/v1/customers/{}", other["id"].as_str().expect("id")),
            json!({"email": "dup@example.com"}),
        )
        .await;
    assert_eq!(taken.code(), "resource_already_exists");
    assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 2);

    let event = app
        .get("/v1/events?type=customer.created&limit=1")
        .await
        .body["data"][0]
        .clone();
    assert_eq!(event["data"]["object"]["id"], other["id"]);
    let fetched = app
        .get(&format!("/v1/events/{}", event["id"].as_str().expect("id")))
        .await;
    assert_eq!(fetched.expect(200), &event);
}

async fn events_page_newest_first(backend: Backend) {
    let app = spawn(backend).await;
    for i in 0..5 {
        app.create_customer(&format!("c{i}@example.com")).await;
    }
    let first = app.get("/v1/events?limit=2").await.expect(200).clone();
    assert_eq!(first["has_more"], true);
    let sequences: Vec<i64> = first["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["sequence"].as_i64().expect("seq"))
        .collect();
    assert_eq!(sequences, [5, 4]);
    let last_id = first["data"][1]["id"].as_str().expect("id");
    let second = app
        .get(&format!("/v1/events?limit=2&starting_after={last_id}"))
        .await
        .expect(200)
        .clone();
    let sequences: Vec<i64> = second["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["sequence"].as_i64().expect("seq"))
        .collect();
    assert_eq!(sequences, [3, 2]);
    let third = app
        .get(&format!(
            "/v1/events?limit=2&starting_after={}",
            second["data"][1]["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(third.expect(200)["has_more"], false);
    assert_eq!(third.body["data"][0]["sequence"], 1);

    let customers = app.get("/v1/customers?limit=3").await.expect(200).clone();
    let emails: Vec<&str> = customers["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|c| c["email"].as_str().expect("email"))
        .collect();
    assert_eq!(
        emails,
        ["c4@example.com", "c3@example.com", "c2@example.com"]
    );
    let rest = app
        .get(&format!(
            "/v1/customers?starting_after={}",
            customers["data"][2]["id"].as_str().expect("id")
        ))
        .await;
    let emails: Vec<&str> = rest.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|c| c["email"].as_str().expect("email"))
        .collect();
    assert_eq!(emails, ["c1@example.com", "c0@example.com"]);
}
