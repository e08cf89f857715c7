//! Connections, transactions and queries over both backends.
//!
//! SQLite runs in the calling task through rusqlite: a statement is a few
//! microseconds of work, cheaper than handing it to another thread and back.
//! PostgreSQL runs through tokio-postgres, and inside a transaction the
//! statements whose answer nobody reads (`queue`) go out together with the
//! next one that is read, or with the commit: one round trip instead of one
//! each. Queries are written once in the portable subset with `$n`
//! parameters, and rows are read by column name.

use crate::{Backend, Result, StoreError};
use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

mod merge;
mod pool;

use pool::{PgConn, SqliteConn};
pub use pool::{Pool, PoolConn};

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
impl Encode for Option<bool> {
    fn encode(self) -> Arg {
        Arg::Int(self.map(i64::from))
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

/// Typed ids bind and read as their text.
macro_rules! id_sql {
    ($($id:ty),* $(,)?) => {$(
        impl Encode for $id {
            fn encode(self) -> Arg {
                Arg::Text(Some(self.into_string()))
            }
        }
        impl Encode for &$id {
            fn encode(self) -> Arg {
                Arg::Text(Some(self.as_str().to_owned()))
            }
        }
        impl Encode for Option<&$id> {
            fn encode(self) -> Arg {
                Arg::Text(self.map(|id| id.as_str().to_owned()))
            }
        }
        impl Encode for &Option<$id> {
            fn encode(self) -> Arg {
                Arg::Text(self.as_ref().map(|id| id.as_str().to_owned()))
            }
        }
        impl Decode for $id {
            fn decode(value: Value) -> std::result::Result<Self, String> {
                String::decode(value).map(<$id>::from)
            }
        }
    )*};
}

id_sql!(
    obol_core::ApiKeyId,
    obol_core::BrandId,
    obol_core::ConnectorAccountId,
    obol_core::CustomerId,
    obol_core::EventId,
    obol_core::JobId,
    obol_core::LedgerAccountId,
    obol_core::LedgerEntryId,
    obol_core::MandateId,
    obol_core::OrderId,
    obol_core::RefundId,
    obol_core::DisputeId,
    obol_core::TransactionId,
    obol_core::WebhookDeliveryId,
    obol_core::WebhookEndpointId,
    obol_core::EmailId,
    obol_core::ExchangeRateId,
    obol_core::CouponId,
    obol_core::CreditNoteId,
    obol_core::InvoiceId,
    obol_core::SubscriptionId,
    obol_core::TaxRateId,
);

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
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);

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

fn new_query<O>(sql: impl Into<Cow<'static, str>>) -> Query<O> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
        output: PhantomData,
    }
}

pub fn query(sql: impl Into<Cow<'static, str>>) -> Query<NoRows> {
    new_query(sql)
}

pub fn query_as<T: FromRow>(sql: impl Into<Cow<'static, str>>) -> Query<AsRow<T>> {
    new_query(sql)
}

pub fn query_scalar<T: Decode>(sql: impl Into<Cow<'static, str>>) -> Query<Scalar<T>> {
    new_query(sql)
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

    /// Runs a write whose answer is not needed: inside a PostgreSQL
    /// transaction it is sent with the next statement that is read, or with
    /// the commit, and its error surfaces there; elsewhere it runs now.
    pub async fn queue(self, conn: &mut Conn) -> Result<()> {
        if let Inner::Postgres(pg) = &mut conn.inner
            && pg.in_transaction
        {
            pg.pending.push((self.sql, self.args));
            return Ok(());
        }
        conn.run(&self.sql, &self.args, false).await.map(drop)
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
    Postgres(PgConn),
    Finished,
}

impl Conn {
    async fn run(&mut self, sql: &str, args: &[Arg], want_rows: bool) -> Result<(u64, Vec<Row>)> {
        match &mut self.inner {
            Inner::Sqlite(conn) => sqlite_run(conn.get(), sql, args, want_rows),
            Inner::Postgres(conn) => conn.run(sql, args, want_rows).await,
            Inner::Finished => Err(StoreError::Database("connection already finished".into())),
        }
    }

    /// The ledger balance slot this connection writes (see migration 0008):
    /// PostgreSQL connections spread over `ledger::BALANCE_SLOTS`; SQLite
    /// has one writer at a time and writes the accounts' own rows.
    pub fn balance_slot(&self) -> Option<i64> {
        match &self.inner {
            Inner::Postgres(conn) => conn.client.as_ref().map(|client| {
                i64::try_from(client.serial % crate::ledger::BALANCE_SLOTS).unwrap_or(0)
            }),
            _ => None,
        }
    }

    /// Runs two reads; PostgreSQL gets both (and anything queued) in one
    /// round trip.
    pub async fn fetch_pair<A: Output, B: Output>(
        &mut self,
        first: Query<A>,
        second: Query<B>,
    ) -> Result<(Vec<A::Out>, Vec<B::Out>)> {
        let (first_rows, second_rows) = match &mut self.inner {
            Inner::Postgres(conn) => {
                let mut answers = conn
                    .run_all(&[
                        (&first.sql, &first.args, true),
                        (&second.sql, &second.args, true),
                    ])
                    .await?
                    .into_iter();
                let mut next = || answers.next().map(|(_, rows)| rows).unwrap_or_default();
                (next(), next())
            }
            _ => {
                let (_, a) = self.run(&first.sql, &first.args, true).await?;
                let (_, b) = self.run(&second.sql, &second.args, true).await?;
                (a, b)
            }
        };
        Ok((
            first_rows.into_iter().map(A::read).collect::<Result<_>>()?,
            second_rows
                .into_iter()
                .map(B::read)
                .collect::<Result<_>>()?,
        ))
    }

    /// Runs several statements without parameters (migrations).
    pub async fn execute_batch(&mut self, sql: &str) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(conn) => conn.get().execute_batch(sql).map_err(sqlite_error),
            Inner::Postgres(conn) => conn.batch(sql).await,
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

/// A transaction: a connection that rolls back unless committed (a
/// connection left inside a transaction rolls back before it goes back to
/// its pool).
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

    async fn finish(&mut self, statement: &'static str) -> Result<()> {
        match std::mem::replace(&mut self.conn.inner, Inner::Finished) {
            // A failed COMMIT leaves the transaction open: dropping the
            // connection here ends it.
            Inner::Sqlite(conn) => conn.get().execute_batch(statement).map_err(sqlite_error),
            Inner::Postgres(mut conn) if conn.in_transaction => {
                let outcome = conn.finish(statement).await;
                self.conn.inner = Inner::Postgres(conn);
                outcome
            }
            other => {
                self.conn.inner = other;
                Err(StoreError::Database("not in a transaction".into()))
            }
        }
    }
}
