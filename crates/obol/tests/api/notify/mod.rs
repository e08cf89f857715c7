//! Notifications: webhook endpoints, signed deliveries, order callbacks,
//! emails.

mod delivery_load;
pub(crate) mod emails;
mod kill;
mod receiver;
mod ssrf;
mod webhooks;
