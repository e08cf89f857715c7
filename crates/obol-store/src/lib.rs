//! Obol's database layer: one set of repositories in a portable SQL subset
//! over SQLite and PostgreSQL, with a small dialect seam for what differs.

use obol_core::BrandId;
pub mod api_keys;
pub mod billing;
pub mod brands;
pub mod checkout;
pub mod clock;
pub mod connector_accounts;
pub mod cursors;
pub mod customers;
pub mod disputes;
pub mod emails;
pub mod events;
pub mod exchange_rates;
pub mod idempotency;
pub mod jobs;
pub mod ledger;
pub mod mandates;
pub mod meta;
mod migrate;
pub mod notifications;
pub mod orders;
pub mod page;
pub mod redeem_codes;
pub mod sandbox;
pub mod wallets;
pub mod webhooks;

pub mod sql;

pub use sql::{Conn, Pool, PoolConn, Tx};
use std::path::PathBuf;

/// Errors of the store, with the cases the services act on named.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated")]
    UniqueViolation,
    #[error("row not found")]
    NotFound,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database the URL named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Row lock for a claim query: PostgreSQL skips rows another transaction
    /// holds; SQLite needs none, as `BEGIN IMMEDIATE` already serializes writers.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Row lock on rows read in order to change them.
    pub fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
}

/// The database: a pool for reads, the pool that writes, and which backend
/// it is.
#[derive(Clone, Debug)]
pub struct Db {
    /// For reads (and, on PostgreSQL, everything).
    pub pool: Pool,
    /// For writes. On SQLite one connection per file and process: SQLite has
    /// one writer at a time, and waiting for this connection queues writers
    /// in order, where many connections would spin in SQLite's busy handler.
    /// On PostgreSQL the same pool as `pool`.
    pub writer: Pool,
    pub backend: Backend,
}

/// Pool size per process: PostgreSQL is shared by several processes, SQLite
/// has one writer at a time, so a few connections for readers suffice.
pub(crate) const POSTGRES_MAX_CONNECTIONS: usize = 32;
const SQLITE_MAX_CONNECTIONS: usize = 16;

impl Db {
    /// Connects to `url` (`sqlite://path` — created if missing — or
    /// `postgres://…`) without migrating.
    pub async fn connect(url: &str) -> Result<Db> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                return Err(StoreError::Database(format!(
                    "DATABASE_URL must name a SQLite file: {url}"
                )));
            }
            // One name per file, so that every `Db` on it shares its writer.
            let path = PathBuf::from(path);
            let path = match (path.parent(), path.file_name()) {
                (Some(dir), Some(name)) => std::fs::canonicalize(if dir.as_os_str().is_empty() {
                    std::path::Path::new(".")
                } else {
                    dir
                })
                .map(|dir| dir.join(name))
                .unwrap_or(path),
                _ => path,
            };
            let writer = Pool::sqlite_writer(path.clone());
            // Opening the writer creates the file and turns on WAL before
            // any reader opens it.
            drop(writer.acquire().await?);
            return Ok(Db {
                pool: Pool::sqlite(path, SQLITE_MAX_CONNECTIONS),
                writer,
                backend: Backend::Sqlite,
            });
        }
        if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            return Err(StoreError::Database(format!(
                "unsupported DATABASE_URL scheme: {url}"
            )));
        }
        let pool = Pool::postgres(url, POSTGRES_MAX_CONNECTIONS).await?;
        Ok(Db {
            pool: pool.clone(),
            writer: pool,
            backend: Backend::Postgres,
        })
    }

    /// Applies the migrations this binary carries for the backend.
    pub async fn migrate(&self) -> Result<()> {
        migrate::run(self).await
    }

    /// Begins a transaction that will write: `BEGIN IMMEDIATE` on SQLite, so
    /// the write lock is taken up front instead of failing when a read lock
    /// would have to be upgraded.
    pub async fn begin(&self) -> Result<Tx> {
        debug_assert_eq!(self.writer.backend(), self.backend);
        self.writer.begin("BEGIN IMMEDIATE").await
    }

    /// Copies the SQLite write-ahead log into the database file and starts
    /// the log over (a no-op on PostgreSQL); the server runs it every 250 ms
    /// since automatic checkpoints, which would run inside a commit, are off.
    ///
    /// The copy runs beside the writer; only the restart, with little left
    /// to copy, holds it. Without restarts a log that readers always use
    /// grows without end, and every commit extends a file instead of
    /// reusing it.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            self.pool.sqlite_checkpoint("PASSIVE").await?;
            self.writer.sqlite_checkpoint("RESTART").await?;
        }
        Ok(())
    }

    /// A connection for a single-statement write outside a transaction.
    pub async fn write_conn(&self) -> Result<PoolConn> {
        self.writer.acquire().await
    }

    /// Closes the reader pool (the whole pool on PostgreSQL); a SQLite
    /// writer goes when the last `Db` on its file does.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A row that belongs to one brand.
pub trait OfBrand {
    fn brand_id(&self) -> &str;
}

macro_rules! of_brand {
    ($($row:ty),*) => {$(
        impl OfBrand for $row {
            fn brand_id(&self) -> &str {
                &self.brand_id
            }
        }
    )*};
}

of_brand!(
    api_keys::ApiKeyRow,
    connector_accounts::ConnectorAccountRow,
    customers::CustomerRow,
    disputes::DisputeRow,
    emails::EmailRow,
    events::EventRow,
    ledger::AccountRow,
    ledger::EntryRow,
    mandates::MandateRow,
    orders::OrderRow,
    orders::TransactionRow,
    orders::RefundRow,
    webhooks::EndpointRow
);

/// Keeps a row found by primary key only if it is the brand's. Brand rows are
/// looked up by `id` alone: a generic plan made while a table is still small
/// may otherwise pick a `(brand_id, …)` index and walk all of the brand's
/// rows on every call (measured: 100 pages per order lock on PostgreSQL).
pub(crate) fn of_brand<T: OfBrand>(row: Option<T>, brand_id: &BrandId) -> Option<T> {
    row.filter(|row| row.brand_id() == brand_id.as_str())
}

/// The brand's row that `sql` selects by `id = $1` alone (see `of_brand`).
pub(crate) async fn brand_row<T: sql::FromRow + OfBrand>(
    conn: &mut Conn,
    sql: String,
    brand_id: &BrandId,
    id: &str,
) -> Result<Option<T>> {
    let row = sql::query_as(sql).bind(id).fetch_optional(conn).await?;
    Ok(of_brand(row, brand_id))
}

/// Reads a 0/1 integer column as a bool (SQLite has no boolean type).
pub fn flag(value: i64) -> bool {
    value != 0
}
