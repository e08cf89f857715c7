//! `/v1/emails` and `/v1/email_templates`.

use crate::emails::{self, Email, EmailTemplate, PutEmailTemplate};
use axum::Json;
use axum::extract::{Path, State};
use obol_core::{CustomerId, EmailId, OrderId};
use obol_kernel::auth::BrandAuth;
use obol_kernel::error::{ApiResult, ErrorBody};
use obol_kernel::extract::{ApiJson, QueryParams};
use obol_kernel::list::List;
use obol_kernel::state::AppState;
use obol_store::emails::EmailFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_emails))
        .routes(routes!(get_email))
        .routes(routes!(list_email_templates))
        .routes(routes!(put_email_template))
}

/// Every email the brand's customers (and its support address) were sent
/// or are to be sent, newest first; `order_id` and `customer_id` filter.
#[utoipa::path(get, path = "/v1/emails", tag = "emails",
    params(("order_id" = Option<String>, Query), ("customer_id" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("starting_after" = Option<String>, Query)),
    responses((status = 200, body = List<Email>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_emails(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<Email>>> {
    let request = query.list(|query| {
        Ok(EmailFilter {
            order_id: query.take("order_id")?.map(OrderId::from),
            customer_id: query.take("customer_id")?.map(CustomerId::from),
        })
    })?;
    Ok(Json(emails::list(&state, &auth.brand_id, request).await?))
}

/// One email: what it says, to whom, and how sending it went.
#[utoipa::path(get, path = "/v1/emails/{id}", tag = "emails",
    params(("id" = String, Path, description = "email id")),
    responses((status = 200, body = Email), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_email(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(id): Path<EmailId>,
) -> ApiResult<Json<Email>> {
    Ok(Json(emails::get(&state, &auth.brand_id, &id).await?))
}

/// Each email's template as the brand's emails use it: its own version, or
/// the built-in one (`source`).
#[utoipa::path(get, path = "/v1/email_templates", tag = "emails",
    responses((status = 200, body = List<EmailTemplate>)),
    security(("bearer" = [])))]
async fn list_email_templates(
    State(state): State<AppState>,
    auth: BrandAuth,
    query: QueryParams,
) -> ApiResult<Json<List<EmailTemplate>>> {
    query.finish()?;
    Ok(Json(emails::templates(&state, &auth.brand_id).await?))
}

/// Sets the brand's own subject, text and HTML of an email; one that does
/// not render against sample contexts is 400, naming the part.
#[utoipa::path(put, path = "/v1/email_templates/{name}", tag = "emails",
    params(("name" = String, Path, description = "email template name, e.g. payment_confirmation")),
    request_body = PutEmailTemplate,
    responses((status = 200, body = EmailTemplate), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_email_template(
    State(state): State<AppState>,
    auth: BrandAuth,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<PutEmailTemplate>,
) -> ApiResult<Json<EmailTemplate>> {
    Ok(Json(
        emails::put_template(&state, &auth.brand_id, &name, input).await?,
    ))
}
