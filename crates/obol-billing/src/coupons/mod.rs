//! Coupons: a percentage or an amount off, once, for some periods or
//! forever, limited in redemptions (never exceeded, even concurrently: each
//! redemption is a conditional update), in time and to packages.

pub(crate) mod api;

use crate::error::{Error, Result};
use crate::invoices::DiscountRule;
use obol_core::billing::discount::Discount;
use obol_core::validate::{self, Metadata};
use obol_core::{BrandId, CouponId, CustomerId, SubscriptionId, Timestamp};
use obol_kernel::ApiError;
use obol_kernel::events;
use obol_kernel::list::{self, List};
use obol_kernel::state::AppState;
use obol_payments::listeners::{CouponApplied, CouponRequest, OrderCoupons};
use obol_store::Conn;
use obol_store::billing::coupons::{self as store, CouponRow};
use obol_store::page::PageRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

const DURATIONS: [&str; 3] = ["once", "repeating", "forever"];
const PERIODS_MAX: i64 = 1200;
const APPLIES_TO_MAX: usize = 100;

/// A coupon as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Coupon {
    pub id: String,
    /// Always `coupon`.
    pub object: &'static str,
    pub code: Option<String>,
    pub name: Option<String>,
    /// Hundredths of a percent off (2000 is 20 %), or null for an amount off.
    pub percent_off_bps: Option<i64>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    /// `once`, `repeating` or `forever`.
    pub duration: String,
    pub duration_in_periods: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub times_redeemed: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub redeem_by: Option<Timestamp>,
    /// The packages it applies to; null: every package.
    pub applies_to: Option<Vec<String>>,
    /// False once disabled.
    pub active: bool,
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// `POST /v1/coupons`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCoupon {
    /// What customers type; unique per brand.
    pub code: Option<String>,
    pub name: Option<String>,
    /// A percentage off, up to two decimals (`12.5`).
    #[schema(value_type = Option<f64>)]
    pub percent_off: Option<serde_json::Number>,
    /// Or an amount off, with its currency.
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub duration: String,
    /// With `repeating`: how many invoices it discounts.
    pub duration_in_periods: Option<i64>,
    pub max_redemptions: Option<i64>,
    /// RFC 3339; no redemption after it.
    pub redeem_by: Option<String>,
    pub applies_to: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

fn view(row: CouponRow) -> Result<Coupon> {
    Ok(Coupon {
        id: row.id.into_string(),
        object: "coupon",
        code: row.code,
        name: row.name,
        percent_off_bps: row.percent_off_bps,
        amount_off: row.amount_off,
        currency: row.currency,
        duration: row.duration,
        duration_in_periods: row.duration_in_periods,
        max_redemptions: row.max_redemptions,
        times_redeemed: row.times_redeemed,
        redeem_by: row.redeem_by.map(Timestamp::from_ms),
        applies_to: row
            .applies_to
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(Error::internal)?,
        active: row.active,
        metadata: serde_json::from_str(&row.metadata).map_err(Error::internal)?,
        created_at: Timestamp::from_ms(row.created_at),
    })
}

/// `12.5` → 1250: a percentage with at most two decimals, above 0 and at most 100.
fn percent_bps(number: &serde_json::Number) -> Result<i64> {
    let text = number.to_string();
    let invalid = || {
        Error::invalid(
            "percent_off",
            "percent_off must be above 0 and at most 100, with at most two decimals",
        )
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if fraction.len() > 2 || whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let fraction: i64 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
    let bps = whole
        .checked_mul(100)
        .and_then(|bps| bps.checked_add(fraction))
        .ok_or_else(invalid)?;
    if (1..=10_000).contains(&bps) {
        Ok(bps)
    } else {
        Err(invalid())
    }
}

fn code(value: &str) -> Result<String> {
    let well_formed = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            "code",
            "code must be 1 to 64 letters, digits, dashes or underscores",
        ))
    }
}

/// Checks a new coupon and builds its row.
async fn build(
    conn: &mut Conn,
    brand_id: &BrandId,
    input: CreateCoupon,
    now: Timestamp,
) -> Result<CouponRow> {
    let (percent_off_bps, amount_off, currency) =
        match (&input.percent_off, input.amount_off, &input.currency) {
            (Some(percent), None, None) => (Some(percent_bps(percent)?), None, None),
            (None, Some(amount), Some(currency)) => {
                if !(1..=crate::catalog::AMOUNT_MAX).contains(&amount) {
                    return Err(Error::invalid(
                        "amount_off",
                        "amount_off must be a positive integer of minor units",
                    ));
                }
                let currency = validate::currency("currency", currency)?;
                (None, Some(amount), Some(currency.code().to_owned()))
            }
            (None, Some(_), None) => {
                return Err(Error::invalid(
                    "currency",
                    "an amount_off needs its currency",
                ));
            }
            _ => {
                return Err(Error::invalid(
                    "percent_off",
                    "a coupon takes either percent_off or amount_off with currency",
                ));
            }
        };
    if !DURATIONS.contains(&input.duration.as_str()) {
        return Err(Error::invalid(
            "duration",
            "duration must be once, repeating or forever",
        ));
    }
    let repeating = input.duration == "repeating";
    match input.duration_in_periods {
        Some(periods) if repeating && (1..=PERIODS_MAX).contains(&periods) => {}
        None if !repeating => {}
        _ => {
            return Err(Error::invalid(
                "duration_in_periods",
                format!(
                    "duration_in_periods (1 to {PERIODS_MAX}) goes with duration repeating only"
                ),
            ));
        }
    }
    if input.max_redemptions.is_some_and(|max| max < 1) {
        return Err(Error::invalid(
            "max_redemptions",
            "max_redemptions must be at least 1",
        ));
    }
    let redeem_by = input
        .redeem_by
        .as_deref()
        .map(|text| validate::future_time("redeem_by", text, now))
        .transpose()?;
    let applies_to = match input.applies_to {
        None => None,
        Some(packages) => {
            if packages.is_empty() || packages.len() > APPLIES_TO_MAX {
                return Err(Error::invalid(
                    "applies_to",
                    format!("applies_to lists 1 to {APPLIES_TO_MAX} packages"),
                ));
            }
            for id in &packages {
                obol_store::billing::catalog::get_package(conn, brand_id, id)
                    .await?
                    .ok_or(Error::NotFound {
                        what: "package",
                        id: id.clone(),
                        param: Some("applies_to"),
                    })?;
            }
            Some(serde_json::to_string(&packages).map_err(Error::internal)?)
        }
    };
    let metadata: Metadata = input
        .metadata
        .as_ref()
        .map(validate::metadata)
        .transpose()?
        .unwrap_or_default();
    Ok(CouponRow {
        id: CouponId::new(),
        brand_id: brand_id.clone(),
        code: input.code.as_deref().map(code).transpose()?,
        name: input
            .name
            .as_deref()
            .map(|name| validate::text("name", name, 1, 200))
            .transpose()?,
        percent_off_bps,
        amount_off,
        currency,
        duration: input.duration,
        duration_in_periods: input.duration_in_periods,
        max_redemptions: input.max_redemptions,
        times_redeemed: 0,
        redeem_by: redeem_by.map(Timestamp::as_ms),
        applies_to,
        active: true,
        metadata: serde_json::to_string(&metadata).map_err(Error::internal)?,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    })
}

/// Creates a coupon with `coupon.created`.
pub async fn create(state: &AppState, brand_id: &BrandId, input: CreateCoupon) -> Result<Coupon> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let row = build(&mut tx, brand_id, input, now).await?;
    if !store::insert(&mut tx, &row).await? {
        return Err(Error::AlreadyExists {
            what: "coupon",
            param: "code",
        });
    }
    let id = row.id.clone();
    let coupon = view(row)?;
    events::record(&mut tx, brand_id, "coupon.created", &id, None, &coupon, now).await?;
    tx.commit().await?;
    Ok(coupon)
}

pub async fn get(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Coupon> {
    let mut conn = state.db.pool.acquire().await?;
    let row = store::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("coupon", id))?;
    view(row)
}

pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<Coupon>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| Ok(store::get(conn, brand_id, after).await?.is_some()),
        async |conn, page| store::list(conn, brand_id, page).await,
    )
    .await?;
    List::of(rows, view)
}

/// `POST /v1/coupons/{id}/disable`: no redemption after; those made stay.
pub async fn disable(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Coupon> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    store::get(&mut tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("coupon", id))?;
    store::disable(&mut tx, brand_id, id, now.as_ms()).await?;
    let row = store::get(&mut tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("coupon", id))?;
    let coupon = view(row)?;
    events::record(&mut tx, brand_id, "coupon.disabled", id, None, &coupon, now).await?;
    tx.commit().await?;
    Ok(coupon)
}

/// A coupon redeemed, and how many invoices it discounts (`None`: every one).
pub(crate) struct Redeemed {
    pub coupon_id: CouponId,
    pub periods: Option<i64>,
}

/// What a redemption is for.
pub(crate) struct RedeemFor<'a> {
    pub customer_id: &'a CustomerId,
    pub subscription_id: Option<&'a SubscriptionId>,
    pub package_id: &'a str,
    pub currency: &'a str,
}

/// The brand's coupon `id_or_code` if it can be used now for lines of
/// `packages` in `currency`, or why not (`coupon_invalid`).
async fn usable(
    tx: &mut Conn,
    brand_id: &BrandId,
    id_or_code: &str,
    packages: &[&str],
    currency: &str,
    now: Timestamp,
) -> Result<CouponRow> {
    let invalid = |message: String| Error::CouponInvalid(message);
    let row = store::by_id_or_code(tx, brand_id, id_or_code)
        .await?
        .ok_or_else(|| invalid(format!("no coupon has the id or code '{id_or_code}'")))?;
    if !row.active {
        return Err(invalid("the coupon is disabled".to_owned()));
    }
    if let Some(redeem_by) = row.redeem_by.filter(|by| now.as_ms() > *by) {
        return Err(invalid(format!(
            "the coupon expired: it could be redeemed until {}",
            Timestamp::from_ms(redeem_by).to_rfc3339()
        )));
    }
    let applies_to: Option<Vec<String>> = row
        .applies_to
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(Error::internal)?;
    if applies_to.as_ref().is_some_and(|listed| {
        !packages
            .iter()
            .any(|package| listed.iter().any(|id| id == package))
    }) {
        return Err(invalid(
            "the coupon does not apply to this price's package".to_owned(),
        ));
    }
    if let Some(coupon_currency) = row.currency.as_deref().filter(|c| *c != currency) {
        return Err(invalid(format!(
            "the coupon takes an amount off in {coupon_currency}, and the price is in {currency}"
        )));
    }
    if !store::take_redemption(tx, &row.id, now.as_ms()).await? {
        return Err(invalid(format!(
            "the coupon has been redeemed as often as it may be ({} times)",
            row.max_redemptions.unwrap_or_default()
        )));
    }
    Ok(row)
}

/// Redeems the coupon `id_or_code` for a subscription inside `tx`, or says
/// why it cannot (`coupon_invalid`).
pub(crate) async fn redeem_in(
    tx: &mut Conn,
    brand_id: &BrandId,
    id_or_code: &str,
    target: RedeemFor<'_>,
    now: Timestamp,
) -> Result<Redeemed> {
    let row = usable(
        tx,
        brand_id,
        id_or_code,
        &[target.package_id],
        target.currency,
        now,
    )
    .await?;
    store::insert_redemption(
        tx,
        &row.id,
        brand_id,
        Some(target.customer_id),
        (target.subscription_id, None),
        now.as_ms(),
    )
    .await?;
    let periods = match row.duration.as_str() {
        "once" => Some(1),
        "repeating" => row.duration_in_periods,
        _ => None,
    };
    Ok(Redeemed {
        coupon_id: row.id,
        periods,
    })
}

/// Billing's coupons for payments' orders: a coupon on a new order is
/// redeemed in the order's own transaction and takes its discount off the
/// lines it applies to (whatever its duration: an order is paid once).
pub struct OrderCouponsOfBilling;

#[async_trait::async_trait]
impl OrderCoupons for OrderCouponsOfBilling {
    async fn apply(
        &self,
        tx: &mut Conn,
        request: CouponRequest<'_>,
    ) -> Result<CouponApplied, ApiError> {
        Ok(apply_to_order(tx, request).await?)
    }
}

async fn apply_to_order(tx: &mut Conn, request: CouponRequest<'_>) -> Result<CouponApplied> {
    let mut lines = Vec::with_capacity(request.lines.len());
    for (price_id, amount) in &request.lines {
        let package_id = match price_id {
            Some(price_id) => {
                obol_store::billing::catalog::get_price(tx, request.brand_id, price_id)
                    .await?
                    .map(|price| price.package_id)
            }
            None => None,
        };
        lines.push(crate::invoices::LineDraft {
            description: String::new(),
            price_id: price_id.clone(),
            package_id,
            quantity: 1,
            unit_amount: *amount,
            period_start: None,
            period_end: None,
            proration: false,
        });
    }
    let packages: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.package_id.as_deref())
        .collect();
    let row = usable(
        tx,
        request.brand_id,
        request.coupon,
        &packages,
        request.currency.code(),
        request.now,
    )
    .await?;
    store::insert_redemption(
        tx,
        &row.id,
        request.brand_id,
        request.customer_id,
        (None, Some(request.order_id)),
        request.now.as_ms(),
    )
    .await?;
    let rule = rule_from(&row)?;
    let sums = crate::invoices::compute::compute(lines, Some(&rule), None)?;
    Ok(CouponApplied {
        coupon_id: row.id.into_string(),
        discount: sums.discount,
    })
}

fn rule_from(row: &CouponRow) -> Result<DiscountRule> {
    let discount = match (row.percent_off_bps, row.amount_off) {
        (Some(bps), _) => Discount::PercentBps(u32::try_from(bps).map_err(Error::internal)?),
        (None, Some(amount)) => Discount::Amount(amount),
        (None, None) => return Err(Error::internal("a coupon with no discount")),
    };
    let applies_to = row
        .applies_to
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(Error::internal)?;
    Ok(DiscountRule {
        discount,
        applies_to,
    })
}

/// The discount of a coupon a subscription redeemed, for its next invoice.
pub(crate) async fn rule_of(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> Result<Option<DiscountRule>> {
    match store::get(conn, brand_id, id).await? {
        Some(row) => rule_from(&row).map(Some),
        None => Ok(None),
    }
}
