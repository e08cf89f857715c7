//! Connector accounts: which providers a brand uses, with encrypted
//! credentials; the service behind `/v1/connector_accounts`. Routing of
//! payments and the `/v1/payment_methods` listing are in `routing`.

use obol_core::{BrandId, ConnectorAccountId};
pub(crate) mod api;
mod credentials;
mod routing;

pub use routing::{PaymentMethod, connector_for, get, payment_methods_for, route, webhook_secret};

use crate::error::{Error, Result};
use obol_connectors::{Capabilities, Connector};
use obol_core::validate;
use obol_core::{Currency, Timestamp};
use obol_kernel::events;
use obol_kernel::list::{self, List};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::connector_accounts::ConnectorAccountRow;
use obol_store::page::PageRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

/// Payment method types a connector account can take (`wallet` needs none).
pub const PAYMENT_METHODS: [&str; 2] = ["card", "crypto"];

const ENABLED: &str = "enabled";
const DISABLED: &str = "disabled";
/// Bounds of `priority`: lower is tried first.
const PRIORITY_MAX: i64 = 1_000_000;
/// Largest credentials object, as JSON text: far above any provider's keys.
const CREDENTIALS_MAX_BYTES: usize = 16 * 1024;

/// A connector account as the API shows it; credentials are never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorAccount {
    pub id: String,
    /// Always `connector_account`.
    pub object: &'static str,
    /// `sandbox`, `stripe`, …
    pub connector: String,
    pub label: Option<String>,
    /// `card`, `crypto`.
    pub payment_methods: Vec<String>,
    /// ISO 4217 codes; `null` means every currency the connector takes.
    pub currencies: Option<Vec<String>>,
    /// Lower is tried first.
    pub priority: i64,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Secret of the connector's notifications to Obol: in the create
    /// answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl TryFrom<&ConnectorAccountRow> for ConnectorAccount {
    type Error = Error;

    fn try_from(row: &ConnectorAccountRow) -> Result<Self> {
        Ok(ConnectorAccount {
            id: row.id.to_string(),
            object: "connector_account",
            connector: row.connector.clone(),
            label: row.label.clone(),
            payment_methods: methods_of(row)?,
            currencies: currencies_of(row)?,
            priority: row.priority,
            status: row.status.clone(),
            webhook_secret: None,
            created_at: Timestamp::from_ms(row.created_at),
            updated_at: Timestamp::from_ms(row.updated_at),
        })
    }
}

/// Connector credentials as given: a JSON object, write-only. `Debug`
/// hides it so that no log line or panic message can carry a secret.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Credentials(pub Value);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials([redacted])")
    }
}

/// `POST /v1/connector_accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectorAccount {
    /// A connector this server has: `sandbox`, …
    pub connector: String,
    pub label: Option<String>,
    /// Write-only; encrypted at rest.
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Credentials>,
    /// Non-empty; `card`, `crypto`, as far as the connector takes them.
    pub payment_methods: Vec<String>,
    /// Upper-case ISO 4217 codes; absent means every currency it takes.
    pub currencies: Option<Vec<String>>,
    /// 0 to 1000000, default 0; lower is tried first.
    pub priority: Option<i64>,
}

/// `PATCH /v1/connector_accounts/{id}`: absent fields stay; `null` clears
/// `label` and `credentials` and sets `currencies` to every currency.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnectorAccount {
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub label: Option<Option<String>>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Option<Credentials>>,
    pub payment_methods: Option<Vec<String>>,
    #[serde(default, deserialize_with = "obol_kernel::extract::nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub currencies: Option<Option<Vec<String>>>,
    pub priority: Option<i64>,
    /// `enabled` or `disabled`.
    pub status: Option<String>,
}

fn connector(state: &AppState, name: &str) -> Result<Arc<dyn Connector>> {
    crate::connectors(state).get(name).ok_or_else(|| {
        Error::invalid(
            "connector",
            format!(
                "connector must be one of: {}",
                crate::connectors(state).names().join(", ")
            ),
        )
    })
}

fn label(value: &str) -> Result<String> {
    Ok(validate::text("label", value, 1, 100)?)
}

fn priority(value: i64) -> Result<i64> {
    if (0..=PRIORITY_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid(
            "priority",
            format!("priority must be an integer from 0 to {PRIORITY_MAX}"),
        ))
    }
}

fn status(value: &str) -> Result<String> {
    if [ENABLED, DISABLED].contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            "status",
            "status must be enabled or disabled",
        ))
    }
}

/// Checks the credentials object and encrypts it; the plaintext goes no further.
fn seal_credentials(state: &AppState, credentials: &Credentials) -> Result<String> {
    if !credentials.0.is_object() {
        return Err(Error::invalid(
            "credentials",
            "credentials must be an object",
        ));
    }
    let text = serde_json::to_string(&credentials.0).map_err(Error::internal)?;
    if text.len() > CREDENTIALS_MAX_BYTES {
        return Err(Error::invalid(
            "credentials",
            format!("credentials must be at most {CREDENTIALS_MAX_BYTES} bytes of JSON"),
        ));
    }
    Ok(state.master_key.encrypt(text.as_bytes()))
}

/// Non-empty, known and taken by the connector; duplicates folded.
fn payment_methods(name: &str, capabilities: &Capabilities, given: &[String]) -> Result<String> {
    if given.is_empty() {
        return Err(Error::invalid(
            "payment_methods",
            "payment_methods must name at least one method",
        ));
    }
    let mut methods: Vec<&str> = Vec::with_capacity(given.len());
    for (index, method) in given.iter().enumerate() {
        let param = format!("payment_methods[{index}]");
        if !PAYMENT_METHODS.contains(&method.as_str()) {
            return Err(Error::invalid(
                param,
                format!(
                    "payment_methods values must be one of: {}",
                    PAYMENT_METHODS.join(", ")
                ),
            ));
        }
        if !capabilities.payment_methods.contains(&method.as_str()) {
            return Err(Error::invalid(
                param,
                format!("the {name} connector does not take {method}"),
            ));
        }
        if !methods.contains(&method.as_str()) {
            methods.push(method);
        }
    }
    serde_json::to_string(&methods).map_err(Error::internal)
}

/// Upper-case ISO 4217 codes the connector takes, duplicates folded. Absent
/// (or `null`) means every currency the connector takes; when that is a
/// fixed list it is stored as such, so that routing needs only the row.
fn currencies(
    name: &str,
    capabilities: &Capabilities,
    given: Option<&[String]>,
) -> Result<Option<String>> {
    let Some(given) = given else {
        let fixed = capabilities
            .currencies
            .as_ref()
            .map(|list| list.iter().map(|c| c.code()).collect::<Vec<_>>());
        return fixed
            .map(|codes| serde_json::to_string(&codes).map_err(Error::internal))
            .transpose();
    };
    if given.is_empty() {
        return Err(Error::invalid(
            "currencies",
            "currencies must name at least one currency, or be left out for all",
        ));
    }
    let mut codes: Vec<&str> = Vec::with_capacity(given.len());
    for (index, code) in given.iter().enumerate() {
        let param = format!("currencies[{index}]");
        let currency = Currency::parse(code).ok_or_else(|| {
            Error::invalid(
                param.clone(),
                format!("{code} is not an upper-case ISO 4217 currency code"),
            )
        })?;
        if !capabilities.supports_currency(currency) {
            return Err(Error::invalid_request(
                "currency_unsupported",
                format!("the {name} connector does not take {code}"),
            )
            .with_param(param));
        }
        if !codes.contains(&currency.code()) {
            codes.push(currency.code());
        }
    }
    serde_json::to_string(&codes)
        .map(Some)
        .map_err(Error::internal)
}

/// Validates a create request into a new row and its webhook secret
/// (plaintext, for the create answer only).
fn new_row(
    state: &AppState,
    brand_id: &BrandId,
    input: &CreateConnectorAccount,
    now: Timestamp,
) -> Result<(ConnectorAccountRow, String)> {
    let connector = connector(state, &input.connector)?;
    let capabilities = connector.capabilities();
    credentials::check_keys(connector.as_ref(), input.credentials.as_ref())?;
    let webhook_secret = obol_accounts::brands::new_webhook_secret();
    let row = ConnectorAccountRow {
        id: ConnectorAccountId::new(),
        brand_id: brand_id.to_owned(),
        connector: input.connector.clone(),
        label: input.label.as_deref().map(label).transpose()?,
        credentials_ciphertext: input
            .credentials
            .as_ref()
            .map(|c| seal_credentials(state, c))
            .transpose()?,
        payment_methods: payment_methods(&input.connector, &capabilities, &input.payment_methods)?,
        currencies: currencies(&input.connector, &capabilities, input.currencies.as_deref())?,
        priority: priority(input.priority.unwrap_or(0))?,
        status: ENABLED.into(),
        webhook_secret_ciphertext: state.master_key.encrypt(webhook_secret.as_bytes()),
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    Ok((row, webhook_secret))
}

/// Inserts a validated account with its `connector_account.created` event.
async fn insert(
    conn: &mut Conn,
    row: ConnectorAccountRow,
    webhook_secret: String,
    now: Timestamp,
) -> Result<ConnectorAccount> {
    obol_store::connector_accounts::insert(conn, &row).await?;
    let account = ConnectorAccount::try_from(&row)?;
    // The event is the view without the secret: events are readable later.
    events::record(
        conn,
        &row.brand_id,
        "connector_account.created",
        &account.id,
        None,
        &account,
        now,
    )
    .await?;
    Ok(ConnectorAccount {
        webhook_secret: Some(webhook_secret),
        ..account
    })
}

/// Creates an account and its event in one transaction, once its
/// credentials are checked (by the connector, outside the transaction); the
/// answer is the only one that carries `webhook_secret`.
pub async fn create(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateConnectorAccount,
) -> Result<ConnectorAccount> {
    let now = state.now();
    let (row, webhook_secret) = new_row(state, brand_id, &input, now)?;
    credentials::check(state, &row, input.credentials.as_ref()).await?;
    let mut tx = state.db.begin().await?;
    let account = insert(&mut tx, row, webhook_secret, now).await?;
    tx.commit().await?;
    Ok(account)
}

/// Creates an account inside the caller's transaction (the first start's
/// demo brand gets its sandbox account this way).
pub async fn create_in(
    state: &AppState,
    conn: &mut Conn,
    brand_id: &BrandId,
    input: CreateConnectorAccount,
    now: Timestamp,
) -> Result<ConnectorAccount> {
    let (row, webhook_secret) = new_row(state, brand_id, &input, now)?;
    insert(conn, row, webhook_secret, now).await
}

/// An account of the brand (disabled ones too), or not found.
pub async fn find(
    state: &AppState,
    brand_id: &BrandId,
    id: &ConnectorAccountId,
) -> Result<ConnectorAccount> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::connector_accounts::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("connector_account", id))?;
    ConnectorAccount::try_from(&row)
}

/// A page of the brand's accounts, newest first.
pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<ConnectorAccount>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| {
            Ok(obol_store::connector_accounts::get(
                conn,
                brand_id,
                &ConnectorAccountId::from(after),
            )
            .await?
            .is_some())
        },
        async |conn, page| obol_store::connector_accounts::list(conn, brand_id, page).await,
    )
    .await?;
    List::of(rows, |row| ConnectorAccount::try_from(&row))
}

/// Locks an account of the brand for a change; not found if unknown.
async fn load(
    state: &AppState,
    tx: &mut Conn,
    brand_id: &BrandId,
    id: &ConnectorAccountId,
) -> Result<ConnectorAccountRow> {
    obol_store::connector_accounts::get_for_update(tx, state.db.backend, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("connector_account", id))
}

/// Writes a changed row and its event: `connector_account.disabled` when
/// this change disabled it, `connector_account.updated` otherwise.
async fn save(
    tx: &mut Conn,
    row: &ConnectorAccountRow,
    was_enabled: bool,
    now: Timestamp,
) -> Result<ConnectorAccount> {
    obol_store::connector_accounts::update(tx, row).await?;
    let account = ConnectorAccount::try_from(row)?;
    let event_type = if was_enabled && row.status == DISABLED {
        "connector_account.disabled"
    } else {
        "connector_account.updated"
    };
    events::record(tx, &row.brand_id, event_type, &row.id, None, &account, now).await?;
    Ok(account)
}

/// Applies a PATCH; methods and currencies are checked against the
/// account's connector.
pub async fn update(
    state: &AppState,
    brand_id: &BrandId,
    id: &ConnectorAccountId,
    input: UpdateConnectorAccount,
) -> Result<ConnectorAccount> {
    let new_label = input
        .label
        .map(|v| v.as_deref().map(label).transpose())
        .transpose()?;
    if let Some(given) = &input.credentials {
        check_new_credentials(state, brand_id, id, given.as_ref()).await?;
    }
    let new_credentials = input
        .credentials
        .as_ref()
        .map(|v| v.as_ref().map(|c| seal_credentials(state, c)).transpose())
        .transpose()?;
    let new_priority = input.priority.map(priority).transpose()?;
    let new_status = input.status.as_deref().map(status).transpose()?;

    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = load(state, &mut tx, brand_id, id).await?;
    let was_enabled = row.status == ENABLED;
    if input.payment_methods.is_some() || input.currencies.is_some() {
        let capabilities = crate::connectors(state)
            .get(&row.connector)
            .ok_or_else(|| {
                Error::invalid_state(format!(
                    "connector account {id} uses the {} connector, which this server lacks",
                    row.connector
                ))
            })?
            .capabilities();
        if let Some(methods) = &input.payment_methods {
            row.payment_methods = payment_methods(&row.connector, &capabilities, methods)?;
        }
        if let Some(codes) = &input.currencies {
            row.currencies = currencies(&row.connector, &capabilities, codes.as_deref())?;
        }
    }
    if let Some(value) = new_label {
        row.label = value;
    }
    if let Some(value) = new_credentials {
        row.credentials_ciphertext = value;
    }
    if let Some(value) = new_priority {
        row.priority = value;
    }
    if let Some(value) = new_status {
        row.status = value;
    }
    row.updated_at = now.as_ms();
    let account = save(&mut tx, &row, was_enabled, now).await?;
    tx.commit().await?;
    Ok(account)
}

/// Checks credentials a `PATCH` gives as a create does, before its
/// transaction (the connector's check is a network call).
async fn check_new_credentials(
    state: &AppState,
    brand_id: &BrandId,
    id: &ConnectorAccountId,
    given: Option<&Credentials>,
) -> Result<()> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::connector_accounts::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("connector_account", id))?;
    drop(conn);
    if let Some(connector) = crate::connectors(state).get(&row.connector) {
        credentials::check_keys(connector.as_ref(), given)?;
    }
    credentials::check(state, &row, given).await
}

/// Disables an account for new payments; its existing payments still use
/// it. Disabling a disabled account changes nothing and records no event.
pub async fn disable(
    state: &AppState,
    brand_id: &BrandId,
    id: &ConnectorAccountId,
) -> Result<ConnectorAccount> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut row = load(state, &mut tx, brand_id, id).await?;
    if row.status == DISABLED {
        return ConnectorAccount::try_from(&row);
    }
    row.status = DISABLED.into();
    row.updated_at = now.as_ms();
    let account = save(&mut tx, &row, true, now).await?;
    tx.commit().await?;
    Ok(account)
}

/// The stored `payment_methods` JSON as a list.
fn methods_of(row: &ConnectorAccountRow) -> Result<Vec<String>> {
    serde_json::from_str(&row.payment_methods).map_err(Error::internal)
}

/// The stored `currencies` JSON as a list; `None` means every currency.
fn currencies_of(row: &ConnectorAccountRow) -> Result<Option<Vec<String>>> {
    row.currencies
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(Error::internal)
}
