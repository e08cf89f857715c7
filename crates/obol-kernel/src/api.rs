//! `/health`, `/openapi.json` and the test clock.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use obol_core::Timestamp;
use obol_core::time::SECOND_MS;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

pub fn test_clock_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_test_clock))
        .routes(routes!(advance_test_clock))
}

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Liveness and database reachability; no key needed.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health), (status = 500, body = ErrorBody)))]
async fn health(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    crate::health::check_database(&state).await?;
    Ok(Json(Health { status: "ok" }))
}

/// The test clock's time.
#[derive(Serialize, ToSchema)]
pub struct TestClockView {
    /// Always `test_clock`.
    pub object: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub now: Timestamp,
}

/// `POST /v1/test_clock/advance`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceTestClock {
    /// Seconds to move forward (1 to 10 years' worth).
    pub seconds: i64,
}

const ADVANCE_MAX_SECONDS: i64 = 10 * 366 * 24 * 3600;

fn require_test_clock(state: &AppState) -> ApiResult<()> {
    if state.test_clock.is_some() {
        Ok(())
    } else {
        Err(ApiError::route_not_found())
    }
}

/// The test clock's time (admin key; only with `OBOL_TEST_CLOCK=1`).
#[utoipa::path(get, path = "/v1/test_clock", tag = "test_clock",
    responses((status = 200, body = TestClockView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_test_clock(State(state): State<AppState>) -> ApiResult<Json<TestClockView>> {
    require_test_clock(&state)?;
    Ok(Json(TestClockView {
        object: "test_clock",
        now: state.now(),
    }))
}

/// Moves the test clock forward, running every job that falls due on the
/// way, each at its own due time and in order, before answering.
#[utoipa::path(post, path = "/v1/test_clock/advance", tag = "test_clock", request_body = AdvanceTestClock,
    responses((status = 200, body = TestClockView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn advance_test_clock(
    State(state): State<AppState>,
    input: Result<ApiJson<AdvanceTestClock>, ApiError>,
) -> ApiResult<Json<TestClockView>> {
    // Without the test clock the route does not exist, whatever the body.
    require_test_clock(&state)?;
    let ApiJson(input) = input?;
    if !(1..=ADVANCE_MAX_SECONDS).contains(&input.seconds) {
        return Err(ApiError::invalid(
            "seconds",
            format!("seconds must be from 1 to {ADVANCE_MAX_SECONDS}"),
        ));
    }
    let target = state.now().plus_ms(input.seconds * SECOND_MS);
    crate::jobs::advance_test_clock(&state, target).await?;
    Ok(Json(TestClockView {
        object: "test_clock",
        now: state.now(),
    }))
}
