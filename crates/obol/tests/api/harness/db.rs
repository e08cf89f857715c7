//! Test databases: a fresh SQLite file or PostgreSQL database per test,
//! dropped with its value.

use super::Backend;

pub fn postgres_url() -> Option<String> {
    std::env::var("OBOL_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A fresh, empty database, dropped with this value.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Another value owns the database: nothing to drop.
    None,
    Dir(std::path::PathBuf),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    /// The database at `url` as another value (a second server on it, a
    /// restarted one) sees it: dropping this leaves it in place.
    pub fn borrowed(url: String, backend: Backend) -> TestDb {
        TestDb {
            url,
            backend,
            cleanup: Cleanup::None,
        }
    }

    pub async fn new(backend: Backend) -> TestDb {
        let name = format!(
            "obol_test_{}",
            obol_core::id::random_token(12).to_lowercase()
        );
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).expect("temp dir");
                TestDb {
                    url: format!("sqlite://{}", dir.join("obol.db").display()),
                    backend,
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_url().expect("OBOL_TEST_DATABASE_URL");
                let db = obol_store::Db::connect(&admin_url)
                    .await
                    .expect("connect to PostgreSQL");
                obol_store::sql::query(format!("CREATE DATABASE {name}"))
                    .execute(&db.pool)
                    .await
                    .expect("create test database");
                db.close().await;
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(base, _)| base)
                    .unwrap_or(&admin_url);
                TestDb {
                    url: format!("{base}/{name}"),
                    backend,
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
        }
    }

    /// A fresh database holding a copy of `source`, for a test that starts
    /// from a database made elsewhere (by an earlier binary): on SQLite a
    /// database file, copied with its key file (`<file>.key`) when it has
    /// one; on PostgreSQL a plain-SQL dump without `COPY` blocks, run as one
    /// batch. Panics when `source` is missing.
    pub async fn from_copy(backend: Backend, source: &std::path::Path) -> TestDb {
        let db = TestDb::new(backend).await;
        match db.sqlite_path() {
            Some(path) => {
                std::fs::copy(source, &path)
                    .unwrap_or_else(|error| panic!("cannot copy {}: {error}", source.display()));
                let key_file = std::path::PathBuf::from(format!("{}.key", source.display()));
                if key_file.exists() {
                    std::fs::copy(&key_file, format!("{}.key", path.display())).unwrap_or_else(
                        |error| panic!("cannot copy {}: {error}", key_file.display()),
                    );
                }
            }
            None => {
                let sql = std::fs::read_to_string(source)
                    .unwrap_or_else(|error| panic!("cannot read {}: {error}", source.display()));
                // A connection of its own: the dump changes its session's
                // settings (search_path) for the statements that follow.
                let loader = obol_store::Db::connect(&db.url)
                    .await
                    .expect("connect to the test database");
                loader
                    .writer
                    .acquire()
                    .await
                    .expect("a connection")
                    .execute_batch(&sql)
                    .await
                    .unwrap_or_else(|error| panic!("cannot load {}: {error}", source.display()));
                loader.close().await;
            }
        }
        db
    }

    /// Path of the SQLite file (SQLite only).
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        match &self.cleanup {
            Cleanup::Dir(dir) => Some(dir.join("obol.db")),
            Cleanup::Postgres { .. } | Cleanup::None => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::None => {}
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let _ = block_on_own_runtime(async move {
                    if let Ok(db) = obol_store::Db::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = obol_store::sql::query(sql).execute(&db.pool).await;
                        db.close().await;
                    }
                });
            }
        }
    }
}

/// Runs `work` to its end on a thread and runtime of its own, for a `Drop`:
/// it runs inside the test's runtime and cannot wait for a future there.
pub(super) fn block_on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> std::thread::Result<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work)
    })
    .join()
}
