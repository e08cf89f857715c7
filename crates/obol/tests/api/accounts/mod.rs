//! Accounts: brands, API keys and roles, customers, the ledger, commission.

mod commission;
mod customers;
mod exchange_rates;
mod ledger;
mod redeem_codes;
mod roles;
mod tenancy;
mod top_ups;
mod wallets;
