//! A connector account's credentials, checked as it is created: the keys
//! its connector takes, an `api_base` the outbound policy lets Obol call,
//! and the connector's own check (one cheap authenticated call). Errors
//! name the key at fault and never quote a value.

use super::Credentials;
use crate::error::{Error, Result};
use obol_connectors::{AccountContext, Connector, ConnectorError};
use obol_kernel::state::AppState;
use obol_store::connector_accounts::ConnectorAccountRow;

/// The key every connector may take: a local stand-in for the provider.
const API_BASE: &str = "api_base";

/// The keys `connector` requires are there, as non-empty strings, and no
/// key it does not take (a connector naming no keys takes any object).
pub(super) fn check_keys(connector: &dyn Connector, given: Option<&Credentials>) -> Result<()> {
    let Some(keys) = connector.credential_keys() else {
        return Ok(());
    };
    let name = connector.name();
    let required = keys.required.join(", ");
    let Some(object) = given.and_then(|credentials| credentials.0.as_object()) else {
        return Err(Error::invalid(
            "credentials",
            format!("the {name} connector needs credentials: an object with {required}"),
        ));
    };
    for key in keys.required {
        if !object.contains_key(*key) {
            return Err(Error::invalid(
                format!("credentials[{key}]"),
                format!("the {name} connector needs credentials {required}; {key} is missing"),
            ));
        }
    }
    for (key, value) in object {
        if !keys.required.contains(&key.as_str()) && !keys.optional.contains(&key.as_str()) {
            let param = format!("credentials[{}]", key.chars().take(40).collect::<String>());
            return Err(Error::invalid(
                param,
                format!(
                    "the {name} connector takes the credentials {}",
                    [keys.required, keys.optional].concat().join(", ")
                ),
            ));
        }
        if value.as_str().is_none_or(str::is_empty) {
            return Err(Error::invalid(
                format!("credentials[{key}]"),
                format!("credentials {key} must be a non-empty string"),
            ));
        }
    }
    Ok(())
}

/// An `api_base` Obol may call (resolved now, so `localhost` is refused
/// where private networks are), then the connector's own check of the
/// credentials. Makes network calls: never inside a database transaction.
pub(super) async fn check(
    state: &AppState,
    row: &ConnectorAccountRow,
    given: Option<&Credentials>,
) -> Result<()> {
    let Some(credentials) = given else {
        return Ok(());
    };
    if let Some(api_base) = credentials.0.get(API_BASE).and_then(|v| v.as_str()) {
        state
            .outbound
            .check_url_resolved(api_base)
            .await
            .map_err(|refused| {
                Error::invalid(
                    format!("credentials[{API_BASE}]"),
                    format!("credentials api_base is refused: {refused}"),
                )
            })?;
    }
    let connector = crate::connectors(state)
        .get(&row.connector)
        .ok_or_else(|| Error::internal(format!("the connector {} vanished", row.connector)))?;
    let account = AccountContext {
        account_id: row.id.clone(),
        credentials: credentials.0.clone(),
    };
    connector
        .check_credentials(&account)
        .await
        .map_err(|error| refused(connector.as_ref(), error))
}

/// The connector's refusal as a 400 naming the key at fault: `api_base`
/// when the refusal is about it, else the connector's first required key
/// (its secret key).
fn refused(connector: &dyn Connector, error: ConnectorError) -> Error {
    let connector_name = connector.name();
    tracing::info!(connector = connector_name, %error, "connector account credentials refused");
    let secret_key = connector
        .credential_keys()
        .and_then(|keys| keys.required.first().copied())
        .unwrap_or("secret_key");
    match error {
        ConnectorError::Invalid(message) if message.contains(API_BASE) => {
            Error::invalid(format!("credentials[{API_BASE}]"), message)
        }
        ConnectorError::Invalid(message) => {
            Error::invalid(format!("credentials[{secret_key}]"), message)
        }
        ConnectorError::Unsupported(_) => Error::internal(error),
        ConnectorError::Provider { .. } | ConnectorError::Timeout => Error::invalid_request(
            "credentials_unverified",
            format!("the {connector_name} connector could not check the credentials: {error}"),
        )
        .with_param("credentials"),
    }
}
