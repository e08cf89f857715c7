//! Integration tests: the real server over HTTP, on SQLite and PostgreSQL.

pub mod harness;

mod checkout;
mod commission;
mod connector_accounts;
mod customers;
mod idempotency;
mod jobs;
mod kill_retries;
mod ledger;
mod open_payments;
mod openapi;
mod orders;
pub mod process;
mod retries;
mod roles;
mod sandbox;
mod secrets;
mod tenancy;
mod test_clock;
mod validation;
