//! Payments: connector accounts, orders, transactions, refunds, mandates,
//! the sandbox, and retries of every kind.

mod bitpay;
mod card_data;
mod checkout;
mod checkout_security;
mod coinpayments;
mod connector_accounts;
mod crypto;
mod disputes;
mod hosted_page;
mod kill_retries;
mod mandates;
mod notifications;
mod open_payments;
mod orders;
mod purge;
mod retries;
mod routing;
mod sandbox;
mod standins;
mod stripe;
mod stripe_events;
mod stripe_lost_answers;
mod stripe_mandates;
