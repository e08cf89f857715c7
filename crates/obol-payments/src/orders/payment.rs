//! The payment operation in three steps (design.md): record the intent and
//! claim the order (tx 1), call the connector outside any transaction, and
//! apply the outcome only if the transaction is still open (tx 2).

use super::PaymentMethodInput;
use super::bound::Found;
pub use super::report::Report;
use super::views::{self, Order, StatusChange};
use crate::connector_accounts;
use crate::error::{Error, Result};
use obol_connectors::{
    AccountContext, AuthorizeRequest, Connector, CustomerRef, FollowUpRequest, Instrument,
    Operation, SyncRequest,
};
use obol_core::order::{OrderCommand, TransactionKind, TransactionStatus};
use obol_core::{BrandId, ConnectorAccountId, MandateId, OrderId, RefundId, TransactionId};
use obol_core::{Currency, Money, Timestamp};
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::idempotency::BoundObject;
use obol_store::orders::{OrderRow, TransactionRow};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// `POST /v1/orders/{id}/confirm` as parsed.
pub struct ConfirmInput {
    pub payment_method: PaymentMethodInput,
    pub connector_account_id: Option<String>,
    /// `api` (secret key) or `checkout` (publishable key, hosted page).
    pub trigger: String,
    /// The request's key: the transaction made is bound to it.
    pub idempotency_key: Option<IdempotencyKey>,
}

use obol_kernel::state::SYNC_MARGIN_MS;

/// How long after its transaction's creation a connector call may still be
/// running (`call` bounds every call within it).
pub(crate) fn call_window_ms(state: &AppState) -> i64 {
    state.call_window_ms()
}

/// What step 1 records: the operation and what it acts on.
pub(crate) struct Intent<'a> {
    pub kind: TransactionKind,
    pub amount: i64,
    /// `api`, `checkout` or `system`.
    pub trigger: &'a str,
    pub account: &'a obol_store::connector_accounts::ConnectorAccountRow,
    /// The card as the transaction shows it (payments only).
    pub payment_method: Option<Value>,
    /// The payment a follow-up acts on.
    pub payment_transaction_id: Option<TransactionId>,
    pub refund_id: Option<RefundId>,
}

/// Step 1: records a `pending` transaction and its sync job, and claims the
/// order for it (refunds reserve their amount instead of claiming).
pub(crate) async fn record_intent(
    state: &AppState,
    conn: &mut Conn,
    order: &mut OrderRow,
    intent: Intent<'_>,
) -> Result<TransactionRow> {
    let Intent {
        kind,
        amount,
        trigger,
        account,
        payment_method,
        payment_transaction_id,
        refund_id,
    } = intent;
    let now = state.now();
    let history = vec![StatusChange {
        status: "pending".into(),
        at: now,
        amount,
        http_code: None,
    }];
    let first_sync = now.plus_ms(state.call_window_ms());
    let txn = TransactionRow {
        id: TransactionId::new(),
        brand_id: order.brand_id.clone(),
        order_id: order.id.clone(),
        refund_id,
        payment_transaction_id,
        kind: kind.as_str().to_owned(),
        status: TransactionStatus::Pending.as_str().to_owned(),
        amount,
        currency: order.currency.clone(),
        connector: account.connector.clone(),
        connector_account_id: account.id.clone(),
        connector_transaction_id: None,
        trigger_source: trigger.to_owned(),
        preauth: i64::from(kind == TransactionKind::Authorize),
        payment_method: payment_method.map(|value| value.to_string()),
        error: None,
        status_history: serde_json::to_string(&history).map_err(Error::internal)?,
        version: 0,
        created_at: now.as_ms(),
        confirmed_at: None,
        updated_at: now.as_ms(),
        // The sync that settles it if step 3 never runs.
        sync_at: Some(first_sync.as_ms()),
        sync_attempts: 0,
        amount_received: None,
    };
    obol_store::orders::insert_transaction(conn, &txn).await?;
    if kind != TransactionKind::Refund {
        order.in_flight_transaction_id = Some(txn.id.clone());
    }
    if kind.is_payment() {
        order.attempted = 1;
        order.connector_account_id = Some(account.id.clone());
    }
    order.updated_at = now.as_ms();
    obol_store::orders::update_order(conn, order).await?;
    Ok(txn)
}

/// What step 2 sends.
pub(crate) enum Call {
    Authorize(AuthorizeRequest),
    Capture(FollowUpRequest),
    Increment(FollowUpRequest),
    Void(FollowUpRequest),
    Reverse(FollowUpRequest),
    Refund(FollowUpRequest),
    Sync(SyncRequest),
}

/// Test hook on calls that move money (never on a sync): stop after step 1,
/// so a test can kill the process there.
async fn money_call_failpoints(state: &AppState) {
    if state.failpoint.as_deref() == Some("pause_before_connector_call") {
        tracing::warn!("failpoint pause_before_connector_call reached");
        std::future::pending::<()>().await;
    }
}

/// Part of the sync margin that a call starting late may still use; the
/// rest covers a request still on its way when Obol gives up on it.
const LATE_START_GRACE_MS: i64 = SYNC_MARGIN_MS / 2;

/// The error code of a transaction its provider refused as malformed.
pub(crate) const CONNECTOR_REFUSED: &str = "connector_refused";

/// Step 2 for the operation of a transaction created at `created_at_ms`
/// (`None` for a sync), under Obol's timeout, with no transaction open.
///
/// A call that moves money never runs past its transaction's creation +
/// the timeout + `LATE_START_GRACE_MS`: one that starts late (pool waits,
/// step 1's commit) gets only what is left, and one with nothing left is
/// not sent at all (unknown, settled by sync). So no call can still be
/// running when a sync `call_window_ms` after the creation finds no record
/// of it, and that sync may fail the transaction. Bounding the call costs
/// no write; recording when each call starts would cost one per payment.
pub(crate) async fn call(
    state: &AppState,
    connector: &Arc<dyn Connector>,
    call: Call,
    created_at_ms: Option<i64>,
) -> Report {
    if created_at_ms.is_some() {
        money_call_failpoints(state).await;
    }
    if let (Some(created_at_ms), Some("delay_connector_call")) =
        (created_at_ms, state.failpoint.as_deref())
    {
        // Test hook: the call starts only a second after its window (on
        // Obol's clock), as if step 1's commit or the pool had kept it.
        tracing::warn!("failpoint delay_connector_call reached");
        let start_at_ms = created_at_ms + call_window_ms(state) + 1_000;
        while state.now().as_ms() < start_at_ms {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let timeout_ms = i64::try_from(state.connector_timeout_ms).unwrap_or(i64::MAX / 4);
    let limit_ms = match created_at_ms {
        Some(created_at_ms) => {
            let left_ms = created_at_ms + timeout_ms + LATE_START_GRACE_MS - state.now().as_ms();
            if left_ms <= 0 {
                tracing::warn!("a connector call was not sent: its time ran out before it started");
                return Report::not_sent();
            }
            left_ms.min(timeout_ms)
        }
        None => timeout_ms,
    };
    let limit = Duration::from_millis(u64::try_from(limit_ms).unwrap_or(0));
    let hold = created_at_ms.is_some() && state.failpoint_once("hold_connector_call");
    let future = async {
        if hold {
            // Test hook: a connector that takes longer than a retry's
            // patience to answer (within the call's timeout).
            let hold_ms = obol_kernel::idempotency::STALE_AFTER_MS.unsigned_abs() + 3_000;
            tokio::time::sleep(Duration::from_millis(hold_ms)).await;
        }
        match call {
            Call::Authorize(request) => connector.authorize(request).await,
            Call::Capture(request) => connector.capture(request).await,
            Call::Increment(request) => connector.increment_authorization(request).await,
            Call::Void(request) => connector.void(request).await,
            Call::Reverse(request) => connector.reverse(request).await,
            Call::Refund(request) => connector.refund(request).await,
            Call::Sync(request) => connector.sync(request).await,
        }
    };
    let answer = tokio::time::timeout(limit, future).await.ok();
    let report = match created_at_ms {
        Some(_) => Report::from_call(answer),
        None => Report::from_sync(answer),
    };
    if created_at_ms.is_some() && state.failpoint.as_deref() == Some("pause_after_connector_call") {
        // Test hook: stop between the connector call and step 3, so that a
        // test can kill the process there and check that sync recovers.
        tracing::warn!("failpoint pause_after_connector_call reached");
        std::future::pending::<()>().await;
    }
    report
}

/// Confirms an order: sale, authorization or zero-amount verification.
pub async fn confirm(
    state: &AppState,
    brand_id: &BrandId,
    order_id: &OrderId,
    input: ConfirmInput,
) -> Result<Order> {
    let key = input.idempotency_key.as_ref();
    if let Some(found) = super::bound::transaction_as_it_stands(state, brand_id, key).await? {
        let txn = found.transaction();
        let is_payment = TransactionKind::parse(&txn.kind).is_some_and(TransactionKind::is_payment);
        if txn.order_id != order_id || !is_payment {
            return Err(Error::KeyReused);
        }
        return match found {
            Found::Settled(txn) => super::bound::answer_order(state, brand_id, &txn).await,
            Found::Unsent(txn) => resend(state, brand_id, &txn, &input).await,
        };
    }
    let now = state.now();
    let pay_with = payment_method(&input.payment_method, now)?;
    let mut tx = state.db.begin().await?;
    let (order, routes) =
        obol_store::orders::lock_order_with_routes(&mut tx, state.db.backend, order_id, brand_id)
            .await?;
    let mut order = order.ok_or_else(|| Error::not_found("order", order_id))?;
    super::allow(&mut tx, &order, OrderCommand::Confirm).await?;
    if now.as_ms() >= order.expires_at {
        return Err(Error::invalid_state(format!(
            "cannot confirm an order in this state: it expired at {}",
            Timestamp::from_ms(order.expires_at).to_rfc3339()
        )));
    }
    let currency = super::currency(&order.currency)?;
    let explicit = input
        .connector_account_id
        .clone()
        .map(ConnectorAccountId::from);
    let Paying {
        instrument,
        account,
        payment_method: method_view,
        trigger,
    } = match pay_with {
        PayWith::Instrument(instrument) => {
            instrument_fits(&order, &instrument)?;
            let method_type = instrument.method_type();
            let account = connector_accounts::route(
                &mut tx,
                brand_id,
                method_type,
                currency,
                explicit.as_ref(),
                Some(routes),
            )
            .await?;
            let method_view = match &instrument {
                Instrument::Card(card) => Some(
                    json!({"type": "card", "brand": card.brand.as_str(), "last4": card.last4, "exp_month": card.exp_month,
                       "exp_year": card.exp_year, "fingerprint": state.master_key.hmac_hex("card_fingerprint", card.number.expose().as_bytes())}),
                ),
                Instrument::Crypto => Some(json!({"type": "crypto"})),
                Instrument::Mandate { .. } => None,
            };
            let trigger = input.trigger.clone();
            Paying {
                instrument,
                account,
                payment_method: method_view,
                trigger,
            }
        }
        PayWith::Wallet => {
            let rendered =
                super::wallet_payment::pay(state, &mut tx, order, &input.trigger, key).await?;
            tx.commit().await?;
            return Ok(rendered);
        }
        PayWith::Mandate(id) => {
            let explicit = explicit.as_ref();
            crate::mandates::paying(state, &mut tx, &mut order, &id, explicit, currency).await?
        }
    };
    let (connector, context) = connector_accounts::connector_for(state, &account)?;
    let (kind, operation) = match (order.amount, order.auto_capture != 0) {
        (0, _) => (TransactionKind::Verify, Operation::Verify),
        (_, true) => (TransactionKind::Sale, Operation::Sale),
        (_, false) => (TransactionKind::Authorize, Operation::Authorize),
    };
    require(&connector, operation)?;
    if connector.needs_customer_email() && order.customer_email.is_none() {
        return Err(Error::invalid_request(
            "parameter_missing",
            format!(
                "the {} connector needs the customer's email: give the order a customer_email or a customer",
                connector.name()
            ),
        )
        .with_param("customer_email"));
    }
    if matches!(instrument, Instrument::Crypto) && operation != Operation::Sale {
        // Crypto cannot be held for a later capture, nor verified.
        return Err(Error::invalid_request(
            "operation_unsupported",
            "a crypto payment is a sale: the order needs a positive amount and auto_capture true",
        )
        .with_param("payment_method[type]"));
    }
    let amount = order.amount;
    let intent = Intent {
        kind,
        amount,
        trigger: &trigger,
        account: &account,
        payment_method: method_view,
        payment_transaction_id: None,
        refund_id: None,
    };
    let txn = record_intent(state, &mut tx, &mut order, intent).await?;
    super::bound::bind(&mut tx, key, BoundObject::Transaction, &txn.id, now.as_ms()).await?;
    tx.commit().await?;
    let payment = Payment {
        connector,
        context,
        operation,
        instrument,
        setup_mandate: order.setup_mandate != 0,
        customer: customer_of(&order),
    };
    send(state, &txn, payment).await
}

/// What pays a payment about to be recorded, where it goes, how its
/// transaction shows it, and what triggered it.
pub(crate) struct Paying {
    pub instrument: Instrument,
    pub account: obol_store::connector_accounts::ConnectorAccountRow,
    pub payment_method: Option<Value>,
    /// `api`, `checkout`, or `recurring` for a mandate's charge.
    pub trigger: String,
}

/// What steps 2 and 3 of a payment need besides its transaction.
struct Payment {
    connector: Arc<dyn Connector>,
    context: AccountContext,
    operation: Operation,
    instrument: Instrument,
    /// The order sets a mandate up with this payment.
    setup_mandate: bool,
    /// The order's customer, for connectors that want one.
    customer: Option<CustomerRef>,
}

/// Steps 2 and 3 of a payment recorded as `txn`, and the answer.
async fn send(state: &AppState, txn: &TransactionRow, payment: Payment) -> Result<Order> {
    let currency = Currency::parse(&txn.currency)
        .ok_or_else(|| Error::internal("corrupt transaction currency"))?;
    let request = AuthorizeRequest {
        account: payment.context,
        transaction_id: txn.id.clone(),
        order_id: txn.order_id.clone(),
        amount: Money {
            amount_minor: txn.amount,
            currency,
        },
        operation: payment.operation,
        instrument: payment.instrument,
        setup_mandate: payment.setup_mandate,
        customer: payment.customer,
        return_url: crate::checkout::returns::signed_url(state, &txn.order_id, &txn.id),
    };
    let report = call(
        state,
        &payment.connector,
        Call::Authorize(request),
        Some(txn.created_at),
    )
    .await;
    if state.failpoint_once("order_expires_during_call")
        || state.failpoint_once("order_expires_then_crash")
    {
        expire_for_test(state, &txn.brand_id, &txn.order_id).await?;
    }
    let applied = super::apply::apply(state, &txn.id, report).await?;
    answer(
        state,
        &applied.order,
        &applied.transaction,
        applied.rendered,
    )
    .await
}

/// The customer of the payment's order, as a connector may need them.
fn customer_of(order: &OrderRow) -> Option<CustomerRef> {
    match (&order.customer_id, &order.customer_email) {
        (None, None) => None,
        (id, email) => Some(CustomerRef {
            id: id.as_ref().map(ToString::to_string).unwrap_or_default(),
            email: email.clone(),
        }),
    }
}

/// A retried confirm whose first attempt recorded its payment but the
/// connector has no record of it (the attempt died before its call went
/// out): the same payment is sent again under the same transaction id, the
/// connector's idempotency key, so it is charged at most once.
async fn resend(
    state: &AppState,
    brand_id: &BrandId,
    txn: &TransactionRow,
    input: &ConfirmInput,
) -> Result<Order> {
    let pay_with = payment_method(&input.payment_method, state.now())?;
    let mut conn = state.db.pool.acquire().await?;
    let (connector, context) = connector_of(state, &mut conn, brand_id, txn).await?;
    let order = obol_store::orders::get_order(&mut conn, brand_id, &txn.order_id)
        .await?
        .ok_or_else(|| Error::internal(format!("transaction {} has no order", txn.id)))?;
    // The mandate was checked when the payment was recorded: its charge is
    // sent as recorded, even if it was revoked meanwhile.
    let instrument = match pay_with {
        PayWith::Instrument(instrument) => instrument,
        PayWith::Mandate(id) => crate::mandates::instrument(&mut conn, brand_id, &id).await?,
        PayWith::Wallet => {
            return Err(Error::internal(format!(
                "wallet transaction {} was recorded unsent",
                txn.id
            )));
        }
    };
    drop(conn);
    let operation =
        Operation::parse(&txn.kind).ok_or_else(|| Error::internal("corrupt transaction kind"))?;
    let payment = Payment {
        connector,
        context,
        operation,
        instrument,
        setup_mandate: order.setup_mandate != 0,
        customer: customer_of(&order),
    };
    send(state, txn, payment).await
}

/// Test hook: the order stops being payable while its payment's connector
/// call is out, as if its expiry had run then.
async fn expire_for_test(state: &AppState, brand_id: &BrandId, order_id: &OrderId) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if let Some(mut order) =
        obol_store::orders::lock_order(&mut tx, state.db.backend, brand_id, order_id).await?
    {
        tracing::warn!(%order_id, "failpoint order_expires_during_call reached");
        order.status = obol_core::order::OrderStatus::Expired.as_str().to_owned();
        order.due_at = None;
        obol_store::orders::update_order(&mut tx, &order).await?;
    }
    Ok(tx.commit().await?)
}

/// What pays, as a request names it.
pub(crate) enum PayWith {
    /// A card (checked) or crypto, sent as it is.
    Instrument(Instrument),
    /// A stored mandate, read when the payment is recorded.
    Mandate(MandateId),
    /// The order's customer's wallet: no connector.
    Wallet,
}

/// What pays, checked: a card passes Obol's own checks first.
pub(crate) fn payment_method(input: &PaymentMethodInput, now: Timestamp) -> Result<PayWith> {
    if input.method_type == "mandate" {
        let id = input.mandate_id.as_deref().ok_or_else(|| {
            Error::invalid_request(
                "parameter_missing",
                "a mandate payment needs payment_method[mandate_id]",
            )
            .with_param("payment_method[mandate_id]")
        })?;
        return Ok(PayWith::Mandate(MandateId::from(id)));
    }
    if input.method_type == super::wallet_payment::CONNECTOR {
        return Ok(PayWith::Wallet);
    }
    payment_instrument(input, now).map(PayWith::Instrument)
}

/// A card or crypto payment method, checked.
fn payment_instrument(input: &PaymentMethodInput, now: Timestamp) -> Result<Instrument> {
    match input.method_type.as_str() {
        "card" => {
            let card = input.card.as_ref().ok_or_else(|| {
                Error::invalid_request(
                    "parameter_missing",
                    "a card payment needs payment_method[card]",
                )
                .with_param("payment_method[card]")
            })?;
            let details = obol_core::card::parse_card(
                &card.number,
                card.exp_month,
                card.exp_year,
                card.cvc.as_deref(),
                card.holder_name.as_deref(),
                now,
            )?;
            Ok(Instrument::Card(details))
        }
        "crypto" => Ok(Instrument::Crypto),
        _ => Err(Error::invalid(
            "payment_method[type]",
            "payment_method[type] must be card, wallet, mandate or crypto",
        )),
    }
}

/// Refuses an instrument the order cannot be paid with: a mandate is set
/// up by a card only, and an order named for a mandate is paid by it.
pub(crate) fn instrument_fits(order: &OrderRow, instrument: &Instrument) -> Result<()> {
    if order.setup_mandate != 0 && !matches!(instrument, Instrument::Card(_)) {
        return Err(setup_needs_a_card());
    }
    instrument_fits_mandate(order)
}

/// Refuses any payment method but its mandate on an order named for one.
/// An invoice's order is not bound to the mandate that tried it: its
/// customer may pay it any way (a declined renewal, paid by the link).
pub(crate) fn instrument_fits_mandate(order: &OrderRow) -> Result<()> {
    if order.setup_mandate == 0
        && !super::billed::is_billed(order)
        && let Some(mandate_id) = &order.mandate_id
    {
        return Err(Error::invalid(
            "payment_method[type]",
            format!(
                "this order is paid by mandate {mandate_id}: confirm it with {{\"type\": \"mandate\", \"mandate_id\": \"{mandate_id}\"}}"
            ),
        ));
    }
    Ok(())
}

/// The refusal of a mandate set up by anything but a card.
pub(crate) fn setup_needs_a_card() -> Error {
    Error::invalid_request(
        "operation_unsupported",
        "an order that sets up a mandate is paid with a card",
    )
    .with_param("payment_method[type]")
}

/// `operation_unsupported` when the connector lacks the operation.
pub(crate) fn require(connector: &Arc<dyn Connector>, operation: Operation) -> Result<()> {
    if connector.capabilities().supports(operation) {
        Ok(())
    } else {
        Err(Error::invalid_request(
            "operation_unsupported",
            format!(
                "the {} connector does not support {}",
                connector.name(),
                operation.as_str()
            ),
        ))
    }
}

/// The answer for an order after an operation: payment failed for a
/// declined payment, 400 for a request the provider refused as malformed,
/// connector failed for an unknown outcome, else the order.
pub(crate) async fn answer(
    state: &AppState,
    order: &OrderRow,
    txn: &TransactionRow,
    rendered: Option<Order>,
) -> Result<Order> {
    let status = TransactionStatus::parse(&txn.status).unwrap_or(TransactionStatus::Unknown);
    let error: Value = txn
        .error
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    let message = error["message"]
        .as_str()
        .unwrap_or("the connector refused the operation")
        .to_owned();
    let code = error["code"].as_str().unwrap_or("card_declined");
    match status {
        TransactionStatus::Failed if code == CONNECTOR_REFUSED => Err(Error::ConnectorRefused {
            message,
            order_id: order.id.to_string(),
            transaction_id: txn.id.to_string(),
        }),
        TransactionStatus::Failed => Err(Error::PaymentFailed {
            code: code.to_owned(),
            message,
            order_id: order.id.to_string(),
            transaction_id: txn.id.to_string(),
            decline_code: error["decline_code"].as_str().map(str::to_owned),
        }),
        TransactionStatus::Unknown => {
            Err(Error::connector_failed(message, &order.id, &txn.id, None))
        }
        _ => match rendered {
            Some(order) => Ok(order),
            None => {
                let mut conn = state.db.pool.acquire().await?;
                views::render(state, &mut conn, order).await
            }
        },
    }
}

/// The account context and connector of an existing transaction.
pub(crate) async fn connector_of(
    state: &AppState,
    conn: &mut Conn,
    brand_id: &BrandId,
    txn: &TransactionRow,
) -> Result<(Arc<dyn Connector>, AccountContext)> {
    let account = connector_accounts::get(conn, brand_id, &txn.connector_account_id)
        .await?
        .ok_or_else(|| {
            Error::internal(format!(
                "transaction {} names a missing connector account",
                txn.id
            ))
        })?;
    connector_accounts::connector_for(state, &account)
}
