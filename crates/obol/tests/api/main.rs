//! Integration tests: the real server over HTTP, on SQLite and PostgreSQL,
//! one folder per domain; one harness for all.

pub mod browser;
pub mod harness;

mod accounts;
mod billing;
mod notify;
mod payments;
mod platform;
