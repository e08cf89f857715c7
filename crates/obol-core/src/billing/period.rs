//! Calendar-correct billing periods: every boundary is counted from the
//! anchor, keeping its UTC time of day and, for months and years, its day
//! of month clamped to the target month's length.

use crate::time::{DAY_MS, Timestamp};
use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// The unit a price's billing period is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

/// Every interval, for parsing and tests.
pub const ALL_INTERVALS: [Interval; 4] = [
    Interval::Day,
    Interval::Week,
    Interval::Month,
    Interval::Year,
];

impl Interval {
    /// The interval's name in the API (`day`, `week`, `month`, `year`).
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }

    /// The interval named `text`, as [`Interval::as_str`] spells it.
    pub fn parse(text: &str) -> Option<Interval> {
        ALL_INTERVALS
            .into_iter()
            .find(|interval| interval.as_str() == text)
    }
}

/// The instant `n` periods of `interval_count` × `interval` after `anchor`
/// (`n = 0` is the anchor). Days and weeks add whole 24-hour days; months
/// and years land on the anchor's day of month, clamped to the target
/// month's length (Jan 31 → Feb 29 → Mar 31). `None` for a zero
/// `interval_count` or an instant out of range.
pub fn period_boundary(
    anchor: Timestamp,
    interval: Interval,
    interval_count: u32,
    n: u32,
) -> Option<Timestamp> {
    if interval_count == 0 {
        return None;
    }
    let periods = i64::from(interval_count).checked_mul(i64::from(n))?;
    match interval {
        Interval::Day | Interval::Week => {
            let delay_ms = periods.checked_mul(fixed_period_ms(interval, 1)?)?;
            anchor.as_ms().checked_add(delay_ms).map(Timestamp::from_ms)
        }
        Interval::Month | Interval::Year => {
            let (date, ms_of_day) = split(anchor)?;
            let months = periods.checked_mul(months_per_unit(interval))?;
            let target = date_in_month(month_index(date).checked_add(months)?, date.day())?;
            join(target, ms_of_day)
        }
    }
}

/// The period that contains `at`: its index `n` and its `[start, end)`,
/// the boundaries `n` and `n + 1`. `None` before the anchor, for a zero
/// `interval_count`, or out of range.
pub fn period_containing(
    anchor: Timestamp,
    interval: Interval,
    interval_count: u32,
    at: Timestamp,
) -> Option<(u32, Timestamp, Timestamp)> {
    if at < anchor || interval_count == 0 {
        return None;
    }
    let boundary = |n: u32| period_boundary(anchor, interval, interval_count, n);
    let mut n = estimate_index(anchor, interval, interval_count, at)?;
    // Whole calendar months put the estimate at most one period ahead: when
    // `at` lies in a boundary's month but before that boundary's day.
    if boundary(n)? > at {
        n = n.checked_sub(1)?;
    }
    let start = boundary(n)?;
    let end = boundary(n.checked_add(1)?)?;
    debug_assert!(
        start <= at && at < end,
        "period estimate off by more than one"
    );
    (start <= at && at < end).then_some((n, start, end))
}

/// The period index of `at`: exact for days and weeks, for months and
/// years the count of whole periods of calendar months (never below the
/// true index, at most one above it).
fn estimate_index(
    anchor: Timestamp,
    interval: Interval,
    interval_count: u32,
    at: Timestamp,
) -> Option<u32> {
    let elapsed = match interval {
        Interval::Day | Interval::Week => {
            let since_ms = at.as_ms().checked_sub(anchor.as_ms())?;
            since_ms / fixed_period_ms(interval, interval_count)?
        }
        Interval::Month | Interval::Year => {
            let months = month_index(split(at)?.0) - month_index(split(anchor)?.0);
            months / months_per_unit(interval).checked_mul(i64::from(interval_count))?
        }
    };
    u32::try_from(elapsed).ok()
}

/// Milliseconds in `count` days or weeks; `None` for months and years,
/// whose length varies.
fn fixed_period_ms(interval: Interval, count: u32) -> Option<i64> {
    let days = match interval {
        Interval::Day => 1,
        Interval::Week => 7,
        Interval::Month | Interval::Year => return None,
    };
    (days * DAY_MS).checked_mul(i64::from(count))
}

fn months_per_unit(interval: Interval) -> i64 {
    match interval {
        Interval::Year => 12,
        _ => 1,
    }
}

/// The Julian day of 1970-01-01, where `Timestamp` counts from.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// A timestamp as its UTC date and milliseconds into that day.
fn split(at: Timestamp) -> Option<(Date, i64)> {
    let days = at.as_ms().div_euclid(DAY_MS);
    let julian_day = i32::try_from(days.checked_add(UNIX_EPOCH_JULIAN_DAY)?).ok()?;
    let date = Date::from_julian_day(julian_day).ok()?;
    Some((date, at.as_ms().rem_euclid(DAY_MS)))
}

fn join(date: Date, ms_of_day: i64) -> Option<Timestamp> {
    let days = i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY;
    let ms = days.checked_mul(DAY_MS)?.checked_add(ms_of_day)?;
    Some(Timestamp::from_ms(ms))
}

/// Months since year 0: the year's twelve months are consecutive indexes.
fn month_index(date: Date) -> i64 {
    i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1
}

/// The date on `day` of the month at `index`, or its last day if shorter.
fn date_in_month(index: i64, day: u8) -> Option<Date> {
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    Date::from_calendar_date(year, month, day.min(month.length(year))).ok()
}

#[cfg(test)]
mod tests;
