//! What the catalog's API shows and takes: its objects and their create
//! and update bodies.

use obol_core::Timestamp;
use obol_core::validate::Metadata;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A product as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Product {
    pub id: String,
    /// Always `product`.
    pub object: &'static str,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// `POST /v1/products`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    pub name: String,
    pub description: Option<String>,
    /// Default true.
    pub active: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `PATCH /v1/products/{id}`: absent fields stay; `null` clears the
/// description; metadata keys merge, and a key set to `""` is removed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub active: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// A feature as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Feature {
    pub id: String,
    /// Always `feature`.
    pub object: &'static str,
    /// Unique per brand: lower-case letters, digits and `_`.
    pub key: String,
    pub name: String,
    /// `boolean` (a package grants it with `true`) or `limit` (a package
    /// grants a non-negative integer).
    pub kind: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// `POST /v1/features`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFeature {
    pub key: String,
    pub name: String,
    /// `boolean` or `limit`.
    pub kind: String,
}

/// The license a package issues (its terms; issued licenses are another
/// object).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageLicense {
    /// How many devices may activate it, at least 1.
    pub device_limit: i64,
    /// Days it lasts from issue; null: it does not expire.
    pub duration_days: Option<i64>,
}

/// A package as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Package {
    pub id: String,
    /// Always `package`.
    pub object: &'static str,
    pub product_id: String,
    pub name: String,
    /// Feature keys to `true` (boolean features) or an integer (limits).
    #[schema(value_type = Object)]
    pub features: BTreeMap<String, Value>,
    /// Null: the package issues no license.
    pub license: Option<PackageLicense>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// `POST /v1/packages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePackage {
    pub product_id: String,
    pub name: String,
    /// Keys of the brand's features: `true` for a boolean feature, a
    /// non-negative integer for a limit. Default `{}`.
    #[schema(value_type = Option<Object>)]
    pub features: Option<Value>,
    /// Default null: no license.
    pub license: Option<PackageLicense>,
}

/// `PATCH /v1/packages/{id}`: absent fields stay; `features` replaces the
/// whole map; `license: null` stops issuing licenses.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePackage {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub features: Option<Value>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<PackageLicense>)]
    pub license: Option<Option<PackageLicense>>,
}

/// A price as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Price {
    pub id: String,
    /// Always `price`.
    pub object: &'static str,
    pub package_id: String,
    pub currency: String,
    /// Minor units of `currency`; never changes.
    pub unit_amount: i64,
    /// `one_time` or `recurring`.
    #[serde(rename = "type")]
    pub price_type: String,
    /// Recurring prices: `day`, `week`, `month` or `year`; null otherwise.
    pub interval: Option<String>,
    /// Recurring prices: intervals per period; null otherwise.
    pub interval_count: Option<i64>,
    /// Recurring prices: free days before the first charge; null otherwise.
    pub trial_days: Option<i64>,
    pub active: bool,
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// `POST /v1/prices`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrice {
    pub package_id: String,
    pub currency: String,
    /// Minor units, 0 to 2^53 − 1.
    pub unit_amount: i64,
    /// `one_time` or `recurring`.
    #[serde(rename = "type")]
    pub price_type: String,
    /// Recurring prices only (required there): `day`, `week`, `month`, `year`.
    pub interval: Option<String>,
    /// Recurring prices only: 1 to 365, default 1.
    pub interval_count: Option<i64>,
    /// Recurring prices only: 0 to 730, default 0.
    pub trial_days: Option<i64>,
    /// Default true.
    pub active: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `PATCH /v1/prices/{id}`: only `active` and `metadata` change; an amount
/// never does (make a new price and deactivate the old one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePrice {
    pub active: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Refused (even as null): named here to say why.
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(ignore)]
    pub unit_amount: Option<Option<Value>>,
    /// Refused (even as null): named here to say why.
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(ignore)]
    pub currency: Option<Option<Value>>,
}
