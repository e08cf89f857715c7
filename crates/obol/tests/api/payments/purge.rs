//! The payments' purge: spent return nonces go two days after their use,
//! connector notifications a month after they arrived, each by the
//! payments' own job on the clock.

use crate::harness::{Backend, Options, spawn_with};
use crate::on_both;
use obol_core::{ConnectorAccountId, OrderId, TransactionId};

on_both!(old_nonces_and_notifications_are_purged);

const DAY_S: i64 = 24 * 3600;

async fn old_nonces_and_notifications_are_purged(backend: Backend) {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    let app = spawn_with(backend, options).await;
    let now = app.state.now().as_ms();
    let mut conn = app.state.db.write_conn().await.expect("a connection");
    let spent = obol_store::checkout::spend_return_nonce(
        &mut conn,
        "nonce_1",
        &OrderId::from("ord_1"),
        &TransactionId::from("txn_1"),
        now,
    )
    .await
    .expect("spend");
    assert!(spent);
    let account = ConnectorAccountId::from("cna_1");
    let notification = obol_store::notifications::NewNotification {
        connector_account_id: &account,
        event_id: "evt_1",
        event_type: "payment_intent.succeeded",
        connector_transaction_id: "pi_1",
        transaction_id: None,
        now_ms: now,
    };
    assert!(
        obol_store::notifications::insert(&mut conn, &notification)
            .await
            .expect("record")
    );
    drop(conn);
    let nonces = "SELECT COUNT(*) FROM checkout_returns";
    let notifications = "SELECT COUNT(*) FROM connector_notifications";

    app.advance(DAY_S).await;
    assert_eq!(
        (app.count(nonces).await, app.count(notifications).await),
        (1, 1)
    );
    app.advance(2 * DAY_S).await;
    assert_eq!(
        (app.count(nonces).await, app.count(notifications).await),
        (0, 1)
    );
    app.advance(28 * DAY_S).await;
    assert_eq!(app.count(notifications).await, 0);
}
