//! Billing rules, pure: rounding, tax, discounts, calendar periods,
//! proration, dunning, and the subscription and invoice state machines.

pub mod discount;
pub mod dunning;
pub mod invoice;
pub mod period;
pub mod proration;
pub mod rounding;
pub mod subscription;
pub mod tax;

pub use discount::{Discount, discount_of};
pub use dunning::{DEFAULT_RETRY_DAYS, retry_at};
pub use invoice::{InvoiceCommand, InvoiceError, InvoiceStatus, invoice_transition};
pub use period::{Interval, period_boundary, period_containing};
pub use proration::{prorate, seconds_between};
pub use rounding::div_half_even;
pub use subscription::{
    SubscriptionCommand, SubscriptionError, SubscriptionStatus, SubscriptionTransition, bills,
    initial_status, may_change_price, transition,
};
pub use tax::{exclusive_tax, inclusive_tax};
