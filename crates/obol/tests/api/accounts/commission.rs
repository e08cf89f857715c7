//! A reseller's commission: earned when a child brand's payment clears,
//! clawed back by refunds after clearing, and shown to the reseller in its
//! own ledger without the child's orders or customers.

use crate::harness::{Backend, Options, Resp, TestApp, ids, spawn_with};
use crate::on_both;
use obol_core::ledger::commission_minor;
use obol_server::ledger::{AccountKey, AccountType, NewEntry, check_invariants};
use serde_json::{Value, json};

on_both!(
    clawback_is_cumulative_and_nets_to_zero,
    reseller_sees_its_commission_entries_only,
    only_a_parents_commission_takes_other_brands_postings,
);

/// The rate the child brand of these tests pays its parent: 10 %.
pub(super) const RATE_BPS: i64 = 1000;
/// From capture to past clearing (`clearing_days` 2), in seconds.
pub(super) const PAST_CLEARING_S: i64 = 2 * 24 * 3600 + 60;

/// A reseller (the test app's brand) with one child brand that pays it
/// `RATE_BPS` and takes card payments on the sandbox.
pub(super) struct Reseller {
    pub(super) app: TestApp,
    pub(super) child_id: String,
    pub(super) child_key: String,
}

impl Reseller {
    pub(super) async fn new(backend: Backend) -> Reseller {
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

    pub(super) async fn as_child(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.app
            .send(method, path, Some(&self.child_key), body, &[])
            .await
    }

    /// A paid card order of the child for `amount` EUR; its id.
    pub(super) async fn child_payment(&self, amount: i64, customer_id: Option<&str>) -> String {
        self.child_payment_in("EUR", amount, customer_id).await
    }

    /// A paid card order of the child for `amount` of `currency`; its id.
    async fn child_payment_in(
        &self,
        currency: &str,
        amount: i64,
        customer_id: Option<&str>,
    ) -> String {
        let order = self
            .as_child(
                "POST",
                "/v1/orders",
                Some(json!({"amount": amount, "currency": currency, "customer_id": customer_id})),
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
    pub(super) async fn commission_balance(&self) -> i64 {
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
    pub(super) async fn child_available(&self) -> i64 {
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

/// The entry of `list` with this id.
fn entry_in<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|entry| entry["id"] == id)
        .unwrap_or_else(|| panic!("entry {id} missing from {list}"))
}

/// Every page of `path` (which has a query) at `limit`, walked with
/// `starting_after`.
async fn walk(app: &TestApp, key: &str, path: &str, limit: usize) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    loop {
        let after = seen
            .last()
            .map(|id| format!("&starting_after={id}"))
            .unwrap_or_default();
        let page = app
            .send(
                "GET",
                &format!("{path}&limit={limit}{after}"),
                Some(key),
                None,
                &[],
            )
            .await
            .expect(200)
            .clone();
        let page_ids = ids(&page);
        assert!(page_ids.len() <= limit, "{page}");
        seen.extend(page_ids);
        if page["has_more"] != true {
            return seen;
        }
        assert!(seen.len() < 100, "pages never end");
    }
}

/// The reseller sees every entry on its commission account with only its
/// own postings and no order or customer of the child; the child sees its
/// entries in full; neither sees the other's orders.
async fn reseller_sees_its_commission_entries_only(backend: Backend) {
    let reseller = Reseller::new(backend).await;
    let app = &reseller.app;
    let customer = reseller
        .as_child(
            "POST",
            "/v1/customers",
            Some(json!({"email": "ann@example.com"})),
        )
        .await
        .expect(200)
        .clone();
    let customer_id = customer["id"].as_str().expect("id");
    let child_order = reseller.child_payment(8925, Some(customer_id)).await;
    // A second currency: a second commission account of the reseller.
    let dollar_order = reseller.child_payment_in("USD", 5000, None).await;
    // The reseller takes payments of its own too.
    app.sandbox_account().await;
    let own_order = app.paid_order(1000, true).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.advance(PAST_CLEARING_S).await;
    reseller.child_refund(&child_order, 2000).await;

    let child_entries = reseller
        .as_child(
            "GET",
            &format!("/v1/ledger/entries?order_id={child_order}"),
            None,
        )
        .await
        .expect(200)
        .clone();
    let [refund, clearing, capture] = ids(&child_entries).try_into().expect("three entries");
    let dollar_entries = reseller
        .as_child(
            "GET",
            &format!("/v1/ledger/entries?order_id={dollar_order}"),
            None,
        )
        .await
        .expect(200)
        .clone();
    let [dollar_clearing, _] = ids(&dollar_entries).try_into().expect("two entries");
    let commission_account = app
        .get("/v1/ledger/accounts?type=commission&currency=EUR")
        .await
        .expect(200)["data"][0]
        .clone();
    let commission_id = commission_account["id"].as_str().expect("id");
    let cleared_commission = commission_minor(8925, RATE_BPS);
    let clawed_back = cleared_commission - commission_minor(8925 - 2000, RATE_BPS);
    assert_eq!(
        commission_account["balance"],
        -(cleared_commission - clawed_back)
    );

    // The child: its own entries, in full.
    let child_clearing = entry_in(&child_entries, &clearing);
    assert_eq!(child_clearing["order_id"], child_order.as_str());
    assert_eq!(child_clearing["customer_id"], customer_id);
    assert_eq!(
        child_clearing["description"],
        format!("clearing of {child_order}")
    );
    let postings = child_clearing["postings"].as_array().expect("postings");
    assert_eq!(postings.len(), 3, "{child_clearing}");
    assert!(
        postings
            .iter()
            .any(|p| p["account_id"] == commission_id && p["amount"] == -cleared_commission)
    );
    assert_eq!(
        entry_in(&child_entries, &refund)["postings"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    // The reseller: both commission entries, reduced to its own posting.
    let on_commission = app
        .get(&format!("/v1/ledger/entries?account_id={commission_id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&on_commission), [refund.clone(), clearing.clone()]);
    assert_eq!(on_commission["has_more"], false);
    let shown = |id: &str, amount: i64, description: String| {
        let entry = entry_in(&on_commission, id).clone();
        assert_eq!(
            entry,
            json!({"id": id, "object": "ledger_entry", "description": description,
                   "order_id": null, "customer_id": null, "created_at": entry["created_at"],
                   "postings": [{"account_id": commission_id, "amount": amount, "currency": "EUR"}]})
        );
        entry
    };
    let child_id = &reseller.child_id;
    let shown_clearing = shown(
        &clearing,
        -cleared_commission,
        format!("commission on a payment of {child_id}"),
    );
    let shown_refund = shown(
        &refund,
        clawed_back,
        format!("commission returned to {child_id}"),
    );
    for one in [&shown_clearing, &shown_refund] {
        let id = one["id"].as_str().expect("id");
        let fetched = app.get(&format!("/v1/ledger/entries/{id}")).await;
        assert_eq!(fetched.expect(200), one);
    }

    // Unfiltered, the reseller's list is its own entries and the shared
    // ones, newest first, on every page size.
    let all = app
        .get("/v1/ledger/entries?limit=100")
        .await
        .expect(200)
        .clone();
    let all_ids = ids(&all);
    let own = app
        .get(&format!("/v1/ledger/entries?order_id={own_order}"))
        .await
        .expect(200)
        .clone();
    let mut expected = ids(&own);
    expected.extend([refund.clone(), clearing.clone(), dollar_clearing.clone()]);
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(all_ids, expected);
    assert_eq!(entry_in(&all, &clearing), &shown_clearing);
    let dollar_commission = app
        .get("/v1/ledger/accounts?type=commission&currency=USD")
        .await
        .expect(200)["data"][0]["id"]
        .clone();
    let shown_dollar = entry_in(&all, &dollar_clearing);
    assert_eq!(
        shown_dollar["postings"],
        json!([{"account_id": dollar_commission, "amount": -commission_minor(5000, RATE_BPS),
                "currency": "USD"}])
    );
    assert_eq!(shown_dollar["order_id"], Value::Null);
    assert!(
        !all_ids.contains(&capture),
        "the child's capture is not shared"
    );
    for limit in [1, 2, 3] {
        let walked = walk(app, &app.secret_key, "/v1/ledger/entries?", limit).await;
        assert_eq!(walked, all_ids, "pages of {limit}");
    }
    let walked = walk(
        app,
        &app.secret_key,
        &format!("/v1/ledger/entries?account_id={commission_id}"),
        1,
    )
    .await;
    assert_eq!(walked, [refund.clone(), clearing.clone()]);
    let body = all.to_string();
    assert!(!body.contains(&child_order), "{body}");
    assert!(!body.contains(customer_id), "{body}");

    // Neither sees the other's orders, nor entries it has no posting in.
    let by_child_order = app
        .get(&format!("/v1/ledger/entries?order_id={child_order}"))
        .await;
    assert_eq!(by_child_order.expect(404)["error"]["param"], "order_id");
    app.get(&format!("/v1/orders/{child_order}"))
        .await
        .expect(404);
    app.get(&format!("/v1/ledger/entries/{capture}"))
        .await
        .expect(404);
    let cursor = app
        .get(&format!("/v1/ledger/entries?starting_after={capture}"))
        .await;
    assert_eq!(cursor.expect(400)["error"]["param"], "starting_after");
    reseller
        .as_child("GET", &format!("/v1/orders/{own_order}"), None)
        .await
        .expect(404);
    let by_own_order = reseller
        .as_child(
            "GET",
            &format!("/v1/ledger/entries?order_id={own_order}"),
            None,
        )
        .await;
    assert_eq!(by_own_order.expect(404)["error"]["param"], "order_id");
    let child_on_commission = reseller
        .as_child(
            "GET",
            &format!("/v1/ledger/entries?account_id={commission_id}"),
            None,
        )
        .await;
    assert_eq!(
        child_on_commission.expect(404)["error"]["param"],
        "account_id"
    );
    let child_all = reseller
        .as_child("GET", "/v1/ledger/entries?limit=100", None)
        .await
        .expect(200)
        .clone();
    assert_eq!(child_all["data"].as_array().map(Vec::len), Some(5));
    for id in [&refund, &clearing, &capture, &dollar_clearing] {
        assert!(ids(&child_all).contains(id), "{child_all}");
    }

    // A brand of no relation sees none of it.
    let (_, stranger_key) = app.other_brand("Stranger").await;
    let stranger = app
        .send(
            "GET",
            &format!(
                "/v1/ledger/entries/{}",
                shown_clearing["id"].as_str().expect("id")
            ),
            Some(&stranger_key),
            None,
            &[],
        )
        .await;
    stranger.expect(404);
    app.assert_ledger_balanced().await;
}

/// Posts `postings` as an entry of `brand_id`, committed; the entry id.
async fn post_as(app: &TestApp, brand_id: &str, postings: Vec<(AccountKey, i64)>) -> String {
    let entry = NewEntry {
        brand_id: obol_core::BrandId::from_text(brand_id.to_owned()),
        description: "test".into(),
        order_id: None,
        customer_id: None,
        postings,
    };
    let state = &app.state;
    let mut tx = state.db.begin().await.expect("begin");
    let id = obol_server::ledger::post(&mut tx, &state.caches, entry, state.now())
        .await
        .expect("posts");
    tx.commit().await.expect("commit");
    id.to_string()
}

/// The ledger check proves what a parent's entry list relies on: another
/// brand's entry posts to a brand only on its commission, and only if it
/// is the brand's child.
async fn only_a_parents_commission_takes_other_brands_postings(backend: Backend) {
    let reseller = Reseller::new(backend).await;
    let app = &reseller.app;
    app.leave_ledger_broken();
    let eur = obol_core::Currency::parse("EUR").expect("EUR");
    let account = |brand_id: &str, account_type| AccountKey {
        brand_id: obol_core::BrandId::from_text(brand_id.to_owned()),
        account_type,
        currency: eur,
        owner_id: None,
    };
    let child = reseller.child_id.as_str();
    let parent = app.brand_id.as_str();
    post_as(
        app,
        child,
        vec![
            (account(child, AccountType::BrandAvailable), 10),
            (account(parent, AccountType::Commission), -10),
        ],
    )
    .await;
    app.assert_ledger_balanced().await;

    let (stranger, _) = app.other_brand("Stranger").await;
    let mut wrong = Vec::new();
    for (brand_id, account_type) in [
        (child, AccountType::BrandAvailable),
        (stranger.as_str(), AccountType::Commission),
    ] {
        let postings = vec![
            (account(brand_id, AccountType::Fees), 5),
            (account(parent, account_type), -5),
        ];
        wrong.push(post_as(app, brand_id, postings).await);
    }
    let problem = check_invariants(&app.state.db)
        .await
        .expect_err("postings on another brand's accounts are caught");
    for entry_id in wrong {
        assert!(
            problem.contains(&format!("of entry {entry_id} is on account lac_")),
            "{problem}"
        );
    }
    assert!(problem.contains("not the commission account of its parent"));
}
