//! The test clock's time, kept in the database so it survives a restart.

use crate::{Conn, Result};

/// The stored test-clock time, if one was ever set.
pub async fn get(conn: &mut Conn) -> Result<Option<i64>> {
    crate::sql::query_scalar("SELECT now_ms FROM test_clock WHERE id = 1")
        .fetch_optional(conn)
        .await
}

/// Stores the test-clock time.
pub async fn set(conn: &mut Conn, now_ms: i64) -> Result<()> {
    crate::sql::query(
        "INSERT INTO test_clock (id, now_ms) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET now_ms = excluded.now_ms",
    )
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}
