//! The catalog: a brand's products, the features its packages grant, the
//! packages (what a product sells: features and a license) and their
//! prices. Each change and its event land in one transaction; a brand sees
//! only its own objects. A price's amount never changes: only `active` and
//! `metadata` do (make a new price and deactivate the old one).

pub(crate) mod api;
mod views;

pub use views::{
    CreateFeature, CreatePackage, CreatePrice, CreateProduct, Feature, Package, PackageLicense,
    Price, Product, UpdatePackage, UpdatePrice, UpdateProduct,
};

use crate::error::{Error, Result};
use obol_core::validate::{self, Metadata};
use obol_core::{BrandId, FeatureId, PackageId, PriceId, ProductId, Timestamp};
use obol_kernel::events;
use obol_kernel::list::{self, List};
use obol_kernel::state::AppState;
use obol_store::Tx;
use obol_store::billing::catalog::{self as store, FeatureRow, PackageRow, PriceRow, ProductRow};
use obol_store::page::PageRequest;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The largest amount (and limit) a JSON number carries exactly.
pub(crate) const AMOUNT_MAX: i64 = (1 << 53) - 1;
const INTERVAL_COUNT_MAX: i64 = 365;
const TRIAL_DAYS_MAX: i64 = 730;
const DEVICE_LIMIT_MAX: i64 = 10_000;
const DURATION_DAYS_MAX: i64 = 36_500;
const FEATURE_KEY_MAX: usize = 64;
const KINDS: [&str; 2] = ["boolean", "limit"];
const PRICE_TYPES: [&str; 2] = ["one_time", "recurring"];
const INTERVALS: [&str; 4] = ["day", "week", "month", "year"];

fn metadata_json(value: Option<&Value>) -> Result<String> {
    let metadata = value
        .map(validate::metadata)
        .transpose()?
        .unwrap_or_default();
    serde_json::to_string(&metadata).map_err(Error::internal)
}

fn merged_metadata(stored: &str, patch: Option<&Value>) -> Result<Option<String>> {
    let Some(patch) = patch.map(validate::metadata).transpose()? else {
        return Ok(None);
    };
    let mut metadata: Metadata = serde_json::from_str(stored).map_err(Error::internal)?;
    validate::merge_metadata(&mut metadata, patch)?;
    Ok(Some(
        serde_json::to_string(&metadata).map_err(Error::internal)?,
    ))
}

fn name(value: &str) -> Result<String> {
    Ok(validate::text("name", value, 1, 256)?)
}

fn description(value: &str) -> Result<String> {
    Ok(validate::text("description", value, 1, 2000)?)
}

fn one_of(param: &str, value: &str, allowed: &[&str]) -> Result<String> {
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            param,
            format!("{param} must be one of {}", allowed.join(", ")),
        ))
    }
}

/// Writes `event_type` for `object` (whose id is `object_id`) and commits:
/// the change and its event land together.
async fn commit_with_event<T: Serialize>(
    mut tx: Tx,
    brand_id: &BrandId,
    event_type: &str,
    object_id: &str,
    object: T,
    now: Timestamp,
) -> Result<T> {
    events::record(&mut tx, brand_id, event_type, object_id, None, &object, now).await?;
    tx.commit().await?;
    Ok(object)
}

// Products.

fn product_view(row: ProductRow) -> Result<Product> {
    Ok(Product {
        metadata: serde_json::from_str(&row.metadata).map_err(Error::internal)?,
        id: row.id,
        object: "product",
        name: row.name,
        description: row.description,
        active: row.active,
        created_at: Timestamp::from_ms(row.created_at),
        updated_at: Timestamp::from_ms(row.updated_at),
    })
}

/// Creates a product and its `product.created` event.
pub async fn create_product(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateProduct,
) -> Result<Product> {
    let now = state.now();
    let row = ProductRow {
        id: ProductId::new().into_string(),
        brand_id: brand_id.clone(),
        name: name(&input.name)?,
        description: input.description.as_deref().map(description).transpose()?,
        active: input.active.unwrap_or(true),
        metadata: metadata_json(input.metadata.as_ref())?,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    let mut tx = state.db.begin().await?;
    store::insert_product(&mut tx, &row).await?;
    let id = row.id.clone();
    commit_with_event(
        tx,
        brand_id,
        "product.created",
        &id,
        product_view(row)?,
        now,
    )
    .await
}

pub async fn get_product(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Product> {
    let mut conn = state.db.pool.acquire().await?;
    let row = store::get_product(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("product", id))?;
    product_view(row)
}

pub async fn list_products(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<Product>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| Ok(store::get_product(conn, brand_id, after).await?.is_some()),
        async |conn, page| store::list_products(conn, brand_id, page).await,
    )
    .await?;
    List::of(rows, product_view)
}

/// Applies a PATCH and writes `product.updated`.
pub async fn update_product(
    state: &AppState,
    brand_id: &BrandId,
    id: &str,
    input: UpdateProduct,
) -> Result<Product> {
    let new_name = input.name.as_deref().map(name).transpose()?;
    let new_description = input
        .description
        .map(|value| value.as_deref().map(description).transpose())
        .transpose()?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = store::get_product(&mut tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("product", id))?;
    if let Some(metadata) = merged_metadata(&row.metadata, input.metadata.as_ref())? {
        row.metadata = metadata;
    }
    if let Some(value) = new_name {
        row.name = value;
    }
    if let Some(value) = new_description {
        row.description = value;
    }
    if let Some(value) = input.active {
        row.active = value;
    }
    row.updated_at = now.as_ms();
    store::update_product(&mut tx, &row).await?;
    commit_with_event(tx, brand_id, "product.updated", id, product_view(row)?, now).await
}

// Features.

fn feature_view(row: FeatureRow) -> Feature {
    Feature {
        id: row.id,
        object: "feature",
        key: row.key,
        name: row.name,
        kind: row.kind,
        created_at: Timestamp::from_ms(row.created_at),
    }
}

fn feature_key(value: &str) -> Result<String> {
    let well_formed = (1..=FEATURE_KEY_MAX).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if well_formed {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            "key",
            format!(
                "key must be 1 to {FEATURE_KEY_MAX} lower-case letters, digits and underscores"
            ),
        ))
    }
}

/// Creates a feature (its key unique per brand, 409 otherwise) and its
/// `feature.created` event.
pub async fn create_feature(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateFeature,
) -> Result<Feature> {
    let now = state.now();
    let row = FeatureRow {
        id: FeatureId::new().into_string(),
        brand_id: brand_id.clone(),
        key: feature_key(&input.key)?,
        name: name(&input.name)?,
        kind: one_of("kind", &input.kind, &KINDS)?,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    let mut tx = state.db.begin().await?;
    if !store::insert_feature(&mut tx, &row).await? {
        return Err(Error::AlreadyExists {
            what: "feature",
            param: "key",
        });
    }
    let id = row.id.clone();
    commit_with_event(tx, brand_id, "feature.created", &id, feature_view(row), now).await
}

pub async fn get_feature(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Feature> {
    let mut conn = state.db.pool.acquire().await?;
    let row = store::get_feature(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("feature", id))?;
    Ok(feature_view(row))
}

pub async fn list_features(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<Feature>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| Ok(store::get_feature(conn, brand_id, after).await?.is_some()),
        async |conn, page| store::list_features(conn, brand_id, page).await,
    )
    .await?;
    Ok(List::mapped(rows, feature_view))
}

// Packages.

fn package_view(row: PackageRow) -> Result<Package> {
    let license = row.license_device_limit.map(|device_limit| PackageLicense {
        device_limit,
        duration_days: row.license_duration_days,
    });
    Ok(Package {
        features: serde_json::from_str(&row.features).map_err(Error::internal)?,
        id: row.id,
        object: "package",
        product_id: row.product_id,
        name: row.name,
        license,
        created_at: Timestamp::from_ms(row.created_at),
        updated_at: Timestamp::from_ms(row.updated_at),
    })
}

/// Checks a package's features against the brand's: each key names one of
/// its features, `true` for a boolean one, a non-negative integer for a
/// limit. Returns the map as stored.
async fn package_features(
    tx: &mut Tx,
    brand_id: &BrandId,
    value: Option<&Value>,
) -> Result<String> {
    let Some(value) = value else {
        return Ok("{}".into());
    };
    let object = value
        .as_object()
        .ok_or_else(|| Error::invalid("features", "features must be an object"))?;
    let known: BTreeMap<String, String> = store::all_features(tx, brand_id)
        .await?
        .into_iter()
        .map(|feature| (feature.key, feature.kind))
        .collect();
    let mut features = BTreeMap::new();
    for (key, grant) in object {
        let param = format!("features[{key}]");
        let kind = known.get(key).ok_or_else(|| {
            Error::invalid(&param, format!("the brand has no feature with key '{key}'"))
        })?;
        let valid = match kind.as_str() {
            "boolean" => grant == &Value::Bool(true),
            _ => grant
                .as_i64()
                .is_some_and(|limit| (0..=AMOUNT_MAX).contains(&limit)),
        };
        if !valid {
            let expected = if kind == "boolean" {
                "true (a boolean feature)".to_owned()
            } else {
                format!("an integer from 0 to {AMOUNT_MAX} (a limit feature)")
            };
            return Err(Error::invalid(
                &param,
                format!("{param} must be {expected}"),
            ));
        }
        features.insert(key.clone(), grant.clone());
    }
    serde_json::to_string(&features).map_err(Error::internal)
}

/// Checks a license: the columns it is stored in.
fn license_columns(license: Option<&PackageLicense>) -> Result<(Option<i64>, Option<i64>)> {
    let Some(license) = license else {
        return Ok((None, None));
    };
    if !(1..=DEVICE_LIMIT_MAX).contains(&license.device_limit) {
        return Err(Error::invalid(
            "license[device_limit]",
            format!("license[device_limit] must be 1 to {DEVICE_LIMIT_MAX}"),
        ));
    }
    if license
        .duration_days
        .is_some_and(|days| !(1..=DURATION_DAYS_MAX).contains(&days))
    {
        return Err(Error::invalid(
            "license[duration_days]",
            format!("license[duration_days] must be 1 to {DURATION_DAYS_MAX}, or null"),
        ));
    }
    Ok((Some(license.device_limit), license.duration_days))
}

/// Creates a package of one of the brand's products and its
/// `package.created` event.
pub async fn create_package(
    state: &AppState,
    brand_id: &BrandId,
    input: CreatePackage,
) -> Result<Package> {
    let now = state.now();
    let package_name = name(&input.name)?;
    let (license_device_limit, license_duration_days) = license_columns(input.license.as_ref())?;
    let mut tx = state.db.begin().await?;
    if store::get_product(&mut tx, brand_id, &input.product_id)
        .await?
        .is_none()
    {
        return Err(Error::NotFound {
            what: "product",
            id: input.product_id,
            param: Some("product_id"),
        });
    }
    let row = PackageRow {
        id: PackageId::new().into_string(),
        brand_id: brand_id.clone(),
        features: package_features(&mut tx, brand_id, input.features.as_ref()).await?,
        product_id: input.product_id,
        name: package_name,
        license_device_limit,
        license_duration_days,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    store::insert_package(&mut tx, &row).await?;
    let id = row.id.clone();
    commit_with_event(
        tx,
        brand_id,
        "package.created",
        &id,
        package_view(row)?,
        now,
    )
    .await
}

pub async fn get_package(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Package> {
    let mut conn = state.db.pool.acquire().await?;
    let row = store::get_package(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("package", id))?;
    package_view(row)
}

pub async fn list_packages(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<Package>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| Ok(store::get_package(conn, brand_id, after).await?.is_some()),
        async |conn, page| store::list_packages(conn, brand_id, page).await,
    )
    .await?;
    List::of(rows, package_view)
}

/// Applies a PATCH and writes `package.updated`.
pub async fn update_package(
    state: &AppState,
    brand_id: &BrandId,
    id: &str,
    input: UpdatePackage,
) -> Result<Package> {
    let new_name = input.name.as_deref().map(name).transpose()?;
    let new_license = input
        .license
        .as_ref()
        .map(|license| license_columns(license.as_ref()))
        .transpose()?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = store::get_package(&mut tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("package", id))?;
    if input.features.is_some() {
        row.features = package_features(&mut tx, brand_id, input.features.as_ref()).await?;
    }
    if let Some(value) = new_name {
        row.name = value;
    }
    if let Some((device_limit, duration_days)) = new_license {
        row.license_device_limit = device_limit;
        row.license_duration_days = duration_days;
    }
    row.updated_at = now.as_ms();
    store::update_package(&mut tx, &row).await?;
    commit_with_event(tx, brand_id, "package.updated", id, package_view(row)?, now).await
}

// Prices.

fn price_view(row: PriceRow) -> Result<Price> {
    Ok(Price {
        metadata: serde_json::from_str(&row.metadata).map_err(Error::internal)?,
        id: row.id,
        object: "price",
        package_id: row.package_id,
        currency: row.currency,
        unit_amount: row.unit_amount,
        price_type: row.price_type,
        interval: row.interval,
        interval_count: row.interval_count,
        trial_days: row.trial_days,
        active: row.active,
        created_at: Timestamp::from_ms(row.created_at),
        updated_at: Timestamp::from_ms(row.updated_at),
    })
}

/// The recurring terms of a price: (interval, interval_count, trial_days),
/// all None for a one-time price.
type Recurring = (Option<String>, Option<i64>, Option<i64>);

fn recurring_terms(input: &CreatePrice, price_type: &str) -> Result<Recurring> {
    if price_type == "one_time" {
        for (param, given) in [
            ("interval", input.interval.is_some()),
            ("interval_count", input.interval_count.is_some()),
            ("trial_days", input.trial_days.is_some()),
        ] {
            if given {
                return Err(Error::invalid(
                    param,
                    format!("{param} is for recurring prices only"),
                ));
            }
        }
        return Ok((None, None, None));
    }
    let interval = input
        .interval
        .as_deref()
        .ok_or_else(|| Error::invalid("interval", "a recurring price needs an interval"))?;
    let interval = one_of("interval", interval, &INTERVALS)?;
    let interval_count = input.interval_count.unwrap_or(1);
    if !(1..=INTERVAL_COUNT_MAX).contains(&interval_count) {
        return Err(Error::invalid(
            "interval_count",
            format!("interval_count must be 1 to {INTERVAL_COUNT_MAX}"),
        ));
    }
    let trial_days = input.trial_days.unwrap_or(0);
    if !(0..=TRIAL_DAYS_MAX).contains(&trial_days) {
        return Err(Error::invalid(
            "trial_days",
            format!("trial_days must be 0 to {TRIAL_DAYS_MAX}"),
        ));
    }
    Ok((Some(interval), Some(interval_count), Some(trial_days)))
}

/// Creates a price of one of the brand's packages and its `price.created`
/// event.
pub async fn create_price(
    state: &AppState,
    brand_id: &BrandId,
    input: CreatePrice,
) -> Result<Price> {
    let now = state.now();
    let currency = validate::currency("currency", &input.currency)?;
    if !(0..=AMOUNT_MAX).contains(&input.unit_amount) {
        return Err(Error::invalid(
            "unit_amount",
            format!("unit_amount must be an integer in minor units from 0 to {AMOUNT_MAX}"),
        ));
    }
    let price_type = one_of("type", &input.price_type, &PRICE_TYPES)?;
    let (interval, interval_count, trial_days) = recurring_terms(&input, &price_type)?;
    let metadata = metadata_json(input.metadata.as_ref())?;
    let mut tx = state.db.begin().await?;
    if store::get_package(&mut tx, brand_id, &input.package_id)
        .await?
        .is_none()
    {
        return Err(Error::NotFound {
            what: "package",
            id: input.package_id,
            param: Some("package_id"),
        });
    }
    let row = PriceRow {
        id: PriceId::new().into_string(),
        brand_id: brand_id.clone(),
        package_id: input.package_id,
        currency: currency.code().to_owned(),
        unit_amount: input.unit_amount,
        price_type,
        interval,
        interval_count,
        trial_days,
        active: input.active.unwrap_or(true),
        metadata,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    store::insert_price(&mut tx, &row).await?;
    let id = row.id.clone();
    commit_with_event(tx, brand_id, "price.created", &id, price_view(row)?, now).await
}

pub async fn get_price(state: &AppState, brand_id: &BrandId, id: &str) -> Result<Price> {
    let mut conn = state.db.pool.acquire().await?;
    let row = store::get_price(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("price", id))?;
    price_view(row)
}

pub async fn list_prices(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<Price>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| Ok(store::get_price(conn, brand_id, after).await?.is_some()),
        async |conn, page| store::list_prices(conn, brand_id, page).await,
    )
    .await?;
    List::of(rows, price_view)
}

/// Applies a PATCH (`active`, `metadata`) and writes `price.updated`; an
/// amount or currency is refused.
pub async fn update_price(
    state: &AppState,
    brand_id: &BrandId,
    id: &str,
    input: UpdatePrice,
) -> Result<Price> {
    for (param, given) in [
        ("unit_amount", input.unit_amount.is_some()),
        ("currency", input.currency.is_some()),
    ] {
        if given {
            return Err(Error::invalid(
                param,
                format!(
                    "a price's {param} never changes: create a new price and deactivate this one"
                ),
            ));
        }
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = store::get_price(&mut tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("price", id))?;
    if let Some(metadata) = merged_metadata(&row.metadata, input.metadata.as_ref())? {
        row.metadata = metadata;
    }
    if let Some(value) = input.active {
        row.active = value;
    }
    row.updated_at = now.as_ms();
    store::update_price(&mut tx, &row).await?;
    commit_with_event(tx, brand_id, "price.updated", id, price_view(row)?, now).await
}
