//! Billing: the catalog.

mod catalog;
