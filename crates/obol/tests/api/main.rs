//! Integration tests: the real server over HTTP, on SQLite and PostgreSQL.

pub mod harness;

mod customers;
mod idempotency;
mod jobs;
mod openapi;
mod process;
mod roles;
mod secrets;
mod tenancy;
mod test_clock;
mod validation;
