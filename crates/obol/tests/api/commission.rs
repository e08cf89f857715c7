//! A reseller's commission: earned when a child brand's payment clears,
//! clawed back by refunds after clearing.

use crate::harness::{Backend, Options, Resp, TestApp, spawn_with};
use crate::on_both;
use obol_core::ledger::commission_minor;
use serde_json::{Value, json};

on_both!(clawback_is_cumulative_and_nets_to_zero);

/// The rate the child brand of these tests pays its parent: 10 %.
const RATE_BPS: i64 = 1000;
/// From capture to past clearing (`clearing_days` 2), in seconds.
const PAST_CLEARING_S: i64 = 2 * 24 * 3600 + 60;

/// A reseller (the test app's brand) with one child brand that pays it
/// `RATE_BPS` and takes card payments on the sandbox.
struct Reseller {
    app: TestApp,
    child_id: String,
    child_key: String,
}

impl Reseller {
    async fn new(backend: Backend) -> Reseller {
        let options = Options {
            test_clock: true,
            ..Default::default()
        };
        let app = spawn_with(backend, options).await;
        let child = app
            .admin_post(
                "/v1/brands",
                json!({"name": "Child", "parent_brand_id": app.brand_id, "commission_rate_bps": RATE_BPS}),
            )
            .await
            .expect(200)
            .clone();
        let reseller = Reseller {
            child_id: child["brand"]["id"].as_str().expect("id").to_owned(),
            child_key: child["secret_key"].as_str().expect("key").to_owned(),
            app,
        };
        reseller
            .as_child(
                "POST",
                "/v1/connector_accounts",
                Some(json!({"connector": "sandbox", "payment_methods": ["card"]})),
            )
            .await
            .expect(200);
        reseller
    }

    async fn as_child(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.app
            .send(method, path, Some(&self.child_key), body, &[])
            .await
    }

    /// A paid EUR card order of the child for `amount`; its id.
    async fn child_payment(&self, amount: i64, customer_id: Option<&str>) -> String {
        let order = self
            .as_child(
                "POST",
                "/v1/orders",
                Some(json!({"amount": amount, "currency": "EUR", "customer_id": customer_id})),
            )
            .await
            .expect(200)
            .clone();
        let id = order["id"].as_str().expect("id").to_owned();
        let card = json!({"payment_method": TestApp::card("4242424242424242")});
        let paid = self
            .as_child("POST", &format!("/v1/orders/{id}/confirm"), Some(card))
            .await;
        assert_eq!(paid.expect(200)["status"], "paid");
        id
    }

    async fn child_refund(&self, order_id: &str, amount: i64) {
        let refund = self
            .as_child(
                "POST",
                "/v1/refunds",
                Some(json!({"order_id": order_id, "amount": amount})),
            )
            .await;
        assert_eq!(refund.expect(200)["status"], "succeeded");
    }

    /// The balance of the reseller's commission account (credit-normal:
    /// what the children owe it is negative); 0 before it exists.
    async fn commission_balance(&self) -> i64 {
        let list = self
            .app
            .get("/v1/ledger/accounts?type=commission")
            .await
            .expect(200)
            .clone();
        match list["data"].as_array().map(Vec::as_slice) {
            Some([]) => 0,
            Some([account]) => account["balance"].as_i64().expect("balance"),
            _ => panic!("one commission account expected: {list}"),
        }
    }

    /// What the child has available (owed to it, positive).
    async fn child_available(&self) -> i64 {
        let balance = self
            .as_child("GET", "/v1/balance", None)
            .await
            .expect(200)
            .clone();
        balance["available"][0]["amount"].as_i64().expect("amount")
    }
}

/// Refunds after clearing claw the commission back cumulatively: after
/// refunds of R out of a cleared N the reseller has kept exactly
/// commission(N − R), so a full refund leaves it nothing and never makes it
/// pay back more than it earned.
async fn clawback_is_cumulative_and_nets_to_zero(backend: Backend) {
    let reseller = Reseller::new(backend).await;
    // Clawbacks use the brand's rate as the rate clearing used: it is set
    // at creation, for good.
    for field in ["commission_rate_bps", "parent_brand_id"] {
        let path = format!("/v1/brands/{}", reseller.child_id);
        let change = json!({ field: null });
        for key in [crate::harness::ADMIN_KEY, reseller.child_key.as_str()] {
            let refused = reseller
                .app
                .send("PATCH", &path, Some(key), Some(change.clone()), &[])
                .await;
            assert_eq!(refused.expect(400)["error"]["code"], "parameter_unknown");
        }
    }
    let captured = 8925;
    // Per refund, 15 × 595 would claw back 15 × 60 = 900 and 5 × 1785
    // would claw back 5 × 178 = 890, against 892 earned.
    for (refunds, amount, refunded_before_clearing) in [(15, 595, 0), (5, 1785, 0), (14, 595, 595)]
    {
        let order_id = reseller.child_payment(captured, None).await;
        if refunded_before_clearing > 0 {
            reseller
                .child_refund(&order_id, refunded_before_clearing)
                .await;
        }
        reseller.app.advance(PAST_CLEARING_S).await;
        let cleared = captured - refunded_before_clearing;
        assert_eq!(
            reseller.commission_balance().await,
            -commission_minor(cleared, RATE_BPS),
            "clearing pays the reseller its commission on {cleared}"
        );
        let mut refunded = refunded_before_clearing;
        for _ in 0..refunds {
            reseller.child_refund(&order_id, amount).await;
            refunded += amount;
            assert_eq!(
                reseller.commission_balance().await,
                -commission_minor(captured - refunded, RATE_BPS),
                "after refunds of {refunded}, the reseller keeps the commission on the rest"
            );
        }
        assert_eq!(refunded, captured);
        assert_eq!(reseller.commission_balance().await, 0);
        assert_eq!(reseller.child_available().await, 0);
        reseller.app.assert_ledger_balanced().await;
    }
}
