//! Rollups kept at three grains, per UTC day, week (from Monday) and month, so that a period of
//! whole days reads each whole month inside it as a row, each whole week around those as a row,
//! and only the few days left at its edges day by day: a year is 12 rows of a figure instead of
//! 365, the last 30 days at most 16. A rollup row names its grain and the day its day, week or
//! month starts on (`grain`, `starts_on`).

use chrono::{Datelike, Days as DayCount, Months, NaiveDate};
use sqlx::{Postgres, QueryBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Day,
    Week,
    Month,
}

impl Grain {
    pub const ALL: [Grain; 3] = [Grain::Day, Grain::Week, Grain::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
        }
    }

    /// The first day of the day, week or month `day` falls in.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Grain::Day => day,
            Grain::Week => day - DayCount::new(u64::from(day.weekday().num_days_from_monday())),
            Grain::Month => day.with_day(1).expect("every month has a first day"),
        }
    }

    /// The first day of the next day, week or month after the one starting on `start`.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Grain::Day => start.checked_add_days(DayCount::new(1)),
            Grain::Week => start.checked_add_days(DayCount::new(7)),
            Grain::Month => start.checked_add_months(Months::new(1)),
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

    /// The rows that make up the days, as ranges of rows of one grain: the whole months inside
    /// them, the whole weeks inside what is left on either side, and the days left over.
    fn parts(self) -> Vec<Part> {
        let mut parts = Vec::new();
        cover(self.from, self.to, &[Grain::Month, Grain::Week], &mut parts);
        parts
    }

    /// Restricts `query` to the rows of these days, as the next condition of its WHERE clause
    /// (on the columns `grain` and `starts_on`): a few ranges, each an index range scan.
    pub fn restrict(self, query: &mut QueryBuilder<'_, Postgres>) {
        let parts = self.parts();
        if parts.is_empty() {
            query.push("FALSE");
            return;
        }
        query.push("(");
        for (at, Part { grain, from, to }) in parts.into_iter().enumerate() {
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

/// The rows of `grain` starting on `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Part {
    grain: Grain,
    from: NaiveDate,
    to: NaiveDate,
}

/// Adds to `parts` the rows that cover `[from, to)`: the whole units of the first of `grains`
/// inside it, and what is left on either side by the next grains, down to days.
fn cover(from: NaiveDate, to: NaiveDate, grains: &[Grain], parts: &mut Vec<Part>) {
    if from >= to {
        return;
    }
    let Some((&grain, finer)) = grains.split_first() else {
        parts.push(Part {
            grain: Grain::Day,
            from,
            to,
        });
        return;
    };
    let start = grain.start(from);
    let first = if start == from {
        Some(from)
    } else {
        grain.next(start)
    };
    let end = grain.start(to);
    match first {
        Some(first) if first < end => {
            cover(from, first, finer, parts);
            parts.push(Part {
                grain,
                from: first,
                to: end,
            });
            cover(end, to, finer, parts);
        }
        _ => cover(from, to, finer, parts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// Every day of `days`, as the parts read them, in order; and how many rows that is.
    fn covered(days: Days) -> (Vec<NaiveDate>, usize) {
        let mut covered = vec![];
        let mut rows = 0;
        for part in days.parts() {
            let mut start = part.from;
            while start < part.to {
                assert_eq!(part.grain.start(start), start, "{days:?}: {part:?}");
                let next = part.grain.next(start).unwrap();
                covered.extend(start.iter_days().take_while(|d| *d < next));
                rows += 1;
                start = next;
            }
        }
        (covered, rows)
    }

    #[test]
    fn whole_months_then_whole_weeks_then_days() {
        let part = |grain, from, to| Part {
            grain,
            from: day(from),
            to: day(to),
        };
        // 2025-01-15 is a Wednesday; 2025-04-03 a Thursday.
        let days = Days {
            from: day("2025-01-15"),
            to: day("2025-04-03"),
        };
        assert_eq!(
            days.parts(),
            vec![
                part(Grain::Day, "2025-01-15", "2025-01-20"),
                part(Grain::Week, "2025-01-20", "2025-01-27"),
                part(Grain::Day, "2025-01-27", "2025-02-01"),
                part(Grain::Month, "2025-02-01", "2025-04-01"),
                part(Grain::Day, "2025-04-01", "2025-04-03"),
            ]
        );
        assert_eq!(
            Days {
                from: day("2025-03-01"),
                to: day("2025-03-01")
            }
            .parts(),
            vec![]
        );
    }

    #[test]
    fn the_parts_cover_each_day_once_in_few_rows() {
        let start = day("2024-12-01");
        for from in start.iter_days().take(120) {
            for length in [
                0, 1, 2, 6, 7, 8, 15, 27, 28, 29, 30, 31, 32, 45, 59, 60, 61, 62, 90, 365,
            ] {
                let to = from + DayCount::new(length);
                let expected: Vec<NaiveDate> = from.iter_days().take_while(|d| *d < to).collect();
                let (covered, rows) = covered(Days { from, to });
                assert_eq!(covered, expected, "{from} + {length}");
                if length <= 31 {
                    assert!(rows <= 16, "{from} + {length}: {rows} rows");
                }
                if length == 365 {
                    // At most 14 rows on either side of 11 or 12 months.
                    assert!(rows <= 40, "{from} + {length}: {rows} rows");
                }
            }
        }
        let before = Days::before(day("2025-03-12"));
        let parts = before.parts();
        assert_eq!(parts[0].from, FIRST_DAY);
        assert_eq!(parts[0].grain, Grain::Month);
        assert_eq!(
            parts[1],
            Part {
                grain: Grain::Day,
                from: day("2025-03-01"),
                to: day("2025-03-03")
            }
        );
    }
}
