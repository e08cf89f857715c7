//! Subscriptions: a customer on a recurring price, billed each period with
//! an invoice (the first at the start or at the trial's end), renewed by
//! its due step at the period's end, charged automatically or sent, with
//! dunning when a charge fails. The status moves only through the pure
//! state machine in core; each change, its invoice and its events land in
//! one transaction.

pub(crate) mod api;
pub(crate) mod billing;
pub(crate) mod changes;
pub(crate) mod dunning;
pub(crate) mod renewal;
mod views;

pub use changes::{cancel, change, pause, resume};
pub use views::{CancelSubscription, ChangeSubscription, CreateSubscription, Subscription};

use crate::coupons::{self, RedeemFor};
use crate::error::{Error, Result};
use obol_core::billing::period::{Interval, period_boundary};
use obol_core::billing::subscription::SubscriptionStatus;
use obol_core::time::{DAY_MS, HOUR_MS};
use obol_core::validate;
use obol_core::{BrandId, CustomerId, MandateId, SubscriptionId, Timestamp};
use obol_kernel::events;
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::billing::catalog::PriceRow;
use obol_store::billing::subscriptions::{self as store, SubscriptionFilter, SubscriptionRow};

/// An incomplete subscription whose first invoice is unpaid this long
/// after its start expires.
pub const INCOMPLETE_EXPIRY_MS: i64 = 23 * HOUR_MS;
/// `subscription.trial_will_end` comes this long before the trial's end.
pub const TRIAL_NOTICE_MS: i64 = 3 * DAY_MS;
const COLLECTION_METHODS: [&str; 2] = ["charge_automatically", "send_invoice"];

pub(crate) fn status_of(row: &SubscriptionRow) -> Result<SubscriptionStatus> {
    SubscriptionStatus::parse(&row.status)
        .ok_or_else(|| Error::internal("corrupt subscription status"))
}

/// A recurring price's interval and count.
pub(crate) fn interval_of(price: &PriceRow) -> Result<(Interval, u32)> {
    let interval = price
        .interval
        .as_deref()
        .and_then(Interval::parse)
        .ok_or_else(|| Error::internal("a recurring price without its interval"))?;
    let count = price
        .interval_count
        .and_then(|count| u32::try_from(count).ok())
        .ok_or_else(|| Error::internal("a recurring price without its interval count"))?;
    Ok((interval, count))
}

/// The start of period `index` of a subscription anchored as `row` is, on
/// `price`'s interval: counted from the anchor, so calendar months keep
/// the anchor's day where the month has it.
pub(crate) fn period_start(row: &SubscriptionRow, price: &PriceRow, index: i64) -> Result<i64> {
    let (interval, count) = interval_of(price)?;
    let n = u32::try_from(index - row.anchor_index)
        .map_err(|_| Error::internal("a period before the anchor"))?;
    period_boundary(Timestamp::from_ms(row.anchor_at), interval, count, n)
        .map(Timestamp::as_ms)
        .ok_or_else(|| Error::internal("a period past the calendar's end"))
}

/// When the subscription's next time-driven step falls due, from what it
/// is now: every writer sets `due_at` from this.
pub(crate) fn next_due(row: &SubscriptionRow) -> Option<i64> {
    let status = SubscriptionStatus::parse(&row.status)?;
    match status {
        SubscriptionStatus::Incomplete => Some(row.created_at + INCOMPLETE_EXPIRY_MS),
        SubscriptionStatus::Trialing if row.period_index < 0 => {
            let trial_end = row.trial_end?;
            if row.trial_will_end_sent {
                Some(trial_end)
            } else {
                Some((trial_end - TRIAL_NOTICE_MS).max(row.created_at))
            }
        }
        SubscriptionStatus::Trialing | SubscriptionStatus::Active | SubscriptionStatus::PastDue => {
            let renewal = row.current_period_end;
            Some(
                row.next_retry_at
                    .map_or(renewal, |retry| retry.min(renewal)),
            )
        }
        SubscriptionStatus::Unpaid
        | SubscriptionStatus::Paused
        | SubscriptionStatus::Canceled
        | SubscriptionStatus::IncompleteExpired => None,
    }
}

/// Writes the row (all but `due_at`) and its due time.
pub(crate) async fn save(conn: &mut Conn, row: &SubscriptionRow) -> Result<()> {
    store::update(conn, row).await?;
    store::set_due(conn, &row.id, next_due(row)).await?;
    Ok(())
}

/// Writes `event_type` about the subscription as it now stands.
pub(crate) async fn record(
    state: &AppState,
    conn: &mut Conn,
    event_type: &str,
    row: &SubscriptionRow,
    now: Timestamp,
) -> Result<Subscription> {
    let view = view(state, row)?;
    events::record(
        conn,
        &row.brand_id,
        event_type,
        &row.id,
        Some(&row.customer_id),
        &view,
        now,
    )
    .await?;
    Ok(view)
}

fn at(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(Timestamp::from_ms)
}

pub(crate) fn view(state: &AppState, row: &SubscriptionRow) -> Result<Subscription> {
    Ok(Subscription {
        id: row.id.to_string(),
        object: "subscription",
        customer_id: row.customer_id.to_string(),
        price_id: row.price_id.clone(),
        package_id: row.package_id.clone(),
        status: row.status.clone(),
        collection_method: row.collection_method.clone(),
        mandate_id: row.mandate_id.as_ref().map(ToString::to_string),
        pay_from_wallet: row.pay_from_wallet,
        days_until_due: row.days_until_due,
        coupon_id: row.coupon_id.clone(),
        current_period_start: Timestamp::from_ms(row.current_period_start),
        current_period_end: Timestamp::from_ms(row.current_period_end),
        trial_end: at(row.trial_end),
        cancel_at_period_end: row.cancel_at_period_end,
        canceled_at: at(row.canceled_at),
        paused_at: at(row.paused_at),
        pending_price_id: row.pending_price_id.clone(),
        latest_invoice_id: row.latest_invoice_id.clone(),
        setup_order_id: row.setup_order_id.clone(),
        setup_payment_link: row.setup_order_id.as_deref().map(|id| {
            obol_payments::orders::views::payment_link(state, &obol_core::OrderId::from(id))
        }),
        next_retry_at: at(row.next_retry_at),
        metadata: serde_json::from_str(&row.metadata).map_err(Error::internal)?,
        created_at: Timestamp::from_ms(row.created_at),
    })
}

/// The brand's active recurring price `id`.
pub(crate) async fn recurring_price(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> Result<PriceRow> {
    let price = obol_store::billing::catalog::get_price(conn, brand_id, id)
        .await?
        .ok_or(Error::NotFound {
            what: "price",
            id: id.to_owned(),
            param: Some("price_id"),
        })?;
    if price.price_type != "recurring" || !price.active {
        return Err(Error::invalid(
            "price_id",
            "a subscription needs an active recurring price",
        ));
    }
    Ok(price)
}

/// A price the subscription is already on (it may have been deactivated
/// since: deactivating stops new subscriptions, not existing ones).
pub(crate) async fn price_of(conn: &mut Conn, brand_id: &BrandId, id: &str) -> Result<PriceRow> {
    obol_store::billing::catalog::get_price(conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::internal(format!("price {id} vanished")))
}

/// The customer's active mandate `id`, or not found naming `mandate_id`.
async fn customer_mandate(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &CustomerId,
    id: &str,
) -> Result<MandateId> {
    let row = obol_store::mandates::get(conn, brand_id, &MandateId::from(id))
        .await?
        .filter(|row| row.customer_id == *customer_id)
        .ok_or(Error::NotFound {
            what: "mandate",
            id: id.to_owned(),
            param: Some("mandate_id"),
        })?;
    if row.status != "active" {
        return Err(Error::invalid_state(format!(
            "mandate {id} is {}: it cannot be charged",
            row.status
        )));
    }
    Ok(row.id)
}

/// Checks a new subscription's settings.
struct Settings {
    collection_method: String,
    days_until_due: i64,
}

fn settings(input: &CreateSubscription) -> Result<Settings> {
    let collection_method = input
        .collection_method
        .clone()
        .unwrap_or_else(|| "charge_automatically".to_owned());
    if !COLLECTION_METHODS.contains(&collection_method.as_str()) {
        return Err(Error::invalid(
            "collection_method",
            "collection_method must be charge_automatically or send_invoice",
        ));
    }
    let days_until_due = input
        .days_until_due
        .unwrap_or(crate::invoices::DEFAULT_DAYS_UNTIL_DUE);
    if !(0..=365).contains(&days_until_due) {
        return Err(Error::invalid(
            "days_until_due",
            "days_until_due must be 0 to 365",
        ));
    }
    Ok(Settings {
        collection_method,
        days_until_due,
    })
}

/// `POST /v1/subscriptions`: starts a subscription. Without a trial its
/// first invoice is made and finalized with its order (which sets up a
/// mandate when it is to be charged automatically and has none) and
/// charged when it can be; with one it is `trialing` and billed at the
/// trial's end.
pub async fn create(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateSubscription,
) -> Result<Subscription> {
    let Settings {
        collection_method,
        days_until_due,
    } = settings(&input)?;
    let metadata = input
        .metadata
        .as_ref()
        .map(validate::metadata)
        .transpose()?
        .unwrap_or_default();
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let customer = crate::invoices::live_customer(&mut tx, brand_id, &input.customer_id).await?;
    let price = recurring_price(&mut tx, brand_id, &input.price_id).await?;
    let mandate_id = match &input.mandate_id {
        Some(id) => Some(customer_mandate(&mut tx, brand_id, &customer.id, id).await?),
        None => None,
    };
    let id = SubscriptionId::new();
    let trial_days = price.trial_days.unwrap_or(0);
    let trial_end = (trial_days > 0).then(|| now.plus_ms(trial_days * DAY_MS).as_ms());
    let mut row = SubscriptionRow {
        id: id.clone(),
        brand_id: brand_id.clone(),
        customer_id: customer.id.clone(),
        price_id: price.id.clone(),
        package_id: price.package_id.clone(),
        status: obol_core::billing::subscription::initial_status(trial_end.is_some())
            .as_str()
            .to_owned(),
        collection_method,
        pay_from_wallet: input.pay_from_wallet.unwrap_or(false),
        days_until_due,
        mandate_id,
        coupon_id: None,
        coupon_periods_left: None,
        anchor_at: trial_end.unwrap_or(now.as_ms()),
        anchor_index: 0,
        period_index: if trial_end.is_some() { -1 } else { 0 },
        current_period_start: now.as_ms(),
        current_period_end: 0,
        trial_end,
        trial_will_end_sent: false,
        cancel_at_period_end: false,
        canceled_at: None,
        paused_at: None,
        pending_price_id: None,
        setup_order_id: None,
        latest_invoice_id: None,
        charging_invoice_id: None,
        dunning_invoice_id: None,
        dunning_failed_at: None,
        dunning_attempts: 0,
        next_retry_at: None,
        due_at: None,
        metadata: serde_json::to_string(&metadata).map_err(Error::internal)?,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    row.current_period_end = match trial_end {
        Some(end) => end,
        None => period_start(&row, &price, 1)?,
    };
    store::insert(&mut tx, &row).await?;
    if let Some(coupon) = &input.coupon {
        let target = RedeemFor {
            customer_id: &customer.id,
            subscription_id: Some(&id),
            package_id: &price.package_id,
            currency: &price.currency,
        };
        let redeemed = coupons::redeem_in(&mut tx, brand_id, coupon, target, now).await?;
        row.coupon_id = Some(redeemed.coupon_id.into_string());
        row.coupon_periods_left = redeemed.periods;
        store::update(&mut tx, &row).await?;
    }
    record(state, &mut tx, "subscription.created", &row, now).await?;
    if trial_end.is_some() {
        if row.collection_method == "charge_automatically" && row.mandate_id.is_none() {
            billing::open_setup_order(state, &mut tx, &mut row, &customer, &price, now).await?;
        }
        save(&mut tx, &row).await?;
    } else {
        let setup_mandate =
            row.collection_method == "charge_automatically" && row.mandate_id.is_none();
        billing::bill_period(
            state,
            &mut tx,
            &mut row,
            &price,
            "subscription_create",
            setup_mandate,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    billing::charge_latest(state, &id).await;
    get(state, brand_id, &id).await
}

pub async fn get(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Subscription> {
    let mut conn = state.db.pool.acquire().await?;
    let row = store::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("subscription", id))?;
    view(state, &row)
}

/// The brand's subscriptions, newest first, narrowed by customer or status.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<SubscriptionFilter>,
) -> Result<List<Subscription>> {
    let ListRequest { page, filter } = request;
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        &page,
        async |conn, after| Ok(store::get(conn, brand_id, after).await?.is_some()),
        async |conn, page| store::list(conn, brand_id, &filter, page).await,
    )
    .await?;
    List::of(rows, |row| view(state, &row))
}

/// Locks the brand's subscription `id`, or not found.
pub(crate) async fn lock(
    state: &AppState,
    tx: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> Result<SubscriptionRow> {
    store::lock(tx, state.db.backend, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("subscription", id))
}
