//! Pools of connections, one kind per backend: SQLite's writer and
//! readers, PostgreSQL's clients, each handed out and taken back.

use super::*;

/// A pool of connections of one backend.
#[derive(Clone)]
pub struct Pool {
    inner: PoolInner,
}

#[derive(Clone)]
enum PoolInner {
    Sqlite(Arc<SqlitePool>),
    Postgres(Arc<PgPool>),
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
pub struct PoolConn(pub(super) Conn);

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
            PoolInner::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                conn.in_transaction = true;
                conn.pending.push((Cow::Borrowed("BEGIN"), Vec::new()));
                Inner::Postgres(conn)
            }
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
            PoolInner::Sqlite(pool) => pool.slots.close(),
            PoolInner::Postgres(pool) => pool.slots.close(),
        }
    }

    /// A pool of up to `size` connections to the PostgreSQL database at
    /// `url`; the first one is opened now, so a bad URL fails here.
    pub(crate) async fn postgres(url: &str, size: usize) -> Result<Pool> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| StoreError::Database(format!("invalid DATABASE_URL: {error}")))?;
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let pool = Arc::new(PgPool {
            config,
            slots: Slots::new(size),
            next_serial: std::sync::atomic::AtomicU64::new(random),
        });
        drop(pool.acquire().await?);
        Ok(Pool {
            inner: PoolInner::Postgres(pool),
        })
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

/// What both pools share: at most `size` connections out at once, and the
/// idle ones kept for the next caller.
struct Slots<C> {
    idle: Mutex<Vec<C>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl<C> Slots<C> {
    fn new(size: usize) -> Slots<C> {
        Slots {
            idle: Mutex::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
        }
    }

    /// Waits (up to `ACQUIRE_TIMEOUT`) until a connection may be taken.
    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Database("timed out waiting for a connection".into()))?
            .map_err(|_| StoreError::Database("the pool is closed".into()))
    }

    fn take_idle(&self) -> Option<C> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// Keeps a connection for the next caller, unless the pool is closed.
    fn give_back(&self, conn: C) {
        if !self.permits.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
    }

    fn close(&self) {
        self.permits.close();
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

struct SqlitePool {
    path: PathBuf,
    slots: Slots<rusqlite::Connection>,
}

impl SqlitePool {
    fn new(path: PathBuf, size: usize) -> SqlitePool {
        SqlitePool {
            path,
            slots: Slots::new(size),
        }
    }

    async fn acquire(self: &Arc<Self>) -> Result<SqliteConn> {
        let permit = self.slots.permit().await?;
        let conn = match self.slots.take_idle() {
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
}

pub(super) struct SqliteConn {
    pub(super) conn: Option<rusqlite::Connection>,
    pool: Weak<SqlitePool>,
    pub(super) _permit: tokio::sync::OwnedSemaphorePermit,
}

impl SqliteConn {
    pub(super) fn get(&self) -> &rusqlite::Connection {
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
        if let Some(pool) = self.pool.upgrade() {
            pool.slots.give_back(conn);
        }
    }
}

/// A PostgreSQL pool: idle clients, each with its prepared statements.
struct PgPool {
    config: tokio_postgres::Config,
    slots: Slots<PgClient>,
    /// Numbers the pool's connections; starts at random so that processes
    /// sharing a database number theirs apart.
    next_serial: std::sync::atomic::AtomicU64,
}

/// Most prepared statements a PostgreSQL connection keeps.
const PREPARED_STATEMENTS_KEPT: usize = 512;

pub(super) struct PgClient {
    client: tokio_postgres::Client,
    pub(super) serial: u64,
    /// Prepared statements by SQL and parameter types.
    statements: HashMap<String, tokio_postgres::Statement>,
}

impl PgPool {
    async fn acquire(self: &Arc<Self>) -> Result<PgConn> {
        let permit = self.slots.permit().await?;
        let idle = loop {
            match self.slots.take_idle() {
                Some(client) if client.client.is_closed() => continue,
                other => break other,
            }
        };
        let client = match idle {
            Some(client) => client,
            None => {
                let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::warn!(%error, "a PostgreSQL connection ended");
                    }
                });
                PgClient {
                    client,
                    serial: self
                        .next_serial
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    statements: HashMap::new(),
                }
            }
        };
        Ok(PgConn {
            client: Some(client),
            pool: Arc::downgrade(self),
            permit: Some(permit),
            in_transaction: false,
            pending: Vec::new(),
        })
    }
}

/// A PostgreSQL connection checked out of its pool.
pub(super) struct PgConn {
    pub(super) client: Option<PgClient>,
    pool: Weak<PgPool>,
    pub(super) permit: Option<tokio::sync::OwnedSemaphorePermit>,
    pub(super) in_transaction: bool,
    /// Statements queued to go out with the next one.
    pub(super) pending: Vec<(Cow<'static, str>, Vec<Arg>)>,
}

fn pg_type(arg: &Arg) -> tokio_postgres::types::Type {
    match arg {
        Arg::Int(_) => tokio_postgres::types::Type::INT8,
        Arg::Text(_) => tokio_postgres::types::Type::TEXT,
    }
}

fn pg_params(args: &[Arg]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|arg| match arg {
            Arg::Int(value) => value as &(dyn tokio_postgres::types::ToSql + Sync),
            Arg::Text(value) => value as &(dyn tokio_postgres::types::ToSql + Sync),
        })
        .collect()
}

impl PgConn {
    pub(super) fn client(&mut self) -> Result<&mut PgClient> {
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Database("connection already returned".into()))
    }

    /// The statement prepared for `sql` with these parameter types.
    pub(super) async fn prepare(
        &mut self,
        sql: &str,
        args: &[Arg],
    ) -> Result<tokio_postgres::Statement> {
        let mut key = String::with_capacity(sql.len() + args.len() + 1);
        key.push_str(sql);
        key.push('\0');
        key.extend(args.iter().map(|arg| match arg {
            Arg::Int(_) => 'i',
            Arg::Text(_) => 't',
        }));
        let client = self.client()?;
        if let Some(statement) = client.statements.get(&key) {
            return Ok(statement.clone());
        }
        let types: Vec<_> = args.iter().map(pg_type).collect();
        let statement = client.client.prepare_typed(sql, &types).await?;
        // Statements built for a number of rows, and folded writes, come in
        // many shapes; past the bound the cache starts over (a dropped
        // statement is closed on the server).
        if client.statements.len() >= PREPARED_STATEMENTS_KEPT {
            client.statements.clear();
        }
        client.statements.insert(key, statement.clone());
        Ok(statement)
    }

    /// Sends the queued statements and then this one, all at once, and
    /// returns this one's answer (or the first error).
    pub(super) async fn run(
        &mut self,
        sql: &str,
        args: &[Arg],
        want_rows: bool,
    ) -> Result<(u64, Vec<Row>)> {
        let mut answers = self.run_all(&[(sql, args, want_rows)]).await?;
        Ok(answers.pop().unwrap_or((0, Vec::new())))
    }

    /// Sends the queued statements and then `items`, all at once, and
    /// returns the items' answers in order (or the first error).
    pub(super) async fn run_all(
        &mut self,
        items: &[(&str, &[Arg], bool)],
    ) -> Result<Vec<(u64, Vec<Row>)>> {
        let pending = merge::fold_writes(std::mem::take(&mut self.pending));
        let mut queued = Vec::with_capacity(pending.len());
        for (queued_sql, queued_args) in &pending {
            queued.push(self.prepare(queued_sql, queued_args).await?);
        }
        let mut statements = Vec::with_capacity(items.len());
        for (sql, args, _) in items {
            statements.push(self.prepare(sql, args).await?);
        }
        let client = &self.client()?.client;
        let params: Vec<_> = pending.iter().map(|(_, args)| pg_params(args)).collect();
        let writes = futures_util::future::join_all(
            queued
                .iter()
                .zip(&params)
                .map(|(statement, params)| client.execute(statement, params)),
        );
        let item_params: Vec<_> = items.iter().map(|(_, args, _)| pg_params(args)).collect();
        let answers =
            futures_util::future::join_all(statements.iter().zip(&item_params).zip(items).map(
                |((statement, params), (_, _, want_rows))| async move {
                    if *want_rows {
                        let rows = client.query(statement, params).await?;
                        Ok::<_, tokio_postgres::Error>((0, rows))
                    } else {
                        Ok((client.execute(statement, params).await?, Vec::new()))
                    }
                },
            ));
        let (written, answers) = futures_util::future::join(writes, answers).await;
        for outcome in written {
            outcome?;
        }
        let mut read = Vec::with_capacity(answers.len());
        for answer in answers {
            let (done, rows) = answer?;
            read.push((done, read_pg_rows(rows)?));
        }
        Ok(read)
    }

    /// The transaction's `BEGIN` has not been sent yet.
    pub(super) fn begin_pending(&self) -> bool {
        self.pending.first().is_some_and(|(sql, _)| sql == "BEGIN")
    }

    pub(super) async fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.client()?.client.batch_execute(sql).await?)
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`, sending whatever is
    /// queued first.
    pub(super) async fn finish(&mut self, statement: &'static str) -> Result<()> {
        if self.begin_pending() {
            // Nothing has gone out: there is no transaction on the server to
            // roll back, and a commit is the queued writes alone.
            let queued = self.pending.split_off(1);
            let writes = match statement {
                "ROLLBACK" => Vec::new(),
                _ => merge::fold_writes(queued),
            };
            if writes.len() <= 1 {
                self.pending.clear();
                self.in_transaction = false;
                return match writes.first() {
                    // One statement is a transaction of its own.
                    Some((sql, args)) => self.run(sql, args, false).await.map(drop),
                    None => Ok(()),
                };
            }
            self.pending.extend(writes);
        } else if statement == "ROLLBACK" {
            self.pending.clear();
        }
        let outcome = self.run(statement, &[], false).await.map(drop);
        // A failed statement may leave the server in the transaction.
        self.in_transaction = outcome.is_err();
        outcome
    }
}

fn read_pg_rows(rows: Vec<tokio_postgres::Row>) -> Result<Vec<Row>> {
    use tokio_postgres::types::Type;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let names: Arc<[String]> = first
        .columns()
        .iter()
        .map(|column| column.name().to_owned())
        .collect();
    let types: Vec<Type> = first
        .columns()
        .iter()
        .map(|column| column.type_().clone())
        .collect();
    let mut read = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut values = Vec::with_capacity(names.len());
        for (index, type_) in types.iter().enumerate() {
            let value = match *type_ {
                Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::Int),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(index)?
                    .map(|n| Value::Int(i64::from(n))),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(index)?
                    .map(|n| Value::Int(i64::from(n))),
                Type::BOOL => row
                    .try_get::<_, Option<bool>>(index)?
                    .map(|b| Value::Int(i64::from(b))),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    row.try_get::<_, Option<String>>(index)?.map(Value::Text)
                }
                Type::VOID => None,
                ref other => {
                    return Err(StoreError::Corrupt(format!(
                        "unsupported PostgreSQL type {other} in column {}",
                        names[index]
                    )));
                }
            };
            values.push(value.unwrap_or(Value::Null));
        }
        read.push(Row {
            names: names.clone(),
            values,
        });
    }
    Ok(read)
}

impl Drop for PgConn {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let pool = self.pool.clone();
        let permit = self.permit.take();
        if !self.in_transaction || self.begin_pending() {
            give_back(&pool, client);
            drop(permit);
            return;
        }
        // Roll back before the connection serves anyone else; the permit
        // is held until then, so the pool never hands out more than its size.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if client.client.batch_execute("ROLLBACK").await.is_ok() {
                give_back(&pool, client);
            }
            drop(permit);
        });
    }
}

/// Returns a client to its pool, unless the pool is gone.
fn give_back(pool: &Weak<PgPool>, client: PgClient) {
    if let Some(pool) = pool.upgrade() {
        pool.slots.give_back(client);
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            return StoreError::UniqueViolation;
        }
        StoreError::Database(match error.as_db_error() {
            Some(db) => db.to_string(),
            None => error.to_string(),
        })
    }
}
