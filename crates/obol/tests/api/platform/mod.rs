//! What every domain shares: jobs and the test clock, idempotency, input
//! validation, secrets at rest, the OpenAPI document, the server process,
//! upgrades from the previous binary's database.

mod idempotency;
mod job_kind;
mod jobs;
mod openapi;
mod openapi_tools;
pub mod process;
mod secrets;
pub mod serve;
mod test_clock;
mod upgrade;
mod validation;
