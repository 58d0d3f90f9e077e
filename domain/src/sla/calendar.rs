//! When an SLA clock counts: around the clock, or only in business hours in the policy's time
//! zone, on business days that are not holidays. Pure arithmetic on instants; exact across DST.
//!
//! A business day's window is the half-open real-time interval from the instant its local
//! opening time names to the instant its local closing time names (`24:00` names the next local
//! midnight), so a 00:00-24:00 window lasts 23 hours on a spring-forward day and 25 on a
//! fall-back day. A local time a spring-forward gap skips names the first instant after the gap
//! (the transition); a local time a fall-back repeats names the earlier of its two instants.
//! Holidays are local dates in the calendar's time zone. Counting is exact: nothing is rounded to
//! seconds or minutes.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{FieldErrors, NUL_REFUSED};

/// The calendar as requests and events spell it (the spec's `SLAPolicy` fields plus `holidays`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarFields {
    pub apply_business_hours_only: bool,
    /// `HH:MM`, local time in `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_hours_start: Option<String>,
    /// `HH:MM`, after the start; `24:00` is the end of the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_hours_end: Option<String>,
    /// ISO weekdays, 1 = Monday ... 7 = Sunday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_days: Option<Vec<u8>>,
    /// An IANA time zone name.
    pub timezone: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<NaiveDate>,
}

/// A valid calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarFields", into = "CalendarFields")]
pub struct BusinessCalendar {
    timezone: Tz,
    schedule: Schedule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Schedule {
    /// Every instant counts. The hour, day and holiday fields count for nothing then; the ones
    /// given (valid) are kept so that `fields` gives back what was parsed.
    AroundTheClock {
        opens: Option<NaiveTime>,
        closes: Option<Closing>,
        days: Option<BusinessDays>,
        holidays: BTreeSet<NaiveDate>,
    },
    BusinessHours(BusinessHours),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BusinessHours {
    opens: NaiveTime,
    /// After `opens` on the same local date: windows over midnight are refused.
    closes: Closing,
    days: BusinessDays,
    holidays: BTreeSet<NaiveDate>,
}

/// When a business day's window closes, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    At(NaiveTime),
    /// `24:00`: the next local midnight.
    EndOfDay,
}

/// A set of weekdays, bit `n` for `n` days from Monday; never empty once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BusinessDays(u8);

const MAX_HOLIDAYS: usize = 1000;
const MAX_TIMEZONE_CHARS: usize = 64;
const REQUIRED_FOR_BUSINESS_HOURS: &str = "is required when applyBusinessHoursOnly is true";

impl BusinessCalendar {
    /// Calendar time in `timezone`: every instant counts.
    pub fn around_the_clock(timezone: Tz) -> Self {
        Self {
            timezone,
            schedule: Schedule::AroundTheClock {
                opens: None,
                closes: None,
                days: None,
                holidays: BTreeSet::new(),
            },
        }
    }

    /// Every bad field at once, named as `CalendarFields` spells them in camelCase.
    ///
    /// The hour, day and holiday fields are validated whenever they are given, even when they
    /// count for nothing (`applyBusinessHoursOnly` false); they are required only when they
    /// count. Holidays are de-duplicated and sorted; a repeated business day is refused.
    pub fn parse(fields: &CalendarFields) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let timezone = errors.take("timezone", parse_timezone(&fields.timezone));
        let opens = fields
            .business_hours_start
            .as_deref()
            .and_then(|text| errors.take("businessHoursStart", parse_opening(text)));
        let closes = fields
            .business_hours_end
            .as_deref()
            .and_then(|text| errors.take("businessHoursEnd", parse_closing(text)));
        if let (Some(opens), Some(Closing::At(closes))) = (opens, closes) {
            if closes <= opens {
                errors.push(
                    "businessHoursEnd",
                    "must be after businessHoursStart on the same day (a window over midnight \
                     is not supported; 24:00 is the end of the day)",
                );
            }
        }
        let days = fields
            .business_days
            .as_deref()
            .and_then(|days| parse_business_days(days, &mut errors));
        if fields.holidays.len() > MAX_HOLIDAYS {
            errors.push(
                "holidays",
                format!("must list at most {MAX_HOLIDAYS} dates"),
            );
        }
        let holidays: BTreeSet<NaiveDate> = fields.holidays.iter().copied().collect();

        let schedule = if fields.apply_business_hours_only {
            for (field, given) in [
                ("businessHoursStart", fields.business_hours_start.is_some()),
                ("businessHoursEnd", fields.business_hours_end.is_some()),
                ("businessDays", fields.business_days.is_some()),
            ] {
                if !given {
                    errors.push(field, REQUIRED_FOR_BUSINESS_HOURS);
                }
            }
            match (opens, closes, days) {
                (Some(opens), Some(closes), Some(days)) => {
                    Some(Schedule::BusinessHours(BusinessHours {
                        opens,
                        closes,
                        days,
                        holidays,
                    }))
                }
                _ => None,
            }
        } else {
            Some(Schedule::AroundTheClock {
                opens,
                closes,
                days,
                holidays,
            })
        };
        errors.into_result()?;
        match (timezone, schedule) {
            (Some(timezone), Some(schedule)) => Ok(Self { timezone, schedule }),
            _ => unreachable!("a field that is missing or did not parse is an error"),
        }
    }

    pub fn fields(&self) -> CalendarFields {
        let (apply_business_hours_only, opens, closes, days, holidays) = match &self.schedule {
            Schedule::AroundTheClock {
                opens,
                closes,
                days,
                holidays,
            } => (false, *opens, *closes, *days, holidays),
            Schedule::BusinessHours(hours) => (
                true,
                Some(hours.opens),
                Some(hours.closes),
                Some(hours.days),
                &hours.holidays,
            ),
        };
        CalendarFields {
            apply_business_hours_only,
            business_hours_start: opens.map(spelled),
            business_hours_end: closes.map(Closing::spelled),
            business_days: days.map(BusinessDays::iso_numbers),
            timezone: self.timezone.name().to_owned(),
            holidays: holidays.iter().copied().collect(),
        }
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Whether only business hours count.
    pub fn counts_business_hours(&self) -> bool {
        matches!(self.schedule, Schedule::BusinessHours(_))
    }

    /// Whether time at `at` counts (business time is half-open: a window's start counts, its end
    /// does not).
    pub fn counts_at(&self, at: DateTime<Utc>) -> bool {
        let Schedule::BusinessHours(hours) = &self.schedule else {
            return true;
        };
        // A fold across midnight can put an instant in a neighbouring date's window.
        let date = self.local_date(at);
        [date.pred_opt(), Some(date), date.succ_opt()]
            .into_iter()
            .flatten()
            .filter_map(|date| hours.window_on(self.timezone, date))
            .any(|(opens, closes)| opens <= at && at < closes)
    }

    /// The earliest instant at or after `at` at which time counts: `at` itself around the clock
    /// or inside a window, else the opening of the next window (a notification held for a
    /// recipient's working hours goes then).
    ///
    /// # Panics
    ///
    /// When the result is beyond chrono's range of dates (the year 262143).
    pub fn next_counted(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let Schedule::BusinessHours(hours) = &self.schedule else {
            return at;
        };
        // Terminates: parse refuses a calendar without business days, and holidays are finite.
        assert!(
            !hours.days.is_empty(),
            "business hours without a business day"
        );
        let mut date = self.first_date_to_scan(at);
        loop {
            if let Some((opens, closes)) = hours.window_on(self.timezone, date) {
                if at < closes {
                    return opens.max(at);
                }
            }
            date = date
                .succ_opt()
                .expect("an opening within chrono's range of dates");
        }
    }

    /// The earliest instant at which `amount` of counted time has passed since `from`; `from`
    /// itself for a zero amount. A negative amount counts as zero.
    ///
    /// In business hours a positive amount ends inside a window, possibly exactly at its close
    /// (an 8-hour target from 09:00 ends at 17:00 the same day, not at 09:00 the next business
    /// day).
    ///
    /// # Panics
    ///
    /// When the result is beyond chrono's range of dates (the year 262143).
    pub fn add(&self, from: DateTime<Utc>, amount: TimeDelta) -> DateTime<Utc> {
        if amount <= TimeDelta::zero() {
            return from;
        }
        let Schedule::BusinessHours(hours) = &self.schedule else {
            return from + amount;
        };
        // Terminates: parse refuses a calendar without business days, and holidays are finite.
        assert!(
            !hours.days.is_empty(),
            "business hours without a business day"
        );
        let mut left = amount;
        let mut date = self.first_date_to_scan(from);
        loop {
            if let Some((opens, closes)) = hours.window_on(self.timezone, date) {
                let start = opens.max(from);
                if start < closes {
                    let available = closes - start;
                    if left <= available {
                        return start + left;
                    }
                    left -= available;
                }
            }
            date = date
                .succ_opt()
                .expect("a deadline within chrono's range of dates");
        }
    }

    /// The counted time in `[from, to)`; zero when `to` is not after `from`.
    pub fn counted_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        if to <= from {
            return TimeDelta::zero();
        }
        let Schedule::BusinessHours(hours) = &self.schedule else {
            return to - from;
        };
        let last = self.local_date(to);
        let last = last.succ_opt().unwrap_or(last);
        let mut counted = TimeDelta::zero();
        let mut date = self.first_date_to_scan(from);
        while date <= last {
            if let Some((opens, closes)) = hours.window_on(self.timezone, date) {
                let overlap = closes.min(to) - opens.max(from);
                if overlap > TimeDelta::zero() {
                    counted += overlap;
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        counted
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.timezone).date_naive()
    }

    /// The day before `from`'s local date: a fold across midnight can put `from` in the
    /// previous date's window.
    fn first_date_to_scan(&self, from: DateTime<Utc>) -> NaiveDate {
        let date = self.local_date(from);
        date.pred_opt().unwrap_or(date)
    }
}

impl BusinessHours {
    /// The business time of local `date` as real instants `[opens, closes)`: none on other
    /// weekdays and holidays, nor when a spring-forward gap swallows the whole window.
    fn window_on(&self, timezone: Tz, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.days.contains(date.weekday()) || self.holidays.contains(&date) {
            return None;
        }
        let opens = instant_of(timezone, date.and_time(self.opens));
        let closes = match self.closes {
            Closing::At(time) => instant_of(timezone, date.and_time(time)),
            Closing::EndOfDay => instant_of(timezone, date.succ_opt()?.and_time(NaiveTime::MIN)),
        };
        (opens < closes).then_some((opens, closes))
    }
}

impl Closing {
    fn spelled(self) -> String {
        match self {
            Closing::At(time) => spelled(time),
            Closing::EndOfDay => "24:00".to_owned(),
        }
    }
}

/// `HH:MM`, as the fields spell business hours.
fn spelled(time: NaiveTime) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

impl BusinessDays {
    fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn iso_numbers(self) -> Vec<u8> {
        (1..=7).filter(|n| self.0 & (1 << (n - 1)) != 0).collect()
    }
}

/// The instant a local time names: the earlier one of a time a fall-back repeats, the first
/// instant after the gap for a time a spring-forward skips.
fn instant_of(timezone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    earliest_instant(timezone, local).unwrap_or_else(|| {
        earliest_instant(timezone, end_of_gap(timezone, local))
            .expect("the end of a gap is a local time that exists")
    })
}

fn earliest_instant(timezone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match timezone.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(one, other) => Some(one.min(other).with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// The first local time after the gap that skips `skipped`: the local time of the transition.
/// Gaps last at most a day (Samoa skipped 2011-12-30) and end on a whole second.
fn end_of_gap(timezone: Tz, skipped: NaiveDateTime) -> NaiveDateTime {
    let exists = |local: NaiveDateTime| earliest_instant(timezone, local).is_some();
    let hour = TimeDelta::hours(1);
    let mut skipped = skipped;
    let mut existing = skipped + hour;
    while !exists(existing) {
        skipped = existing;
        existing += hour;
    }
    // Within the hour there is one gap end: halve the whole seconds between.
    while existing - skipped > TimeDelta::seconds(1) {
        let middle = skipped + TimeDelta::seconds((existing - skipped).num_seconds() / 2);
        if exists(middle) {
            existing = middle;
        } else {
            skipped = middle;
        }
    }
    existing
}

fn parse_timezone(name: &str) -> Result<Tz, String> {
    if name.contains('\0') {
        return Err(NUL_REFUSED.to_owned());
    }
    if name.chars().count() > MAX_TIMEZONE_CHARS {
        return Err(format!("must be at most {MAX_TIMEZONE_CHARS} characters"));
    }
    name.parse()
        .map_err(|_| "must be an IANA time zone name, such as Europe/Berlin".to_owned())
}

/// `HH:MM`, exactly two digits each; `24:00` only when `end_of_day` may be named.
fn parse_clock_time(text: &str, end_of_day: bool) -> Option<Closing> {
    let &[h1, h2, b':', m1, m2] = text.as_bytes() else {
        return None;
    };
    if ![h1, h2, m1, m2].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hour = u32::from((h1 - b'0') * 10 + (h2 - b'0'));
    let minute = u32::from((m1 - b'0') * 10 + (m2 - b'0'));
    if end_of_day && (hour, minute) == (24, 0) {
        return Some(Closing::EndOfDay);
    }
    NaiveTime::from_hms_opt(hour, minute, 0).map(Closing::At)
}

fn parse_opening(text: &str) -> Result<NaiveTime, String> {
    match parse_clock_time(text, false) {
        Some(Closing::At(time)) => Ok(time),
        _ => Err("must be a local time as HH:MM, from 00:00 to 23:59".to_owned()),
    }
}

fn parse_closing(text: &str) -> Result<Closing, String> {
    parse_clock_time(text, true)
        .ok_or_else(|| "must be a local time as HH:MM, from 00:00 to 24:00".to_owned())
}

fn parse_business_days(days: &[u8], errors: &mut FieldErrors) -> Option<BusinessDays> {
    if days.is_empty() {
        errors.push("businessDays", "must name at least one day");
        return None;
    }
    if days.len() > 7 {
        errors.push("businessDays", "must name at most 7 days");
        return None;
    }
    let mut set = 0u8;
    let mut valid = true;
    for (index, &day) in days.iter().enumerate() {
        let field = format!("businessDays[{index}]");
        if !(1..=7).contains(&day) {
            errors.push(
                field,
                "must be an ISO weekday from 1 (Monday) to 7 (Sunday)",
            );
            valid = false;
        } else if set & (1 << (day - 1)) != 0 {
            errors.push(field, "repeats a day named before");
            valid = false;
        } else {
            set |= 1 << (day - 1);
        }
    }
    valid.then_some(BusinessDays(set))
}

impl TryFrom<CalendarFields> for BusinessCalendar {
    type Error = String;

    fn try_from(fields: CalendarFields) -> Result<Self, String> {
        Self::parse(&fields).map_err(|errors| errors.to_string())
    }
}

impl From<BusinessCalendar> for CalendarFields {
    fn from(calendar: BusinessCalendar) -> Self {
        calendar.fields()
    }
}

#[cfg(test)]
#[path = "calendar_tests.rs"]
mod tests;
