//! A brand's billing settings: its invoice number prefix and the days on
//! which a failed renewal is retried.

use crate::error::{Error, Result};
use obol_store::brands::BrandRow;

const PREFIX_MAX: usize = 12;
const RETRIES_MAX: usize = 8;
const RETRY_DAY_MAX: i64 = 60;
/// The retries of a brand that set none: 1, 3, 5 and 7 days after the failure.
pub const DEFAULT_DUNNING_RETRY_DAYS: [u32; 4] = [1, 3, 5, 7];

/// Checks a prefix: 1 to 12 upper-case letters, digits or dashes.
pub fn invoice_prefix(value: &str) -> Result<String> {
    let well_formed = (1..=PREFIX_MAX).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if well_formed {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            "invoice_prefix",
            format!(
                "invoice_prefix must be 1 to {PREFIX_MAX} upper-case letters, digits or dashes"
            ),
        ))
    }
}

/// Checks retry days (increasing, 1 to 60, at most 8) and stores them as JSON.
pub fn dunning_retry_days(days: &[i64]) -> Result<String> {
    let increasing = days.windows(2).all(|pair| pair[0] < pair[1]);
    let in_range = days.iter().all(|day| (1..=RETRY_DAY_MAX).contains(day));
    if days.len() > RETRIES_MAX || !increasing || !in_range {
        return Err(Error::invalid(
            "dunning_retry_days",
            format!(
                "dunning_retry_days must be at most {RETRIES_MAX} increasing days from 1 to {RETRY_DAY_MAX}"
            ),
        ));
    }
    serde_json::to_string(days).map_err(Error::internal)
}

/// The brand's prefix: its own, else the letters and digits of its name
/// (upper-cased, at most 8), else `INV`.
pub fn invoice_prefix_of(row: &BrandRow) -> String {
    if let Some(prefix) = &row.invoice_prefix {
        return prefix.clone();
    }
    let derived: String = row
        .name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .take(8)
        .collect();
    if derived.is_empty() {
        "INV".to_owned()
    } else {
        derived
    }
}

/// The brand's retry days, the default when unset (or, impossibly, unreadable).
pub fn dunning_retry_days_of(row: &BrandRow) -> Vec<u32> {
    row.dunning_retry_days
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| DEFAULT_DUNNING_RETRY_DAYS.to_vec())
}
