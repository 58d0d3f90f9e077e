//! When a recipient works: a time zone and, optionally, working hours on some days of the week.
//! It is a business calendar (`sla::BusinessCalendar`) under other field names, so the same
//! DST-exact arithmetic decides when a held notification may go.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::sla::{BusinessCalendar, CalendarFields};
use crate::{FieldError, FieldErrors};

/// Working hours as requests and events spell them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkingHoursFields {
    /// ISO weekdays, 1 = Monday ... 7 = Sunday.
    pub days: Vec<u8>,
    /// `HH:MM`, local time in the time zone.
    pub start: String,
    /// `HH:MM`, after `start`; `24:00` is the end of the day.
    pub end: String,
}

/// The time zone and working hours as requests and events spell them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkingTimeFields {
    /// An IANA time zone name.
    pub time_zone: String,
    /// `None`: any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_hours: Option<WorkingHoursFields>,
}

/// A valid time zone and working hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WorkingTimeFields", into = "WorkingTimeFields")]
pub struct WorkingTime {
    calendar: BusinessCalendar,
}

impl WorkingTime {
    /// Any time, in `time_zone`.
    pub fn any_time(time_zone: Tz) -> Self {
        Self {
            calendar: BusinessCalendar::around_the_clock(time_zone),
        }
    }

    /// Every bad field at once, named as requests spell them: `timeZone`, `workingHours.start`,
    /// `workingHours.days[2]`. Hours over midnight are refused, as the calendar refuses them.
    pub fn parse(fields: &WorkingTimeFields) -> Result<Self, FieldErrors> {
        let hours = fields.working_hours.as_ref();
        let calendar = CalendarFields {
            apply_business_hours_only: hours.is_some(),
            business_hours_start: hours.map(|h| h.start.clone()),
            business_hours_end: hours.map(|h| h.end.clone()),
            business_days: hours.map(|h| h.days.clone()),
            timezone: fields.time_zone.clone(),
            holidays: Vec::new(),
        };
        BusinessCalendar::parse(&calendar)
            .map(|calendar| Self { calendar })
            .map_err(|errors| FieldErrors(errors.0.into_iter().map(renamed).collect()))
    }

    pub fn fields(&self) -> WorkingTimeFields {
        let calendar = self.calendar.fields();
        let working_hours = match (
            self.calendar.counts_business_hours(),
            calendar.business_days,
            calendar.business_hours_start,
            calendar.business_hours_end,
        ) {
            (true, Some(days), Some(start), Some(end)) => {
                Some(WorkingHoursFields { days, start, end })
            }
            _ => None,
        };
        WorkingTimeFields {
            time_zone: calendar.timezone,
            working_hours,
        }
    }

    pub fn time_zone(&self) -> Tz {
        self.calendar.timezone()
    }

    /// Whether working hours are set; without them any time is working time.
    pub fn has_working_hours(&self) -> bool {
        self.calendar.counts_business_hours()
    }

    /// The earliest instant at or after `at` that lies in the working hours, in the recipient's
    /// time zone, exact across DST changes; `at` itself without working hours.
    pub fn next_working_instant(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.calendar.next_counted(at)
    }
}

/// A calendar field's error under the name the preferences give the field.
fn renamed(error: FieldError) -> FieldError {
    const NAMES: [(&str, &str); 4] = [
        ("timezone", "timeZone"),
        ("businessHoursStart", "workingHours.start"),
        ("businessHoursEnd", "workingHours.end"),
        ("businessDays", "workingHours.days"),
    ];
    let field = NAMES
        .iter()
        .find_map(|(calendar, ours)| {
            error
                .field
                .strip_prefix(calendar)
                .map(|rest| format!("{ours}{rest}"))
        })
        .unwrap_or(error.field);
    let message = error
        .message
        .replace("businessHoursStart", "start")
        .replace("applyBusinessHoursOnly is true", "working hours are set");
    FieldError { field, message }
}

impl TryFrom<WorkingTimeFields> for WorkingTime {
    type Error = String;

    fn try_from(fields: WorkingTimeFields) -> Result<Self, String> {
        Self::parse(&fields).map_err(|errors| errors.to_string())
    }
}

impl From<WorkingTime> for WorkingTimeFields {
    fn from(working_time: WorkingTime) -> Self {
        working_time.fields()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn office(time_zone: &str, days: &[u8], start: &str, end: &str) -> WorkingTime {
        WorkingTime::parse(&WorkingTimeFields {
            time_zone: time_zone.to_owned(),
            working_hours: Some(WorkingHoursFields {
                days: days.to_vec(),
                start: start.to_owned(),
                end: end.to_owned(),
            }),
        })
        .unwrap()
    }

    fn berlin_weekdays() -> WorkingTime {
        office("Europe/Berlin", &[1, 2, 3, 4, 5], "09:00", "17:00")
    }

    #[test]
    fn three_in_the_morning_waits_for_that_mornings_start() {
        // Tuesday 2026-11-24, 03:00 in Berlin (UTC+1) is 02:00 UTC; work starts at 08:00 UTC.
        assert_eq!(
            berlin_weekdays().next_working_instant(at("2026-11-24T02:00:00Z")),
            at("2026-11-24T08:00:00Z")
        );
    }

    #[test]
    fn inside_working_hours_is_at_once() {
        let during = at("2026-11-24T10:30:00Z");
        assert_eq!(berlin_weekdays().next_working_instant(during), during);
    }

    #[test]
    fn after_hours_and_weekends_wait_for_the_next_working_day() {
        let working = berlin_weekdays();
        // Tuesday 17:00 local: the window is closed (half-open), so Wednesday 09:00.
        assert_eq!(
            working.next_working_instant(at("2026-11-24T16:00:00Z")),
            at("2026-11-25T08:00:00Z")
        );
        // Saturday 2026-11-28 noon and Friday evening both wait for Monday 2026-11-30.
        for weekend in ["2026-11-28T11:00:00Z", "2026-11-27T18:00:00Z"] {
            assert_eq!(
                working.next_working_instant(at(weekend)),
                at("2026-11-30T08:00:00Z")
            );
        }
    }

    #[test]
    fn a_dst_change_moves_the_start_in_utc_but_not_on_the_clock() {
        let working = berlin_weekdays();
        // Berlin springs forward on Sunday 2026-03-29: Monday 09:00 is 07:00 UTC, not 08:00.
        assert_eq!(
            working.next_working_instant(at("2026-03-28T12:00:00Z")),
            at("2026-03-30T07:00:00Z")
        );
        // It falls back on Sunday 2026-10-25: Monday 09:00 is 08:00 UTC again.
        assert_eq!(
            working.next_working_instant(at("2026-10-24T12:00:00Z")),
            at("2026-10-26T08:00:00Z")
        );
        // New York springs forward on Sunday 2026-03-08 at 02:00: hours starting at 02:30 that
        // day start at the transition, 03:00 EDT (07:00 UTC).
        let night_shift = office("America/New_York", &[7], "02:30", "06:00");
        assert_eq!(
            night_shift.next_working_instant(at("2026-03-08T05:00:00Z")),
            at("2026-03-08T07:00:00Z")
        );
    }

    #[test]
    fn without_working_hours_any_time_is_at_once() {
        let any_time = WorkingTime::parse(&WorkingTimeFields {
            time_zone: "Asia/Tokyo".to_owned(),
            working_hours: None,
        })
        .unwrap();
        let night = at("2026-11-24T18:00:00Z");
        assert_eq!(any_time.next_working_instant(night), night);
        assert!(!any_time.has_working_hours());
        assert_eq!(any_time, WorkingTime::any_time(chrono_tz::Asia::Tokyo));
    }

    #[test]
    fn bad_fields_are_named_as_the_preferences_spell_them() {
        let errors = WorkingTime::parse(&WorkingTimeFields {
            time_zone: "Mars/Olympus".to_owned(),
            working_hours: Some(WorkingHoursFields {
                days: vec![1, 9, 1],
                start: "9am".to_owned(),
                end: "25:00".to_owned(),
            }),
        })
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "timeZone",
                "workingHours.start",
                "workingHours.end",
                "workingHours.days[1]",
                "workingHours.days[2]"
            ]
        );
        let backwards = WorkingTime::parse(&WorkingTimeFields {
            time_zone: "UTC".to_owned(),
            working_hours: Some(WorkingHoursFields {
                days: vec![1],
                start: "17:00".to_owned(),
                end: "09:00".to_owned(),
            }),
        })
        .unwrap_err();
        assert_eq!(backwards.0[0].field, "workingHours.end");
        assert!(
            backwards.0[0].message.contains("after start"),
            "{backwards:?}"
        );
    }

    #[test]
    fn working_time_round_trips_through_json_with_days_in_order() {
        let working = office("Europe/Berlin", &[5, 1, 3], "08:30", "24:00");
        let json = serde_json::to_value(&working).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "timeZone": "Europe/Berlin",
                "workingHours": {"days": [1, 3, 5], "start": "08:30", "end": "24:00"}
            })
        );
        assert_eq!(
            serde_json::from_value::<WorkingTime>(json).unwrap(),
            working
        );
    }
}
