//! Rollups kept at two grains, per UTC day and per UTC month, so that a period of whole days
//! reads its whole months a row each and only the days at its edges day by day: a year is 12
//! rows of a figure instead of 365, a month one. A rollup row names its grain and the day its
//! day or month starts on (`grain`, `starts_on`).

use chrono::{Datelike, NaiveDate};
use sqlx::{Postgres, QueryBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Day,
    Month,
}

impl Grain {
    pub const ALL: [Grain; 2] = [Grain::Day, Grain::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Month => "month",
        }
    }

    /// The first day of the day or month `day` falls in.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Grain::Day => day,
            Grain::Month => day.with_day(1).expect("every month has a first day"),
        }
    }
}

/// The whole UTC days `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A day before any event: "every day before" a day starts here.
const FIRST_DAY: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");

impl Days {
    /// Every day before `day`, from the first the rollups can hold.
    pub fn before(day: NaiveDate) -> Self {
        Days {
            from: FIRST_DAY.min(day),
            to: day,
        }
    }

    /// The rows that make up the days: the months wholly inside them, `[first, end)`, and the
    /// days before and after those months. Without a whole month, every day is read by the day.
    fn parts(self) -> Parts {
        let start_of_month = Grain::Month.start(self.from);
        let first = if start_of_month == self.from {
            self.from
        } else {
            start_of_month
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(self.to)
        };
        let end = Grain::Month.start(self.to).max(first);
        if first >= end || self.from >= self.to {
            return Parts {
                days: [(self.from, self.to), (self.to, self.to)],
                months: (self.to, self.to),
            };
        }
        Parts {
            days: [(self.from, first), (end, self.to)],
            months: (first, end),
        }
    }

    /// Restricts `query` to the rows of these days, as the next condition of its WHERE clause
    /// (on the columns `grain` and `starts_on`): three ranges, each an index range scan.
    pub fn restrict(self, query: &mut QueryBuilder<'_, Postgres>) {
        let parts = self.parts();
        let ranges = [
            (Grain::Day, parts.days[0]),
            (Grain::Day, parts.days[1]),
            (Grain::Month, parts.months),
        ];
        query.push("(");
        for (at, (grain, (from, to))) in ranges.into_iter().enumerate() {
            if at > 0 {
                query.push(" OR ");
            }
            query.push(format_args!(
                "(grain = '{}' AND starts_on >= ",
                grain.as_str()
            ));
            query.push_bind(from);
            query.push(" AND starts_on < ");
            query.push_bind(to);
            query.push(")");
        }
        query.push(")");
    }
}

#[derive(Debug, PartialEq)]
struct Parts {
    days: [(NaiveDate, NaiveDate); 2],
    months: (NaiveDate, NaiveDate),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// Every day of `days`, as the parts read them: each exactly once.
    fn covered(days: Days) -> Vec<NaiveDate> {
        let parts = days.parts();
        let mut covered = vec![];
        for (from, to) in parts.days {
            covered.extend(from.iter_days().take_while(|d| *d < to));
        }
        let mut month = parts.months.0;
        while month < parts.months.1 {
            assert_eq!(month.day(), 1, "{days:?}");
            let next = month.checked_add_months(chrono::Months::new(1)).unwrap();
            covered.extend(month.iter_days().take_while(|d| *d < next));
            month = next;
        }
        covered.sort();
        covered
    }

    #[test]
    fn whole_months_are_read_by_the_month_and_the_edges_by_the_day() {
        let parts = Days {
            from: day("2025-01-15"),
            to: day("2025-04-03"),
        }
        .parts();
        assert_eq!(
            parts,
            Parts {
                days: [
                    (day("2025-01-15"), day("2025-02-01")),
                    (day("2025-04-01"), day("2025-04-03"))
                ],
                months: (day("2025-02-01"), day("2025-04-01")),
            }
        );
        let within = Days {
            from: day("2025-03-02"),
            to: day("2025-03-31"),
        };
        assert_eq!(within.parts().months.0, within.parts().months.1);
    }

    #[test]
    fn the_parts_cover_each_day_once_whatever_the_period() {
        let start = day("2024-12-01");
        for from in start.iter_days().take(100) {
            for length in [
                0, 1, 2, 15, 27, 28, 29, 30, 31, 32, 45, 59, 60, 61, 62, 90, 365,
            ] {
                let to = from + chrono::Days::new(length);
                let expected: Vec<NaiveDate> = from.iter_days().take_while(|d| *d < to).collect();
                assert_eq!(covered(Days { from, to }), expected, "{from} + {length}");
            }
        }
        let before = Days::before(day("2025-03-10"));
        assert_eq!(before.parts().months, (FIRST_DAY, day("2025-03-01")));
        assert_eq!(
            before.parts().days[1],
            (day("2025-03-01"), day("2025-03-10"))
        );
    }
}
