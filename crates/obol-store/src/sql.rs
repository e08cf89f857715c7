//! Connections, transactions and queries over both backends.
//!
//! SQLite runs in the calling task through rusqlite: a statement is a few
//! microseconds of work, cheaper than handing it to another thread and back.
//! PostgreSQL runs through sqlx's native driver. Queries are written once in
//! the portable subset with `$n` parameters, and rows are read by column name.

use crate::{Backend, Result, StoreError};
use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// A bound parameter; a NULL keeps its type, which PostgreSQL needs.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
}

/// What a Rust value binds as.
pub trait Encode {
    fn encode(self) -> Arg;
}

impl Encode for i64 {
    fn encode(self) -> Arg {
        Arg::Int(Some(self))
    }
}
impl Encode for &i64 {
    fn encode(self) -> Arg {
        Arg::Int(Some(*self))
    }
}
impl Encode for Option<i64> {
    fn encode(self) -> Arg {
        Arg::Int(self)
    }
}
impl Encode for &Option<i64> {
    fn encode(self) -> Arg {
        Arg::Int(*self)
    }
}
impl Encode for bool {
    fn encode(self) -> Arg {
        Arg::Int(Some(i64::from(self)))
    }
}
impl Encode for &str {
    fn encode(self) -> Arg {
        Arg::Text(Some(self.to_owned()))
    }
}
impl Encode for String {
    fn encode(self) -> Arg {
        Arg::Text(Some(self))
    }
}
impl Encode for &String {
    fn encode(self) -> Arg {
        Arg::Text(Some(self.clone()))
    }
}
impl Encode for Option<&str> {
    fn encode(self) -> Arg {
        Arg::Text(self.map(str::to_owned))
    }
}
impl Encode for Option<String> {
    fn encode(self) -> Arg {
        Arg::Text(self)
    }
}
impl Encode for &Option<String> {
    fn encode(self) -> Arg {
        Arg::Text(self.clone())
    }
}
impl Encode for Option<&String> {
    fn encode(self) -> Arg {
        Arg::Text(self.cloned())
    }
}

/// A column value as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// What a Rust value decodes from.
pub trait Decode: Sized {
    fn decode(value: Value) -> std::result::Result<Self, String>;
}

impl Decode for i64 {
    fn decode(value: Value) -> std::result::Result<Self, String> {
        match value {
            Value::Int(n) => Ok(n),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}
impl Decode for bool {
    fn decode(value: Value) -> std::result::Result<Self, String> {
        i64::decode(value).map(|n| n != 0)
    }
}
impl Decode for String {
    fn decode(value: Value) -> std::result::Result<Self, String> {
        match value {
            Value::Text(text) => Ok(text),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl<T: Decode> Decode for Option<T> {
    fn decode(value: Value) -> std::result::Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            value => T::decode(value).map(Some),
        }
    }
}

/// One result row: its columns' names (shared by the result set) and values.
#[derive(Debug)]
pub struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// The column `name`, looked for first at `hint` (where a row type's
    /// fields usually are).
    pub fn take<T: Decode>(&mut self, hint: usize, name: &str) -> Result<T> {
        let index = match self.names.get(hint) {
            Some(found) if found == name => hint,
            _ => self
                .names
                .iter()
                .position(|found| found == name)
                .ok_or_else(|| StoreError::Corrupt(format!("no column {name} in the result")))?,
        };
        let value = std::mem::replace(&mut self.values[index], Value::Null);
        T::decode(value).map_err(|error| StoreError::Corrupt(format!("column {name}: {error}")))
    }

    /// The column at `index`.
    pub fn take_at<T: Decode>(&mut self, index: usize) -> Result<T> {
        let value = self
            .values
            .get_mut(index)
            .map(|value| std::mem::replace(value, Value::Null))
            .ok_or_else(|| StoreError::Corrupt(format!("no column {index} in the result")))?;
        T::decode(value).map_err(|error| StoreError::Corrupt(format!("column {index}: {error}")))
    }
}

/// A row type read from a result row.
pub trait FromRow: Sized {
    fn from_row(row: Row) -> Result<Self>;
}

/// Implements `FromRow` for a struct, each field read from the column of its
/// name (or the name given after `=`).
#[macro_export]
macro_rules! from_row {
    ($ty:ident { $($field:ident $(= $column:literal)?),* $(,)? }) => {
        impl $crate::sql::FromRow for $ty {
            fn from_row(mut row: $crate::sql::Row) -> $crate::Result<Self> {
                let mut hint = 0usize;
                let mut next = || { hint += 1; hint - 1 };
                Ok($ty {
                    $($field: row.take(next(), $crate::from_row!(@name $field $($column)?))?,)*
                })
            }
        }
    };
    (@name $field:ident $column:literal) => { $column };
    (@name $field:ident) => { stringify!($field) };
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Decode),+> FromRow for ($($t,)+) {
            fn from_row(mut row: Row) -> Result<Self> {
                Ok(($(row.take_at::<$t>($i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);

/// How a query's rows become its output.
pub trait Output {
    type Out;
    fn read(row: Row) -> Result<Self::Out>;
}

/// Rows read as a `FromRow` type.
pub struct AsRow<T>(PhantomData<T>);
impl<T: FromRow> Output for AsRow<T> {
    type Out = T;
    fn read(row: Row) -> Result<T> {
        T::from_row(row)
    }
}

/// Rows read as their first column.
pub struct Scalar<T>(PhantomData<T>);
impl<T: Decode> Output for Scalar<T> {
    type Out = T;
    fn read(mut row: Row) -> Result<T> {
        row.take_at(0)
    }
}

/// Rows not read (a statement run for its effect).
pub struct NoRows;
impl Output for NoRows {
    type Out = Row;
    fn read(row: Row) -> Result<Row> {
        Ok(row)
    }
}

/// A statement with its parameters.
pub struct Query<O> {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
    output: PhantomData<O>,
}

pub fn query(sql: impl Into<Cow<'static, str>>) -> Query<NoRows> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
        output: PhantomData,
    }
}

pub fn query_as<T: FromRow>(sql: impl Into<Cow<'static, str>>) -> Query<AsRow<T>> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
        output: PhantomData,
    }
}

pub fn query_scalar<T: Decode>(sql: impl Into<Cow<'static, str>>) -> Query<Scalar<T>> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
        output: PhantomData,
    }
}

/// What a statement changed.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

impl<O: Output> Query<O> {
    /// Binds the next parameter (`$1`, `$2`, … in order).
    pub fn bind(mut self, value: impl Encode) -> Self {
        self.args.push(value.encode());
        self
    }

    pub async fn execute(self, on: impl Executor) -> Result<Done> {
        let (rows_affected, _) = on.run(&self.sql, &self.args, false).await?;
        Ok(Done { rows_affected })
    }

    pub async fn fetch_all(self, on: impl Executor) -> Result<Vec<O::Out>> {
        let (_, rows) = on.run(&self.sql, &self.args, true).await?;
        rows.into_iter().map(O::read).collect()
    }

    pub async fn fetch_optional(self, on: impl Executor) -> Result<Option<O::Out>> {
        let (_, rows) = on.run(&self.sql, &self.args, true).await?;
        rows.into_iter().next().map(O::read).transpose()
    }

    pub async fn fetch_one(self, on: impl Executor) -> Result<O::Out> {
        self.fetch_optional(on).await?.ok_or(StoreError::NotFound)
    }
}

/// Where a query runs: a connection, or any connection of a pool.
pub trait Executor: Send {
    fn run(
        self,
        sql: &str,
        args: &[Arg],
        want_rows: bool,
    ) -> impl std::future::Future<Output = Result<(u64, Vec<Row>)>> + Send;
}

impl Executor for &mut Conn {
    fn run(
        self,
        sql: &str,
        args: &[Arg],
        want_rows: bool,
    ) -> impl std::future::Future<Output = Result<(u64, Vec<Row>)>> + Send {
        Conn::run(self, sql, args, want_rows)
    }
}

impl Executor for &mut PoolConn {
    fn run(
        self,
        sql: &str,
        args: &[Arg],
        want_rows: bool,
    ) -> impl std::future::Future<Output = Result<(u64, Vec<Row>)>> + Send {
        Conn::run(&mut self.0, sql, args, want_rows)
    }
}

impl Executor for &mut Tx {
    fn run(
        self,
        sql: &str,
        args: &[Arg],
        want_rows: bool,
    ) -> impl std::future::Future<Output = Result<(u64, Vec<Row>)>> + Send {
        Conn::run(&mut self.conn, sql, args, want_rows)
    }
}

impl Executor for &Pool {
    async fn run(self, sql: &str, args: &[Arg], want_rows: bool) -> Result<(u64, Vec<Row>)> {
        let mut conn = self.acquire().await?;
        conn.run(sql, args, want_rows).await
    }
}

/// A connection taken from a pool (returned when dropped), possibly inside a
/// transaction.
pub struct Conn {
    inner: Inner,
}

enum Inner {
    Sqlite(SqliteConn),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
    PostgresTx(sqlx::Transaction<'static, sqlx::Postgres>),
    Finished,
}

impl Conn {
    async fn run(&mut self, sql: &str, args: &[Arg], want_rows: bool) -> Result<(u64, Vec<Row>)> {
        match &mut self.inner {
            Inner::Sqlite(conn) => sqlite_run(conn.get(), sql, args, want_rows),
            Inner::Postgres(conn) => postgres_run(conn, sql, args, want_rows).await,
            Inner::PostgresTx(tx) => postgres_run(tx, sql, args, want_rows).await,
            Inner::Finished => Err(StoreError::Database("connection already finished".into())),
        }
    }

    /// Runs several statements without parameters (migrations).
    pub async fn execute_batch(&mut self, sql: &str) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(conn) => conn.get().execute_batch(sql).map_err(sqlite_error),
            Inner::Postgres(conn) => postgres_batch(conn, sql).await,
            Inner::PostgresTx(tx) => postgres_batch(tx, sql).await,
            Inner::Finished => Err(StoreError::Database("connection already finished".into())),
        }
    }
}

fn sqlite_run(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg],
    want_rows: bool,
) -> Result<(u64, Vec<Row>)> {
    let mut statement = conn.prepare_cached(sql).map_err(sqlite_error)?;
    for index in 1..=statement.parameter_count() {
        // `$n` names the n-th argument wherever it appears.
        let position = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| StoreError::Database(format!("unsupported parameter in: {sql}")))?;
        let arg = args.get(position - 1).ok_or_else(|| {
            StoreError::Database(format!("parameter ${position} not bound in: {sql}"))
        })?;
        match arg {
            Arg::Int(value) => statement.raw_bind_parameter(index, value),
            Arg::Text(value) => statement.raw_bind_parameter(index, value),
        }
        .map_err(sqlite_error)?;
    }
    let names: Arc<[String]> = if want_rows {
        statement.column_names().map(str::to_owned).collect()
    } else {
        Arc::from(Vec::new())
    };
    let width = statement.column_count();
    let mut rows = statement.raw_query();
    let mut read = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        if !want_rows {
            continue;
        }
        let mut values = Vec::with_capacity(width);
        for index in 0..width {
            values.push(match row.get_ref(index).map_err(sqlite_error)? {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(n) => Value::Int(n),
                rusqlite::types::ValueRef::Text(text) => {
                    Value::Text(String::from_utf8_lossy(text).into_owned())
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "unsupported SQLite value {other:?}"
                    )));
                }
            });
        }
        read.push(Row {
            names: names.clone(),
            values,
        });
    }
    drop(rows);
    Ok((conn.changes(), read))
}

async fn postgres_run(
    conn: &mut sqlx::PgConnection,
    sql: &str,
    args: &[Arg],
    want_rows: bool,
) -> Result<(u64, Vec<Row>)> {
    use sqlx::{Column, Executor, Row as _, TypeInfo, ValueRef};
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for arg in args {
        query = match arg {
            Arg::Int(value) => query.bind(*value),
            Arg::Text(value) => query.bind(value.clone()),
        };
    }
    if !want_rows {
        let done = conn.execute(query).await?;
        return Ok((done.rows_affected(), Vec::new()));
    }
    let rows = conn.fetch_all(query).await?;
    let Some(first) = rows.first() else {
        return Ok((0, Vec::new()));
    };
    let names: Arc<[String]> = first
        .columns()
        .iter()
        .map(|column| column.name().to_owned())
        .collect();
    let mut read = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut values = Vec::with_capacity(names.len());
        for index in 0..names.len() {
            let raw = row.try_get_raw(index)?;
            if raw.is_null() {
                values.push(Value::Null);
                continue;
            }
            let type_name = raw.type_info().name().to_owned();
            values.push(match type_name.as_str() {
                "INT8" => Value::Int(row.try_get::<i64, _>(index)?),
                "INT4" => Value::Int(i64::from(row.try_get::<i32, _>(index)?)),
                "INT2" => Value::Int(i64::from(row.try_get::<i16, _>(index)?)),
                "BOOL" => Value::Int(i64::from(row.try_get::<bool, _>(index)?)),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                    Value::Text(row.try_get::<String, _>(index)?)
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "unsupported PostgreSQL type {other} in column {}",
                        names[index]
                    )));
                }
            });
        }
        read.push(Row {
            names: names.clone(),
            values,
        });
    }
    Ok((0, read))
}

async fn postgres_batch(conn: &mut sqlx::PgConnection, sql: &str) -> Result<()> {
    use sqlx::Executor;
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())))
        .await?;
    Ok(())
}

pub(crate) fn sqlite_error(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &error
        && matches!(
            failure.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    {
        return StoreError::UniqueViolation;
    }
    StoreError::Database(error.to_string())
}

/// A transaction: a connection that rolls back unless committed.
pub struct Tx {
    conn: Conn,
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

impl Tx {
    pub async fn commit(mut self) -> Result<()> {
        self.finish("COMMIT").await
    }

    pub async fn rollback(mut self) -> Result<()> {
        self.finish("ROLLBACK").await
    }

    async fn finish(&mut self, statement: &str) -> Result<()> {
        match std::mem::replace(&mut self.conn.inner, Inner::Finished) {
            Inner::Sqlite(conn) => {
                let outcome = conn.get().execute_batch(statement).map_err(sqlite_error);
                if outcome.is_err() && !conn.get().is_autocommit() {
                    // A failed COMMIT leaves the transaction open: end it.
                    let _ = conn.get().execute_batch("ROLLBACK");
                }
                outcome
            }
            Inner::PostgresTx(tx) if statement == "COMMIT" => Ok(tx.commit().await?),
            Inner::PostgresTx(tx) => Ok(tx.rollback().await?),
            other => {
                self.conn.inner = other;
                Err(StoreError::Database("not in a transaction".into()))
            }
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        // PostgreSQL's transaction queues its own rollback when dropped.
        if let Inner::Sqlite(conn) = &self.conn.inner
            && !conn.get().is_autocommit()
        {
            let _ = conn.get().execute_batch("ROLLBACK");
        }
    }
}

/// A pool of connections of one backend.
#[derive(Clone)]
pub struct Pool {
    inner: PoolInner,
}

#[derive(Clone)]
enum PoolInner {
    Sqlite(Arc<SqlitePool>),
    Postgres(sqlx::PgPool),
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            PoolInner::Sqlite(pool) => write!(f, "Pool(sqlite {})", pool.path.display()),
            PoolInner::Postgres(_) => write!(f, "Pool(postgres)"),
        }
    }
}

/// A connection checked out of a pool, returned when dropped.
pub struct PoolConn(Conn);

impl std::ops::Deref for PoolConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.0
    }
}

impl std::ops::DerefMut for PoolConn {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.0
    }
}

impl Pool {
    pub async fn acquire(&self) -> Result<PoolConn> {
        let inner = match &self.inner {
            PoolInner::Sqlite(pool) => Inner::Sqlite(pool.acquire().await?),
            PoolInner::Postgres(pool) => Inner::Postgres(pool.acquire().await?),
        };
        Ok(PoolConn(Conn { inner }))
    }

    /// Begins a transaction; `statement` is SQLite's `BEGIN` form.
    pub(crate) async fn begin(&self, statement: &str) -> Result<Tx> {
        let inner = match &self.inner {
            PoolInner::Sqlite(pool) => {
                let conn = pool.acquire().await?;
                conn.get().execute_batch(statement).map_err(sqlite_error)?;
                Inner::Sqlite(conn)
            }
            PoolInner::Postgres(pool) => Inner::PostgresTx(pool.begin().await?),
        };
        Ok(Tx {
            conn: Conn { inner },
        })
    }

    /// Runs `PRAGMA wal_checkpoint(<mode>)` on a connection of this SQLite
    /// pool, on a blocking thread: it copies pages and syncs files. Holding
    /// the connection, a writer pool's checkpoint makes writers queue for it
    /// rather than spin in SQLite's busy handler.
    pub(crate) async fn sqlite_checkpoint(&self, mode: &'static str) -> Result<()> {
        let PoolInner::Sqlite(pool) = &self.inner else {
            return Ok(());
        };
        let conn = pool.acquire().await?;
        tokio::task::spawn_blocking(move || {
            conn.get()
                .execute_batch(&format!("PRAGMA wal_checkpoint({mode})"))
                .map_err(sqlite_error)
        })
        .await
        .map_err(|error| StoreError::Database(error.to_string()))?
    }

    pub async fn close(&self) {
        match &self.inner {
            PoolInner::Sqlite(pool) => pool.close(),
            PoolInner::Postgres(pool) => pool.close().await,
        }
    }

    pub(crate) fn postgres(pool: sqlx::PgPool) -> Pool {
        Pool {
            inner: PoolInner::Postgres(pool),
        }
    }

    /// A pool of up to `size` connections to the SQLite file at `path`.
    pub(crate) fn sqlite(path: PathBuf, size: usize) -> Pool {
        Pool {
            inner: PoolInner::Sqlite(Arc::new(SqlitePool::new(path, size))),
        }
    }

    /// The one writer of the SQLite file at `path` in this process, shared
    /// by every `Db` opened on it so that writers queue here rather than
    /// wait in SQLite's busy handler, which would block their thread.
    pub(crate) fn sqlite_writer(path: PathBuf) -> Pool {
        static WRITERS: OnceLock<Mutex<HashMap<PathBuf, Weak<SqlitePool>>>> = OnceLock::new();
        let mut writers = WRITERS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        writers.retain(|_, pool| pool.strong_count() > 0);
        let pool = match writers.get(&path).and_then(Weak::upgrade) {
            Some(pool) => pool,
            None => {
                let pool = Arc::new(SqlitePool::new(path.clone(), 1));
                writers.insert(path, Arc::downgrade(&pool));
                pool
            }
        };
        Pool {
            inner: PoolInner::Sqlite(pool),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match &self.inner {
            PoolInner::Sqlite(_) => Backend::Sqlite,
            PoolInner::Postgres(_) => Backend::Postgres,
        }
    }
}

const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const SQLITE_STATEMENT_CACHE: usize = 256;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

struct SqlitePool {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl SqlitePool {
    fn new(path: PathBuf, size: usize) -> SqlitePool {
        SqlitePool {
            path,
            idle: Mutex::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
        }
    }

    async fn acquire(self: &Arc<Self>) -> Result<SqliteConn> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Database("timed out waiting for a connection".into()))?
            .map_err(|_| StoreError::Database("the pool is closed".into()))?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        Ok(SqliteConn {
            conn: Some(conn),
            pool: Arc::downgrade(self),
            _permit: permit,
        })
    }

    fn open(&self) -> Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open(&self.path).map_err(sqlite_error)?;
        conn.busy_timeout(SQLITE_BUSY_TIMEOUT)
            .map_err(sqlite_error)?;
        conn.set_prepared_statement_cache_capacity(SQLITE_STATEMENT_CACHE);
        // Plans that never depend on bound values: otherwise a statement
        // with `LIMIT $n`, or one checked against a partial index, is
        // prepared again at every execution.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(sqlite_error)?;
        // No automatic checkpoints: they would run inside a writer's commit;
        // `Db::checkpoint` runs them beside it.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(sqlite_error)?;
        Ok(conn)
    }

    fn close(&self) {
        self.permits.close();
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

struct SqliteConn {
    conn: Option<rusqlite::Connection>,
    pool: Weak<SqlitePool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl SqliteConn {
    fn get(&self) -> &rusqlite::Connection {
        self.conn
            .as_ref()
            .expect("a pooled connection is present until dropped")
    }
}

impl Drop for SqliteConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !conn.is_autocommit() {
            // Never hand a connection inside a transaction to the next user.
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Some(pool) = self.pool.upgrade()
            && !pool.permits.is_closed()
        {
            pool.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
    }
}
