//! `--scenario analytics`: how fast `GET /analytics` answers over a year of `--tickets` tickets.
//! It fills the read models analytics reads straight in SQL, in the shape a year of a desk
//! leaves them: the rollups (`analytics_rollups`: a row per day, slice and figure for the whole
//! desk, 4 priorities, 10 categories, 6 channels, 4 tiers and 50 agents, and their weeks and
//! months; `analytics_backlog`: two weeks of opening days moving each day, per day, week and
//! month; `analytics_hourly` for the whole desk) and the SLA report's verdicts (`sla_report`, as
//! `--scenario sla-report` fills it, and their counts in `sla_verdict_counts`). The figures read
//! rows per day, week or month and slice, not per ticket: `--tickets` sets the counts the rows
//! hold, not how many rows there are. Then it times the endpoint over HTTP: a day, 30 days, a
//! month, a quarter, the year, a month under each filter, and a week by the hour.

use std::sync::Arc;
use std::time::{Duration, Instant};

use support_domain::ActorRole;

use super::scale::{print_latencies, Measure, Request};
use super::{months_of_2025, token};
use crate::database;
use crate::settings::Settings;

/// Every slice of the desk, with the share of the desk's tickets it files.
const SLICES: &str = r#"
CREATE TEMPORARY TABLE bench_slices AS
SELECT 'all' AS dimension, '' AS value, 1.0 AS share
UNION ALL SELECT 'priority', unnest(ARRAY['P0_CRITICAL', 'P1_HIGH', 'P2_MEDIUM', 'P3_LOW']), 0.25
UNION ALL SELECT 'category', unnest(ARRAY['TECHNICAL', 'BILLING', 'ACCOUNT', 'DATA',
    'INTEGRATION', 'PERFORMANCE', 'SECURITY', 'FEATURE_REQUEST', 'BUG_REPORT', 'GENERAL']), 0.1
UNION ALL SELECT 'channel', unnest(ARRAY['EMAIL', 'PHONE', 'CHAT', 'WEB_FORM', 'API',
    'INTERNAL']), 1.0 / 6
UNION ALL SELECT 'customerTier', unnest(ARRAY['ENTERPRISE', 'PROFESSIONAL', 'STANDARD',
    'FREE']), 0.25
UNION ALL SELECT 'agent', 'agent-' || n, 0.02 FROM generate_series(1, 50) AS n
"#;

/// A row per day of 2025, slice and figure; durations with histograms of 300 buckets.
const DAILY: &str = r#"
INSERT INTO analytics_rollups (grain, dimension, value, figure, starts_on, measured,
  calendar_seconds, business_seconds, calendar_histogram, business_histogram)
SELECT 'day', s.dimension, s.value, f.figure, d::date, m.measured,
  CASE WHEN f.timed THEN m.measured * 3600.0 ELSE 0 END,
  CASE WHEN f.timed THEN m.measured * 1800.0 ELSE 0 END,
  CASE WHEN f.timed THEN array_fill(greatest(m.measured / 300, 1)::int, ARRAY[300])
       ELSE '{}' END,
  CASE WHEN f.timed THEN array_fill(greatest(m.measured / 300, 1)::int, ARRAY[300])
       ELSE '{}' END
FROM bench_slices s,
  generate_series(date '2025-01-01', date '2025-12-31', interval '1 day') AS d,
  (VALUES ('TICKETS_CREATED', false, 1.0), ('TICKETS_CREATED_AFTER_ARTICLES', false, 0.3),
          ('TICKETS_RESOLVED', true, 0.95), ('TICKETS_REOPENED', false, 0.05),
          ('TICKETS_CANCELLED', false, 0.03), ('TICKETS_ASSIGNED', false, 1.0),
          ('FIRST_REPLY', true, 0.97), ('NEXT_REPLY', true, 1.5), ('REQUESTER_WAIT', true, 0.95),
          ('AGENT_WORK', true, 0.95), ('FIRST_RESOLUTIONS', false, 0.9),
          ('ONE_TOUCH_RESOLUTIONS', false, 0.6), ('CSAT_SURVEYS', false, 0.95),
          ('CSAT_1', false, 0.01), ('CSAT_2', false, 0.02), ('CSAT_3', false, 0.04),
          ('CSAT_4', false, 0.08), ('CSAT_5', false, 0.15)) AS f(figure, timed, per_ticket),
  LATERAL (SELECT greatest(round($1 / 365.0 * s.share * f.per_ticket), 1)::bigint AS measured) m
"#;

/// The days added up by the week and month: the histograms are of equal counts in every bucket.
const WEEKS_AND_MONTHS: &str = r#"
INSERT INTO analytics_rollups (grain, dimension, value, figure, starts_on, measured,
  calendar_seconds, business_seconds, calendar_histogram, business_histogram)
SELECT g.grain, dimension, value, figure, date_trunc(g.grain, starts_on)::date, sum(measured),
  sum(calendar_seconds), sum(business_seconds),
  CASE WHEN sum(calendar_seconds) > 0
       THEN array_fill(sum(calendar_histogram[1])::int, ARRAY[300]) ELSE '{}' END,
  CASE WHEN sum(calendar_seconds) > 0
       THEN array_fill(sum(business_histogram[1])::int, ARRAY[300]) ELSE '{}' END
FROM analytics_rollups, (VALUES ('week'), ('month')) AS g(grain)
WHERE analytics_rollups.grain = 'day'
GROUP BY dimension, value, figure, g.grain, date_trunc(g.grain, starts_on)
"#;

/// The whole desk's series figures per hour of 2025.
const HOURLY: &str = r#"
INSERT INTO analytics_hourly
SELECT 'all', '', f.figure, h, greatest(round($1 / 8760.0 * f.per_ticket), 1)::bigint
FROM generate_series(timestamptz '2025-01-01Z', timestamptz '2025-12-31 23:00Z',
    interval '1 hour') AS h,
  (VALUES ('TICKETS_CREATED', 1.0), ('TICKETS_RESOLVED', 0.95), ('TICKETS_REOPENED', 0.05),
          ('TICKETS_CANCELLED', 0.03), ('CSAT_1', 0.01), ('CSAT_2', 0.02), ('CSAT_3', 0.04),
          ('CSAT_4', 0.08), ('CSAT_5', 0.15)) AS f(figure, per_ticket)
"#;

/// Each day, a slice's tickets of the last two weeks' opening days move: the day's openings
/// enter, and older ones leave.
const BACKLOG: &str = r#"
INSERT INTO analytics_backlog (grain, dimension, value, starts_on, opened_on, moves)
SELECT 'day', s.dimension, s.value, d::date, (d - age * interval '1 day')::date,
  CASE WHEN age = 0 THEN greatest(round($1 / 365.0 * s.share), 1)::int
       ELSE -greatest(round($1 / 365.0 * s.share / 14), 1)::int END
FROM bench_slices s,
  generate_series(date '2025-01-01', date '2025-12-31', interval '1 day') AS d,
  generate_series(0, 13) AS age
"#;

/// The backlog's moves added up by the week and month.
const BACKLOG_WEEKS_AND_MONTHS: &str = r#"
INSERT INTO analytics_backlog (grain, dimension, value, starts_on, opened_on, moves)
SELECT g.grain, dimension, value, date_trunc(g.grain, starts_on)::date, opened_on, sum(moves)
FROM analytics_backlog, (VALUES ('week'), ('month')) AS g(grain)
WHERE analytics_backlog.grain = 'day'
GROUP BY dimension, value, g.grain, date_trunc(g.grain, starts_on), opened_on
HAVING sum(moves) <> 0
"#;

pub async fn run(
    url: &str,
    clients: usize,
    duration: Duration,
    fill: Option<u64>,
    settings: &Settings,
) -> anyhow::Result<()> {
    let pool = database::connect(&settings.database_url).await?;
    if let Some(tickets) = fill {
        println!("filling the analytics rollups and sla_report for {tickets} tickets over 2025");
        let started = Instant::now();
        let mut conn = pool.acquire().await?;
        sqlx::raw_sql(SLICES).execute(&mut *conn).await?;
        for (rows_of, statement) in [
            ("analytics_rollups, days", DAILY),
            ("analytics_hourly", HOURLY),
            ("analytics_backlog, days", BACKLOG),
            ("sla_report", super::report::FILL),
        ] {
            let query = sqlx::query(statement).bind(tickets as i64);
            let rows = query.execute(&mut *conn).await?.rows_affected();
            println!("{rows_of}: {rows} rows");
        }
        // What the projections add up from those as they write them.
        for (rows_of, statement) in [
            ("analytics_rollups, weeks and months", WEEKS_AND_MONTHS),
            (
                "analytics_backlog, weeks and months",
                BACKLOG_WEEKS_AND_MONTHS,
            ),
            ("sla_verdict_counts", super::report::COUNTS),
        ] {
            let rows = sqlx::query(statement)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            println!("{rows_of}: {rows} rows");
        }
        // What autovacuum would soon do: statistics for the planner.
        sqlx::raw_sql(
            "VACUUM (ANALYZE) analytics_rollups, analytics_hourly, analytics_backlog, sla_report, \
                 sla_verdict_counts",
        )
        .execute(&pool)
        .await?;
        println!("filled in {:.1} s", started.elapsed().as_secs_f64());
    }
    let admin: Arc<str> = token(settings, ActorRole::Admin, "bench-admin").into();
    let analytics = |name: &'static str, queries: Vec<String>| Measure {
        name,
        requests: queries
            .into_iter()
            .map(|query| Request {
                path: format!("/api/v1/support/analytics?{query}"),
                token: admin.clone(),
            })
            .collect(),
    };
    let measures = vec![
        analytics(
            "a day (each of 28)",
            (1..=28)
                .map(|d| format!("startDate=2025-02-{d:02}&endDate=2025-02-{d:02}"))
                .collect(),
        ),
        analytics(
            "30 days (each of 28 starts)",
            (1..=28)
                .map(|d| {
                    let from =
                        chrono::NaiveDate::from_ymd_opt(2025, 2, d).expect("a day of February");
                    let to = from + chrono::Days::new(29);
                    format!("startDate={from}&endDate={to}")
                })
                .collect(),
        ),
        analytics("a month (each)", months_of_2025("")),
        analytics(
            "a quarter (each), by week",
            ["01-01&endDate=2025-03-31", "04-01&endDate=2025-06-30"]
                .into_iter()
                .chain(["07-01&endDate=2025-09-30", "10-01&endDate=2025-12-31"])
                .map(|q| format!("startDate=2025-{q}&interval=week"))
                .collect(),
        ),
        analytics(
            "the year, by week",
            vec!["startDate=2025-01-01&endDate=2025-12-31&interval=week".into()],
        ),
        analytics(
            "a week by the hour (each of 4)",
            (0..4)
                .map(|w| {
                    let start = 3 + 7 * w;
                    format!(
                        "startDate=2025-03-{start:02}&endDate=2025-03-{:02}&interval=hour",
                        start + 6
                    )
                })
                .collect(),
        ),
        analytics(
            "a month, priority=P1_HIGH",
            months_of_2025("&priority=P1_HIGH"),
        ),
        analytics("a month, channel=EMAIL", months_of_2025("&channel=EMAIL")),
        analytics("a month, agent=agent-7", months_of_2025("&agent=agent-7")),
    ];
    print_latencies(url, clients, duration, "analytics", measures).await
}
