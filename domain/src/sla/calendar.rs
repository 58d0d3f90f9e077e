//! When an SLA clock counts: around the clock, or only in business hours in the policy's time
//! zone, on business days that are not holidays. Pure arithmetic on instants; exact across DST.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::FieldErrors;

/// The calendar as requests and events spell it (the spec's `SLAPolicy` fields plus `holidays`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarFields {
    pub apply_business_hours_only: bool,
    /// `HH:MM`, local time in `timezone`.
    pub business_hours_start: Option<String>,
    /// `HH:MM`, after the start; `24:00` is the end of the day.
    pub business_hours_end: Option<String>,
    /// ISO weekdays, 1 = Monday ... 7 = Sunday.
    pub business_days: Option<Vec<u8>>,
    /// An IANA time zone name.
    pub timezone: String,
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

/// A valid calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarFields", into = "CalendarFields")]
pub struct BusinessCalendar {
    timezone: Tz,
    // TODO(calendar): the business hours, days and holidays
}

impl BusinessCalendar {
    /// Calendar time in `timezone`: every instant counts.
    pub fn around_the_clock(timezone: Tz) -> Self {
        todo!()
    }

    /// Every bad field at once, named as `CalendarFields` spells them in camelCase.
    pub fn parse(fields: &CalendarFields) -> Result<Self, FieldErrors> {
        todo!()
    }

    pub fn fields(&self) -> CalendarFields {
        todo!()
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Whether only business hours count.
    pub fn counts_business_hours(&self) -> bool {
        todo!()
    }

    /// Whether time at `at` counts (business time is half-open: a window's start counts, its end
    /// does not).
    pub fn counts_at(&self, at: DateTime<Utc>) -> bool {
        todo!()
    }

    /// The earliest instant at which `amount` of counted time has passed since `from`; `from`
    /// itself for a zero amount.
    pub fn add(&self, from: DateTime<Utc>, amount: TimeDelta) -> DateTime<Utc> {
        todo!()
    }

    /// The counted time in `[from, to)`; zero when `to` is not after `from`.
    pub fn counted_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        todo!()
    }
}

impl TryFrom<CalendarFields> for BusinessCalendar {
    type Error = String;

    fn try_from(fields: CalendarFields) -> Result<Self, String> {
        Self::parse(&fields).map_err(|errors| {
            errors
                .0
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl From<BusinessCalendar> for CalendarFields {
    fn from(calendar: BusinessCalendar) -> Self {
        calendar.fields()
    }
}
