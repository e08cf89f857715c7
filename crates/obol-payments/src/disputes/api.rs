//! `/v1/disputes`.

use crate::disputes::{self, Dispute, SubmitEvidence};
use axum::Json;
use axum::extract::{Path, State};
use obol_core::DisputeId;
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_disputes))
        .routes(routes!(get_dispute))
        .routes(routes!(submit_evidence))
}

/// The brand's disputes (chargebacks), newest first.
#[utoipa::path(get, path = "/v1/disputes", tag = "disputes",
    params(("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Dispute>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_disputes(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Dispute>>> {
    let request = query.list(|_| Ok(()))?;
    Ok(Json(
        disputes::list(&state, &auth.brand_id, &request.page).await?,
    ))
}

/// One dispute.
#[utoipa::path(get, path = "/v1/disputes/{id}", tag = "disputes",
    params(("id" = String, Path, description = "dispute id")),
    responses((status = 200, body = Dispute), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_dispute(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<DisputeId>,
) -> ApiResult<Json<Dispute>> {
    Ok(Json(disputes::find(&state, &auth.brand_id, &id).await?))
}

/// Answers a dispute that needs a response with evidence: it is then
/// `under_review`.
#[utoipa::path(post, path = "/v1/disputes/{id}/evidence", tag = "disputes",
    request_body = SubmitEvidence,
    params(("id" = String, Path, description = "dispute id")),
    responses((status = 200, body = Dispute), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn submit_evidence(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<DisputeId>,
    ApiJson(input): ApiJson<SubmitEvidence>,
) -> ApiResult<Json<Dispute>> {
    Ok(Json(
        disputes::submit_evidence(&state, &auth.brand_id, &id, input).await?,
    ))
}
