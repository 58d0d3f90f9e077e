use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use proptest::collection::vec;
use proptest::prelude::*;

use super::{BusinessCalendar, CalendarFields};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

fn date(iso: &str) -> NaiveDate {
    iso.parse().expect("an ISO date")
}

fn business_hours(
    timezone: &str,
    start: &str,
    end: &str,
    days: &[u8],
    holidays: &[&str],
) -> CalendarFields {
    CalendarFields {
        apply_business_hours_only: true,
        business_hours_start: Some(start.to_owned()),
        business_hours_end: Some(end.to_owned()),
        business_days: Some(days.to_vec()),
        timezone: timezone.to_owned(),
        holidays: holidays.iter().map(|iso| date(iso)).collect(),
    }
}

fn calendar(timezone: &str, start: &str, end: &str, days: &[u8]) -> BusinessCalendar {
    BusinessCalendar::parse(&business_hours(timezone, start, end, days, &[]))
        .expect("a valid calendar")
}

const EVERY_DAY: &[u8] = &[1, 2, 3, 4, 5, 6, 7];
const MONDAY_TO_FRIDAY: &[u8] = &[1, 2, 3, 4, 5];

fn berlin_office() -> BusinessCalendar {
    calendar("Europe/Berlin", "09:00", "17:00", MONDAY_TO_FRIDAY)
}

/// The fields named by the errors, sorted.
fn refused_fields(fields: &CalendarFields) -> Vec<String> {
    let errors = BusinessCalendar::parse(fields).expect_err("refused");
    let mut names: Vec<String> = errors.0.into_iter().map(|e| e.field).collect();
    names.sort();
    names
}

// DST, spring forward: a whole-day window is 23 hours long.

#[test]
fn spring_forward_in_new_york_makes_a_whole_day_target_end_an_hour_later_on_the_clock() {
    let whole_days = calendar("America/New_York", "00:00", "24:00", EVERY_DAY);
    let midnight = at("2026-03-08T00:00:00-05:00");
    assert_eq!(
        whole_days.add(midnight, TimeDelta::hours(24)),
        at("2026-03-09T01:00:00-04:00")
    );
    assert_eq!(
        whole_days.counted_between(midnight, at("2026-03-09T00:00:00-04:00")),
        TimeDelta::hours(23)
    );
}

#[test]
fn spring_forward_in_berlin_makes_a_whole_day_target_end_an_hour_later_on_the_clock() {
    let whole_days = calendar("Europe/Berlin", "00:00", "24:00", EVERY_DAY);
    let midnight = at("2026-03-29T00:00:00+01:00");
    assert_eq!(
        whole_days.add(midnight, TimeDelta::hours(24)),
        at("2026-03-30T01:00:00+02:00")
    );
    assert_eq!(
        whole_days.counted_between(midnight, at("2026-03-30T00:00:00+02:00")),
        TimeDelta::hours(23)
    );
}

#[test]
fn spring_forward_over_a_weekend_keeps_office_deadlines_at_the_same_local_time() {
    let new_york = calendar("America/New_York", "09:00", "17:00", MONDAY_TO_FRIDAY);
    assert_eq!(
        new_york.add(at("2026-03-06T13:00:00-05:00"), TimeDelta::hours(8)),
        at("2026-03-09T13:00:00-04:00")
    );
    assert_eq!(
        berlin_office().add(at("2026-03-27T13:00:00+01:00"), TimeDelta::hours(8)),
        at("2026-03-30T13:00:00+02:00")
    );
}

#[test]
fn a_window_opening_in_the_spring_forward_gap_opens_at_the_transition() {
    // 02:30 does not exist on 2026-03-08 in New York: the clock jumps from 02:00 to 03:00.
    let sundays = calendar("America/New_York", "02:30", "03:30", &[7]);
    let midnight = at("2026-03-08T00:00:00-05:00");
    assert!(!sundays.counts_at(at("2026-03-08T01:59:59.999999-05:00")));
    assert!(sundays.counts_at(at("2026-03-08T03:00:00-04:00")));
    assert_eq!(
        sundays.counted_between(midnight, at("2026-03-09T00:00:00-04:00")),
        TimeDelta::minutes(30)
    );
    assert_eq!(
        sundays.add(midnight, TimeDelta::minutes(30)),
        at("2026-03-08T03:30:00-04:00")
    );
}

#[test]
fn a_window_the_spring_forward_gap_swallows_has_no_business_time() {
    let sundays = calendar("America/New_York", "02:00", "02:45", &[7]);
    assert_eq!(
        sundays.add(at("2026-03-08T00:00:00-05:00"), TimeDelta::minutes(15)),
        at("2026-03-15T02:15:00-04:00")
    );
}

#[test]
fn lord_howe_springs_forward_half_an_hour() {
    let whole_days = calendar("Australia/Lord_Howe", "00:00", "24:00", EVERY_DAY);
    let midnight = at("2026-10-04T00:00:00+10:30");
    assert_eq!(
        whole_days.counted_between(midnight, at("2026-10-05T00:00:00+11:00")),
        TimeDelta::minutes(23 * 60 + 30)
    );
    assert_eq!(
        whole_days.add(midnight, TimeDelta::hours(24)),
        at("2026-10-05T00:30:00+11:00")
    );
    // 02:00-02:30 is skipped: a 02:00-03:00 window opens at 02:30 daylight time.
    let early = calendar("Australia/Lord_Howe", "02:00", "03:00", EVERY_DAY);
    assert_eq!(
        early.add(midnight, TimeDelta::minutes(1)),
        at("2026-10-04T02:31:00+11:00")
    );
}

// DST, fall back: a whole-day window is 25 hours long.

#[test]
fn fall_back_in_new_york_makes_a_whole_day_25_hours() {
    let whole_days = calendar("America/New_York", "00:00", "24:00", EVERY_DAY);
    let midnight = at("2026-11-01T00:00:00-04:00");
    assert_eq!(
        whole_days.add(midnight, TimeDelta::hours(24)),
        at("2026-11-01T23:00:00-05:00")
    );
    assert_eq!(
        whole_days.add(midnight, TimeDelta::hours(25)),
        at("2026-11-02T00:00:00-05:00")
    );
    assert_eq!(
        whole_days.counted_between(midnight, at("2026-11-02T00:00:00-05:00")),
        TimeDelta::hours(25)
    );
}

#[test]
fn fall_back_in_berlin_makes_a_whole_day_25_hours() {
    let whole_days = calendar("Europe/Berlin", "00:00", "24:00", EVERY_DAY);
    let midnight = at("2026-10-25T00:00:00+02:00");
    assert_eq!(
        whole_days.add(midnight, TimeDelta::hours(24)),
        at("2026-10-25T23:00:00+01:00")
    );
    assert_eq!(
        whole_days.counted_between(midnight, at("2026-10-26T00:00:00+01:00")),
        TimeDelta::hours(25)
    );
}

#[test]
fn fall_back_makes_a_one_to_three_window_three_hours_of_real_time() {
    let sundays = calendar("America/New_York", "01:00", "03:00", &[7]);
    let midnight = at("2026-11-01T00:00:00-04:00");
    assert_eq!(
        sundays.counted_between(midnight, at("2026-11-02T00:00:00-05:00")),
        TimeDelta::hours(3)
    );
    assert_eq!(
        sundays.add(midnight, TimeDelta::minutes(90)),
        at("2026-11-01T01:30:00-05:00")
    );
    assert_eq!(
        sundays.add(midnight, TimeDelta::hours(3)),
        at("2026-11-01T03:00:00-05:00")
    );
}

#[test]
fn a_repeated_local_time_names_its_earlier_instant() {
    // 01:00-01:30 happens twice on 2026-11-01 in New York; only the first pass is business time.
    let sundays = calendar("America/New_York", "01:00", "01:30", &[7]);
    assert!(sundays.counts_at(at("2026-11-01T01:15:00-04:00")));
    assert!(!sundays.counts_at(at("2026-11-01T01:15:00-05:00")));
    assert_eq!(
        sundays.counted_between(
            at("2026-11-01T00:00:00-04:00"),
            at("2026-11-02T00:00:00-05:00")
        ),
        TimeDelta::minutes(30)
    );
}

// Holidays, weekends, window edges.

#[test]
fn a_holiday_monday_pushes_a_friday_ticket_to_tuesday() {
    let whit_monday = BusinessCalendar::parse(&business_hours(
        "Europe/Berlin",
        "09:00",
        "17:00",
        MONDAY_TO_FRIDAY,
        &["2026-05-25"],
    ))
    .unwrap();
    assert_eq!(
        whit_monday.add(at("2026-05-22T16:00:00+02:00"), TimeDelta::hours(2)),
        at("2026-05-26T10:00:00+02:00")
    );
    assert!(!whit_monday.counts_at(at("2026-05-25T12:00:00+02:00")));
}

#[test]
fn a_friday_evening_ticket_waits_for_monday() {
    assert_eq!(
        berlin_office().add(at("2026-01-16T18:30:00+01:00"), TimeDelta::minutes(60)),
        at("2026-01-19T10:00:00+01:00")
    );
    assert_eq!(
        berlin_office().add(at("2026-01-16T15:00:00+01:00"), TimeDelta::hours(4)),
        at("2026-01-19T11:00:00+01:00")
    );
}

#[test]
fn a_window_closing_at_24_00_runs_to_midnight() {
    let evenings = calendar("UTC", "18:00", "24:00", MONDAY_TO_FRIDAY);
    assert_eq!(
        evenings.add(at("2026-01-12T22:00:00Z"), TimeDelta::hours(4)),
        at("2026-01-13T20:00:00Z")
    );
    assert_eq!(
        evenings.add(at("2026-01-12T18:00:00Z"), TimeDelta::hours(6)),
        at("2026-01-13T00:00:00Z")
    );
    assert_eq!(
        evenings.add(at("2026-01-16T23:00:00Z"), TimeDelta::hours(2)),
        at("2026-01-19T19:00:00Z")
    );
    assert!(evenings.counts_at(at("2026-01-12T23:59:59.999999Z")));
    assert!(!evenings.counts_at(at("2026-01-13T00:00:00Z")));

    let whole_days = calendar("UTC", "00:00", "24:00", EVERY_DAY);
    assert_eq!(
        whole_days.add(at("2026-01-12T23:00:00Z"), TimeDelta::hours(2)),
        at("2026-01-13T01:00:00Z")
    );
}

#[test]
fn starting_at_a_window_opening_counts_the_whole_window() {
    let office = berlin_office();
    let opening = at("2026-01-12T09:00:00+01:00");
    assert!(office.counts_at(opening));
    assert_eq!(
        office.add(opening, TimeDelta::hours(8)),
        at("2026-01-12T17:00:00+01:00")
    );
    assert_eq!(
        office.counted_between(opening, at("2026-01-12T17:00:00+01:00")),
        TimeDelta::hours(8)
    );
}

#[test]
fn starting_at_a_window_closing_waits_for_the_next_window() {
    let office = berlin_office();
    let closing = at("2026-01-12T17:00:00+01:00");
    assert!(!office.counts_at(closing));
    assert_eq!(
        office.add(closing, TimeDelta::hours(1)),
        at("2026-01-13T10:00:00+01:00")
    );
}

#[test]
fn counting_is_exact_to_the_microsecond() {
    assert_eq!(
        berlin_office().add(
            at("2026-01-12T16:59:59.999999+01:00"),
            TimeDelta::microseconds(2)
        ),
        at("2026-01-13T09:00:00.000001+01:00")
    );
}

#[test]
fn zero_and_negative_amounts_end_where_they_start() {
    let friday_evening = at("2026-01-16T18:30:00+01:00");
    assert_eq!(
        berlin_office().add(friday_evening, TimeDelta::zero()),
        friday_evening
    );
    assert_eq!(
        berlin_office().add(friday_evening, TimeDelta::minutes(-5)),
        friday_evening
    );
    assert_eq!(
        berlin_office().counted_between(friday_evening, at("2026-01-16T09:00:00+01:00")),
        TimeDelta::zero()
    );
}

#[test]
fn around_the_clock_every_instant_counts() {
    let always = BusinessCalendar::around_the_clock(Tz::Europe__Berlin);
    let from = at("2026-03-28T23:30:00.000001Z");
    assert!(!always.counts_business_hours());
    assert!(always.counts_at(from));
    assert_eq!(
        always.add(from, TimeDelta::hours(24)),
        at("2026-03-29T23:30:00.000001Z")
    );
    assert_eq!(
        always.counted_between(from, at("2026-03-29T23:30:00.000001Z")),
        TimeDelta::hours(24)
    );
    assert_eq!(
        always.counted_between(at("2026-03-29T23:30:00Z"), from),
        TimeDelta::zero()
    );
}

#[test]
fn a_one_year_target_on_an_hour_a_week_terminates() {
    let one_hour_on_wednesdays = calendar("Europe/Berlin", "10:00", "11:00", &[3]);
    let from = at("2026-01-12T09:00:00+01:00");
    let deadline = one_hour_on_wednesdays.add(from, TimeDelta::minutes(525_600));
    assert_eq!(
        one_hour_on_wednesdays.counted_between(from, deadline),
        TimeDelta::minutes(525_600)
    );
}

// Parsing.

#[test]
fn every_bad_field_is_reported_at_once() {
    let fields = CalendarFields {
        apply_business_hours_only: true,
        business_hours_start: Some("25:00".to_owned()),
        business_hours_end: None,
        business_days: Some(vec![0, 8, 3, 3]),
        timezone: "Mars/Olympus_Mons".to_owned(),
        holidays: vec![],
    };
    assert_eq!(
        refused_fields(&fields),
        [
            "businessDays[0]",
            "businessDays[1]",
            "businessDays[3]",
            "businessHoursEnd",
            "businessHoursStart",
            "timezone",
        ]
    );
}

#[test]
fn an_unknown_timezone_is_refused_with_an_example() {
    for name in [
        "Mars/Olympus_Mons",
        "",
        "europe/berlin",
        " Europe/Berlin",
        "Europe/Berlin\0",
    ] {
        let errors = BusinessCalendar::parse(&business_hours(
            name,
            "09:00",
            "17:00",
            MONDAY_TO_FRIDAY,
            &[],
        ))
        .expect_err(name);
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "timezone");
    }
    let unknown = BusinessCalendar::parse(&business_hours(
        "Mars/Olympus_Mons",
        "09:00",
        "17:00",
        MONDAY_TO_FRIDAY,
        &[],
    ))
    .unwrap_err();
    assert!(unknown.0[0].message.contains("Europe/Berlin"));
    let oversized = "A".repeat(65);
    assert_eq!(
        refused_fields(&business_hours(&oversized, "09:00", "17:00", &[1], &[])),
        ["timezone"]
    );
}

#[test]
fn times_are_two_digit_hours_and_minutes() {
    for start in [
        "25:00", "24:00", "9:00", "09:0", "09:60", "09-00", "009:00", "+9:00", "", "09:00\0",
    ] {
        assert_eq!(
            refused_fields(&business_hours("UTC", start, "24:00", &[1], &[])),
            ["businessHoursStart"],
            "{start:?}"
        );
    }
    for end in ["24:01", "25:00", "7:00", "17:000"] {
        assert_eq!(
            refused_fields(&business_hours("UTC", "00:00", end, &[1], &[])),
            ["businessHoursEnd"],
            "{end:?}"
        );
    }
}

#[test]
fn the_end_must_come_after_the_start() {
    for (start, end) in [
        ("17:00", "09:00"),
        ("09:00", "09:00"),
        ("22:00", "02:00"),
        ("00:00", "00:00"),
    ] {
        assert_eq!(
            refused_fields(&business_hours("UTC", start, end, &[1], &[])),
            ["businessHoursEnd"],
            "{start}-{end}"
        );
    }
}

#[test]
fn business_days_are_distinct_iso_weekdays() {
    assert_eq!(
        refused_fields(&business_hours("UTC", "09:00", "17:00", &[0, 8, 3, 3], &[])),
        ["businessDays[0]", "businessDays[1]", "businessDays[3]"]
    );
    assert_eq!(
        refused_fields(&business_hours("UTC", "09:00", "17:00", &[], &[])),
        ["businessDays"]
    );
    assert_eq!(
        refused_fields(&business_hours(
            "UTC",
            "09:00",
            "17:00",
            &[1, 2, 3, 4, 5, 6, 7, 1],
            &[]
        )),
        ["businessDays"]
    );
}

#[test]
fn business_hours_need_their_hours_and_days() {
    let fields = CalendarFields {
        apply_business_hours_only: true,
        business_hours_start: None,
        business_hours_end: None,
        business_days: None,
        timezone: "UTC".to_owned(),
        holidays: vec![],
    };
    let errors = BusinessCalendar::parse(&fields).unwrap_err();
    assert_eq!(
        refused_fields(&fields),
        ["businessDays", "businessHoursEnd", "businessHoursStart"]
    );
    assert!(errors
        .0
        .iter()
        .all(|e| e.message == "is required when applyBusinessHoursOnly is true"));
}

#[test]
fn holidays_are_deduplicated_sorted_and_at_most_a_thousand() {
    let parsed = BusinessCalendar::parse(&business_hours(
        "UTC",
        "09:00",
        "17:00",
        &[5, 1],
        &["2026-12-25", "2026-01-01", "2026-12-25"],
    ))
    .unwrap();
    let fields = parsed.fields();
    assert_eq!(fields.holidays, [date("2026-01-01"), date("2026-12-25")]);
    assert_eq!(fields.business_days, Some(vec![1, 5]));

    let mut too_many = business_hours("UTC", "09:00", "17:00", &[1], &[]);
    too_many.holidays = (0..1001)
        .map(|n| date("2026-01-01") + TimeDelta::days(n))
        .collect();
    assert_eq!(refused_fields(&too_many), ["holidays"]);
}

#[test]
fn around_the_clock_validates_and_keeps_the_fields_it_ignores() {
    let mut fields = business_hours("Asia/Kolkata", "09:00", "24:00", &[1, 2], &["2026-01-26"]);
    fields.apply_business_hours_only = false;
    let calendar = BusinessCalendar::parse(&fields).unwrap();
    assert!(!calendar.counts_business_hours());
    assert!(calendar.counts_at(at("2026-01-26T03:00:00+05:30")));
    assert_eq!(calendar.fields(), fields);

    fields.business_hours_start = Some("9am".to_owned());
    assert_eq!(refused_fields(&fields), ["businessHoursStart"]);
}

#[test]
fn a_calendar_round_trips_through_its_fields_and_json() {
    let calendars = [
        BusinessCalendar::around_the_clock(Tz::UTC),
        berlin_office(),
        BusinessCalendar::parse(&business_hours(
            "Australia/Lord_Howe",
            "00:00",
            "24:00",
            &[7, 6],
            &["2026-10-04"],
        ))
        .unwrap(),
    ];
    for calendar in calendars {
        assert_eq!(
            BusinessCalendar::parse(&calendar.fields()),
            Ok(calendar.clone())
        );
        let json = serde_json::to_value(&calendar).unwrap();
        assert_eq!(json, serde_json::to_value(calendar.fields()).unwrap());
        assert_eq!(
            serde_json::from_value::<BusinessCalendar>(json).unwrap(),
            calendar
        );
    }
    let json = serde_json::to_value(berlin_office()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "applyBusinessHoursOnly": true,
            "businessHoursStart": "09:00",
            "businessHoursEnd": "17:00",
            "businessDays": [1, 2, 3, 4, 5],
            "timezone": "Europe/Berlin",
        }),
        "no holidays: the empty list is left out"
    );
}

// Properties.

const ZONES: [&str; 6] = [
    "America/New_York",
    "Europe/Berlin",
    "UTC",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Apia",
];

/// Local dates with a DST change in one of `ZONES`, where the bugs would be.
const CHANGES: [&str; 8] = [
    "2026-03-08", // New York, forward
    "2026-11-01", // New York, back
    "2026-03-29", // Berlin, forward
    "2026-10-25", // Berlin, back
    "2026-04-05", // Lord Howe, back half an hour
    "2026-10-04", // Lord Howe, forward half an hour
    "2011-12-30", // Apia skipped this day
    "2011-09-24", // Apia, forward
];

const MINUTES_A_DAY: u32 = 24 * 60;

fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// An instant near a DST change, or anywhere in 2024-2028, with microseconds.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let week_us = 7 * 24 * 3_600 * 1_000_000i64;
    prop_oneof![
        (0..CHANGES.len(), 0..week_us).prop_map(move |(change, offset)| {
            date(CHANGES[change])
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                + TimeDelta::microseconds(offset - week_us / 2)
        }),
        (0..5 * 365 * 24 * 3_600 * 1_000_000i64)
            .prop_map(|offset| { at("2024-01-01T00:00:00Z") + TimeDelta::microseconds(offset) }),
    ]
}

/// A business-hours calendar with at least half an hour a window, and an instant its holidays
/// are near.
fn calendar_and_instant() -> impl Strategy<Value = (BusinessCalendar, DateTime<Utc>)> {
    let opening = prop_oneof![
        Just(0u32),
        Just(60),
        Just(120),
        Just(135),
        0..=MINUTES_A_DAY - 30
    ];
    let hours = opening.prop_flat_map(|opens| {
        (
            Just(opens),
            prop_oneof![Just(MINUTES_A_DAY), opens + 30..=MINUTES_A_DAY],
        )
    });
    (
        0..ZONES.len(),
        hours,
        1u8..128,
        vec(-3i64..60, 0..8),
        instant(),
    )
        .prop_map(|(zone, (opens, closes), days, holidays, from)| {
            let fields = CalendarFields {
                apply_business_hours_only: true,
                business_hours_start: Some(clock(opens)),
                business_hours_end: Some(clock(closes)),
                business_days: Some((1..=7).filter(|d| days & (1 << (d - 1)) != 0).collect()),
                timezone: ZONES[zone].to_owned(),
                holidays: holidays
                    .into_iter()
                    .map(|offset| from.date_naive() + TimeDelta::days(offset))
                    .collect(),
            };
            (
                BusinessCalendar::parse(&fields).expect("a valid calendar"),
                from,
            )
        })
}

/// A positive amount up to three days: any microsecond, or whole minutes.
fn amount() -> impl Strategy<Value = TimeDelta> {
    let max_us = 3 * 24 * 3_600 * 1_000_000i64;
    prop_oneof![
        (1..=max_us).prop_map(TimeDelta::microseconds),
        (1..=3 * 24 * 60i64).prop_map(TimeDelta::minutes),
    ]
}

proptest! {
    #[test]
    fn the_next_counted_instant_counts_and_none_before_it_does(
        (calendar, at) in calendar_and_instant(),
    ) {
        let next = calendar.next_counted(at);
        prop_assert!(next >= at);
        prop_assert!(calendar.counts_at(next));
        prop_assert_eq!(calendar.counted_between(at, next), TimeDelta::zero());
    }

    #[test]
    fn a_positive_amount_ends_in_business_time(
        (calendar, from) in calendar_and_instant(),
        amount in amount(),
    ) {
        let deadline = calendar.add(from, amount);
        prop_assert!(deadline > from);
        // The microsecond before the deadline counts: the deadline is in a window or at its close.
        prop_assert!(calendar.counts_at(deadline - TimeDelta::microseconds(1)));
    }

    #[test]
    fn adding_in_two_steps_is_adding_the_sum(
        (calendar, from) in calendar_and_instant(),
        first in amount(),
        second in amount(),
    ) {
        prop_assert_eq!(
            calendar.add(calendar.add(from, first), second),
            calendar.add(from, first + second)
        );
    }

    #[test]
    fn the_time_counted_up_to_a_deadline_is_its_amount(
        (calendar, from) in calendar_and_instant(),
        amount in amount(),
    ) {
        let deadline = calendar.add(from, amount);
        prop_assert_eq!(calendar.counted_between(from, deadline), amount);
        // ...and the deadline is the earliest such instant.
        prop_assert_eq!(
            calendar.counted_between(from, deadline - TimeDelta::microseconds(1)),
            amount - TimeDelta::microseconds(1)
        );
    }

    #[test]
    fn a_pause_moves_the_deadline_by_the_business_time_paused(
        (calendar, from) in calendar_and_instant(),
        target in amount(),
        pause_at in 0..1000i64,
        pause_for in 0..10 * 24 * 3_600 * 1_000_000i64,
    ) {
        let deadline = calendar.add(from, target);
        let span = (deadline - from).num_microseconds().unwrap();
        let paused = from + TimeDelta::microseconds(span * pause_at / 1000);
        let resumed = paused + TimeDelta::microseconds(pause_for);
        let counted_before_pause = calendar.counted_between(from, paused);
        prop_assert!(counted_before_pause < target);

        let new_deadline = calendar.add(resumed, target - counted_before_pause);
        prop_assert_eq!(
            counted_before_pause + calendar.counted_between(resumed, new_deadline),
            target
        );
        prop_assert_eq!(
            new_deadline,
            calendar.add(deadline, calendar.counted_between(paused, resumed))
        );
    }

    #[test]
    fn around_the_clock_counts_real_time(from in instant(), amount in amount()) {
        let always = BusinessCalendar::around_the_clock(Tz::America__New_York);
        prop_assert_eq!(always.add(from, amount), from + amount);
        prop_assert_eq!(always.counted_between(from, from + amount), amount);
    }

    #[test]
    fn parsing_any_input_never_panics_and_round_trips(
        apply in any::<bool>(),
        start in prop::option::of(prop_oneof![any::<String>(), "[0-2][0-9]:[0-5][0-9]"]),
        end in prop::option::of(prop_oneof![any::<String>(), "[0-2][0-9]:[0-5][0-9]"]),
        days in prop::option::of(vec(any::<u8>(), 0..10)),
        timezone in prop_oneof![any::<String>(), Just("Europe/Berlin".to_owned())],
    ) {
        let fields = CalendarFields {
            apply_business_hours_only: apply,
            business_hours_start: start,
            business_hours_end: end,
            business_days: days,
            timezone,
            holidays: vec![],
        };
        if let Ok(calendar) = BusinessCalendar::parse(&fields) {
            prop_assert_eq!(BusinessCalendar::parse(&calendar.fields()), Ok(calendar));
        }
    }
}
