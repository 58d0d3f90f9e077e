//! `--scenario sla-report`: how fast the SLA report answers over a year of `--tickets` tickets. It
//! fills the `sla_report` read model of DATABASE_URL directly, in SQL (the verdicts, and their
//! counts per day, week and month): the report reads nothing but those rows, and their shape is
//! what a year of a desk leaves (two clocks a ticket, verdicts
//! spread evenly over 2025, one in seven breached and a third of those still counting, every
//! priority, category and tier). Then it times reports over HTTP against the running service:
//! a day, a month, a quarter, the year, and a month under each filter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use support_domain::ActorRole;

use super::scale::{print_latencies, Measure, Request};
use super::{months_of_2025, token};
use crate::database;
use crate::settings::Settings;

/// The verdicts of `tickets` tickets over 2025, in the order they fall, as the projection would
/// have written them.
pub(super) const FILL: &str = r#"
INSERT INTO sla_report
SELECT id, clock, 'TKT-' || to_char(opened, 'YYYYMMDD') || '-' || lpad((n % 10000)::text, 4, '0'),
  (ARRAY['P0_CRITICAL', 'P1_HIGH', 'P2_MEDIUM', 'P3_LOW'])[1 + n % 4],
  (ARRAY['TECHNICAL', 'BILLING', 'ACCOUNT', 'DATA', 'INTEGRATION', 'PERFORMANCE', 'SECURITY',
         'FEATURE_REQUEST', 'BUG_REPORT', 'GENERAL'])[1 + n % 10],
  (ARRAY['ENTERPRISE', 'PROFESSIONAL', 'STANDARD', 'FREE', NULL])[1 + n % 5],
  '00000000-0000-0000-0000-000000000001',
  CASE WHEN breached THEN 'BREACHED' ELSE 'MET' END,
  CASE WHEN breached THEN opened + target ELSE ended END,
  opened, ended, ended,
  extract(epoch FROM target),
  extract(epoch FROM ended - opened),
  extract(epoch FROM ended - opened),
  CASE WHEN breached THEN extract(epoch FROM ended - opened - target) END
FROM (
  SELECT n, id, opened, c.clock, c.target, n % 7 = 0 AS breached,
    -- Met within five sixths of the target; breached by up to twice it; a third of the breaches
    -- still counting.
    CASE WHEN n % 21 <> 0 THEN opened + c.target * CASE WHEN n % 7 = 0
        THEN 1 + (n % 13) / 6.0 ELSE (1 + n % 5) / 6.0 END END AS ended
  FROM (SELECT n, gen_random_uuid() AS id, timestamptz '2025-01-01Z' + n * interval '1 year' / $1 AS opened
        FROM generate_series(1, $1) AS n) AS t,
    (VALUES ('RESPONSE', interval '1 hour'), ('RESOLUTION', interval '8 hours')) AS c(clock, target)
) AS v
ORDER BY 9
"#;

/// The verdicts counted per day, week and month, as the `sla_report` projection counts them.
pub(super) const COUNTS: &str = r#"
INSERT INTO sla_verdict_counts
SELECT g.grain, date_trunc(g.grain, verdict_at AT TIME ZONE 'UTC')::date, clock, priority,
  category, coalesce(customer_tier, ''), verdict, ended_at IS NULL, count(*)
FROM sla_report, (VALUES ('day'), ('week'), ('month')) AS g(grain)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
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
        println!("filling sla_report with the verdicts of {tickets} tickets over 2025");
        let started = Instant::now();
        let rows = sqlx::query(FILL)
            .bind(tickets as i64)
            .execute(&pool)
            .await?
            .rows_affected();
        let counts = sqlx::query(COUNTS).execute(&pool).await?.rows_affected();
        // What autovacuum would soon do: statistics for the planner.
        sqlx::raw_sql("VACUUM (ANALYZE) sla_report, sla_verdict_counts")
            .execute(&pool)
            .await?;
        println!(
            "sla_report: {rows} rows, sla_verdict_counts: {counts} rows in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let admin: Arc<str> = token(settings, ActorRole::Admin, "bench-admin").into();
    let report = |name: &'static str, queries: Vec<String>| Measure {
        name,
        requests: queries
            .into_iter()
            .map(|query| Request {
                path: format!("/api/v1/support/sla-reports?{query}"),
                token: admin.clone(),
            })
            .collect(),
    };
    let measures = vec![
        report(
            "a day (each of 28)",
            (1..=28)
                .map(|d| format!("startDate=2025-02-{d:02}&endDate=2025-02-{d:02}"))
                .collect(),
        ),
        report("a month (each)", months_of_2025("")),
        report(
            "a quarter (each)",
            ["01-01&endDate=2025-03-31", "04-01&endDate=2025-06-30"]
                .into_iter()
                .chain(["07-01&endDate=2025-09-30", "10-01&endDate=2025-12-31"])
                .map(|q| format!("startDate=2025-{q}"))
                .collect(),
        ),
        report(
            "the year",
            vec!["startDate=2025-01-01&endDate=2025-12-31".into()],
        ),
        report(
            "a month, priority=P1_HIGH",
            months_of_2025("&priority=P1_HIGH"),
        ),
        report(
            "a month, category=BILLING",
            months_of_2025("&category=BILLING"),
        ),
        report(
            "a month, customerTier=ENTERPRISE",
            months_of_2025("&customerTier=ENTERPRISE"),
        ),
    ];
    print_latencies(url, clients, duration, "report", measures).await
}
