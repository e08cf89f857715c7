//! UTC instants at millisecond precision, rendered as RFC 3339.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A UTC instant, milliseconds since the Unix epoch; stored as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Milliseconds in one second, for readable arithmetic.
pub const SECOND_MS: i64 = 1000;
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

impl Timestamp {
    pub fn from_ms(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn as_ms(self) -> i64 {
        self.0
    }

    /// The wall clock, for the system clock only: domain code reads a `Clock`.
    pub fn system_now() -> Self {
        let now = OffsetDateTime::now_utc();
        Timestamp((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn plus_ms(self, delta_ms: i64) -> Self {
        Timestamp(self.0.saturating_add(delta_ms))
    }

    /// RFC 3339 text in UTC (`2026-11-23T10:00:00.123Z`, or no fraction when
    /// the milliseconds are zero).
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(datetime) => {
                let text = datetime.format(&Rfc3339).unwrap_or_default();
                text.replace("+00:00", "Z")
            }
            Err(_) => String::new(),
        }
    }

    /// Parses RFC 3339 text with any offset into a UTC instant.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let datetime = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        Some(Timestamp(
            (datetime.unix_timestamp_nanos() / 1_000_000) as i64,
        ))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-11-23T10:00:00Z");
        let t = Timestamp::parse_rfc3339("2026-11-23T11:00:00.250+01:00").expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-11-23T10:00:00.25Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
    }
}
