//! Customers: the service (create, update, soft delete) and the API view.

use obol_core::{BrandId, CustomerId};
pub(crate) mod api;

pub use obol_store::customers::CustomerFilter;

use crate::error::{Error, Result};
use obol_core::Timestamp;
use obol_core::validate::{self, Metadata};
use obol_kernel::events;
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::customers::CustomerRow;
use obol_store::{Conn, Tx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A customer as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Customer {
    pub id: String,
    /// Always `customer`.
    pub object: &'static str,
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub metadata: Metadata,
    /// `active`, `suspended` or `blocked`.
    pub status: String,
    /// True once deleted: the record stays for the ledger, hidden from lists.
    pub deleted: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = Error;

    fn try_from(row: CustomerRow) -> Result<Self> {
        Ok(Customer {
            metadata: serde_json::from_str(&row.metadata).map_err(Error::internal)?,
            id: row.id.to_string(),
            object: "customer",
            email: row.email,
            name: row.name,
            phone: row.phone,
            country: row.country,
            status: row.status,
            deleted: row.deleted_at.is_some(),
            created_at: Timestamp::from_ms(row.created_at),
            updated_at: Timestamp::from_ms(row.updated_at),
        })
    }
}

/// `POST /v1/customers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `PATCH /v1/customers/{id}`: absent fields stay; `null` clears an optional
/// one; metadata keys merge, and a key set to `""` is removed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    pub email: Option<String>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub country: Option<Option<String>>,
    /// `active`, `suspended` or `blocked`.
    pub status: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

const STATUSES: [&str; 3] = ["active", "suspended", "blocked"];

fn name(value: &str) -> Result<String> {
    Ok(validate::text("name", value, 1, 256)?)
}

fn phone(value: &str) -> Result<String> {
    let ok = (3..=32).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && value.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            "phone",
            "phone must be a phone number like +49 30 1234567",
        ))
    }
}

fn status(value: &str) -> Result<String> {
    if STATUSES.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            "status",
            "status must be one of active, suspended, blocked",
        ))
    }
}

fn email_taken(error: obol_store::StoreError) -> Error {
    match error {
        obol_store::StoreError::UniqueViolation => Error::AlreadyExists {
            what: "customer",
            param: "email",
        },
        other => other.into(),
    }
}

/// Renders the changed customer, writes its `event_type` event in the same
/// transaction and commits: the change and its event land together.
async fn commit_with_event(
    mut tx: Tx,
    brand_id: &BrandId,
    event_type: &str,
    row: CustomerRow,
    now: Timestamp,
) -> Result<Customer> {
    let customer_id = row.id.clone();
    let customer = Customer::try_from(row)?;
    events::record(
        &mut tx,
        brand_id,
        event_type,
        &customer_id,
        Some(&customer_id),
        &customer,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(customer)
}

/// Creates a customer and its `customer.created` event in one transaction.
pub async fn create(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateCustomer,
) -> Result<Customer> {
    let now = state.now();
    let row = CustomerRow {
        id: CustomerId::new(),
        brand_id: brand_id.to_owned(),
        email: validate::email("email", &input.email)?,
        name: input.name.as_deref().map(name).transpose()?,
        phone: input.phone.as_deref().map(phone).transpose()?,
        country: input
            .country
            .as_deref()
            .map(|c| validate::country("country", c))
            .transpose()?,
        metadata: serde_json::to_string(
            &input
                .metadata
                .as_ref()
                .map(validate::metadata)
                .transpose()?
                .unwrap_or_default(),
        )
        .map_err(Error::internal)?,
        status: "active".into(),
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
        deleted_at: None,
    };
    let mut tx = state.db.begin().await?;
    obol_store::customers::insert(&mut tx, &row)
        .await
        .map_err(email_taken)?;
    commit_with_event(tx, brand_id, "customer.created", row, now).await
}

/// A customer of the brand (deleted ones too).
pub async fn get(state: &AppState, brand_id: &BrandId, id: &CustomerId) -> Result<Customer> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::customers::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("customer", id))?;
    Customer::try_from(row)
}

/// Whether `id` names a customer of the brand (deleted ones too).
pub(crate) async fn exists(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &str,
) -> obol_store::Result<bool> {
    Ok(
        obol_store::customers::get(conn, brand_id, &obol_core::CustomerId::from(id))
            .await?
            .is_some(),
    )
}

/// A page of the brand's live customers, newest first.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<CustomerFilter>,
) -> Result<List<Customer>> {
    let ListRequest { page, filter } = request;
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        &page,
        async |conn, after| exists(conn, brand_id, after).await,
        async |conn, page| obol_store::customers::list(conn, brand_id, &filter, page).await,
    )
    .await?;
    List::of(rows, Customer::try_from)
}

/// Checks a list's `customer_id` filter, if given: it must name a customer
/// of the brand (a deleted one too, whose records stay).
pub async fn check_filter(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: Option<&str>,
) -> Result<()> {
    list::check_filter(
        conn,
        "customer",
        customer_id,
        "customer_id",
        async |conn, id| exists(conn, brand_id, id).await,
    )
    .await?;
    Ok(())
}

/// Locks a live customer for a change: `NotFound` if unknown,
/// `InvalidState` if deleted.
async fn load_live(
    state: &AppState,
    tx: &mut Conn,
    brand_id: &BrandId,
    id: &CustomerId,
) -> Result<CustomerRow> {
    let row = obol_store::customers::get_for_update(tx, state.db.backend, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("customer", id))?;
    if row.deleted_at.is_some() {
        return Err(Error::invalid_state(format!("customer {id} is deleted")));
    }
    Ok(row)
}

/// Applies a PATCH and writes `customer.updated`.
pub async fn update(
    state: &AppState,
    brand_id: &BrandId,
    id: &CustomerId,
    input: UpdateCustomer,
) -> Result<Customer> {
    let email = input
        .email
        .as_deref()
        .map(|e| validate::email("email", e))
        .transpose()?;
    let new_name = input
        .name
        .map(|v| v.as_deref().map(name).transpose())
        .transpose()?;
    let new_phone = input
        .phone
        .map(|v| v.as_deref().map(phone).transpose())
        .transpose()?;
    let new_country = input
        .country
        .map(|v| {
            v.as_deref()
                .map(|c| validate::country("country", c))
                .transpose()
        })
        .transpose()?;
    let new_status = input.status.as_deref().map(status).transpose()?;
    let metadata_patch = input
        .metadata
        .as_ref()
        .map(validate::metadata)
        .transpose()?;

    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = load_live(state, &mut tx, brand_id, id).await?;
    if let Some(email) = email {
        row.email = email;
    }
    if let Some(value) = new_name {
        row.name = value;
    }
    if let Some(value) = new_phone {
        row.phone = value;
    }
    if let Some(value) = new_country {
        row.country = value;
    }
    if let Some(value) = new_status {
        row.status = value;
    }
    if let Some(patch) = metadata_patch {
        let mut metadata: Metadata =
            serde_json::from_str(&row.metadata).map_err(Error::internal)?;
        validate::merge_metadata(&mut metadata, patch)?;
        row.metadata = serde_json::to_string(&metadata).map_err(Error::internal)?;
    }
    row.updated_at = now.as_ms();
    obol_store::customers::update(&mut tx, &row)
        .await
        .map_err(email_taken)?;
    commit_with_event(tx, brand_id, "customer.updated", row, now).await
}

/// Soft-deletes a customer and writes `customer.deleted`.
pub async fn delete(state: &AppState, brand_id: &BrandId, id: &CustomerId) -> Result<Customer> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = load_live(state, &mut tx, brand_id, id).await?;
    row.deleted_at = Some(now.as_ms());
    row.updated_at = now.as_ms();
    obol_store::customers::update(&mut tx, &row).await?;
    commit_with_event(tx, brand_id, "customer.deleted", row, now).await
}
