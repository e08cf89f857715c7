//! Crypto invoices at the sandbox, and the sandbox's signed notifications:
//! what each way of paying leaves, what sync and the notification say, and
//! what a forged or stale notification gets.

use super::*;
use obol_connectors::sandbox::notifications::{self, TOLERANCE_SECS};
use obol_connectors::sandbox::{INVOICE_TTL_MS, InvoicePayment};
use obol_connectors::{Notification, NotificationError};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

impl Env {
    /// Opens an invoice of `amount` for `transaction_id`; its sandbox id.
    async fn invoice(&self, transaction_id: &str, amount: i64) -> String {
        let mut request = authorize_request(
            transaction_id,
            "4242424242424242",
            Operation::Sale,
            amount,
            self.now(),
        );
        request.instrument = Instrument::Crypto;
        let response = ok(self.sandbox.authorize(request).await, "open an invoice");
        let id = response.connector_transaction_id.expect("an invoice id");
        assert_eq!(
            response.outcome,
            Outcome::RequiresAction {
                url: format!("{BASE_URL}/sandbox/crypto/{id}")
            }
        );
        id
    }

    /// What the sandbox's notification about `payment_id` says, signed now
    /// and verified as Obol would.
    pub(super) async fn notification(&self, payment_id: &str) -> Notification {
        let payment = self
            .sandbox
            .payment(payment_id)
            .await
            .expect("read the payment")
            .expect("the payment exists");
        let mandate = self
            .sandbox
            .mandate_of(&payment)
            .await
            .expect("read its mandate");
        let event =
            notifications::event_for(&payment, mandate.as_ref()).expect("something to tell");
        let timestamp = self.now().as_ms() / 1000;
        let headers = signed(&event.id, timestamp, SECRET, &event.body);
        self.sandbox
            .verify_notification(
                &account(ACCOUNT),
                SECRET,
                &headers,
                event.body.as_bytes(),
                self.now(),
            )
            .expect("the sandbox's own notification verifies")
    }
}

fn signed(id: &str, timestamp: i64, secret: &str, body: &str) -> axum::http::HeaderMap {
    let event = notifications::SandboxEvent {
        id: id.to_owned(),
        body: body.to_owned(),
    };
    let signature = notifications::signature(secret, &event, timestamp).expect("sign");
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("webhook-id", id.parse().expect("header"));
    headers.insert(
        "webhook-timestamp",
        timestamp.to_string().parse().expect("header"),
    );
    headers.insert("webhook-signature", signature.parse().expect("header"));
    headers
}

#[tokio::test(flavor = "multi_thread")]
async fn invoices_paid_exactly_over_and_under() {
    on_each_backend(|env| async move {
        let exact = new_id("txn");
        let id = env.invoice(&exact, 8925).await;
        assert!(
            matches!(env.sync(&exact, Operation::Sale).await.outcome, Outcome::RequiresAction { .. }),
            "open until paid"
        );
        let paid = env.sandbox.pay_invoice(&id, InvoicePayment::Exact).await.expect("pay");
        assert_eq!((paid.status.as_str(), paid.amount_received), ("succeeded", Some(8925)));
        let synced = env.sync(&exact, Operation::Sale).await;
        assert_eq!((synced.outcome, synced.amount_received), (Outcome::Succeeded, Some(8925)));
        let told = env.notification(&id).await;
        assert_eq!(told.event_type, "crypto.paid");
        assert_eq!((told.outcome, told.amount_received), (Outcome::Succeeded, Some(8925)));
        assert!(
            env.sandbox.pay_invoice(&id, InvoicePayment::Over).await.is_err(),
            "an invoice is paid once"
        );

        let over = new_id("txn");
        let id = env.invoice(&over, 8925).await;
        env.sandbox.pay_invoice(&id, InvoicePayment::Over).await.expect("pay");
        let told = env.notification(&id).await;
        assert_eq!((told.outcome, told.amount_received), (Outcome::Succeeded, Some(9817)));
        ok(env.follow(Operation::Refund, &over, 8925).await, "refund the sale");

        let under = new_id("txn");
        let id = env.invoice(&under, 8925).await;
        env.sandbox.pay_invoice(&id, InvoicePayment::Under).await.expect("pay");
        let told = env.notification(&id).await;
        assert_eq!((told.outcome, told.amount_received), (Outcome::Pending, Some(4462)));
        assert_eq!(env.sync(&under, Operation::Sale).await.outcome, Outcome::Pending);
        env.clock.advance_ms(INVOICE_TTL_MS);
        let synced = env.sync(&under, Operation::Sale).await;
        assert!(
            matches!(&synced.outcome, Outcome::Failed { code, .. } if code == "underpaid"),
            "{synced:?}"
        );
        let told = env.notification(&id).await;
        assert_eq!(told.event_type, "payment.failed");
        assert!(matches!(&told.outcome, Outcome::Failed { code, .. } if code == "underpaid"));
        assert_ne!(told.event_id, format!("sbx_evt_{}_paid", id.trim_start_matches("sbx_pay_")));
        assert_eq!(
            env.count(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'sandbox.notify' AND payload LIKE '%' || $1 || '%'",
                &id
            )
            .await,
            2,
            "one notification at the payment, one at the expiry"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unpaid_invoice_expires_and_crypto_is_a_sale_only() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        let id = env.invoice(&txn, 500).await;
        env.clock.advance_ms(INVOICE_TTL_MS);
        assert!(
            env.sandbox
                .pay_invoice(&id, InvoicePayment::Exact)
                .await
                .is_err(),
            "an expired invoice takes no payment"
        );
        let synced = env.sync(&txn, Operation::Sale).await;
        assert!(matches!(&synced.outcome, Outcome::Failed { code, .. } if code == "expired"));
        for operation in [Operation::Authorize, Operation::Verify] {
            let mut request =
                authorize_request(&new_id("txn"), "4242424242424242", operation, 0, env.now());
            request.instrument = Instrument::Crypto;
            assert_invalid(env.sandbox.authorize(request).await, operation.as_str());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_verify_only_signed_fresh_and_whole() {
    on_each_backend(|env| async move {
        let txn = new_id("txn");
        env.pay(&txn, "4000000000000077", Operation::Sale, 3000).await.expect("pay");
        env.clock.advance_ms(ASYNC_APPROVAL_DELAY_MS);
        let payment_id = env.stored(&txn).await.id;
        let told = env.notification(&payment_id).await;
        assert_eq!(told.event_type, "payment.succeeded");
        assert_eq!((told.outcome, told.amount), (Outcome::Succeeded, Some(3000)));

        let payment = env.sandbox.payment(&payment_id).await.expect("read").expect("exists");
        let event = notifications::event_for(&payment, None).expect("an event");
        let now = env.now();
        let at = now.as_ms() / 1000;
        let verify = |headers: &axum::http::HeaderMap, body: &str| {
            env.sandbox.verify_notification(&account(ACCOUNT), SECRET, headers, body.as_bytes(), now)
        };
        let unverified = |result: Result<Notification, NotificationError>, what: &str| {
            assert!(matches!(result, Err(NotificationError::Unverified(_))), "{what}: {result:?}");
        };
        let other_secret = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBvZiAzMiBieXQ=";
        unverified(verify(&signed(&event.id, at, other_secret, &event.body), &event.body), "another secret");
        let tampered = event.body.replace("3000", "30");
        unverified(verify(&signed(&event.id, at, SECRET, &event.body), &tampered), "a changed body");
        let stale = at - TOLERANCE_SECS - 1;
        unverified(verify(&signed(&event.id, stale, SECRET, &event.body), &event.body), "a stale one");
        let early = at + TOLERANCE_SECS + 1;
        unverified(verify(&signed(&event.id, early, SECRET, &event.body), &event.body), "one from the future");
        let mut missing = signed(&event.id, at, SECRET, &event.body);
        missing.remove("webhook-signature");
        unverified(verify(&missing, &event.body), "no signature");
        let odd = r#"{"id":"sbx_evt_1","type":"payment.refunded","connector_transaction_id":"x","amount":1,"currency":"EUR"}"#;
        assert!(matches!(
            verify(&signed("sbx_evt_1", at, SECRET, odd), odd),
            Err(NotificationError::Malformed(_))
        ));
    })
    .await;
}
