//! Billing rules, pure: rounding, tax, discounts, calendar periods,
//! proration, dunning, and the subscription and invoice state machines.

pub mod discount;
pub mod dunning;
pub mod period;
pub mod proration;
pub mod rounding;
pub mod tax;

pub use discount::{Discount, discount_of};
pub use dunning::{DEFAULT_RETRY_DAYS, retry_at};
pub use period::{Interval, period_boundary, period_containing};
pub use proration::{prorate, seconds_between};
pub use rounding::div_half_even;
pub use tax::{exclusive_tax, inclusive_tax};
