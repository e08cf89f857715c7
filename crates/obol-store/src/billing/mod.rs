//! Billing's tables: the catalog (products, features, packages, prices).

pub mod catalog;
