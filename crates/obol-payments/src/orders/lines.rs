//! An order's lines and its coupon: lines naming the catalog's prices are
//! filled in from them, and a coupon is redeemed through the domain that
//! keeps coupons, inside the order's creating transaction.

use super::{CreateOrder, Item, amount};
use crate::error::{Error, Result};
use obol_core::validate;
use obol_core::{BrandId, Currency, CustomerId, OrderId, Timestamp};
use obol_kernel::state::AppState;
use obol_store::Conn;

/// A line naming a price, filled in from the catalog: the package's name
/// (unless the line names itself) and the price's amount.
async fn priced(
    conn: &mut Conn,
    brand_id: &BrandId,
    currency: Currency,
    index: usize,
    item: &Item,
    price_id: &str,
) -> Result<Item> {
    let param = format!("items[{index}][price_id]");
    if item.unit_amount.is_some() {
        return Err(Error::invalid(
            format!("items[{index}][unit_amount]"),
            "a line naming a price takes the price's amount",
        ));
    }
    let price = obol_store::billing::catalog::get_price(conn, brand_id, price_id)
        .await?
        .ok_or_else(|| Error::not_found("price", price_id).with_param(param.clone()))?;
    if !price.active || price.price_type != "one_time" || price.currency != currency.code() {
        return Err(Error::invalid(
            param,
            format!(
                "an order's line names an active one-time price in {}: subscribe to a recurring one",
                currency.code()
            ),
        ));
    }
    let name = match &item.name {
        Some(name) => name.clone(),
        None => obol_store::billing::catalog::get_package(conn, brand_id, &price.package_id)
            .await?
            .map(|package| package.name)
            .ok_or_else(|| Error::internal("a price's package vanished"))?,
    };
    Ok(Item {
        name: Some(name),
        quantity: item.quantity,
        unit_amount: Some(price.unit_amount),
        price_id: Some(price.id),
    })
}

/// Checks an order's lines (filling in those naming prices) against its
/// amount; the lines as stored.
pub(super) async fn items(
    conn: &mut Conn,
    brand_id: &BrandId,
    currency: Currency,
    list: &[Item],
    total: i64,
) -> Result<String> {
    let mut sum: i64 = 0;
    let mut lines = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        if item.quantity < 1 {
            return Err(Error::invalid(
                format!("items[{index}][quantity]"),
                "quantity must be at least 1",
            ));
        }
        let item = match &item.price_id {
            Some(price_id) => priced(conn, brand_id, currency, index, item, price_id).await?,
            None => item.clone(),
        };
        let name = item.name.as_deref().ok_or_else(|| {
            Error::invalid_request("parameter_missing", "a line without a price needs a name")
                .with_param(format!("items[{index}][name]"))
        })?;
        validate::text(&format!("items[{index}][name]"), name, 1, 200)?;
        let unit_amount = item.unit_amount.ok_or_else(|| {
            Error::invalid_request(
                "parameter_missing",
                "a line without a price needs its unit_amount",
            )
            .with_param(format!("items[{index}][unit_amount]"))
        })?;
        amount(&format!("items[{index}][unit_amount]"), unit_amount, true)?;
        sum = item
            .quantity
            .checked_mul(unit_amount)
            .and_then(|line| sum.checked_add(line))
            .ok_or_else(|| {
                Error::invalid_request("amount_too_large", "items add up to too much")
                    .with_param("items")
            })?;
        lines.push(item);
    }
    if sum != total {
        return Err(Error::invalid(
            "items",
            format!("items add up to {sum}, not to amount {total}"),
        ));
    }
    serde_json::to_string(&lines).map_err(Error::internal)
}

/// Redeems the order's coupon (inside the creating transaction, through
/// the domain that keeps coupons): what it takes off `total`.
pub(super) async fn coupon_of(
    state: &AppState,
    conn: &mut Conn,
    brand_id: &BrandId,
    coupon: &str,
    input: &CreateOrder,
    (order_id, customer_id, items): (&OrderId, Option<&CustomerId>, Option<&str>),
    (currency, total, now): (Currency, i64, Timestamp),
) -> Result<crate::listeners::CouponApplied> {
    let refused = |message: &str| {
        Error::invalid_request("coupon_invalid", message.to_owned()).with_param("coupon")
    };
    if input
        .order_type
        .as_deref()
        .is_some_and(|kind| kind != "one_time")
        || input.setup_mandate == Some(true)
    {
        return Err(refused("only a one-time order that charges takes a coupon"));
    }
    let Some(coupons) = state.parts.get::<crate::listeners::Coupons>() else {
        return Err(refused("this server takes no coupons"));
    };
    let lines = match items {
        Some(text) => serde_json::from_str::<Vec<Item>>(text)
            .map_err(Error::internal)?
            .into_iter()
            .map(|item| {
                let amount = item.quantity.saturating_mul(item.unit_amount.unwrap_or(0));
                (item.price_id, amount)
            })
            .collect(),
        None => vec![(None, total)],
    };
    let request = crate::listeners::CouponRequest {
        brand_id,
        coupon,
        currency,
        customer_id,
        order_id,
        lines,
        now,
    };
    let applied = coupons.0.apply(conn, request).await?;
    if applied.discount >= total {
        return Err(refused(
            "the coupon takes the whole amount off: an order must charge something",
        ));
    }
    Ok(applied)
}
