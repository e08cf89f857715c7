//! `POST /v1/ipn/{connector_account_id}`: no API key, the connector's own
//! signature instead.

use super::Receipt;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use obol_core::ConnectorAccountId;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_notification))
}

/// What Obol answers a connector that notified it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationReceipt {
    /// Always `notification_receipt`.
    pub object: &'static str,
    /// `applied`, `unchanged` (the transaction already stood so),
    /// `duplicate` (this event was received before) or `unmatched` (no
    /// transaction of the account matches it: recorded, not applied).
    pub result: Receipt,
}

/// A connector's notification (webhook, IPN) about one of its payments,
/// verified by that connector's own signature scheme with the account's
/// webhook secret, de-duplicated by the connector's event id and applied
/// only to a transaction still open. An unverifiable one is 400 and
/// changes nothing.
#[utoipa::path(post, path = "/v1/ipn/{connector_account_id}", tag = "notifications",
    params(("connector_account_id" = String, Path)),
    request_body(content = String, content_type = "application/json",
        description = "the notification exactly as the connector sent it (the sandbox: Standard Webhooks headers and a JSON body; CoinPayments: a form-encoded IPN signed in its `HMAC` header; BitPay: an unsigned JSON hint, checked with BitPay before anything is applied)"),
    responses((status = 200, body = NotificationReceipt, description = "received (applied, or changing nothing)"),
        (status = 400, body = ErrorBody, description = "unverifiable (`signature_invalid`) or malformed: nothing changed"),
        (status = 404, body = ErrorBody, description = "no such connector account, or no payment of it matches yet (not recorded: a retry may match)")))]
async fn receive_notification(
    State(state): State<AppState>,
    Path(account_id): Path<ConnectorAccountId>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<NotificationReceipt>> {
    let result = super::receive(&state, &account_id, &headers, &body).await?;
    Ok(Json(NotificationReceipt {
        object: "notification_receipt",
        result,
    }))
}
