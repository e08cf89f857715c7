//! The one source of time for domain code.

use crate::Timestamp;

/// Where all code reads the current time from: the system clock, or the
/// test clock that moves only when told.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}
