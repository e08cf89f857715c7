//! Accounts: brands, API keys and roles, customers, the ledger, commission.

mod child_brands;
mod commission;
mod customers;
mod exchange_rates;
mod ledger;
mod ledger_check;
mod redeem_codes;
mod roles;
mod tenancy;
mod top_ups;
mod wallet_payments;
mod wallet_properties;
mod wallets;
