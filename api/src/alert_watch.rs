//! The alert watch: the SLA timer's pass evaluates each active alert rule against the read
//! models, at most once a minute, and tells the rule what it observed; the rule fires (or not,
//! within its cool-down). docs/analytics.md defines each condition.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use support_domain::alert::{AlertKind, AlertRule, AlertRuleCommand, Observation};
use support_domain::ticket::TicketStatus;
use support_projections::alerts::{self, AlertRuleView};

use crate::problem::ApiError;
use crate::sla_timer::{timer_caller, timer_metadata, ATTEMPTS};
use crate::startup::ApiContext;

/// How often the timer evaluates the rules.
pub const EVERY: TimeDelta = TimeDelta::minutes(1);
/// The window of the counts when a rule never fired: the last hour.
const FIRST_WINDOW: TimeDelta = TimeDelta::hours(1);
/// Weeks of the same hour a volume is compared with.
const WEEKS: i64 = 4;
/// Ratings an article needs before its mean can alert.
const MIN_RATINGS: i32 = 5;

/// When the timer must wake for the next evaluation, if any rule is active: `EVERY` after now.
pub const NEXT_DUE: &str =
    "(SELECT now() + interval '1 minute' WHERE EXISTS (SELECT 1 FROM alert_rules WHERE active))";

/// Evaluates every active rule at `now` and tells each what it observed; how many observations
/// it sent. A rule's own cool-down and trigger decide whether it fires.
pub async fn evaluate(ctx: &ApiContext, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let mut sent = 0;
    for rule in alerts::active(&ctx.pool).await? {
        let Some(kind) = AlertKind::parse(&rule.kind).ok() else {
            continue;
        };
        for observation in observe(&ctx.pool, &rule, kind, now).await? {
            let command = AlertRuleCommand::Fire {
                caller: timer_caller(),
                at: now,
                observation,
            };
            ctx.execute_retrying::<AlertRule>(
                rule.id,
                command,
                &timer_metadata(ctx, now),
                ATTEMPTS,
            )
            .await?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// What the read models show of `rule`'s condition at `now`: one observation about the desk, or
/// one per agent or article that passes the threshold.
async fn observe(
    pool: &PgPool,
    rule: &AlertRuleView,
    kind: AlertKind,
    now: DateTime<Utc>,
) -> Result<Vec<Observation>, sqlx::Error> {
    // Counts of what happened run from the rule's last firing, so nothing counts twice.
    let since = rule.last_fired_at.unwrap_or(now - FIRST_WINDOW);
    let trigger = now.to_rfc3339();
    let desk = |observed: f64, detail: String| Observation {
        subject: "desk".to_owned(),
        observed,
        trigger: trigger.clone(),
        detail,
    };
    Ok(match kind {
        AlertKind::SlaBreach => {
            let breaches: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM sla_report \
                 WHERE verdict = 'BREACHED' AND verdict_at > $1 AND verdict_at <= $2",
            )
            .bind(since)
            .bind(now)
            .fetch_one(pool)
            .await?;
            vec![desk(
                breaches as f64,
                format!("{breaches} SLA breaches since {}", since.to_rfc3339()),
            )]
        }
        AlertKind::CriticalIncident => {
            let incidents: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM incidents \
                 WHERE severity = 'CRITICAL' AND detected_at > $1 AND detected_at <= $2",
            )
            .bind(since)
            .bind(now)
            .fetch_one(pool)
            .await?;
            vec![desk(
                incidents as f64,
                format!(
                    "{incidents} critical incidents since {}",
                    since.to_rfc3339()
                ),
            )]
        }
        AlertKind::HighVolume => {
            let (last_hour, usual) = volume(pool, now).await?;
            let multiple = last_hour as f64 / usual.max(1.0);
            vec![desk(
                multiple,
                format!(
                    "{last_hour} tickets opened in the last hour; the median of the same hour \
                     over the previous {WEEKS} weeks is {usual}"
                ),
            )]
        }
        AlertKind::AgentOverload => {
            let open: Vec<&str> = TicketStatus::ALL
                .iter()
                .filter(|s| s.assignee_rule() == support_domain::ticket::AssigneeRule::Required)
                .map(|s| s.as_str())
                .collect();
            let loads: Vec<(String, i64)> = sqlx::query_as(
                "SELECT assigned_to, count(*) FROM tickets \
                 WHERE status = ANY($1) AND assigned_to IS NOT NULL \
                 GROUP BY assigned_to HAVING count(*) > $2 ORDER BY assigned_to",
            )
            .bind(open)
            .bind(rule.threshold)
            .fetch_all(pool)
            .await?;
            loads
                .into_iter()
                .map(|(agent, load)| Observation {
                    detail: format!("{agent} has {load} open tickets"),
                    subject: agent,
                    observed: load as f64,
                    trigger: trigger.clone(),
                })
                .collect()
        }
        AlertKind::LowKbRating => {
            let low: Vec<(uuid::Uuid, f64, i32)> = sqlx::query_as(
                "SELECT article_id, rating_sum::float8 / rating_count, rating_count \
                 FROM kb_rating_summaries \
                 WHERE rating_count >= $1 AND rating_sum < $2 * rating_count \
                 ORDER BY article_id",
            )
            .bind(MIN_RATINGS)
            .bind(rule.threshold)
            .fetch_all(pool)
            .await?;
            low.into_iter()
                .map(|(article, mean, count)| Observation {
                    subject: article.to_string(),
                    observed: mean,
                    trigger: trigger.clone(),
                    detail: format!("article {article} is rated {mean:.2} on {count} ratings"),
                })
                .collect()
        }
    })
}

/// Tickets opened in the hour before `now`, and the median of the same hour one to four weeks
/// before (the mean of the middle two of the four).
async fn volume(pool: &PgPool, now: DateTime<Utc>) -> Result<(i64, f64), sqlx::Error> {
    let mut counts = Vec::with_capacity(WEEKS as usize + 1);
    for week in 0..=WEEKS {
        let end = now - TimeDelta::weeks(week);
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM tickets WHERE created_at > $1 AND created_at <= $2",
        )
        .bind(end - TimeDelta::hours(1))
        .bind(end)
        .fetch_one(pool)
        .await?;
        counts.push(count);
    }
    let last_hour = counts.remove(0);
    counts.sort_unstable();
    let usual = (counts[1] + counts[2]) as f64 / 2.0;
    Ok((last_hour, usual))
}
