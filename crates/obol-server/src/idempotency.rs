//! `Idempotency-Key` on every POST: the first answer is stored and replayed.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use obol_core::time::{DAY_MS, SECOND_MS};
use obol_store::idempotency::{self, IdempotencyRow};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A running record older than this belongs to a process that died.
pub const STALE_AFTER_MS: i64 = 60 * SECOND_MS;
/// How long records are kept before the purge job deletes them.
pub const RETENTION_MS: i64 = 7 * DAY_MS;
/// Largest request body considered; larger ones are refused.
const MAX_BODY_BYTES: usize = 1 << 20;
const MAX_KEY_CHARS: usize = 255;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Whether an answer is stored: the ones that changed something. 400, 401,
/// 403, 404, 409, 429 and 500 changed nothing and may be retried as fixed.
fn is_stored(status: StatusCode) -> bool {
    status.is_success()
        || status.is_redirection()
        || status == StatusCode::PAYMENT_REQUIRED
        || status == StatusCode::BAD_GATEWAY
}

/// JSON with object keys sorted at every level, so that key order does not
/// make two requests differ.
fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(key, value)| {
                    format!("{}:{}", Value::String(key.clone()), canonical_json(value))
                })
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// SHA-256 of the canonical JSON of a body (the raw bytes if it is not JSON).
pub fn request_hash(body: &[u8]) -> String {
    let canonical = match serde_json::from_slice::<Value>(body) {
        Ok(value) => canonical_json(&value),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    match handle(state, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn handle(
    state: AppState,
    key: HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let key = key
        .to_str()
        .ok()
        .filter(|key| {
            !key.is_empty()
                && key.len() <= MAX_KEY_CHARS
                && key.bytes().all(|b| (0x20..0x7f).contains(&b))
        })
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
            )
            .into_response()
        })?
        .to_owned();
    let scope = request
        .extensions()
        .get::<Principal>()
        .map(Principal::idempotency_scope)
        .ok_or_else(|| ApiError::unauthenticated("no API key given").into_response())?;
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::bad_request("body_invalid", "the request body is too large").into_response()
        })?;
    let now_ms = state.now().as_ms();
    let record = IdempotencyRow {
        scope: scope.clone(),
        key: key.clone(),
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        request_hash: request_hash(&bytes),
        status: "running".into(),
        response_status: None,
        response_body: None,
        locked_at: now_ms,
        created_at: now_ms,
    };
    let internal = |error: obol_store::StoreError| ApiError::from(error).into_response();
    let mut conn = state
        .db
        .write_conn()
        .await
        .map_err(|e| ApiError::internal(e).into_response())?;
    let owned = if idempotency::try_start(&mut conn, &record)
        .await
        .map_err(internal)?
    {
        true
    } else {
        let existing = idempotency::get(&mut conn, &scope, &key)
            .await
            .map_err(internal)?
            .ok_or_else(|| ApiError::idempotency_in_progress().into_response())?;
        if existing.method != record.method
            || existing.path != record.path
            || existing.request_hash != record.request_hash
        {
            return Err(ApiError::idempotency_key_reused().into_response());
        }
        if existing.status == "done" {
            return Ok(replay(&existing));
        }
        idempotency::take_over_stale(&mut conn, &scope, &key, now_ms - STALE_AFTER_MS, now_ms)
            .await
            .map_err(internal)?
    };
    drop(conn);
    if !owned {
        return Err(ApiError::idempotency_in_progress().into_response());
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::internal(e).into_response())?;
    let mut conn = state
        .db
        .write_conn()
        .await
        .map_err(|e| ApiError::internal(e).into_response())?;
    if is_stored(parts.status) {
        let text = String::from_utf8_lossy(&body);
        idempotency::finish(
            &mut conn,
            &scope,
            &key,
            i64::from(parts.status.as_u16()),
            &text,
        )
        .await
        .map_err(internal)?;
    } else {
        idempotency::abandon(&mut conn, &scope, &key)
            .await
            .map_err(internal)?;
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn replay(record: &IdempotencyRow) -> Response {
    let status = record
        .response_status
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (status, record.response_body.clone().unwrap_or_default()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_does_not_matter() {
        assert_eq!(
            request_hash(br#"{"a":1,"b":{"y":[1,{"q":2,"p":1}],"x":null}}"#),
            request_hash(br#"{"b":{"x":null,"y":[1,{"p":1,"q":2}]},"a":1}"#)
        );
        assert_ne!(request_hash(br#"{"a":1}"#), request_hash(br#"{"a":2}"#));
    }
}
