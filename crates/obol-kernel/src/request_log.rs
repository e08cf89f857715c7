//! A `Request-Id` on every response and one log line per request.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

/// The request's id, available to handlers and logged with every line.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn middleware(mut request: Request, next: Next) -> Response {
    let request_id = obol_core::id::new_id("req");
    let method = request.method().clone();
    // The path only: a query string may carry an order's client_secret.
    let path = request.uri().path().to_owned();
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let span = tracing::info_span!("request", request_id = %request_id);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span).await;
    let latency_us = started.elapsed().as_micros() as u64;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", value);
    }
    let status = response.status().as_u16();
    tracing::info!(%method, %path, status, latency_us, request_id = %request_id, "request");
    response
}
