//! Notifications: webhook endpoints, signed deliveries, order callbacks.

mod delivery_load;
mod kill;
mod receiver;
mod ssrf;
mod webhooks;
