//! Brands (tenants) and their API keys: creation, settings, views.

use obol_core::{ApiKeyId, BrandId};
use obol_kernel::crypto::MasterKey;
pub(crate) mod api;
pub mod children;
pub mod settings;

use crate::error::{Error, Result};
use obol_core::validate;
use obol_core::{Role, Timestamp};
use obol_kernel::auth::hash_secret;
use obol_kernel::list::{self, List, ListRequest};
use obol_kernel::state::AppState;
use obol_store::api_keys::ApiKeyRow;
use obol_store::brands::BrandRow;
use obol_store::{Conn, Db};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A brand as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Brand {
    pub id: String,
    /// Always `brand`.
    pub object: &'static str,
    pub name: String,
    pub parent_brand_id: Option<String>,
    pub commission_rate_bps: i64,
    pub default_currency: Option<String>,
    pub clearing_days: i64,
    pub support_email: Option<String>,
    pub display_name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
    /// The name customers' emails come from (the display name or name when null).
    pub sender_name: Option<String>,
    /// The address customers' emails come from (`no-reply@` the server's public host when null).
    pub sender_email: Option<String>,
    /// The prefix of invoice numbers (`PREFIX-000001`).
    pub invoice_prefix: String,
    /// The days after a failed renewal on which it is retried.
    pub dunning_retry_days: Vec<u32>,
    /// The default webhook signing secret; shown to the admin and owners only.
    pub webhook_secret: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl Brand {
    /// The view of `row`, with its webhook secret when given (to the admin
    /// and owners: see `view`).
    pub fn from_row(row: BrandRow, webhook_secret: Option<String>) -> Brand {
        let invoice_prefix = settings::invoice_prefix_of(&row);
        let dunning_retry_days = settings::dunning_retry_days_of(&row);
        Brand {
            invoice_prefix,
            dunning_retry_days,
            id: row.id.into_string(),
            object: "brand",
            name: row.name,
            parent_brand_id: row.parent_brand_id.map(BrandId::into_string),
            commission_rate_bps: row.commission_rate_bps,
            default_currency: row.default_currency,
            clearing_days: row.clearing_days,
            support_email: row.support_email,
            display_name: row.display_name,
            logo_url: row.logo_url,
            primary_color: row.primary_color,
            sender_name: row.sender_name,
            sender_email: row.sender_email,
            webhook_secret,
            created_at: Timestamp::from_ms(row.created_at),
            updated_at: Timestamp::from_ms(row.updated_at),
        }
    }
}

/// `POST /v1/brands`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBrand {
    pub name: String,
    /// The reseller brand this one pays commission to.
    pub parent_brand_id: Option<String>,
    /// The parent's commission in basis points (0–10000).
    pub commission_rate_bps: Option<i64>,
    pub default_currency: Option<String>,
    /// Days from capture to clearing (0–365, default 2).
    pub clearing_days: Option<i64>,
    pub support_email: Option<String>,
}

/// A new brand with its first keys; the secrets are shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedBrand {
    pub brand: Brand,
    /// The owner secret key (`sk_…`).
    pub secret_key: String,
    /// The publishable key (`pk_…`).
    pub publishable_key: String,
}

/// `PATCH /v1/brands/{id}`: absent fields stay, `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBrand {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub default_currency: Option<Option<String>>,
    pub clearing_days: Option<i64>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub support_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub logo_url: Option<Option<String>>,
    /// A `#rrggbb` color for hosted pages.
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub primary_color: Option<Option<String>>,
    /// The name emails come from, 1 to 100 characters.
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub sender_name: Option<Option<String>>,
    /// The address emails come from.
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub sender_email: Option<Option<String>>,
    /// 1 to 12 upper-case letters, digits or dashes; `null` for the default.
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub invoice_prefix: Option<Option<String>>,
    /// Up to 8 increasing days (1–60) after a failed renewal; `null` for 1, 3, 5, 7.
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<Vec<u32>>)]
    pub dunning_retry_days: Option<Option<Vec<i64>>>,
}

fn currency(value: &str) -> Result<String> {
    Ok(validate::currency("default_currency", value)?
        .code()
        .to_owned())
}

fn clearing_days(value: i64) -> Result<i64> {
    if (0..=365).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid(
            "clearing_days",
            "clearing_days must be from 0 to 365",
        ))
    }
}

fn color(value: &str) -> Result<String> {
    let ok = value.len() == 7
        && value.starts_with('#')
        && value[1..].chars().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            "primary_color",
            "primary_color must look like #1a2b3c",
        ))
    }
}

pub use obol_kernel::crypto::new_webhook_secret;

/// The brand's webhook secret, decrypted (it signs order callbacks).
pub fn webhook_secret(state: &AppState, row: &BrandRow) -> Result<String> {
    state
        .master_key
        .decrypt(&row.webhook_secret_ciphertext)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            Error::internal(format!("the webhook secret of {} does not decrypt", row.id))
        })
}

/// The API view of a brand: with its webhook secret when `show_secret`.
pub fn view(state: &AppState, row: BrandRow, show_secret: bool) -> Result<Brand> {
    let secret = show_secret
        .then(|| webhook_secret(state, &row))
        .transpose()?;
    Ok(Brand::from_row(row, secret))
}

/// Seals the webhook secrets of brands made before they were kept
/// encrypted (migration 0012); run at every start, a no-op once done.
pub async fn seal_webhook_secrets(state: &AppState) -> Result<()> {
    loop {
        let mut conn = state.db.write_conn().await?;
        let plaintext = obol_store::brands::plaintext_webhook_secrets(&mut conn, 500).await?;
        if plaintext.is_empty() {
            return Ok(());
        }
        for (id, secret) in plaintext {
            let sealed = state.master_key.encrypt(secret.as_bytes());
            obol_store::brands::seal_webhook_secret(&mut conn, &id, &secret, &sealed).await?;
        }
    }
}

/// Inserts a key for the brand and returns its secret (shown once).
pub async fn insert_key(
    conn: &mut Conn,
    master_key: &MasterKey,
    brand_id: &BrandId,
    name: &str,
    kind: &str,
    role: Role,
    now: Timestamp,
) -> Result<(ApiKeyRow, String)> {
    let prefix = if kind == "publishable" { "pk" } else { "sk" };
    let secret = format!("{prefix}_{}", obol_core::id::random_token(40));
    let row = ApiKeyRow {
        id: ApiKeyId::new(),
        brand_id: brand_id.to_owned(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        role: role.as_str().to_owned(),
        secret_hash: hash_secret(&secret),
        secret_prefix: secret[..12].to_owned(),
        created_at: now.as_ms(),
        revoked_at: None,
        // Public by design, yet kept sealed: the page decrypts it to embed.
        publishable_key_ciphertext: (kind == "publishable")
            .then(|| master_key.encrypt(secret.as_bytes())),
    };
    obol_store::api_keys::insert(conn, &row).await?;
    Ok((row, secret))
}

/// Creates a brand with an owner secret key and a publishable key.
pub async fn create(
    db: &Db,
    master_key: &MasterKey,
    now: Timestamp,
    input: CreateBrand,
) -> Result<CreatedBrand> {
    let mut tx = db.begin().await?;
    let created = create_in(&mut tx, master_key, now, input).await?;
    tx.commit().await?;
    Ok(created)
}

/// `create` inside the caller's transaction.
pub async fn create_in(
    tx: &mut Conn,
    master_key: &MasterKey,
    now: Timestamp,
    input: CreateBrand,
) -> Result<CreatedBrand> {
    let webhook_secret = new_webhook_secret();
    let name = validate::text("name", &input.name, 1, 200)?;
    let commission_rate_bps = input.commission_rate_bps.unwrap_or(0);
    if !(0..=10_000).contains(&commission_rate_bps) {
        return Err(Error::invalid(
            "commission_rate_bps",
            "commission_rate_bps must be from 0 to 10000",
        ));
    }
    if commission_rate_bps > 0 && input.parent_brand_id.is_none() {
        return Err(Error::invalid(
            "commission_rate_bps",
            "commission_rate_bps needs a parent_brand_id",
        ));
    }
    let row = BrandRow {
        id: BrandId::new(),
        name,
        parent_brand_id: input.parent_brand_id.clone().map(BrandId::from),
        commission_rate_bps,
        default_currency: input
            .default_currency
            .as_deref()
            .map(currency)
            .transpose()?,
        clearing_days: clearing_days(input.clearing_days.unwrap_or(2))?,
        support_email: input
            .support_email
            .as_deref()
            .map(|e| validate::email("support_email", e))
            .transpose()?,
        display_name: None,
        logo_url: None,
        primary_color: None,
        webhook_secret_ciphertext: master_key.encrypt(webhook_secret.as_bytes()),
        sender_name: None,
        sender_email: None,
        invoice_prefix: None,
        dunning_retry_days: None,
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    if let Some(parent) = &input.parent_brand_id {
        obol_store::brands::get(tx, &BrandId::from(parent.as_str()))
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "brand",
                id: parent.clone(),
                param: Some("parent_brand_id"),
            })?;
    }
    obol_store::brands::insert(tx, &row).await?;
    let (_, secret_key) = insert_key(
        tx,
        master_key,
        &row.id,
        "Owner key",
        "secret",
        Role::Owner,
        now,
    )
    .await?;
    let (_, publishable_key) = insert_key(
        tx,
        master_key,
        &row.id,
        "Publishable key",
        "publishable",
        Role::ReadOnly,
        now,
    )
    .await?;
    Ok(CreatedBrand {
        brand: Brand::from_row(row, Some(webhook_secret)),
        secret_key,
        publishable_key,
    })
}

/// The publishable key a hosted page embeds, with the brand's display
/// settings. A brand whose publishable keys predate readable keys (or were
/// all revoked) gets a new one for its pages.
pub async fn checkout_identity(state: &AppState, brand_id: &BrandId) -> Result<(BrandRow, String)> {
    let mut conn = state.db.pool.acquire().await?;
    let brand = obol_store::brands::get(&mut conn, brand_id)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "brand",
            id: brand_id.to_string(),
            param: None,
        })?;
    let sealed = obol_store::api_keys::sealed_publishable_key(&mut conn, brand_id).await?;
    drop(conn);
    if let Some(key) = sealed.and_then(|text| state.master_key.decrypt(&text).ok()) {
        return String::from_utf8(key)
            .map(|key| (brand, key))
            .map_err(Error::internal);
    }
    let mut tx = state.db.begin().await?;
    let name = "Hosted payment page";
    let (_, key) = insert_key(
        &mut tx,
        &state.master_key,
        brand_id,
        name,
        "publishable",
        Role::ReadOnly,
        state.now(),
    )
    .await?;
    tx.commit().await?;
    Ok((brand, key))
}

/// Loads a brand the caller may see: the admin any, a brand only itself.
pub async fn get(
    state: &AppState,
    id: &BrandId,
    caller_brand: Option<&BrandId>,
) -> Result<BrandRow> {
    if caller_brand.is_some_and(|own| own != id) {
        return Err(Error::not_found("brand", id));
    }
    let mut conn = state.db.pool.acquire().await?;
    obol_store::brands::get(&mut conn, id)
        .await?
        .ok_or_else(|| Error::not_found("brand", id))
}

/// Applies a settings PATCH.
pub async fn update(
    state: &AppState,
    id: &BrandId,
    caller_brand: Option<&BrandId>,
    input: UpdateBrand,
) -> Result<BrandRow> {
    if caller_brand.is_some_and(|own| own != id) {
        return Err(Error::not_found("brand", id));
    }
    let name = input
        .name
        .as_deref()
        .map(|n| validate::text("name", n, 1, 200))
        .transpose()?;
    let default_currency = input
        .default_currency
        .map(|v| v.as_deref().map(currency).transpose())
        .transpose()?;
    let clearing = input.clearing_days.map(clearing_days).transpose()?;
    let support_email = input
        .support_email
        .map(|v| {
            v.as_deref()
                .map(|e| validate::email("support_email", e))
                .transpose()
        })
        .transpose()?;
    let display_name = input
        .display_name
        .map(|v| {
            v.as_deref()
                .map(|n| validate::text("display_name", n, 1, 200))
                .transpose()
        })
        .transpose()?;
    let logo_url = input
        .logo_url
        .map(|v| {
            v.as_deref()
                .map(|u| validate::image_url("logo_url", u))
                .transpose()
        })
        .transpose()?;
    let primary_color = input
        .primary_color
        .map(|v| v.as_deref().map(color).transpose())
        .transpose()?;
    let sender_name = input
        .sender_name
        .map(|v| {
            v.as_deref()
                .map(|n| validate::text("sender_name", n, 1, 100))
                .transpose()
        })
        .transpose()?;
    let sender_email = input
        .sender_email
        .map(|v| {
            v.as_deref()
                .map(|e| validate::email("sender_email", e))
                .transpose()
        })
        .transpose()?;
    let invoice_prefix = input
        .invoice_prefix
        .map(|v| v.as_deref().map(settings::invoice_prefix).transpose())
        .transpose()?;
    let dunning_retry_days = input
        .dunning_retry_days
        .map(|v| v.as_deref().map(settings::dunning_retry_days).transpose())
        .transpose()?;

    let mut tx = state.db.begin().await?;
    let mut row = obol_store::brands::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::not_found("brand", id))?;
    if let Some(value) = name {
        row.name = value;
    }
    if let Some(value) = default_currency {
        row.default_currency = value;
    }
    if let Some(value) = clearing {
        row.clearing_days = value;
    }
    if let Some(value) = support_email {
        row.support_email = value;
    }
    if let Some(value) = display_name {
        row.display_name = value;
    }
    if let Some(value) = logo_url {
        row.logo_url = value;
    }
    if let Some(value) = primary_color {
        row.primary_color = value;
    }
    if let Some(value) = sender_name {
        row.sender_name = value;
    }
    if let Some(value) = sender_email {
        row.sender_email = value;
    }
    if let Some(value) = invoice_prefix {
        row.invoice_prefix = value;
    }
    if let Some(value) = dunning_retry_days {
        row.dunning_retry_days = value;
    }
    row.updated_at = state.now().as_ms();
    obol_store::brands::update(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(row)
}

/// An API key as the API shows it; `secret` only in the answer that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    /// Always `api_key`.
    pub object: &'static str,
    pub name: String,
    /// `secret` or `publishable`.
    pub kind: String,
    /// `owner`, `developer`, `support` or `read_only`.
    pub role: String,
    /// The first characters of the secret, to recognize it.
    pub prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `active` or `revoked`.
    pub status: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    pub fn from_row(row: ApiKeyRow, secret: Option<String>) -> ApiKey {
        ApiKey {
            id: row.id.into_string(),
            object: "api_key",
            name: row.name,
            kind: row.kind,
            role: row.role,
            prefix: row.secret_prefix,
            secret,
            status: if row.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            },
            created_at: Timestamp::from_ms(row.created_at),
            revoked_at: row.revoked_at.map(Timestamp::from_ms),
        }
    }
}

/// `POST /v1/api_keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// `owner`, `developer`, `support` or `read_only`.
    pub role: String,
}

pub async fn create_key(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateApiKey,
) -> Result<ApiKey> {
    let name = validate::text("name", &input.name, 1, 100)?;
    let role = Role::parse(&input.role).ok_or_else(|| {
        Error::invalid(
            "role",
            "role must be one of owner, developer, support, read_only",
        )
    })?;
    let mut tx = state.db.begin().await?;
    let (row, secret) = insert_key(
        &mut tx,
        &state.master_key,
        brand_id,
        &name,
        "secret",
        role,
        state.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiKey::from_row(row, Some(secret)))
}

/// A page of the brand's API keys, newest first, without their secrets.
pub async fn list_keys(
    state: &AppState,
    brand_id: &BrandId,
    request: ListRequest<()>,
) -> Result<List<ApiKey>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        &request.page,
        async |conn, after| {
            Ok(
                obol_store::api_keys::get(conn, brand_id, &ApiKeyId::from(after))
                    .await?
                    .is_some(),
            )
        },
        async |conn, page| obol_store::api_keys::list(conn, brand_id, page).await,
    )
    .await?;
    Ok(List::mapped(rows, |row| ApiKey::from_row(row, None)))
}

pub async fn revoke_key(state: &AppState, brand_id: &BrandId, id: &ApiKeyId) -> Result<ApiKey> {
    let mut tx = state.db.begin().await?;
    obol_store::api_keys::get(&mut tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("api_key", id))?;
    obol_store::api_keys::revoke(&mut tx, brand_id, id, state.now().as_ms()).await?;
    let row = obol_store::api_keys::get(&mut tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("api_key", id))?;
    tx.commit().await?;
    state.caches.forget_key(id);
    Ok(ApiKey::from_row(row, None))
}
