//! Who pays a new order and with what, checked before the order exists, so
//! that a refused one leaves nothing behind (a 400 is not kept for
//! idempotent retries): its customer, the mandate it is to be charged
//! with, and with `confirm: true` where its payment goes.

use super::{CreateOrder, payment};
use crate::error::{Error, Result};
use obol_core::validate;
use obol_core::{BrandId, ConnectorAccountId, Currency, CustomerId, MandateId, Timestamp};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::mandates::MandateRow;

/// A new order's customer and the mandate it is to be charged with.
pub(super) struct Payer {
    pub customer_id: Option<CustomerId>,
    pub customer_email: Option<String>,
    /// Locked (PostgreSQL) until the order is made.
    pub mandate: Option<MandateRow>,
}

/// The customer of a new order (its `customer_id`, else the customer of its
/// mandate) with their email when the order names none, and its mandate:
/// the brand's, active, of that customer.
pub(super) async fn payer(
    state: &AppState,
    conn: &mut Conn,
    brand_id: &BrandId,
    input: &CreateOrder,
    setup_mandate: bool,
) -> Result<Payer> {
    if setup_mandate && input.customer_id.is_none() {
        return Err(Error::invalid_request(
            "parameter_missing",
            "a setup_mandate order needs a customer_id: the mandate is the customer's",
        )
        .with_param("customer_id"));
    }
    let mut customer_email = input
        .customer_email
        .as_deref()
        .map(|e| validate::email("customer_email", e))
        .transpose()?;
    let mut customer_id = input.customer_id.clone().map(CustomerId::from);
    if let Some(id) = &customer_id {
        customer_email.get_or_insert(customer_of(conn, brand_id, id).await?.email);
    }
    let mandate = match mandate_named(input, setup_mandate)? {
        Some(id) => {
            let customer = customer_id.as_ref();
            let row = crate::mandates::for_charge(state, conn, brand_id, customer, &id).await?;
            if customer_id.is_none() {
                // The mandate's customer pays: the order is theirs.
                let customer = customer_of(conn, brand_id, &row.customer_id).await?;
                customer_email.get_or_insert(customer.email);
                customer_id = Some(row.customer_id.clone());
            }
            Some(row)
        }
        None => None,
    };
    Ok(Payer {
        customer_id,
        customer_email,
        mandate,
    })
}

/// With `confirm: true`: a payment method or a mandate, and a connector
/// account that takes it.
pub(super) async fn check_confirm(
    conn: &mut Conn,
    brand_id: &BrandId,
    input: &CreateOrder,
    mandate: Option<&MandateRow>,
    currency: Currency,
    now: Timestamp,
) -> Result<()> {
    let explicit = input
        .connector_account_id
        .clone()
        .map(ConnectorAccountId::from);
    let method = match (mandate, &input.payment_method) {
        (Some(mandate), _) => {
            crate::mandates::charge_account(conn, mandate, explicit.as_ref(), currency).await?;
            return Ok(());
        }
        (None, Some(method)) => method,
        (None, None) => {
            return Err(Error::invalid_request(
                "parameter_missing",
                "confirm: true needs a payment_method or a mandate_id",
            )
            .with_param("payment_method"));
        }
    };
    let instrument = match payment::payment_method(method, now)? {
        payment::PayWith::Instrument(instrument) => instrument,
        // Needs no connector account; the order itself is checked once built.
        payment::PayWith::Wallet => return Ok(()),
        payment::PayWith::Mandate(_) => {
            return Err(Error::internal("a mandate payment method names no mandate"));
        }
    };
    if input.setup_mandate == Some(true)
        && !matches!(instrument, obol_connectors::Instrument::Card(_))
    {
        return Err(payment::setup_needs_a_card());
    }
    let method_type = instrument.method_type();
    crate::connector_accounts::route(
        conn,
        brand_id,
        method_type,
        currency,
        explicit.as_ref(),
        None,
    )
    .await?;
    Ok(())
}

/// A customer of the brand that an order may name (not deleted), or not
/// found naming `customer_id`.
async fn customer_of(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &CustomerId,
) -> Result<obol_store::customers::CustomerRow> {
    obol_store::customers::get(conn, brand_id, id)
        .await?
        .filter(|c| c.deleted_at.is_none())
        .ok_or_else(|| Error::not_found("customer", id).with_param("customer_id"))
}

/// The mandate a new order is to be paid with: its `mandate_id`, or its
/// `payment_method` of type `mandate`; both must name the same one, and a
/// `payment_method` of another type none. A `setup_mandate` order is paid
/// with none.
fn mandate_named(input: &CreateOrder, setup_mandate: bool) -> Result<Option<MandateId>> {
    let method = input.payment_method.as_ref();
    let by_method = match method.filter(|m| m.method_type == "mandate") {
        Some(method) => Some(method.mandate_id.as_deref().ok_or_else(|| {
            Error::invalid_request(
                "parameter_missing",
                "a mandate payment needs payment_method[mandate_id]",
            )
            .with_param("payment_method[mandate_id]")
        })?),
        None => None,
    };
    let named = match (input.mandate_id.as_deref(), by_method, method) {
        (Some(id), Some(by_method), _) if id != by_method => {
            return Err(Error::invalid(
                "payment_method[mandate_id]",
                "payment_method[mandate_id] must be the order's mandate_id",
            ));
        }
        (Some(_), None, Some(_)) => {
            return Err(Error::invalid(
                "payment_method[type]",
                "an order with a mandate_id is paid with that mandate: payment_method[type] must be mandate",
            ));
        }
        (named, by_method, _) => named.or(by_method),
    };
    if named.is_some() && setup_mandate {
        return Err(Error::invalid(
            "mandate_id",
            "a setup_mandate order sets a mandate up: it cannot be paid with one",
        ));
    }
    Ok(named.map(MandateId::from))
}
