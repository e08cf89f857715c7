//! The health check behind `/health`.

use crate::error::ApiResult;
use crate::state::AppState;

/// Whether the database answers: a connection and one read of it.
pub async fn check_database(state: &AppState) -> ApiResult<()> {
    let mut conn = state.db.pool.acquire().await?;
    obol_store::meta::get(&mut conn, "bootstrapped").await?;
    Ok(())
}
