//! Routing: which connector account takes a payment, what a brand can
//! take for an order, and the decrypted context of a connector call.

use super::{ENABLED, PAYMENT_METHODS, currencies_of, methods_of};
use crate::error::{Error, Result};
use obol_connectors::{AccountContext, Connector};
use obol_core::Currency;
use obol_core::{BrandId, ConnectorAccountId, CustomerId};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::connector_accounts::ConnectorAccountRow;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

/// One payment method type the brand can take, with the accounts that take
/// it in routing order (none for `wallet`, which needs no connector).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethod {
    /// `card`, `crypto` or `wallet`.
    #[serde(rename = "type")]
    pub method_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_accounts: Option<Vec<String>>,
}

/// The method types an order in `currency` can be paid with: each with
/// an enabled account taking it, and `wallet` when `customer_id` names a
/// live customer of the brand (not found when it names none of the brand's).
pub async fn payment_methods_for(
    state: &AppState,
    brand_id: &BrandId,
    currency: Currency,
    customer_id: Option<&str>,
) -> Result<Vec<PaymentMethod>> {
    let mut conn = state.db.pool.acquire().await?;
    let wallet = match customer_id {
        None => false,
        Some(id) => obol_store::customers::get(&mut conn, brand_id, &CustomerId::from(id))
            .await?
            .ok_or_else(|| Error::not_found("customer", id).with_param("customer_id"))?
            .deleted_at
            .is_none(),
    };
    let enabled = obol_store::connector_accounts::enabled(&mut conn, brand_id).await?;
    let mut methods = Vec::new();
    for method in PAYMENT_METHODS {
        let mut accounts = Vec::new();
        for row in &enabled {
            if takes(row, method, currency)? {
                accounts.push(row.id.to_string());
            }
        }
        if !accounts.is_empty() {
            methods.push(PaymentMethod {
                method_type: method.into(),
                connector_accounts: Some(accounts),
            });
        }
    }
    if wallet {
        methods.push(PaymentMethod {
            method_type: "wallet".into(),
            connector_accounts: None,
        });
    }
    Ok(methods)
}

/// Whether the account, as stored, takes `method` in `currency`.
fn takes(row: &ConnectorAccountRow, method: &str, currency: Currency) -> Result<bool> {
    Ok(methods_of(row)?.iter().any(|m| m == method)
        && currencies_of(row)?.is_none_or(|codes| codes.iter().any(|c| c == currency.code())))
}

/// The account an order's payment goes to: `explicit` (must be the brand's,
/// enabled, supporting the method and currency: not found naming
/// `connector_account_id` if unknown, `no_connector_available`
/// otherwise), else the enabled account with the lowest priority (then
/// oldest) supporting `method` and `currency`; none → code
/// `no_connector_available`. `enabled` is the brand's enabled accounts when
/// the caller read them already.
pub async fn route(
    conn: &mut Conn,
    brand_id: &BrandId,
    method: &str,
    currency: Currency,
    explicit: Option<&ConnectorAccountId>,
    enabled: Option<Vec<ConnectorAccountRow>>,
) -> Result<ConnectorAccountRow> {
    if let Some(id) = explicit {
        let row = obol_store::connector_accounts::get(conn, brand_id, id)
            .await?
            .ok_or_else(|| {
                Error::not_found("connector_account", id).with_param("connector_account_id")
            })?;
        if row.status != ENABLED {
            return Err(no_connector(format!("connector account {id} is disabled"))
                .with_param("connector_account_id"));
        }
        if !takes(&row, method, currency)? {
            return Err(no_connector(format!(
                "connector account {id} does not take {method} in {}",
                currency.code()
            ))
            .with_param("connector_account_id"));
        }
        return Ok(row);
    }
    let enabled = match enabled {
        Some(rows) => rows,
        None => obol_store::connector_accounts::enabled(conn, brand_id).await?,
    };
    for row in enabled {
        if takes(&row, method, currency)? {
            return Ok(row);
        }
    }
    Err(no_connector(format!(
        "no enabled connector account takes {method} in {}",
        currency.code()
    )))
}

fn no_connector(message: String) -> Error {
    Error::invalid_request("no_connector_available", message)
}

/// Any account of the brand, enabled or not (capture/refund/sync of
/// existing payments still use disabled ones).
pub async fn get(
    conn: &mut Conn,
    brand_id: &BrandId,
    id: &ConnectorAccountId,
) -> Result<Option<ConnectorAccountRow>> {
    Ok(obol_store::connector_accounts::get(conn, brand_id, id).await?)
}

/// The connector and decrypted account context for a call. A connector this
/// build lacks, or a ciphertext the master key cannot open, is a server
/// fault (internal), logged without any secret.
pub fn connector_for(
    state: &AppState,
    row: &ConnectorAccountRow,
) -> Result<(Arc<dyn Connector>, AccountContext)> {
    let connector = crate::connectors(state)
        .get(&row.connector)
        .ok_or_else(|| {
            Error::internal(format!(
                "connector account {} uses the unknown connector {}",
                row.id, row.connector
            ))
        })?;
    let credentials = match &row.credentials_ciphertext {
        None => Value::Object(serde_json::Map::new()),
        Some(text) => {
            let plain = open(state, row, text, "credentials")?;
            serde_json::from_slice(&plain)
                .map_err(|_| Error::internal(format!("credentials of {} are not JSON", row.id)))?
        }
    };
    let context = AccountContext {
        account_id: row.id.clone(),
        credentials,
    };
    Ok((connector, context))
}

/// The decrypted webhook secret (for notifications later).
pub fn webhook_secret(state: &AppState, row: &ConnectorAccountRow) -> Result<String> {
    let plain = open(state, row, &row.webhook_secret_ciphertext, "webhook secret")?;
    String::from_utf8(plain)
        .map_err(|_| Error::internal(format!("webhook secret of {} is not text", row.id)))
}

fn open(state: &AppState, row: &ConnectorAccountRow, text: &str, what: &str) -> Result<Vec<u8>> {
    state.master_key.decrypt(text).map_err(|error| {
        Error::internal(format!("cannot decrypt the {what} of {}: {error}", row.id))
    })
}
