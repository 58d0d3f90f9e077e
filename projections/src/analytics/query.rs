//! A period's figures, read from the rollups: the period's rows of each figure and slice (its
//! whole months and weeks a row each, the days left at its edges a row a day), the hourly or daily counts for
//! the series, and the backlog's moves up to the period's start and end. docs/analytics.md
//! defines each figure.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};
use support_domain::sla::CustomerTier;
use support_domain::ticket::{TicketCategory, TicketPriority};
use utoipa::ToSchema;

use super::histogram::Histogram;
use super::sections::{self, IncidentAnalytics, KbAnalytics};
use super::tickets::{Dimension, Figure, Slice};
use super::FigureSum;
use crate::grain::{Days, Grain};
use crate::nps::scores_between;
use crate::sla::report::{compliance, ReportFilter, SlaCompliance};

/// The whole UTC days `[from, to)` of the tickets `slice` files, a series point per `interval`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticsFilter {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub slice: Slice,
    pub interval: Interval,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    Week,
}

impl Interval {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "hour" => Ok(Interval::Hour),
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            other => Err(format!(
                "unknown value {other:?}: expected one of hour, day, week"
            )),
        }
    }

    fn step(self) -> TimeDelta {
        match self {
            Interval::Hour => TimeDelta::hours(1),
            Interval::Day => TimeDelta::days(1),
            Interval::Week => TimeDelta::weeks(1),
        }
    }
}

/// Tickets opened, resolved, reopened and cancelled in the period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketCounts {
    pub tickets_created: i64,
    /// Resolutions: a ticket resolved, reopened and resolved again counts twice.
    pub tickets_resolved: i64,
    pub tickets_reopened: i64,
    pub tickets_cancelled: i64,
    /// ticketsResolved / (backlog at the start + ticketsCreated + ticketsReopened): the share of
    /// the work the period had that it resolved. Null when it had none.
    #[schema(minimum = 0, maximum = 1)]
    pub resolution_rate: Option<f64>,
}

/// A duration's mean, median and 90th percentile in minutes (to the hundredth); null without any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

/// A duration measured `measured` times in the period: on the wall clock, and in business
/// minutes (the ticket's SLA calendar; every minute for a ticket without a policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeFigures {
    pub measured: i64,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub business_minutes: Percentiles,
}

/// The period's durations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Times {
    /// Opening to the first public staff reply; measured at the reply.
    pub first_reply_time: TimeFigures,
    /// Opening to each resolution; measured at the resolution.
    pub full_resolution_time: TimeFigures,
    /// Time in OPEN, ASSIGNED, IN_PROGRESS and WAITING_INTERNAL from the opening to each
    /// resolution; measured at the resolution.
    pub requester_wait_time: TimeFigures,
    /// Time in OPEN, ASSIGNED and IN_PROGRESS from the opening to each resolution.
    pub agent_work_time: TimeFigures,
    /// A customer's public comment (the first unanswered one) to the next public staff reply,
    /// the first reply excepted; measured at the reply.
    pub next_reply_time: TimeFigures,
}

/// First contact resolution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirstContactResolution {
    /// Tickets resolved for the first time in the period.
    pub first_resolutions: i64,
    /// Of those, the ones resolved after exactly one public staff reply and never reopened.
    pub one_touch_resolutions: i64,
    /// oneTouchResolutions / firstResolutions; null without any.
    #[schema(minimum = 0, maximum = 1)]
    pub fcr_rate: Option<f64>,
}

/// Open tickets (neither resolved, closed nor cancelled) of an age, at the period's end.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgeBucket {
    #[schema(example = "2-7 days")]
    pub label: &'static str,
    /// Whole days from the opening day to the period's last day, at least...
    pub min_days: i64,
    /// ...and at most; null: no limit.
    pub max_days: Option<i64>,
    pub tickets: i64,
}

/// The open tickets at the period's start and end, and the end's by age.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backlog {
    pub at_start: i64,
    pub at_end: i64,
    pub age: Vec<AgeBucket>,
}

/// The ages the backlog is split into, in whole days: (label, min, max).
const AGES: &[(&str, i64, Option<i64>)] = &[
    ("0-1 days", 0, Some(1)),
    ("2-7 days", 2, Some(7)),
    ("8-30 days", 8, Some(30)),
    ("over 30 days", 31, None),
];

/// One priority's, category's or channel's figures, over the whole desk.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    /// The priority (`byPriority`), category (`byCategory`) or channel (`byChannel`).
    pub value: String,
    pub tickets_created: i64,
    pub tickets_resolved: i64,
    /// Open at the period's end.
    pub backlog: i64,
    /// Median first reply time, in minutes.
    pub first_reply_median: Option<f64>,
    /// Median full resolution time, in minutes.
    pub full_resolution_median: Option<f64>,
}

/// Customer satisfaction: the ratings customers gave resolutions (a replaced rating counts as
/// its replacement, where that was given).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Csat {
    /// The share of ratings that are 4 or 5; null without any.
    #[schema(minimum = 0, maximum = 1)]
    pub score: Option<f64>,
    /// The mean rating (1 to 5), to the hundredth.
    pub mean: Option<f64>,
    pub responses: i64,
}

impl Csat {
    fn of(count: impl Fn(Figure) -> i64) -> Self {
        let scores: Vec<(i64, i64)> = (1..=5u8)
            .map(|score| (i64::from(score), count(Figure::CsatScore(score))))
            .collect();
        let responses: i64 = scores.iter().map(|(_, n)| n).sum();
        let satisfied: i64 = scores.iter().filter(|(s, _)| *s >= 4).map(|(_, n)| n).sum();
        let total: i64 = scores.iter().map(|(s, n)| s * n).sum();
        Csat {
            score: share(satisfied, responses),
            mean: share(total, responses).map(|m| (m * 100.0).round() / 100.0),
            responses,
        }
    }
}

/// CSAT with how many surveys it answered: one per resolution of a ticket with a customer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CsatSurvey {
    #[serde(flatten)]
    pub csat: Csat,
    pub surveys: i64,
    /// responses / surveys; null without surveys.
    #[schema(minimum = 0, maximum = 1)]
    pub response_rate: Option<f64>,
}

/// Net Promoter Score of the responses given: % promoters (9, 10) - % detractors (0 to 6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Nps {
    /// -100 to 100, to the hundredth; null without responses.
    #[schema(minimum = -100, maximum = 100)]
    pub score: Option<f64>,
    pub responses: i64,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
}

impl Nps {
    fn of<'a>(scores: impl IntoIterator<Item = &'a i16>) -> Self {
        let mut nps = Nps::default();
        for score in scores {
            nps.responses += 1;
            match score {
                9.. => nps.promoters += 1,
                7 | 8 => nps.passives += 1,
                _ => nps.detractors += 1,
            }
        }
        nps.score = share(nps.promoters - nps.detractors, nps.responses)
            .map(|s| (s * 10_000.0).round() / 100.0);
        nps
    }
}

/// The satisfaction figures of the period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Satisfaction {
    pub csat: CsatSurvey,
    /// Of every customer account, whatever the filter: NPS is about the product, not a ticket.
    pub nps: Nps,
}

/// One agent's figures: the tickets assigned to them at each measure.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentFigures {
    #[schema(example = "agent-7")]
    pub agent: String,
    /// Assignments to the agent in the period.
    pub tickets_assigned: i64,
    /// Resolutions of tickets assigned to the agent.
    pub tickets_resolved: i64,
    pub first_reply_median: Option<f64>,
    pub full_resolution_median: Option<f64>,
    /// Ratings of resolutions of tickets assigned to the agent at the rating.
    pub csat: Csat,
    /// Open tickets assigned to the agent at the period's end.
    pub open_load: i64,
}

/// Counts of one interval of the series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    /// The interval's first instant.
    pub start: DateTime<Utc>,
    pub tickets_created: i64,
    pub tickets_resolved: i64,
    pub tickets_reopened: i64,
    pub tickets_cancelled: i64,
    /// CSAT of the ratings given in the interval.
    pub csat: Csat,
    /// NPS of the responses given in the interval.
    pub nps: Nps,
}

/// The support analytics of a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analytics {
    pub start_date: NaiveDate,
    /// The period's last day, included.
    pub end_date: NaiveDate,
    pub tickets: TicketCounts,
    pub times: Times,
    pub first_contact_resolution: FirstContactResolution,
    pub satisfaction: Satisfaction,
    pub backlog: Backlog,
    /// Every priority with a figure in the period, over the whole desk whatever the filter.
    pub by_priority: Vec<Breakdown>,
    pub by_category: Vec<Breakdown>,
    pub by_channel: Vec<Breakdown>,
    /// Every agent with a figure in the period or an open ticket at its end.
    pub agents: Vec<AgentFigures>,
    /// Counts per interval from the period's start.
    pub series: Vec<SeriesPoint>,
    /// The SLA report's compliance and breaches for the period and filter; null when filtered
    /// by channel or agent, which the SLA report does not know.
    pub sla: Option<SlaCompliance>,
    /// Incidents detected in the period (not filtered: incidents have no ticket dimensions).
    pub incidents: IncidentAnalytics,
    /// The knowledge base's readers in the period; the article usage is of the filter's tickets.
    pub kb: KbAnalytics,
}

/// A figure over a range of days: its rows added up.
type Totals = HashMap<Figure, FigureSum>;

#[derive(sqlx::FromRow)]
struct Row {
    dimension: String,
    value: String,
    figure: String,
    measured: i64,
    calendar_seconds: f64,
    business_seconds: f64,
    calendar_histogram: Vec<i32>,
    business_histogram: Vec<i32>,
}

/// The figures `filter` selects.
pub async fn analytics(pool: &PgPool, filter: &AnalyticsFilter) -> Result<Analytics, sqlx::Error> {
    let dimension = filter.slice.dimension.as_str();
    let (from, to) = (start_of(filter.from), start_of(filter.to));
    let sla = async {
        match sla_filter(filter) {
            Some(report) => compliance(pool, &report).await.map(Some),
            None => Ok(None),
        }
    };
    let Statements {
        mut own,
        mut backlog_at_start,
        mut backlog_at_end,
        mut breakdowns,
        mut breakdowns_open,
        mut series_counts,
    } = statements("", filter);
    let (own, others, start, end, other_ends, hours, sla, incidents, nps) = tokio::try_join!(
        own.build_query_as::<Row>().fetch_all(pool),
        breakdowns.build_query_as::<Row>().fetch_all(pool),
        backlog_at_start
            .build_query_as::<(NaiveDate, i64)>()
            .fetch_all(pool),
        backlog_at_end
            .build_query_as::<(NaiveDate, i64)>()
            .fetch_all(pool),
        breakdowns_open
            .build_query_as::<(String, String, i64)>()
            .fetch_all(pool),
        series_counts
            .build_query_as::<(String, DateTime<Utc>, i64)>()
            .fetch_all(pool),
        sla,
        sections::incidents(pool, from, to),
        scores_between(pool, from, to),
    )?;

    let totals = sum_rows(own).remove(&(dimension.to_owned(), filter.slice.value.clone()));
    let totals = totals.unwrap_or_default();
    let count = |figure: Figure| totals.get(&figure).map_or(0, |f| f.measured);
    let at_start: i64 = start.iter().map(|(.., n)| n).sum();
    let last_day = filter.to.pred_opt().unwrap_or(filter.to);
    let tickets = TicketCounts {
        tickets_created: count(Figure::TicketsCreated),
        tickets_resolved: count(Figure::TicketsResolved),
        tickets_reopened: count(Figure::TicketsReopened),
        tickets_cancelled: count(Figure::TicketsCancelled),
        resolution_rate: share(
            count(Figure::TicketsResolved),
            at_start + count(Figure::TicketsCreated) + count(Figure::TicketsReopened),
        ),
    };
    let times = Times {
        first_reply_time: time_figures(totals.get(&Figure::FirstReply)),
        full_resolution_time: time_figures(totals.get(&Figure::TicketsResolved)),
        requester_wait_time: time_figures(totals.get(&Figure::RequesterWait)),
        agent_work_time: time_figures(totals.get(&Figure::AgentWork)),
        next_reply_time: time_figures(totals.get(&Figure::NextReply)),
    };
    let first_contact_resolution = FirstContactResolution {
        first_resolutions: count(Figure::FirstResolutions),
        one_touch_resolutions: count(Figure::OneTouchResolutions),
        fcr_rate: share(
            count(Figure::OneTouchResolutions),
            count(Figure::FirstResolutions),
        ),
    };
    let csat = Csat::of(count);
    let surveys = count(Figure::CsatSurveys);
    let satisfaction = Satisfaction {
        csat: CsatSurvey {
            csat,
            surveys,
            response_rate: share(csat.responses, surveys),
        },
        nps: Nps::of(nps.iter().map(|(_, score)| score)),
    };
    let backlog = Backlog {
        at_start,
        at_end: end.iter().map(|(.., n)| n).sum(),
        age: AGES
            .iter()
            .map(|&(label, min_days, max_days)| AgeBucket {
                label,
                min_days,
                max_days,
                tickets: end
                    .iter()
                    .filter(|(opened_on, _)| {
                        let age = (last_day - *opened_on).num_days().max(0);
                        age >= min_days && max_days.is_none_or(|max| age <= max)
                    })
                    .map(|(.., n)| n)
                    .sum(),
            })
            .collect(),
    };

    let mut slices = sum_rows(others);
    let open: HashMap<(String, String), i64> = other_ends
        .into_iter()
        .map(|(dimension, value, n)| ((dimension, value), n))
        .collect();
    let keys: Vec<(String, String)> = {
        let mut keys: Vec<_> = slices.keys().chain(open.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let (mut by_priority, mut by_category, mut by_channel, mut agents) =
        (vec![], vec![], vec![], vec![]);
    for key in keys {
        let figures = slices.remove(&key).unwrap_or_default();
        let count = |figure: Figure| figures.get(&figure).map_or(0, |f| f.measured);
        let median = |figure: Figure| {
            figures
                .get(&figure)
                .and_then(|f| f.calendar_histogram.percentile(0.5))
                .map(minutes)
        };
        let backlog = open.get(&key).copied().unwrap_or(0);
        let (dimension, value) = key;
        if dimension == Dimension::Agent.as_str() {
            agents.push(AgentFigures {
                agent: value,
                tickets_assigned: count(Figure::TicketsAssigned),
                tickets_resolved: count(Figure::TicketsResolved),
                first_reply_median: median(Figure::FirstReply),
                full_resolution_median: median(Figure::TicketsResolved),
                csat: Csat::of(count),
                open_load: backlog,
            });
            continue;
        }
        let breakdown = Breakdown {
            value,
            tickets_created: count(Figure::TicketsCreated),
            tickets_resolved: count(Figure::TicketsResolved),
            backlog,
            first_reply_median: median(Figure::FirstReply),
            full_resolution_median: median(Figure::TicketsResolved),
        };
        match dimension.as_str() {
            "priority" => by_priority.push(breakdown),
            "category" => by_category.push(breakdown),
            _ => by_channel.push(breakdown),
        }
    }
    // Most urgent first.
    by_priority.sort_by_key(|b| {
        TicketPriority::ALL
            .iter()
            .position(|p| p.as_str() == b.value)
    });

    let kb = sections::kb(
        pool,
        from,
        to,
        count(Figure::TicketsCreated),
        count(Figure::TicketsCreatedAfterArticles),
    )
    .await?;
    Ok(Analytics {
        start_date: filter.from,
        end_date: last_day,
        tickets,
        times,
        first_contact_resolution,
        satisfaction,
        backlog,
        by_priority,
        by_category,
        by_channel,
        agents,
        series: series(filter, hours, &nps),
        sla,
        incidents,
        kb,
    })
}

/// The SLA report's filter for the period and slice, if it has one: it files verdicts by
/// priority, category and tier.
fn sla_filter(filter: &AnalyticsFilter) -> Option<ReportFilter> {
    let mut report = ReportFilter {
        from: start_of(filter.from),
        to: start_of(filter.to),
        priority: None,
        category: None,
        customer_tier: None,
    };
    let value = filter.slice.value.as_str();
    match filter.slice.dimension {
        Dimension::All => {}
        Dimension::Priority => report.priority = TicketPriority::parse(value).ok(),
        Dimension::Category => report.category = TicketCategory::parse(value).ok(),
        Dimension::CustomerTier => report.customer_tier = CustomerTier::parse(value).ok(),
        Dimension::Channel | Dimension::Agent => return None,
    }
    Some(report)
}

/// The figures medians are read of in the breakdowns and per agent.
const MEDIANS: [Figure; 2] = [Figure::FirstReply, Figure::TicketsResolved];

/// The dimensions the breakdowns and the agents' figures are of.
const BREAKDOWNS: [&str; 4] = ["priority", "category", "channel", "agent"];

/// What a period's figures read from the rollups, each a statement after `prefix` (`EXPLAIN `,
/// for the index test).
pub(super) struct Statements {
    /// The period's rows of the filter's slice.
    pub own: QueryBuilder<'static, Postgres>,
    /// The slice's open tickets per opening day, at the period's start and end.
    pub backlog_at_start: QueryBuilder<'static, Postgres>,
    pub backlog_at_end: QueryBuilder<'static, Postgres>,
    /// The breakdowns' rows: counts added up in the database, and the wall-clock histograms of
    /// the two figures whose medians they show (the other histograms would be read for nothing).
    pub breakdowns: QueryBuilder<'static, Postgres>,
    /// The breakdowns' open tickets at the period's end.
    pub breakdowns_open: QueryBuilder<'static, Postgres>,
    /// The series' counts per hour (an hourly series) or per day (a daily or weekly one: a year
    /// is 365 rows a figure, not 8,760).
    pub series_counts: QueryBuilder<'static, Postgres>,
}

pub(super) fn statements(prefix: &str, filter: &AnalyticsFilter) -> Statements {
    let days = Days {
        from: filter.from,
        to: filter.to,
    };
    let slice = |query: &mut QueryBuilder<'static, Postgres>| {
        query.push_bind(filter.slice.dimension.as_str());
        query.push(" AND value = ");
        query.push_bind(filter.slice.value.clone());
    };
    let mut own = QueryBuilder::new(format!(
        "{prefix}SELECT dimension, value, figure, measured, calendar_seconds, business_seconds, \
             calendar_histogram, business_histogram \
         FROM analytics_rollups WHERE dimension = "
    ));
    slice(&mut own);
    own.push(" AND ");
    days.restrict(&mut own);

    let backlog = |before: NaiveDate| {
        let mut query = QueryBuilder::new(format!(
            "{prefix}SELECT opened_on, sum(moves)::bigint FROM analytics_backlog WHERE dimension = "
        ));
        slice(&mut query);
        query.push(" AND ");
        Days::before(before).restrict(&mut query);
        query.push(" GROUP BY opened_on HAVING sum(moves) <> 0");
        query
    };

    let medians = MEDIANS.map(Figure::as_str).to_vec();
    let mut breakdowns = QueryBuilder::new(format!(
        "{prefix}SELECT dimension, value, figure, sum(measured)::bigint AS measured, \
             0::float8 AS calendar_seconds, 0::float8 AS business_seconds, \
             '{{}}'::integer[] AS calendar_histogram, '{{}}'::integer[] AS business_histogram \
         FROM analytics_rollups WHERE dimension = ANY("
    ));
    breakdowns
        .push_bind(BREAKDOWNS.to_vec())
        .push(") AND NOT figure = ANY(");
    breakdowns.push_bind(medians.clone()).push(") AND ");
    days.restrict(&mut breakdowns);
    breakdowns.push(
        " GROUP BY dimension, value, figure \
         UNION ALL \
         SELECT dimension, value, figure, measured, 0, 0, calendar_histogram, '{}' \
         FROM analytics_rollups WHERE dimension = ANY(",
    );
    breakdowns
        .push_bind(BREAKDOWNS.to_vec())
        .push(") AND figure = ANY(");
    breakdowns.push_bind(medians).push(") AND ");
    days.restrict(&mut breakdowns);

    let mut breakdowns_open = QueryBuilder::new(format!(
        "{prefix}SELECT dimension, value, sum(moves)::bigint FROM analytics_backlog \
         WHERE dimension = ANY("
    ));
    breakdowns_open
        .push_bind(BREAKDOWNS.to_vec())
        .push(") AND ");
    Days::before(filter.to).restrict(&mut breakdowns_open);
    breakdowns_open.push(" GROUP BY dimension, value HAVING sum(moves) <> 0");

    let figures: Vec<&str> = SERIES.iter().map(|f| f.as_str()).collect();
    let mut series_counts = if filter.interval == Interval::Hour {
        let mut query = QueryBuilder::new(format!(
            "{prefix}SELECT figure, hour, measured FROM analytics_hourly WHERE dimension = "
        ));
        slice(&mut query);
        query.push(" AND hour >= ").push_bind(start_of(filter.from));
        query.push(" AND hour < ").push_bind(start_of(filter.to));
        query
    } else {
        let mut query = QueryBuilder::new(format!(
            "{prefix}SELECT figure, starts_on::timestamp AT TIME ZONE 'UTC', measured \
             FROM analytics_rollups WHERE dimension = "
        ));
        slice(&mut query);
        query.push(" AND grain = ").push_bind(Grain::Day.as_str());
        query.push(" AND starts_on >= ").push_bind(filter.from);
        query.push(" AND starts_on < ").push_bind(filter.to);
        query
    };
    series_counts
        .push(" AND figure = ANY(")
        .push_bind(figures)
        .push(")");

    Statements {
        own,
        backlog_at_start: backlog(filter.from),
        backlog_at_end: backlog(filter.to),
        breakdowns,
        breakdowns_open,
        series_counts,
    }
}

/// The rows added up per slice and figure.
fn sum_rows(rows: Vec<Row>) -> HashMap<(String, String), Totals> {
    let mut slices: HashMap<(String, String), Totals> = HashMap::new();
    for row in rows {
        let Some(figure) = Figure::parse(&row.figure) else {
            continue;
        };
        let total = slices
            .entry((row.dimension, row.value))
            .or_default()
            .entry(figure)
            .or_default();
        total.add(&FigureSum {
            measured: row.measured,
            calendar_seconds: row.calendar_seconds,
            business_seconds: row.business_seconds,
            calendar_histogram: Histogram::from_counts(row.calendar_histogram),
            business_histogram: Histogram::from_counts(row.business_histogram),
        });
    }
    slices
}

fn time_figures(total: Option<&FigureSum>) -> TimeFigures {
    let Some(total) = total.filter(|t| t.measured > 0) else {
        return TimeFigures::default();
    };
    let n = total.measured as f64;
    TimeFigures {
        measured: total.measured,
        mean: Some(minutes(total.calendar_seconds / n)),
        median: total.calendar_histogram.percentile(0.5).map(minutes),
        p90: total.calendar_histogram.percentile(0.9).map(minutes),
        business_minutes: Percentiles {
            mean: Some(minutes(total.business_seconds / n)),
            median: total.business_histogram.percentile(0.5).map(minutes),
            p90: total.business_histogram.percentile(0.9).map(minutes),
        },
    }
}

/// The figures the series counts per interval.
const SERIES: &[Figure] = &[
    Figure::TicketsCreated,
    Figure::TicketsResolved,
    Figure::TicketsReopened,
    Figure::TicketsCancelled,
    Figure::CsatScore(1),
    Figure::CsatScore(2),
    Figure::CsatScore(3),
    Figure::CsatScore(4),
    Figure::CsatScore(5),
];

fn series(
    filter: &AnalyticsFilter,
    hours: Vec<(String, DateTime<Utc>, i64)>,
    nps: &[(DateTime<Utc>, i16)],
) -> Vec<SeriesPoint> {
    let (from, to, step) = (
        start_of(filter.from),
        start_of(filter.to),
        filter.interval.step(),
    );
    let mut points: BTreeMap<DateTime<Utc>, HashMap<Figure, i64>> = BTreeMap::new();
    let mut start = from;
    while start < to {
        points.insert(start, HashMap::new());
        start += step;
    }
    for (figure, hour, measured) in hours {
        let (Some((_, counts)), Some(figure)) = (
            points.range_mut(..=hour).next_back(),
            Figure::parse(&figure),
        ) else {
            continue;
        };
        *counts.entry(figure).or_default() += measured;
    }
    points
        .into_iter()
        .map(|(start, counts)| {
            let count = |figure: Figure| counts.get(&figure).copied().unwrap_or(0);
            let end = start + step;
            SeriesPoint {
                start,
                tickets_created: count(Figure::TicketsCreated),
                tickets_resolved: count(Figure::TicketsResolved),
                tickets_reopened: count(Figure::TicketsReopened),
                tickets_cancelled: count(Figure::TicketsCancelled),
                csat: Csat::of(count),
                nps: Nps::of(
                    nps.iter()
                        .filter(|(at, _)| *at >= start && *at < end)
                        .map(|(_, score)| score),
                ),
            }
        })
        .collect()
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn minutes(seconds: f64) -> f64 {
    (seconds / 60.0 * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement reads its rows through an index (`explain.rs`), for the whole desk and a
    /// slice, by the hour and by the day, over a few days, 30 days and a year.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_statement_reads_through_an_index(pool: PgPool) {
        let mut conn = crate::explain::pricing_out_seq_scans(&pool).await;
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        let slices = [
            Slice::all(),
            Slice {
                dimension: Dimension::Agent,
                value: "agent-7".into(),
            },
        ];
        let periods = [
            ("2025-03-03", "2025-03-10", Interval::Hour),
            ("2025-02-10", "2025-03-12", Interval::Day),
            ("2025-01-01", "2026-01-01", Interval::Week),
        ];
        for slice in slices {
            for (from, to, interval) in periods {
                let filter = AnalyticsFilter {
                    from: day(from),
                    to: day(to),
                    slice: slice.clone(),
                    interval,
                };
                let s = statements("EXPLAIN ", &filter);
                for mut statement in [
                    s.own,
                    s.backlog_at_start,
                    s.backlog_at_end,
                    s.breakdowns,
                    s.breakdowns_open,
                    s.series_counts,
                ] {
                    let case = format!("{filter:?}");
                    crate::explain::assert_indexed(&mut conn, &mut statement, &case).await;
                }
            }
        }
    }
}
