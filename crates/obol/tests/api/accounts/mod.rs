//! Accounts: brands, API keys and roles, customers, the ledger, commission.

mod commission;
mod customers;
mod ledger;
mod roles;
mod tenancy;
mod top_ups;
mod wallets;
