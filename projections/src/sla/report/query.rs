//! The SLA report: the figures docs/sla.md defines, read from `sla_report` over the verdicts of a
//! period. Three statements run side by side on connections of their own, each an index range
//! scan of the period: the counts, the durations of completed clocks, and the longest breaches.
//! A period of whole UTC days takes its counts from `sla_verdict_counts` instead, a row per
//! month, week or edge day (`grain.rs`) rather than a row per verdict.

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};
use support_domain::sla::{ClockKind, ClockState, CustomerTier};
use support_domain::ticket::{TicketCategory, TicketPriority};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::grain::Days;
use crate::schema;

/// How many of the longest breaches the report lists.
pub const TOP_BREACHES: i64 = 10;

/// Which verdicts a report covers: those whose instant falls in `[from, to)`, of tickets with
/// the given priority, category and tier at their verdicts.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFilter {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub priority: Option<TicketPriority>,
    pub category: Option<TicketCategory>,
    pub customer_tier: Option<CustomerTier>,
}

impl ReportFilter {
    fn restrict<'a>(&self, query: &mut QueryBuilder<'a, Postgres>) {
        query.push(" WHERE verdict_at >= ");
        query.push_bind(self.from);
        query.push(" AND verdict_at < ");
        query.push_bind(self.to);
        self.restrict_dimensions(query);
    }

    fn restrict_dimensions<'a>(&self, query: &mut QueryBuilder<'a, Postgres>) {
        if let Some(priority) = self.priority {
            query.push(" AND priority = ").push_bind(priority.as_str());
        }
        if let Some(category) = self.category {
            query.push(" AND category = ").push_bind(category.as_str());
        }
        if let Some(tier) = self.customer_tier {
            query.push(" AND customer_tier = ").push_bind(tier.as_str());
        }
    }
}

impl ReportFilter {
    /// The period as whole UTC days, when it starts and ends at midnight.
    pub(super) fn whole_days(&self) -> Option<Days> {
        let midnight = |at: DateTime<Utc>| (at.time() == NaiveTime::MIN).then(|| at.date_naive());
        Some(Days {
            from: midnight(self.from)?,
            to: midnight(self.to)?,
        })
    }
}

/// Clocks met and breached, and the share met.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Compliance {
    pub met: u64,
    /// Breached, whether the clock still counts, completed late or was stopped after its breach.
    pub breached: u64,
    /// met / (met + breached); null when there is no verdict to rate.
    #[schema(minimum = 0, maximum = 1)]
    pub compliance_rate: Option<f64>,
}

fn rate(met: u64, breached: u64) -> Option<f64> {
    let rated = met + breached;
    (rated > 0).then(|| met as f64 / rated as f64)
}

/// The average and median of a duration, in minutes to the hundredth; null without any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Durations {
    pub average: Option<f64>,
    pub median: Option<f64>,
}

/// One clock kind's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClockReport {
    pub met: u64,
    pub breached: u64,
    #[schema(minimum = 0, maximum = 1)]
    pub compliance_rate: Option<f64>,
    /// Breached clocks that still count: their tickets are neither answered nor resolved.
    pub open_breaches: u64,
    /// Clocks completed, in time or late: the durations below are theirs.
    pub completed: u64,
    /// From the ticket's opening to the clock's completion, on the wall clock, waits included.
    pub calendar_minutes: Durations,
    /// The time the clock counted: in the policy's business hours, without waits for the customer.
    pub business_minutes: Durations,
}

/// The figures of one priority.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriorityReport {
    #[schema(schema_with = schema::ticket_priority)]
    pub priority: String,
    /// Both clocks together.
    pub overall: Compliance,
    pub response: Compliance,
    pub resolution: Compliance,
}

/// The figures of one category.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryReport {
    #[schema(schema_with = schema::ticket_category)]
    pub category: String,
    /// Both clocks together.
    pub overall: Compliance,
    pub response: Compliance,
    pub resolution: Compliance,
}

/// Breached clocks, by kind, and how many of them still count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreachCounts {
    pub total: u64,
    pub response: u64,
    pub resolution: u64,
    /// Breached clocks still counting, of both kinds.
    pub open: u64,
}

/// One of the longest breaches of the period.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopBreach {
    pub ticket_id: Uuid,
    #[schema(example = "TKT-20261126-0001")]
    pub ticket_number: String,
    #[schema(schema_with = schema::clock_kind)]
    pub clock: String,
    /// The ticket's priority at the breach.
    #[schema(schema_with = schema::ticket_priority)]
    pub priority: String,
    #[schema(schema_with = schema::ticket_category)]
    pub category: String,
    /// The deadline the clock passed.
    pub breached_at: DateTime<Utc>,
    /// When the clock ended: completed late, or stopped by a cancellation.
    pub ended_at: DateTime<Utc>,
    /// How far past its target the clock counted, in business minutes to the hundredth.
    pub breach_minutes: f64,
}

/// The SLA report of a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaReport {
    /// The period's first instant: verdicts at or after it count.
    pub from: DateTime<Utc>,
    /// The instant after the period: verdicts before it count.
    pub to: DateTime<Utc>,
    /// Both clocks of every ticket together.
    pub overall: Compliance,
    pub response: ClockReport,
    pub resolution: ClockReport,
    /// Every priority, in order from P0_CRITICAL.
    pub by_priority: Vec<PriorityReport>,
    /// Every category.
    pub by_category: Vec<CategoryReport>,
    pub breaches: BreachCounts,
    /// The longest breaches of clocks that ended, longest first, at most ten.
    #[schema(max_items = 10)]
    pub top_breaches: Vec<TopBreach>,
}

/// The clocks of one clock kind, priority, category and verdict, still counting or not.
#[derive(sqlx::FromRow)]
struct Counted {
    clock: String,
    priority: String,
    category: String,
    verdict: String,
    open: bool,
    clocks: i64,
}

/// The durations of the completed clocks of each kind, in seconds.
#[derive(Default, sqlx::FromRow)]
struct Timed {
    response_completed: i64,
    response_calendar_average: Option<f64>,
    response_calendar_median: Option<f64>,
    response_business_average: Option<f64>,
    response_business_median: Option<f64>,
    resolution_completed: i64,
    resolution_calendar_average: Option<f64>,
    resolution_calendar_median: Option<f64>,
    resolution_business_average: Option<f64>,
    resolution_business_median: Option<f64>,
}

/// The report of the verdicts `filter` selects.
pub async fn report(pool: &PgPool, filter: &ReportFilter) -> Result<SlaReport, sqlx::Error> {
    let [_, mut durations, mut longest] = statements("", filter);
    let (counted, timed, top_breaches) = tokio::try_join!(
        counted(pool, filter),
        durations.build_query_as::<Timed>().fetch_one(pool),
        longest.build_query_as::<TopBreach>().fetch_all(pool),
    )?;
    Ok(assemble(filter, counted, timed, top_breaches))
}

/// The report's compliance and breach counts alone, the counts' statement only: what analytics
/// shows of the SLA, by the report's own definitions.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaCompliance {
    /// Both clocks of every ticket together.
    pub overall: Compliance,
    pub response: Compliance,
    pub resolution: Compliance,
    /// Every priority, in order from P0_CRITICAL.
    pub by_priority: Vec<PriorityReport>,
    pub breaches: BreachCounts,
}

/// The compliance of the verdicts `filter` selects.
pub async fn compliance(
    pool: &PgPool,
    filter: &ReportFilter,
) -> Result<SlaCompliance, sqlx::Error> {
    let counted = counted(pool, filter).await?;
    let report = assemble(filter, counted, Timed::default(), Vec::new());
    let of = |clock: &ClockReport| Compliance {
        met: clock.met,
        breached: clock.breached,
        compliance_rate: clock.compliance_rate,
    };
    Ok(SlaCompliance {
        overall: report.overall,
        response: of(&report.response),
        resolution: of(&report.resolution),
        by_priority: report.by_priority,
        breaches: report.breaches,
    })
}

/// The counts of the verdicts `filter` selects.
async fn counted(pool: &PgPool, filter: &ReportFilter) -> Result<Vec<Counted>, sqlx::Error> {
    let mut counts = match filter.whole_days() {
        Some(days) => counts_of_days("", filter, days),
        None => {
            let [counts, ..] = statements("", filter);
            counts
        }
    };
    counts.build_query_as().fetch_all(pool).await
}

/// The counts of a period of whole days, from `sla_verdict_counts`: the same lines as the
/// counts' statement over `sla_report`, each a sum of a few rows.
pub(super) fn counts_of_days<'a>(
    prefix: &str,
    filter: &ReportFilter,
    days: Days,
) -> QueryBuilder<'a, Postgres> {
    let mut counts = QueryBuilder::new(format!(
        "{prefix}SELECT clock, priority, category, verdict, open, sum(clocks)::bigint AS clocks \
         FROM sla_verdict_counts WHERE "
    ));
    days.restrict(&mut counts);
    filter.restrict_dimensions(&mut counts);
    counts.push(" GROUP BY clock, priority, category, verdict, open");
    counts
}

/// The report's statements, each after `prefix` (`EXPLAIN `, for the index test). The counts come
/// in one plain grouping (a few hundred lines at most) that the report adds up by clock, priority
/// and category; the medians of each kind are ordered-set aggregates over its completed clocks,
/// each sorting only its own values; the longest breaches are read through the index of breaches
/// that ended.
pub(super) fn statements<'a>(
    prefix: &str,
    filter: &ReportFilter,
) -> [QueryBuilder<'a, Postgres>; 3] {
    let mut counts = QueryBuilder::new(format!(
        "{prefix}SELECT clock, priority, category, verdict, ended_at IS NULL AS open, \
             count(*) AS clocks \
         FROM sla_report"
    ));
    filter.restrict(&mut counts);
    counts.push(" GROUP BY clock, priority, category, verdict, open");

    let of_kind = |kind: ClockKind| {
        let (name, filter) = (
            kind.as_str().to_lowercase(),
            format!("FILTER (WHERE clock = '{}')", kind.as_str()),
        );
        format!(
            "count(*) {filter} AS {name}_completed, \
             avg(calendar_seconds) {filter} AS {name}_calendar_average, \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY calendar_seconds) {filter} \
                 AS {name}_calendar_median, \
             avg(counted_seconds) {filter} AS {name}_business_average, \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY counted_seconds) {filter} \
                 AS {name}_business_median"
        )
    };
    let mut durations = QueryBuilder::new(format!(
        "{prefix}SELECT {}, {} FROM sla_report",
        of_kind(ClockKind::Response),
        of_kind(ClockKind::Resolution),
    ));
    filter.restrict(&mut durations);
    durations.push(" AND completed_at IS NOT NULL");

    let mut longest = QueryBuilder::new(format!(
        "{prefix}SELECT ticket_id, ticket_number, clock, priority, category, \
             verdict_at AS breached_at, ended_at, \
             round((breach_seconds / 60)::numeric, 2)::float8 AS breach_minutes \
         FROM sla_report"
    ));
    filter.restrict(&mut longest);
    longest.push(" AND breach_seconds IS NOT NULL");
    longest.push(" ORDER BY breach_seconds DESC, verdict_at, ticket_id, clock LIMIT ");
    longest.push_bind(TOP_BREACHES);
    [counts, durations, longest]
}

/// Adds `clocks` clocks of one verdict to `compliance`.
fn tally(compliance: &mut Compliance, met: bool, clocks: u64) {
    if met {
        compliance.met += clocks;
    } else {
        compliance.breached += clocks;
    }
    compliance.compliance_rate = rate(compliance.met, compliance.breached);
}

fn assemble(
    filter: &ReportFilter,
    counted: Vec<Counted>,
    timed: Timed,
    top_breaches: Vec<TopBreach>,
) -> SlaReport {
    let durations = |average: Option<f64>, median: Option<f64>| Durations {
        average: average.map(minutes),
        median: median.map(minutes),
    };
    let mut report = SlaReport {
        from: filter.from,
        to: filter.to,
        overall: Compliance::default(),
        response: ClockReport {
            completed: timed.response_completed as u64,
            calendar_minutes: durations(
                timed.response_calendar_average,
                timed.response_calendar_median,
            ),
            business_minutes: durations(
                timed.response_business_average,
                timed.response_business_median,
            ),
            ..ClockReport::default()
        },
        resolution: ClockReport {
            completed: timed.resolution_completed as u64,
            calendar_minutes: durations(
                timed.resolution_calendar_average,
                timed.resolution_calendar_median,
            ),
            business_minutes: durations(
                timed.resolution_business_average,
                timed.resolution_business_median,
            ),
            ..ClockReport::default()
        },
        by_priority: TicketPriority::ALL
            .iter()
            .map(|p| PriorityReport {
                priority: p.as_str().to_owned(),
                overall: Compliance::default(),
                response: Compliance::default(),
                resolution: Compliance::default(),
            })
            .collect(),
        by_category: TicketCategory::ALL
            .iter()
            .map(|c| CategoryReport {
                category: c.as_str().to_owned(),
                overall: Compliance::default(),
                response: Compliance::default(),
                resolution: Compliance::default(),
            })
            .collect(),
        breaches: BreachCounts::default(),
        top_breaches,
    };
    let mut response = Compliance::default();
    let mut resolution = Compliance::default();
    for line in counted {
        let met = line.verdict == ClockState::Met.as_str();
        let clocks = line.clocks as u64;
        let is_response = line.clock == ClockKind::Response.as_str();
        let kind = |response: &'_ mut Compliance, resolution: &'_ mut Compliance| {
            tally(if is_response { response } else { resolution }, met, clocks)
        };
        kind(&mut response, &mut resolution);
        tally(&mut report.overall, met, clocks);
        if !met {
            report.breaches.total += clocks;
            if is_response {
                report.breaches.response += clocks;
            } else {
                report.breaches.resolution += clocks;
            }
            if line.open {
                report.breaches.open += clocks;
                if is_response {
                    report.response.open_breaches += clocks;
                } else {
                    report.resolution.open_breaches += clocks;
                }
            }
        }
        if let Some(p) = report
            .by_priority
            .iter_mut()
            .find(|p| p.priority == line.priority)
        {
            kind(&mut p.response, &mut p.resolution);
            tally(&mut p.overall, met, clocks);
        }
        if let Some(c) = report
            .by_category
            .iter_mut()
            .find(|c| c.category == line.category)
        {
            kind(&mut c.response, &mut c.resolution);
            tally(&mut c.overall, met, clocks);
        }
    }
    for (clock, compliance) in [
        (&mut report.response, response),
        (&mut report.resolution, resolution),
    ] {
        clock.met = compliance.met;
        clock.breached = compliance.breached;
        clock.compliance_rate = compliance.compliance_rate;
    }
    report
}

/// Seconds as minutes to the hundredth.
fn minutes(seconds: f64) -> f64 {
    (seconds / 60.0 * 100.0).round() / 100.0
}
