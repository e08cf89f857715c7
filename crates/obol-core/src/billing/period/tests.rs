use super::*;
use crate::time::HOUR_MS;
use proptest::prelude::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("a valid test timestamp")
}

fn boundaries(anchor: &str, interval: Interval, count: u32, up_to: u32) -> Vec<String> {
    (1..=up_to)
        .map(|n| {
            period_boundary(at(anchor), interval, count, n)
                .expect("in range")
                .to_rfc3339()
        })
        .collect()
}

#[test]
fn intervals_parse_and_print() {
    for interval in ALL_INTERVALS {
        assert_eq!(Interval::parse(interval.as_str()), Some(interval));
    }
    assert_eq!(Interval::parse("month"), Some(Interval::Month));
    assert_eq!(Interval::parse("Month"), None);
    assert_eq!(Interval::parse("fortnight"), None);
}

#[test]
fn monthly_from_the_31st_clamps_and_recovers() {
    let anchor = "2028-01-31T10:00:00Z";
    assert_eq!(
        period_boundary(at(anchor), Interval::Month, 1, 0),
        Some(at(anchor))
    );
    // Counted from the anchor, so March is back on the 31st, not the 29th.
    assert_eq!(
        boundaries(anchor, Interval::Month, 1, 4),
        [
            "2028-02-29T10:00:00Z",
            "2028-03-31T10:00:00Z",
            "2028-04-30T10:00:00Z",
            "2028-05-31T10:00:00Z",
        ]
    );
    assert_eq!(
        boundaries("2027-01-31T10:00:00Z", Interval::Month, 1, 1),
        ["2027-02-28T10:00:00Z"]
    );
}

#[test]
fn yearly_from_a_leap_day() {
    assert_eq!(
        boundaries("2028-02-29T10:00:00Z", Interval::Year, 1, 4),
        [
            "2029-02-28T10:00:00Z",
            "2030-02-28T10:00:00Z",
            "2031-02-28T10:00:00Z",
            "2032-02-29T10:00:00Z",
        ]
    );
}

#[test]
fn counts_multiply_the_interval() {
    assert_eq!(
        boundaries("2028-11-30T00:00:00Z", Interval::Month, 3, 2),
        ["2029-02-28T00:00:00Z", "2029-05-30T00:00:00Z"]
    );
    assert_eq!(
        boundaries("2028-02-29T00:00:00Z", Interval::Year, 4, 1),
        ["2032-02-29T00:00:00Z"]
    );
    assert_eq!(
        period_boundary(at("2028-01-01T00:00:00Z"), Interval::Month, 0, 1),
        None
    );
}

#[test]
fn days_and_weeks_are_fixed_multiples() {
    let anchor = at("2028-03-25T23:30:00.250Z");
    assert_eq!(
        period_boundary(anchor, Interval::Day, 1, 3),
        Some(anchor.plus_ms(3 * DAY_MS))
    );
    assert_eq!(
        period_boundary(anchor, Interval::Week, 2, 3),
        Some(anchor.plus_ms(42 * DAY_MS))
    );
    assert_eq!(
        period_boundary(Timestamp::from_ms(i64::MAX - DAY_MS), Interval::Day, 1, 2),
        None
    );
}

#[test]
fn keeps_the_milliseconds_of_the_day_and_works_before_1970() {
    assert_eq!(
        boundaries("2028-01-31T23:59:59.999Z", Interval::Month, 1, 1),
        ["2028-02-29T23:59:59.999Z"]
    );
    assert_eq!(
        boundaries("1969-12-31T12:00:00Z", Interval::Month, 1, 2),
        ["1970-01-31T12:00:00Z", "1970-02-28T12:00:00Z"]
    );
}

#[test]
fn containing_period_examples() {
    let anchor = at("2028-01-31T10:00:00Z");
    let period = |text: &str| period_containing(anchor, Interval::Month, 1, at(text));
    let expect = |n: u32, start: &str, end: &str| Some((n, at(start), at(end)));
    assert_eq!(
        period("2028-01-31T10:00:00Z"),
        expect(0, "2028-01-31T10:00:00Z", "2028-02-29T10:00:00Z")
    );
    assert_eq!(
        period("2028-02-29T09:59:59.999Z"),
        expect(0, "2028-01-31T10:00:00Z", "2028-02-29T10:00:00Z")
    );
    assert_eq!(
        period("2028-02-29T10:00:00Z"),
        expect(1, "2028-02-29T10:00:00Z", "2028-03-31T10:00:00Z")
    );
    // In May before the 31st: still April's period.
    assert_eq!(
        period("2028-05-15T00:00:00Z"),
        expect(3, "2028-04-30T10:00:00Z", "2028-05-31T10:00:00Z")
    );
    assert_eq!(period("2028-01-31T09:59:59Z"), None);

    let daily = at("2028-01-01T00:00:00Z");
    let ten_years_on = daily.plus_ms(3652 * DAY_MS + HOUR_MS);
    assert_eq!(
        period_containing(daily, Interval::Day, 1, ten_years_on),
        Some((
            3652,
            daily.plus_ms(3652 * DAY_MS),
            daily.plus_ms(3653 * DAY_MS)
        ))
    );
}

/// 1900-01-01 to 2200-01-01.
fn any_instant() -> impl Strategy<Value = Timestamp> {
    (-2_208_988_800_000i64..7_258_118_400_000).prop_map(Timestamp::from_ms)
}

fn any_interval() -> impl Strategy<Value = Interval> {
    proptest::sample::select(ALL_INTERVALS.to_vec())
}

proptest! {
    #[test]
    fn boundaries_strictly_increase(
        anchor in any_instant(),
        interval in any_interval(),
        count in 1u32..=24,
        // Up to 4800 years on: within the calendar's year 9999.
        n in 0u32..200,
    ) {
        let this = period_boundary(anchor, interval, count, n);
        let next = period_boundary(anchor, interval, count, n + 1);
        prop_assert!(this.is_some() && next.is_some());
        prop_assert!(this < next);
    }

    #[test]
    fn monthly_day_is_the_anchors_clamped(
        anchor in any_instant(),
        count in 1u32..=12,
        n in 0u32..1200,
    ) {
        let boundary = period_boundary(anchor, Interval::Month, count, n);
        let (anchor_date, anchor_ms) = split(anchor).expect("in range");
        let (date, ms) = split(boundary.expect("in range")).expect("in range");
        let length = date.month().length(date.year());
        prop_assert_eq!(date.day(), anchor_date.day().min(length));
        prop_assert_eq!(ms, anchor_ms);
        let months = month_index(date) - month_index(anchor_date);
        prop_assert_eq!(months, i64::from(count) * i64::from(n));
    }

    #[test]
    fn containing_period_brackets_the_instant(
        anchor in any_instant(),
        interval in any_interval(),
        count in 1u32..=36,
        offset_ms in 0i64..3_000_000_000_000,
    ) {
        let instant = anchor.plus_ms(offset_ms);
        let (n, start, end) = period_containing(anchor, interval, count, instant)
            .expect("a period contains every instant after the anchor");
        prop_assert!(start <= instant && instant < end);
        prop_assert_eq!(Some(start), period_boundary(anchor, interval, count, n));
        prop_assert_eq!(Some(end), period_boundary(anchor, interval, count, n + 1));
    }
}
