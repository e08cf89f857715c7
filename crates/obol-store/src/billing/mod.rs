//! Billing's tables: the catalog (products, features, packages, prices),
//! tax rates, invoices, coupons and subscriptions.

pub mod catalog;
pub mod coupons;
pub mod invoices;
pub mod subscriptions;
pub mod tax_rates;
