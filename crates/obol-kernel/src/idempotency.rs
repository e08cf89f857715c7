//! `Idempotency-Key` on every POST: the first answer is stored and replayed.

use crate::auth::Principal;
use crate::crypto::MasterKey;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use obol_core::Timestamp;
use obol_core::time::DAY_MS;
use obol_store::idempotency::{self, IdempotencyRow};
use serde_json::Value;
use std::time::Duration;
use tracing::Instrument;

/// How often a running request renews its record's sign of life.
const HEARTBEAT_MS: u64 = 2_000;
/// A running record with no sign of life for this long (real time)
/// belongs to a request that is gone (its process died); the next retry
/// takes it over. A request still running renews it every `HEARTBEAT_MS`,
/// however long its connector call takes, so it is never taken over.
pub const STALE_AFTER_MS: i64 = 15_000;
/// How long records are kept before the purge job deletes them.
pub const RETENTION_MS: i64 = 7 * DAY_MS;
/// Largest request body considered; larger ones are refused.
const MAX_BODY_BYTES: usize = 1 << 20;
const MAX_KEY_CHARS: usize = 255;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The request's `Idempotency-Key` with its scope and the fingerprint of
/// the request (method, path and body), put in the request's extensions for handlers that bind what
/// they make to it.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
}

impl IdempotencyKey {
    /// The key as bindings name it.
    pub fn binding(&self) -> idempotency::Binding<'_> {
        idempotency::Binding {
            scope: &self.scope,
            key: &self.key,
            request_hash: &self.request_hash,
        }
    }
}

/// The request's idempotency key, if it sent one: an extractor for the
/// handlers of routes that move money.
pub struct RequestKey(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for RequestKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestKey(
            parts.extensions.get::<IdempotencyKey>().cloned(),
        ))
    }
}

/// A response extension that every error answer carries: its `type`, so
/// that a handler's own `idempotency_error` keeps the record for the same
/// request instead of freeing the key.
#[derive(Debug, Clone, Copy)]
pub struct ErrorType(pub &'static str);

/// A response extension: the answer carries a secret shown once, so its
/// stored copy is sealed under the master key.
#[derive(Debug, Clone, Copy)]
pub struct SealedAnswer;

/// What becomes of a record once its request answered.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// 2xx, 402, 502: the answer is stored and replayed.
    Store,
    /// 500: nothing is stored, and only the same request may run again (it
    /// finds what the first attempt made through its bindings).
    Failed,
    /// 400, 401, 403, 404, 409, 429: changed nothing; the key is free for a
    /// corrected request.
    Drop,
}

fn outcome(status: StatusCode, error_type: Option<ErrorType>) -> Outcome {
    if matches!(error_type, Some(ErrorType("idempotency_error"))) {
        // A handler's own "still in progress" (a payment its first attempt
        // made, not settled yet): only the same request may ask again.
        Outcome::Failed
    } else if status.is_success()
        || status.is_redirection()
        || status == StatusCode::PAYMENT_REQUIRED
        || status == StatusCode::BAD_GATEWAY
    {
        Outcome::Store
    } else if status.is_server_error() {
        Outcome::Failed
    } else {
        Outcome::Drop
    }
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

/// The request's fingerprint: HMAC of the canonical JSON of the body (the raw
/// bytes if it is not JSON) under the master key, so that a card number or
/// CVC in a body cannot be recovered from it by guessing.
pub fn request_hash(master_key: &MasterKey, body: &[u8]) -> String {
    let canonical = match serde_json::from_slice::<Value>(body) {
        Ok(value) => canonical_json(&value),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    master_key.hmac_hex("idempotency_request", canonical.as_bytes())
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

/// The key if it is 1 to 255 printable ASCII characters.
fn parse_key(key: &HeaderValue) -> Option<String> {
    key.to_str()
        .ok()
        .filter(|key| {
            !key.is_empty()
                && key.len() <= MAX_KEY_CHARS
                && key.bytes().all(|b| (0x20..0x7f).contains(&b))
        })
        .map(str::to_owned)
}

fn internal(error: impl std::fmt::Display) -> Response {
    ApiError::internal(error).into_response()
}

async fn handle(
    state: AppState,
    key: HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let key = parse_key(&key).ok_or_else(|| {
        ApiError::invalid(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        )
        .into_response()
    })?;
    let scope = request
        .extensions()
        .get::<Principal>()
        .map(Principal::idempotency_scope)
        .ok_or_else(|| ApiError::unauthenticated("no API key given").into_response())?;
    let (mut parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::bad_request("body_invalid", "the request body is too large").into_response()
        })?;
    let alive_ms = Timestamp::system_now().as_ms();
    let owner = obol_core::id::random_token(24);
    let request_hash = request_hash(&state.master_key, &bytes);
    let record = IdempotencyRow {
        scope: scope.clone(),
        key: key.clone(),
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        request_hash: request_hash.clone(),
        status: "running".into(),
        response_status: None,
        response_body: None,
        response_sealed: 0,
        owner: Some(owner.clone()),
        locked_at: alive_ms,
        created_at: state.now().as_ms(),
    };
    let mut conn = state.db.write_conn().await.map_err(internal)?;
    if !idempotency::try_start(&mut conn, &record)
        .await
        .map_err(internal)?
    {
        let existing = idempotency::get(&mut conn, &scope, &key)
            .await
            .map_err(internal)?
            .ok_or_else(|| ApiError::idempotency_in_progress().into_response())?;
        // Records made before fingerprints were keyed have none: method and
        // path are all that can be compared.
        let same_body =
            existing.request_hash.is_empty() || existing.request_hash == record.request_hash;
        if existing.method != record.method || existing.path != record.path || !same_body {
            return Err(ApiError::idempotency_key_reused().into_response());
        }
        if existing.status == "done" {
            return Ok(replay(&state, &existing));
        }
        let stale_before_ms = alive_ms - STALE_AFTER_MS;
        if !idempotency::take_over(&mut conn, &scope, &key, &owner, stale_before_ms, alive_ms)
            .await
            .map_err(internal)?
        {
            return Err(ApiError::idempotency_in_progress().into_response());
        }
    }
    drop(conn);
    // What a binding is compared with names the route too: two routes may
    // take the same body (`{}`).
    let route_and_body = format!("{} {} {request_hash}", parts.method, parts.uri.path());
    parts.extensions.insert(IdempotencyKey {
        scope: scope.clone(),
        key: key.clone(),
        request_hash: state
            .master_key
            .hmac_hex("idempotency_binding", route_and_body.as_bytes()),
    });
    let request = Request::from_parts(parts, Body::from(bytes));
    let held = Held {
        state,
        scope,
        key,
        owner,
    };
    // The request runs to its end in a task of its own, so that a client
    // that goes away cannot cut a money movement off before its answer is
    // stored; in the request's span, so its logs keep the request id.
    tokio::spawn(held.run(next, request).in_current_span())
        .await
        .map_err(internal)
}

/// A request holding its idempotency record.
struct Held {
    state: AppState,
    scope: String,
    key: String,
    owner: String,
}

impl Held {
    /// Runs the handler while keeping the record alive, then stores or
    /// releases the record by the answer.
    async fn run(self, next: Next, request: Request) -> Response {
        // The handler runs apart from the heartbeat, so that a heartbeat
        // waiting for a connection never holds the handler up.
        let mut handler = tokio::spawn(next.run(request).in_current_span());
        let mut heartbeat = tokio::time::interval(Duration::from_millis(HEARTBEAT_MS));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let began = tokio::time::Instant::now();
        let response = loop {
            tokio::select! {
                response = &mut handler => break response.unwrap_or_else(internal),
                // A request stuck past any connector call it could make stops
                // renewing, so its key is not held forever (what it made is
                // bound to the key all the same).
                _ = heartbeat.tick(), if began.elapsed() < self.longest_run() => {
                    self.heartbeat().await
                }
            }
        };
        let (parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(error) => {
                self.release(Outcome::Failed).await;
                return internal(error);
            }
        };
        if self.state.failpoint.as_deref() == Some("pause_before_storing_answer") {
            // Test hook: stop after step 3, before the answer is stored, so a
            // test can kill the process there.
            tracing::warn!("failpoint pause_before_storing_answer reached");
            std::future::pending::<()>().await;
        }
        match outcome(parts.status, parts.extensions.get::<ErrorType>().copied()) {
            Outcome::Store => {
                let sealed = parts.extensions.get::<SealedAnswer>().is_some();
                if let Err(error) = self.store(parts.status, &body, sealed).await {
                    // The answer stands; a retry finds what this request made
                    // through its bindings instead of the stored answer.
                    tracing::error!(%error, "could not store an idempotent answer");
                    self.release(Outcome::Failed).await;
                }
            }
            other => self.release(other).await,
        }
        Response::from_parts(parts, Body::from(body))
    }

    /// The longest a request renews its record: two connector calls (an
    /// operation and the return of a late success) with their margins.
    fn longest_run(&self) -> Duration {
        let call_window_ms = self.state.call_window_ms();
        Duration::from_millis(u64::try_from(3 * call_window_ms).unwrap_or(u64::MAX))
    }

    async fn heartbeat(&self) {
        let now_ms = Timestamp::system_now().as_ms();
        let result = async {
            let mut conn = self.state.db.write_conn().await?;
            idempotency::heartbeat(&mut conn, &self.scope, &self.key, &self.owner, now_ms).await
        }
        .await;
        match result {
            Ok(true) => {}
            // Taken over after missed renewals: what this request made is
            // bound to the key, so the retry that holds it now answers from it.
            Ok(false) => {
                tracing::warn!("an idempotency record was taken over while its request ran")
            }
            Err(error) => tracing::warn!(%error, "could not renew an idempotency record"),
        }
    }

    async fn store(&self, status: StatusCode, body: &[u8], sealed: bool) -> Result<(), String> {
        if self.state.failpoint_once("fail_store_answer") {
            return Err("failpoint fail_store_answer".into());
        }
        let text = if sealed {
            self.state.master_key.encrypt(body)
        } else {
            String::from_utf8_lossy(body).into_owned()
        };
        let mut conn = self
            .state
            .db
            .write_conn()
            .await
            .map_err(|e| e.to_string())?;
        idempotency::finish(
            &mut conn,
            &self.scope,
            &self.key,
            &self.owner,
            i64::from(status.as_u16()),
            &text,
            sealed,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Marks the record failed or drops it; left as it is (and taken over
    /// once stale) if the database cannot be reached.
    async fn release(&self, outcome: Outcome) {
        let result = async {
            let mut conn = self.state.db.write_conn().await?;
            if outcome == Outcome::Drop {
                idempotency::abandon(&mut conn, &self.scope, &self.key, &self.owner).await
            } else {
                idempotency::release_failed(&mut conn, &self.scope, &self.key, &self.owner).await
            }
        }
        .await;
        if let Err(error) = result {
            tracing::error!(%error, "could not release an idempotency record");
        }
    }
}

fn replay(state: &AppState, record: &IdempotencyRow) -> Response {
    let status = record
        .response_status
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let stored = record.response_body.clone().unwrap_or_default();
    let body = if record.response_sealed != 0 {
        match state.master_key.decrypt(&stored) {
            Ok(body) => body,
            Err(error) => return internal(error),
        }
    } else {
        stored.into_bytes()
    };
    let mut response = (status, body).into_response();
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
        let key = MasterKey::from_bytes([7; 32]);
        assert_eq!(
            request_hash(&key, br#"{"a":1,"b":{"y":[1,{"q":2,"p":1}],"x":null}}"#),
            request_hash(&key, br#"{"b":{"x":null,"y":[1,{"p":1,"q":2}]},"a":1}"#)
        );
        assert_ne!(
            request_hash(&key, br#"{"a":1}"#),
            request_hash(&key, br#"{"a":2}"#)
        );
    }

    #[test]
    fn fingerprints_are_keyed() {
        use sha2::{Digest, Sha256};
        let body = br#"{"number":"4242424242424242"}"#;
        let one = request_hash(&MasterKey::from_bytes([1; 32]), body);
        let other = request_hash(&MasterKey::from_bytes([2; 32]), body);
        assert_ne!(one, other);
        assert_ne!(one, hex::encode(Sha256::digest(body)));
    }

    #[test]
    fn answers_kept_by_status() {
        assert_eq!(outcome(StatusCode::OK, None), Outcome::Store);
        assert_eq!(outcome(StatusCode::PAYMENT_REQUIRED, None), Outcome::Store);
        assert_eq!(outcome(StatusCode::BAD_GATEWAY, None), Outcome::Store);
        assert_eq!(
            outcome(StatusCode::INTERNAL_SERVER_ERROR, None),
            Outcome::Failed
        );
        let conflict = Some(ErrorType("invalid_request_error"));
        assert_eq!(outcome(StatusCode::CONFLICT, conflict), Outcome::Drop);
        let in_progress = Some(ErrorType("idempotency_error"));
        assert_eq!(outcome(StatusCode::CONFLICT, in_progress), Outcome::Failed);
        assert_eq!(outcome(StatusCode::BAD_REQUEST, None), Outcome::Drop);
    }
}
