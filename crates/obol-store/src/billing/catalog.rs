//! The catalog: products, features, packages and prices, each a brand's own.

use crate::page::{Page, PageRequest};
use crate::{Conn, Result};
use obol_core::BrandId;

#[derive(Debug, Clone)]
pub struct ProductRow {
    pub id: String,
    pub brand_id: BrandId,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    /// JSON object of strings.
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(ProductRow {
    id,
    brand_id,
    name,
    description,
    active,
    metadata,
    created_at,
    updated_at
});

const PRODUCT_COLUMNS: &str =
    "id, brand_id, name, description, active, metadata, created_at, updated_at";

pub async fn insert_product(conn: &mut Conn, row: &ProductRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO products (id, brand_id, name, description, active, metadata, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.name)
    .bind(&row.description)
    .bind(row.active)
    .bind(&row.metadata)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes a product's changeable fields.
pub async fn update_product(conn: &mut Conn, row: &ProductRow) -> Result<()> {
    crate::sql::query(
        "UPDATE products SET name = $3, description = $4, active = $5, metadata = $6, \
         updated_at = $7 WHERE id = $1 AND brand_id = $2",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.name)
    .bind(&row.description)
    .bind(row.active)
    .bind(&row.metadata)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_product(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> Result<Option<ProductRow>> {
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The brand's products, newest first.
pub async fn list_products(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<ProductRow>> {
    let select = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}

#[derive(Debug, Clone)]
pub struct FeatureRow {
    pub id: String,
    pub brand_id: BrandId,
    /// Unique per brand.
    pub key: String,
    pub name: String,
    /// `boolean` or `limit`.
    pub kind: String,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(FeatureRow {
    id,
    brand_id,
    key,
    name,
    kind,
    created_at,
    updated_at
});

const FEATURE_COLUMNS: &str = "id, brand_id, key, name, kind, created_at, updated_at";

/// Inserts a feature; false when the brand has a feature with this key.
pub async fn insert_feature(conn: &mut Conn, row: &FeatureRow) -> Result<bool> {
    let result = crate::sql::query(
        "INSERT INTO features (id, brand_id, key, name, kind, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.key)
    .bind(&row.name)
    .bind(&row.kind)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get_feature(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> Result<Option<FeatureRow>> {
    let sql = format!("SELECT {FEATURE_COLUMNS} FROM features WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// Every feature of the brand (what a package's features are checked
/// against), in key order.
pub async fn all_features(conn: &mut Conn, brand_id: &BrandId) -> Result<Vec<FeatureRow>> {
    let sql = format!("SELECT {FEATURE_COLUMNS} FROM features WHERE brand_id = $1 ORDER BY key");
    crate::sql::query_as(sql)
        .bind(brand_id)
        .fetch_all(conn)
        .await
}

/// The brand's features, newest first.
pub async fn list_features(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<FeatureRow>> {
    let select = format!("SELECT {FEATURE_COLUMNS} FROM features WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}

#[derive(Debug, Clone)]
pub struct PackageRow {
    pub id: String,
    pub brand_id: BrandId,
    pub product_id: String,
    pub name: String,
    /// JSON object of feature keys to `true` or an integer.
    pub features: String,
    /// None: the package issues no license.
    pub license_device_limit: Option<i64>,
    /// None: a license that does not expire.
    pub license_duration_days: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(PackageRow {
    id,
    brand_id,
    product_id,
    name,
    features,
    license_device_limit,
    license_duration_days,
    created_at,
    updated_at
});

const PACKAGE_COLUMNS: &str = "id, brand_id, product_id, name, features, license_device_limit, \
    license_duration_days, created_at, updated_at";

pub async fn insert_package(conn: &mut Conn, row: &PackageRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO packages (id, brand_id, product_id, name, features, license_device_limit, \
         license_duration_days, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.product_id)
    .bind(&row.name)
    .bind(&row.features)
    .bind(row.license_device_limit)
    .bind(row.license_duration_days)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes a package's changeable fields (all but its product).
pub async fn update_package(conn: &mut Conn, row: &PackageRow) -> Result<()> {
    crate::sql::query(
        "UPDATE packages SET name = $3, features = $4, license_device_limit = $5, \
         license_duration_days = $6, updated_at = $7 WHERE id = $1 AND brand_id = $2",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.name)
    .bind(&row.features)
    .bind(row.license_device_limit)
    .bind(row.license_duration_days)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_package(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> Result<Option<PackageRow>> {
    let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The brand's packages, newest first.
pub async fn list_packages(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<PackageRow>> {
    let select = format!("SELECT {PACKAGE_COLUMNS} FROM packages WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}

#[derive(Debug, Clone)]
pub struct PriceRow {
    pub id: String,
    pub brand_id: BrandId,
    pub package_id: String,
    pub currency: String,
    /// Minor units; never changes.
    pub unit_amount: i64,
    /// `one_time` or `recurring`.
    pub price_type: String,
    /// Recurring prices only: `day`, `week`, `month` or `year`.
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
    pub trial_days: Option<i64>,
    pub active: bool,
    /// JSON object of strings.
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(PriceRow {
    id,
    brand_id,
    package_id,
    currency,
    unit_amount,
    price_type = "type",
    interval = "recurring_interval",
    interval_count,
    trial_days,
    active,
    metadata,
    created_at,
    updated_at
});

const PRICE_COLUMNS: &str = "id, brand_id, package_id, currency, unit_amount, type, \
    recurring_interval, interval_count, trial_days, active, metadata, created_at, updated_at";

pub async fn insert_price(conn: &mut Conn, row: &PriceRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO prices (id, brand_id, package_id, currency, unit_amount, type, \
         recurring_interval, interval_count, trial_days, active, metadata, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(&row.package_id)
    .bind(&row.currency)
    .bind(row.unit_amount)
    .bind(&row.price_type)
    .bind(&row.interval)
    .bind(row.interval_count)
    .bind(row.trial_days)
    .bind(row.active)
    .bind(&row.metadata)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes what a price may change: `active` and `metadata`, never its amount.
pub async fn update_price(conn: &mut Conn, row: &PriceRow) -> Result<()> {
    crate::sql::query(
        "UPDATE prices SET active = $3, metadata = $4, updated_at = $5 \
         WHERE id = $1 AND brand_id = $2",
    )
    .bind(&row.id)
    .bind(&row.brand_id)
    .bind(row.active)
    .bind(&row.metadata)
    .bind(row.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_price(conn: &mut Conn, brand_id: &BrandId, id: &str) -> Result<Option<PriceRow>> {
    let sql = format!("SELECT {PRICE_COLUMNS} FROM prices WHERE id = $1 AND brand_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(brand_id)
        .fetch_optional(conn)
        .await
}

/// The brand's prices, newest first.
pub async fn list_prices(
    conn: &mut Conn,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<Page<PriceRow>> {
    let select = format!("SELECT {PRICE_COLUMNS} FROM prices WHERE brand_id = $1");
    crate::page::newest_first(conn, &select, brand_id, page).await
}
