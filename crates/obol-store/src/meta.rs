//! Small key/value facts about the installation (e.g. first start done).

use crate::{Conn, Result};

/// Records `key` = `value` unless it is already set; true if this call set it.
pub async fn insert_if_absent(conn: &mut Conn, key: &str, value: &str) -> Result<bool> {
    let result = crate::sql::query(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get(conn: &mut Conn, key: &str) -> Result<Option<String>> {
    crate::sql::query_scalar("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await
}
