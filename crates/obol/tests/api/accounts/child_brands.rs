//! A reseller's owner key lists its child brands and reads their money,
//! and sees nothing else of them: not their orders, customers or keys.

use super::commission::{PAST_CLEARING_S, RATE_BPS, Reseller};
use crate::harness::Backend;
use crate::on_both;
use serde_json::json;

on_both!(a_parent_reads_its_childrens_money_and_nothing_else);

async fn a_parent_reads_its_childrens_money_and_nothing_else(backend: Backend) {
    let reseller = Reseller::new(backend).await;
    let app = &reseller.app;
    let customer = reseller
        .as_child(
            "POST",
            "/v1/customers",
            Some(json!({"email": "child-customer@example.com"})),
        )
        .await
        .expect(200)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let order_id = reseller.child_payment(10_001, Some(&customer)).await;
    app.advance(PAST_CLEARING_S).await;
    // 10 % of 10001 is 1000.1: half-even to 1000.
    assert_eq!(RATE_BPS, 1000);
    assert_eq!(reseller.commission_balance().await, -1000);
    assert_eq!(reseller.child_available().await, 9001);

    let children = app.get("/v1/child_brands").await;
    let list = children.expect(200);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
    let child = &list["data"][0];
    assert_eq!(
        (
            child["id"].as_str(),
            child["object"].as_str(),
            child["commission_rate_bps"].as_i64()
        ),
        (
            Some(reseller.child_id.as_str()),
            Some("child_brand"),
            Some(1000)
        )
    );
    assert!(child.get("webhook_secret").is_none(), "{child}");
    let balance = app
        .get(&format!("/v1/child_brands/{}/balance", reseller.child_id))
        .await;
    assert_eq!(
        balance.expect(200)["available"],
        json!([{"currency": "EUR", "amount": 9001}])
    );

    // The child's own things stay the child's.
    for path in [
        format!("/v1/orders/{order_id}"),
        format!("/v1/customers/{customer}"),
        format!("/v1/brands/{}", reseller.child_id),
    ] {
        let hidden = app.get(&path).await;
        assert_eq!(hidden.status, 404, "{path}: {}", hidden.body);
    }
    let orders = app.get("/v1/orders").await;
    assert_eq!(orders.expect(200)["data"], json!([]));

    // Only the parent's owner, and only for its own children.
    let developer = app.key_with_role("developer").await;
    let refused = app
        .send("GET", "/v1/child_brands", Some(&developer), None, &[])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let (stranger_id, stranger_key) = app.other_brand("Stranger").await;
    let path = format!("/v1/child_brands/{}/balance", reseller.child_id);
    let foreign = app.send("GET", &path, Some(&stranger_key), None, &[]).await;
    assert_eq!(foreign.status, 404, "{}", foreign.body);
    let not_a_child = app
        .get(&format!("/v1/child_brands/{stranger_id}/balance"))
        .await;
    assert_eq!(not_a_child.status, 404, "{}", not_a_child.body);
    let childless = reseller.as_child("GET", "/v1/child_brands", None).await;
    assert_eq!(childless.expect(200)["data"], json!([]));
}
