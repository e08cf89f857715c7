//! Mandates (recurring payments): a paid `setup_mandate` order leaves one,
//! holding the connector's token for the customer's card; orders that name
//! it charge it with no customer present (`trigger: recurring`), until it
//! is revoked for good.

pub(crate) mod api;
pub mod views;

pub use views::Mandate;

use crate::error::{Error, Result};
use crate::orders::payment::Paying;
use obol_connectors::{Instrument, StoredMandate};
use obol_core::mandate::{self as machine, MandateCommand, MandateStatus};
use obol_core::{BrandId, ConnectorAccountId, Currency, CustomerId, MandateId, Timestamp};
use obol_kernel::events;
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::connector_accounts::ConnectorAccountRow;
use obol_store::mandates::{self as store, MandateRow};
use obol_store::orders::{OrderRow, TransactionRow};

/// A mandate of the brand, or not found.
pub async fn get(state: &AppState, brand_id: &BrandId, id: &MandateId) -> Result<Mandate> {
    let mut conn = state.db.pool.acquire().await?;
    let row = store::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("mandate", id))?;
    Ok(Mandate::from(&row))
}

/// A page of the brand's mandates, newest first; the filter is a customer
/// of the brand (else not found, naming `customer_id`).
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<Option<CustomerId>>,
) -> Result<List<Mandate>> {
    let ListRequest { page, filter } = request;
    let mut conn = state.db.pool.acquire().await?;
    let customer = filter.as_deref();
    list::check_filter(
        &mut conn,
        "customer",
        customer,
        "customer_id",
        async |conn, id| {
            let id = CustomerId::from(id);
            Ok(obol_store::customers::get(conn, brand_id, &id)
                .await?
                .is_some())
        },
    )
    .await?;
    let rows = list::fetch(
        &mut conn,
        &page,
        async |conn, after| {
            let after = MandateId::from(after);
            Ok(store::get(conn, brand_id, &after).await?.is_some())
        },
        async |conn, page| store::list(conn, brand_id, filter.as_ref(), page).await,
    )
    .await?;
    Ok(List::mapped(rows, |row| Mandate::from(&row)))
}

/// Revokes an active mandate for good, with `mandate.revoked` in the same
/// database transaction. A charge already sent goes on; none starts after.
pub async fn revoke(state: &AppState, brand_id: &BrandId, id: &MandateId) -> Result<Mandate> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = store::get_for_update(&mut tx, state.db.backend, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("mandate", id))?;
    allow(&row, MandateCommand::Revoke)?;
    if !store::revoke(&mut tx, brand_id, id, now.as_ms()).await? {
        return Err(Error::internal(format!(
            "mandate {id} was active under its lock and could not be revoked"
        )));
    }
    row.status = MandateStatus::Revoked.as_str().to_owned();
    row.revoked_at = Some(now.as_ms());
    let view = Mandate::from(&row);
    let customer = Some(&row.customer_id);
    events::record(
        &mut tx,
        brand_id,
        "mandate.revoked",
        id,
        customer,
        &view,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// Checks `command` against the mandate's status: invalid state if refused.
fn allow(row: &MandateRow, command: MandateCommand) -> Result<()> {
    let status = MandateStatus::parse(&row.status)
        .ok_or_else(|| Error::internal(format!("mandate {} has a corrupt status", row.id)))?;
    machine::check(status, command).map_err(|refused| Error::invalid_state(refused.message))
}

/// The mandate that an order of `customer_id` (or of no customer yet) may
/// be charged with, locked until the caller's transaction ends: the
/// brand's, of that customer (else not found, naming `mandate_id`), and
/// active (else invalid state).
pub(crate) async fn for_charge(
    state: &AppState,
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: Option<&CustomerId>,
    id: &MandateId,
) -> Result<MandateRow> {
    let row = store::get_for_update(conn, state.db.backend, brand_id, id)
        .await?
        .filter(|row| customer_id.is_none_or(|customer| row.customer_id == customer))
        .ok_or_else(|| Error::not_found("mandate", id).with_param("mandate_id"))?;
    allow(&row, MandateCommand::Charge)?;
    Ok(row)
}

/// The connector account a mandate's charges go to: the one that set it
/// up, still enabled and taking cards in `currency`. A
/// `connector_account_id` that the request names must be that one.
pub(crate) async fn charge_account(
    conn: &mut Conn,
    row: &MandateRow,
    explicit: Option<&ConnectorAccountId>,
    currency: Currency,
) -> Result<ConnectorAccountRow> {
    if let Some(explicit) = explicit
        && *explicit != row.connector_account_id
    {
        return Err(Error::invalid(
            "connector_account_id",
            format!(
                "mandate {} is charged through connector account {}, which set it up",
                row.id, row.connector_account_id
            ),
        ));
    }
    let account = Some(&row.connector_account_id);
    crate::connector_accounts::route(conn, &row.brand_id, "card", currency, account, None)
        .await
        .map_err(|error| error.with_param("mandate_id"))
}

/// How an order being confirmed (locked in `conn`) pays with the mandate
/// `id`: its token, through its account, shown as its card, `recurring`.
/// The order is named the mandate's, and takes its customer if it has none.
pub(crate) async fn paying(
    state: &AppState,
    conn: &mut Conn,
    order: &mut OrderRow,
    id: &MandateId,
    explicit: Option<&ConnectorAccountId>,
    currency: Currency,
) -> Result<Paying> {
    if order.setup_mandate != 0 {
        return Err(Error::invalid(
            "payment_method[type]",
            "a setup_mandate order sets a mandate up: it is confirmed with a card",
        ));
    }
    if let Some(named) = &order.mandate_id
        && named != id
        && !crate::orders::billed::is_billed(order)
    {
        return Err(Error::invalid(
            "payment_method[mandate_id]",
            format!("the order is to be paid with mandate {named}"),
        ));
    }
    let row = for_charge(state, conn, &order.brand_id, order.customer_id.as_ref(), id).await?;
    let account = charge_account(conn, &row, explicit, currency).await?;
    order.mandate_id = Some(row.id.clone());
    order
        .customer_id
        .get_or_insert_with(|| row.customer_id.clone());
    Ok(Paying {
        payment_method: Some(views::charge_method(&row)),
        instrument: Instrument::Mandate {
            token: row.connector_token,
        },
        account,
        trigger: "recurring".to_owned(),
    })
}

/// The instrument of a mandate charge recorded earlier, sent again.
pub(crate) async fn instrument(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &MandateId,
) -> Result<Instrument> {
    let row = store::get(conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("mandate", id).with_param("mandate_id"))?;
    Ok(Instrument::Mandate {
        token: row.connector_token,
    })
}

/// Step 3 of a payment of a `setup_mandate` order that succeeded with the
/// connector's mandate: records it, names it on the order, and writes
/// `mandate.created`, in the caller's database transaction. Once per
/// order: step 3 applies a payment's success once, and an order with a
/// mandate gets no other.
pub(crate) async fn record_setup(
    conn: &mut Conn,
    order: &mut OrderRow,
    txn: &TransactionRow,
    stored: Option<&StoredMandate>,
    now: Timestamp,
) -> Result<()> {
    if order.setup_mandate == 0 || order.mandate_id.is_some() {
        return Ok(());
    }
    let (Some(stored), Some(customer_id)) = (stored, order.customer_id.clone()) else {
        tracing::error!(order_id = %order.id, transaction_id = %txn.id,
            "a setup_mandate payment succeeded without a mandate or a customer to keep it for");
        return Ok(());
    };
    let row = MandateRow {
        id: MandateId::new(),
        brand_id: order.brand_id.clone(),
        customer_id,
        order_id: order.id.clone(),
        connector_account_id: txn.connector_account_id.clone(),
        connector_token: stored.token.clone(),
        card_brand: stored.card_brand.clone(),
        card_last4: stored.last4.clone(),
        exp_month: stored.exp_month,
        exp_year: stored.exp_year,
        status: MandateStatus::Active.as_str().to_owned(),
        created_at: now.as_ms(),
        revoked_at: None,
    };
    store::insert(conn, &row).await?;
    order.mandate_id = Some(row.id.clone());
    let view = Mandate::from(&row);
    let customer = Some(&row.customer_id);
    events::record(
        conn,
        &row.brand_id,
        "mandate.created",
        &row.id,
        customer,
        &view,
        now,
    )
    .await?;
    Ok(())
}
