//! A reseller's view of its child brands: who they are and their money,
//! never their customers, orders or keys (those stay behind the child's
//! own keys).

use crate::error::{Error, Result};
use crate::ledger::{self, Balance};
use obol_core::{BrandId, Timestamp};
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::brands::BrandRow;
use serde::Serialize;
use utoipa::ToSchema;

/// A child brand as its parent sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChildBrand {
    pub id: String,
    /// Always `child_brand`.
    pub object: &'static str,
    pub name: String,
    /// What the child pays its parent of every cleared payment.
    pub commission_rate_bps: i64,
    pub default_currency: Option<String>,
    pub clearing_days: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<BrandRow> for ChildBrand {
    fn from(row: BrandRow) -> ChildBrand {
        ChildBrand {
            id: row.id.into_string(),
            object: "child_brand",
            name: row.name,
            commission_rate_bps: row.commission_rate_bps,
            default_currency: row.default_currency,
            clearing_days: row.clearing_days,
            created_at: Timestamp::from_ms(row.created_at),
        }
    }
}

/// A page of the brand's children, newest first.
pub async fn list_children(
    state: &AppState,
    parent_id: &BrandId,
    request: ListRequest<()>,
) -> Result<List<ChildBrand>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        &request.page,
        async |conn, after| {
            let after = BrandId::from_text(after.to_owned());
            Ok(obol_store::brands::get_child(conn, parent_id, &after)
                .await?
                .is_some())
        },
        async |conn, page| obol_store::brands::list_children(conn, parent_id, page).await,
    )
    .await?;
    Ok(List::mapped(rows, ChildBrand::from))
}

/// The money of the brand's child `child_id`; 404 for any other brand.
pub async fn child_balance(
    state: &AppState,
    parent_id: &BrandId,
    child_id: &BrandId,
) -> Result<Balance> {
    let mut conn = state.db.pool.acquire().await?;
    if obol_store::brands::get_child(&mut conn, parent_id, child_id)
        .await?
        .is_none()
    {
        return Err(Error::not_found("child brand", child_id.as_str()));
    }
    drop(conn);
    ledger::balance(state, child_id).await
}
