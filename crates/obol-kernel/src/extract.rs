//! Request parsing with the contract's errors: JSON bodies and query strings.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use obol_store::page::PageRequest;
use serde::de::DeserializeOwned;

/// A JSON body: malformed JSON, a wrong type, a missing or an unknown field
/// each answer 400 naming the parameter (`items[0][name]`). The body is read
/// as JSON whatever its Content-Type, so `curl -d` works as is.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|_| {
            ApiError::bad_request("body_invalid", "the request body could not be read")
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON object body (an empty body is `{}`) into `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|error| {
        ApiError::bad_request(
            "json_invalid",
            format!("the request body is not valid JSON: {error}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "json_invalid",
            "the request body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = param_name(error.path());
        let message = error.inner().to_string();
        field_error(&path, &message)
    })
}

/// `items[0].name` in serde's notation becomes `items[0][name]`.
fn param_name(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        let part = match segment {
            serde_path_to_error::Segment::Seq { index } => index.to_string(),
            serde_path_to_error::Segment::Map { key } => key.clone(),
            serde_path_to_error::Segment::Enum { variant } => variant.clone(),
            serde_path_to_error::Segment::Unknown => continue,
        };
        if out.is_empty() {
            out = part;
        } else {
            out.push_str(&format!("[{part}]"));
        }
    }
    out
}

fn join_param(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}[{field}]")
    }
}

/// Turns serde's message into the contract's code and parameter name.
fn field_error(path: &str, message: &str) -> ApiError {
    let quoted = message.split('`').nth(1).unwrap_or_default();
    if message.starts_with("unknown field") {
        // serde's path already ends at the unknown field itself.
        let param = if path == quoted || path.ends_with(&format!("[{quoted}]")) {
            path.to_owned()
        } else {
            join_param(path, quoted)
        };
        ApiError::bad_request("parameter_unknown", format!("unknown parameter: {param}"))
            .with_param(param)
    } else if message.starts_with("missing field") {
        let param = join_param(path, quoted);
        ApiError::bad_request(
            "parameter_missing",
            format!("missing required parameter: {param}"),
        )
        .with_param(param)
    } else {
        let param = if path.is_empty() {
            quoted.to_owned()
        } else {
            path.to_owned()
        };
        // serde quotes the offending value: never echo card data.
        if param.contains("[card]") {
            return ApiError::invalid(param.clone(), format!("invalid value for {param}"));
        }
        let detail = message.split(" at line").next().unwrap_or(message);
        ApiError::invalid(
            param.clone(),
            format!("invalid value for {param}: {detail}"),
        )
    }
}

/// The query string as pairs, taken one by one; `finish` rejects any left over.
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query)?;
        Ok(QueryParams(pairs))
    }
}

impl QueryParams {
    /// The pairs of a form body (`application/x-www-form-urlencoded`),
    /// taken the same way as a query string's.
    pub fn from_form(body: &str) -> Result<QueryParams, ApiError> {
        serde_urlencoded_pairs(body).map(QueryParams)
    }
}

fn serde_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|part| !part.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let key = percent_decode(key).ok_or_else(|| {
            ApiError::bad_request("parameter_invalid", "the query string is not valid")
        })?;
        let value = percent_decode(value)
            .ok_or_else(|| ApiError::invalid(key.clone(), format!("{key} is not valid")))?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Page size bounds of every list.
pub const LIST_LIMIT_MAX: i64 = 100;
pub const LIST_LIMIT_DEFAULT: i64 = 20;

impl QueryParams {
    /// Removes and returns a parameter; given twice is 400.
    pub fn take(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut found = None;
        let mut error = None;
        self.0.retain(|(key, value)| {
            if key != name {
                return true;
            }
            if found.is_some() {
                error = Some(ApiError::invalid(
                    name,
                    format!("{name} is given more than once"),
                ));
            }
            found = Some(value.clone());
            false
        });
        match error {
            Some(error) => Err(error),
            None => Ok(found),
        }
    }

    /// Takes `limit` and `starting_after`; the caller checks that the id exists.
    pub fn page(&mut self) -> Result<PageRequest, ApiError> {
        let limit = match self.take("limit")? {
            None => LIST_LIMIT_DEFAULT,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|limit| (1..=LIST_LIMIT_MAX).contains(limit))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "limit",
                        format!("limit must be an integer from 1 to {LIST_LIMIT_MAX}"),
                    )
                })?,
        };
        let starting_after = self.take("starting_after")?;
        if starting_after.as_deref() == Some("") {
            return Err(ApiError::invalid(
                "starting_after",
                "starting_after must be an id",
            ));
        }
        Ok(PageRequest {
            limit,
            starting_after,
        })
    }

    /// Fails with `parameter_unknown` on any parameter not taken.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.into_iter().next() {
            None => Ok(()),
            Some((key, _)) => Err(ApiError::bad_request(
                "parameter_unknown",
                format!("unknown parameter: {key}"),
            )
            .with_param(key)),
        }
    }
}

/// 400 for a `starting_after` that names no object of the list.
/// 400 param `starting_after` when a list's cursor names no object of the
/// list: `find` looks the cursor up (only when one is given).
pub async fn check_cursor<'a, T, F>(
    cursor: Option<&'a str>,
    find: impl FnOnce(&'a str) -> F,
) -> Result<(), ApiError>
where
    F: std::future::Future<Output = obol_store::Result<Option<T>>>,
{
    match cursor {
        Some(after) if find(after).await?.is_none() => Err(unknown_cursor(after)),
        _ => Ok(()),
    }
}

pub fn unknown_cursor(id: &str) -> ApiError {
    ApiError::invalid(
        "starting_after",
        format!("starting_after names no object of this list: '{id}'"),
    )
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`)
/// or a value (`Some(Some(v))`), for PATCH bodies.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
