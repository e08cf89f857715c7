//! The first start: an admin key (unless configured) and a demo brand with a
//! sandbox connector account, so a new user can call the API and pay at
//! once. Later starts create and print nothing.

use crate::brands::{self, CreateBrand, CreatedBrand};
use crate::connector_accounts::{self, CreateConnectorAccount};
use obol_kernel::auth::hash_secret;
use obol_kernel::error::{ApiError, ApiResult};
use obol_kernel::state::AppState;

/// What the first start made; secrets to print once.
pub struct FirstStart {
    /// The generated admin key, when `OBOL_ADMIN_KEY` was not set.
    pub admin_key: Option<String>,
    pub demo: CreatedBrand,
}

/// Runs the first-start setup exactly once per database (even with several
/// processes starting together); `None` on every later start.
pub async fn first_start(
    state: &AppState,
    admin_key_configured: bool,
) -> ApiResult<Option<FirstStart>> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !obol_store::meta::insert_if_absent(&mut tx, "bootstrapped", &now.to_rfc3339()).await? {
        return Ok(None);
    }
    let admin_key = if admin_key_configured {
        None
    } else {
        let secret = format!("adm_{}", obol_core::id::random_token(40));
        obol_store::api_keys::insert_admin(
            &mut tx,
            &obol_core::ApiKeyId::new(),
            &hash_secret(&secret),
            now.as_ms(),
        )
        .await?;
        Some(secret)
    };
    let demo = brands::create_in(
        &mut tx,
        &state.master_key,
        now,
        CreateBrand {
            name: "Demo".into(),
            parent_brand_id: None,
            commission_rate_bps: None,
            default_currency: Some("EUR".into()),
            clearing_days: None,
            support_email: None,
        },
    )
    .await?;
    // A sandbox account too, so that the demo brand can take payments at once.
    connector_accounts::create_in(
        state,
        &mut tx,
        &obol_core::BrandId::from_text(demo.brand.id.clone()),
        CreateConnectorAccount {
            connector: "sandbox".into(),
            label: Some("Sandbox".into()),
            credentials: None,
            payment_methods: vec!["card".into()],
            currencies: None,
            priority: None,
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(Some(FirstStart { admin_key, demo }))
}
