//! Customers of a brand; soft-deleted rows stay for the ledger.

use crate::page::{Page, PageRequest};
use crate::{Conn, Result};
use obol_core::{BrandId, CustomerId};

/// A stored customer; `metadata` is a JSON object as text.
#[derive(Debug, Clone)]
pub struct CustomerRow {
    pub id: CustomerId,
    pub brand_id: BrandId,
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub metadata: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}
crate::from_row!(CustomerRow {
    id,
    brand_id,
    email,
    name,
    phone,
    country,
    metadata,
    status,
    created_at,
    updated_at,
    deleted_at
});

const COLUMNS: &str = "id, brand_id, email, name, phone, country, metadata, status, created_at, \
    updated_at, deleted_at";

/// Inserts a customer; `UniqueViolation` when the brand already has a live
/// customer with that email.
pub async fn insert(conn: &mut Conn, customer: &CustomerRow) -> Result<()> {
    crate::sql::query(
        "INSERT INTO customers (id, brand_id, email, name, phone, country, metadata, status, \
         created_at, updated_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&customer.id)
    .bind(&customer.brand_id)
    .bind(&customer.email)
    .bind(&customer.name)
    .bind(&customer.phone)
    .bind(&customer.country)
    .bind(&customer.metadata)
    .bind(&customer.status)
    .bind(customer.created_at)
    .bind(customer.updated_at)
    .bind(customer.deleted_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A customer of the brand, deleted ones included.
pub async fn get(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &CustomerId,
) -> Result<Option<CustomerRow>> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1");
    crate::brand_row(conn, sql, brand_id, id).await
}

/// Like `get`, locking the row until the transaction ends (PostgreSQL).
pub async fn get_for_update(
    conn: &mut Conn,
    backend: crate::Backend,
    brand_id: &BrandId,
    id: &CustomerId,
) -> Result<Option<CustomerRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE id = $1{}",
        backend.for_update()
    );
    crate::brand_row(conn, sql, brand_id, id).await
}

/// Filters of the customer list.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub email: Option<String>,
    pub status: Option<String>,
}

/// Live customers of the brand, newest first.
pub async fn list(
    conn: &mut Conn,
    brand_id: &BrandId,
    filter: &CustomerFilter,
    page: &PageRequest,
) -> Result<Page<CustomerRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE brand_id = $1 AND deleted_at IS NULL \
         AND ($2 IS NULL OR email = $2) AND ($3 IS NULL OR status = $3) \
         AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    );
    let rows = crate::sql::query_as(sql)
        .bind(brand_id)
        .bind(&filter.email)
        .bind(&filter.status)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}

/// Writes the editable fields back; `UniqueViolation` on a taken email.
pub async fn update(conn: &mut Conn, customer: &CustomerRow) -> Result<()> {
    crate::sql::query(
        "UPDATE customers SET email = $3, name = $4, phone = $5, country = $6, metadata = $7, \
         status = $8, updated_at = $9, deleted_at = $10 WHERE brand_id = $1 AND id = $2",
    )
    .bind(&customer.brand_id)
    .bind(&customer.id)
    .bind(&customer.email)
    .bind(&customer.name)
    .bind(&customer.phone)
    .bind(&customer.country)
    .bind(&customer.metadata)
    .bind(&customer.status)
    .bind(customer.updated_at)
    .bind(customer.deleted_at)
    .execute(conn)
    .await?;
    Ok(())
}
