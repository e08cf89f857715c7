//! Obol's database layer: one set of repositories in a portable SQL subset
//! over SQLite and PostgreSQL, with a small dialect seam for what differs.

pub mod api_keys;
pub mod brands;
pub mod clock;
pub mod connector_accounts;
pub mod customers;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod ledger;
pub mod meta;
mod migrate;
pub mod orders;
pub mod page;
pub mod sandbox;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

pub use sqlx::AnyConnection as Conn;
pub use sqlx::Transaction;

/// A transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

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
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::UniqueViolation,
            _ => StoreError::Database(error),
        }
    }
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
    pub pool: AnyPool,
    /// For writes. On SQLite one connection: SQLite has one writer at a time,
    /// and waiting for this connection queues writers in order, where many
    /// connections would spin in SQLite's busy handler with growing sleeps.
    /// On PostgreSQL the same pool as `pool`.
    pub writer: AnyPool,
    pub backend: Backend,
}

/// Pool size per process: PostgreSQL is shared by several processes, SQLite
/// has one writer at a time, so a few connections for readers suffice.
const POSTGRES_MAX_CONNECTIONS: u32 = 32;
const SQLITE_MAX_CONNECTIONS: u32 = 16;
const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

impl Db {
    /// Connects to `url` (`sqlite://path` — created if missing — or
    /// `postgres://…`) without migrating.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("unsupported DATABASE_URL scheme: {url}").into(),
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let sqlite_pool = |max_connections: u32| {
            AnyPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // No automatic checkpoints: they would run inside a
                        // writer's commit; `checkpoint` runs them beside it.
                        let pragmas = format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                             PRAGMA wal_autocheckpoint = 0;"
                        );
                        conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(pragmas))).await?;
                        Ok(())
                    })
                })
        };
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let writer = sqlite_pool(1).connect_with(options.clone()).await?;
                let pool = sqlite_pool(SQLITE_MAX_CONNECTIONS)
                    .connect_with(options)
                    .await?;
                (pool, writer)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_MAX_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                (pool.clone(), pool)
            }
        };
        Ok(Db {
            pool,
            writer,
            backend,
        })
    }

    /// Applies the migrations this binary carries for the backend.
    pub async fn migrate(&self) -> Result<()> {
        migrate::run(self).await
    }

    /// Begins a transaction that will write: `BEGIN IMMEDIATE` on SQLite, so
    /// the write lock is taken up front and waits under `busy_timeout` instead
    /// of failing when a read lock would have to be upgraded.
    pub async fn begin(&self) -> Result<Tx> {
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(tx)
    }

    /// Copies the SQLite write-ahead log into the database file without
    /// blocking the writer (a no-op on PostgreSQL); the server runs it
    /// periodically since automatic checkpoints are off.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// A connection for a single-statement write outside a transaction.
    pub async fn write_conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.writer.acquire().await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Reads a 0/1 integer column as a bool (SQLite has no boolean type).
pub fn flag(value: i64) -> bool {
    value != 0
}
