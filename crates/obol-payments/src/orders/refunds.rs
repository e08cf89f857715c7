//! Refunds: partial and repeated, each reserving its amount while pending.

use super::apply::{self, Applied};
use super::payment::{self, Report};
use super::views::Refund;
use crate::error::{Error, Result};
use obol_connectors::Operation;
use obol_core::Timestamp;
use obol_core::order::{self as machine, CallResult, OrderCommand, OrderStatus, TransactionKind};
use obol_core::validate;
use obol_core::{BrandId, OrderId, RefundId};
use obol_kernel::events;
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::idempotency::BoundObject;
use obol_store::orders::{OrderRow, RefundRow, TransactionRow};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /v1/refunds`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    pub order_id: String,
    /// Default: everything still refundable.
    pub amount: Option<i64>,
    /// `duplicate`, `fraudulent` or `requested_by_customer`.
    pub reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

const REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

/// Creates a refund and sends it: the refund `succeeded` or `failed`, or
/// connector failed when the connector's answer is unknown (the refund stays
/// pending for sync).
pub async fn create(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateRefund,
    key: Option<&IdempotencyKey>,
) -> Result<Refund> {
    if let Some(reason) = &input.reason
        && !REASONS.contains(&reason.as_str())
    {
        return Err(Error::invalid(
            "reason",
            "reason must be duplicate, fraudulent or requested_by_customer",
        ));
    }
    if input.amount.is_some_and(|amount| amount <= 0) {
        return Err(Error::invalid(
            "amount",
            "amount must be a positive integer",
        ));
    }
    let metadata = validate::metadata(
        input
            .metadata
            .as_ref()
            .unwrap_or(&Value::Object(Default::default())),
    )?;
    if let Some(found) = super::bound::transaction_as_it_stands(state, brand_id, key).await? {
        let txn = found.transaction();
        if txn.refund_id.is_none() || txn.order_id.as_str() != input.order_id {
            return Err(Error::KeyReused);
        }
        let txn = super::bound::settle_follow_up(state, found).await?;
        return super::bound::answer_refund(state, brand_id, &txn).await;
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut order = super::lock(
        state,
        &mut tx,
        brand_id,
        &OrderId::from(input.order_id.as_str()),
    )
    .await
    .map_err(|error| error.with_param("order_id"))?;
    super::allow(&mut tx, &order, OrderCommand::Refund).await?;
    let amount = machine::refund_amount(apply::order_amounts(&order), input.amount)
        .map_err(super::operations::amount_error)?;
    if !obol_store::orders::reserve_refund(&mut tx, &order.id, amount, now.as_ms()).await? {
        return Err(Error::invalid_request(
            "amount_too_large",
            "the amount is above what is still refundable",
        )
        .with_param("amount"));
    }
    order.amount_refund_pending += amount;
    if super::top_ups::is_top_up(&order) {
        super::top_ups::hold(state, &mut tx, &order, amount, now).await?;
    }
    let payment = super::operations::payment_of(&mut tx, &order, false)
        .await?
        .ok_or_else(|| Error::internal(format!("order {} has no succeeded payment", order.id)))?;
    if super::wallet_payment::is_wallet(&payment) {
        let request = super::wallet_payment::WalletRefund {
            amount,
            reason: input.reason.clone(),
            metadata: serde_json::to_string(&metadata).map_err(Error::internal)?,
            key,
        };
        let refund =
            super::wallet_payment::refund(state, &mut tx, order, &payment, request).await?;
        tx.commit().await?;
        return Ok(refund);
    }
    let account = crate::connector_accounts::get(&mut tx, brand_id, &payment.connector_account_id)
        .await?
        .ok_or_else(|| Error::internal("connector account vanished"))?;
    let (connector, context) = crate::connector_accounts::connector_for(state, &account)?;
    payment::require(&connector, Operation::Refund)?;
    let refund_id = RefundId::new();
    let intent = payment::Intent {
        kind: TransactionKind::Refund,
        amount,
        trigger: "api",
        account: &account,
        payment_method: None,
        payment_transaction_id: Some(payment.id.clone()),
        refund_id: Some(refund_id.clone()),
    };
    let txn = payment::record_intent(state, &mut tx, &mut order, intent).await?;
    let row = RefundRow {
        id: refund_id,
        brand_id: brand_id.to_owned(),
        order_id: order.id.clone(),
        transaction_id: txn.id.clone(),
        amount,
        currency: order.currency.clone(),
        status: "pending".into(),
        reason: input.reason.clone(),
        failure_reason: None,
        metadata: serde_json::to_string(&metadata).map_err(Error::internal)?,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    obol_store::orders::insert_refund(&mut tx, &row).await?;
    super::bound::bind(&mut tx, key, BoundObject::Transaction, &txn.id, now.as_ms()).await?;
    tx.commit().await?;
    let Applied { transaction, .. } =
        super::operations::send_follow_up(state, &connector, context, &txn, &payment).await?;
    let mut conn = state.db.pool.acquire().await?;
    let refund = obol_store::orders::get_refund(&mut conn, brand_id, &row.id)
        .await?
        .ok_or_else(|| Error::internal("refund vanished"))?;
    answer(&transaction, &refund)
}

/// The answer for a refund after its connector call: the refund, or
/// connector failed when the connector's answer is not known yet.
pub(crate) fn answer(transaction: &TransactionRow, refund: &RefundRow) -> Result<Refund> {
    if transaction.status == "unknown" {
        return Err(Error::connector_failed(
            "the connector did not confirm the refund",
            &refund.order_id,
            &transaction.id,
            Some(&refund.id),
        ));
    }
    Refund::try_from(refund)
}

/// A refund after clearing takes the reseller's commission back: the
/// parent's commission account returns its share of the refund, and the
/// brand's available balance pays only the rest.
///
/// The share is cumulative (`commission_clawback_minor`), so after refunds
/// of R out of a cleared N the parent has returned exactly commission(N) −
/// commission(N − R): all of it on a full refund, never more. Captured less
/// refunded before this refund is N less the refunds since clearing, as
/// clearing took N as captured less the refunds succeeded by then (one
/// still pending at clearing settles here, after it). The brand's rate is
/// the one clearing used: neither the rate nor the parent can change once
/// the brand exists.
pub(crate) async fn claw_back_commission(
    conn: &mut Conn,
    order: &OrderRow,
    txn: &TransactionRow,
    entry: &mut obol_accounts::ledger::NewEntry,
) -> Result<()> {
    let brand = obol_store::brands::get(conn, &order.brand_id)
        .await?
        .ok_or_else(|| Error::internal("brand vanished"))?;
    let Some(parent) = brand
        .parent_brand_id
        .filter(|_| brand.commission_rate_bps > 0)
    else {
        return Ok(());
    };
    // `amount_refunded` already counts this refund.
    let unrefunded_before = order
        .amount_captured
        .checked_sub(order.amount_refunded)
        .and_then(|rest| rest.checked_add(txn.amount))
        .ok_or_else(|| Error::internal(format!("order {} amounts overflow", order.id)))?;
    let commission = obol_core::ledger::commission_clawback_minor(
        unrefunded_before,
        txn.amount,
        brand.commission_rate_bps,
    )
    .ok_or_else(|| Error::internal(format!("order {} amounts overflow", order.id)))?;
    if commission == 0 {
        return Ok(());
    }
    let currency = apply::currency_of(order)?;
    // The first leg is the brand's available balance (see `money_back`).
    entry.postings[0].1 -= commission;
    let account = obol_accounts::ledger::AccountKey {
        brand_id: parent,
        account_type: obol_accounts::ledger::AccountType::Commission,
        currency,
        owner_id: None,
    };
    entry.postings.push((account, commission));
    Ok(())
}

/// Step 3 for a refund transaction: settle the refund, the order's amounts,
/// the ledger and the refund events.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn settle(
    conn: &mut Conn,
    order: &mut OrderRow,
    txn: &TransactionRow,
    result: CallResult,
    report: &Report,
    now: Timestamp,
    entries: &mut Vec<obol_accounts::ledger::NewEntry>,
) -> Result<()> {
    let Some(refund_id) = txn.refund_id.as_ref() else {
        return Err(Error::internal(format!(
            "refund transaction {} has no refund",
            txn.id
        )));
    };
    let (status, failure_reason) = match result {
        CallResult::Succeeded => ("succeeded", None),
        CallResult::Failed => {
            let reason = report
                .error
                .as_ref()
                .and_then(|e| e["message"].as_str())
                .unwrap_or("the connector refused the refund");
            ("failed", Some(reason.to_owned()))
        }
        _ => return Ok(()),
    };
    if !obol_store::orders::settle_refund(
        conn,
        refund_id,
        status,
        failure_reason.as_deref(),
        now.as_ms(),
    )
    .await?
    {
        return Ok(());
    }
    order.amount_refund_pending -= txn.amount;
    if status == "succeeded" {
        order.amount_refunded += txn.amount;
        let current = OrderStatus::parse(&order.status)
            .ok_or_else(|| Error::internal("corrupt order status"))?;
        order.status = machine::status_after_refund(apply::order_amounts(order), current)
            .as_str()
            .to_owned();
        if super::top_ups::is_top_up(order) {
            entries.push(super::top_ups::returned(order, txn, "refund")?);
        } else {
            let mut entry = apply::money_back(order, txn, "refund", order.cleared_at.is_some())?;
            if order.cleared_at.is_some() {
                claw_back_commission(conn, order, txn, &mut entry).await?;
            }
            entries.push(entry);
        }
    } else if super::top_ups::is_top_up(order) {
        entries.push(super::top_ups::released(order, txn)?);
        super::top_ups::record_movement(conn, order, "wallet.credited", "refund", txn.amount, now)
            .await?;
    }
    debug_assert!(order.amount_refunded + order.amount_refund_pending <= order.amount_captured);
    let refund = obol_store::orders::get_refund(conn, &order.brand_id, refund_id)
        .await?
        .ok_or_else(|| Error::internal("refund vanished"))?;
    let view = Refund::try_from(&refund)?;
    let event_type = format!("refund.{status}");
    events::record(
        conn,
        &order.brand_id,
        &event_type,
        &refund.id,
        order.customer_id.as_ref(),
        &view,
        now,
    )
    .await?;
    Ok(())
}
