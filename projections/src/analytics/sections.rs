//! The figures of analytics that other read models already hold: incidents (`incidents`), the
//! knowledge base (`kb_searches`, `kb_daily_views`, `kb_ratings`) and the SLA (`sla_report`, by
//! the SLA report's own definitions). Each reads a period's rows through an index on its instant;
//! incidents and ratings are few, searches are the help centre's own figure (docs/analytics.md).

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;
use support_domain::incident::IncidentSeverity;
use utoipa::ToSchema;

use crate::kb::{search_insights, SearchedQuery};
use crate::schema;

/// How long after its resolution an incident's required post-mortem is overdue.
pub const POST_MORTEM_DUE: TimeDelta = TimeDelta::days(7);
/// How many searches without results analytics lists.
const TOP_SEARCHES: i64 = 10;

/// The incidents of one severity (or all) detected in the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct IncidentFigures {
    /// The severity; null for every incident together.
    #[schema(schema_with = schema::incident_severity_or_null)]
    pub severity: Option<String>,
    pub incidents: i64,
    /// Detection to acknowledgement, of those acknowledged, in minutes.
    #[sqlx(flatten)]
    pub mtta: Mtta,
    #[sqlx(flatten)]
    pub mttr: Mttr,
    /// Incidents that missed their response or resolution target.
    pub breached: i64,
}

/// Mean time to acknowledge: mean, median and p90 in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Mtta {
    #[sqlx(rename = "mtta_mean")]
    pub mean: Option<f64>,
    #[sqlx(rename = "mtta_median")]
    pub median: Option<f64>,
    #[sqlx(rename = "mtta_p90")]
    pub p90: Option<f64>,
}

/// Mean time to resolve: detection to resolution, of those resolved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Mttr {
    #[sqlx(rename = "mttr_mean")]
    pub mean: Option<f64>,
    #[sqlx(rename = "mttr_median")]
    pub median: Option<f64>,
    #[sqlx(rename = "mttr_p90")]
    pub p90: Option<f64>,
}

/// The incidents detected in the period, and the post-mortems overdue at its end.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentAnalytics {
    pub total: IncidentFigures,
    /// Every severity, CRITICAL first.
    pub by_severity: Vec<IncidentFigures>,
    /// Incidents whose post-mortem is required, resolved more than 7 days before the period's
    /// end without a completed post-mortem by then; whenever they were detected.
    pub post_mortems_overdue: i64,
}

/// The incidents detected in `[from, to)`.
pub async fn incidents(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<IncidentAnalytics, sqlx::Error> {
    let times = |name: &str, until: &str| {
        let seconds = format!("extract(epoch FROM {until} - detected_at)::float8");
        format!(
            "round((avg({seconds}) / 60)::numeric, 2)::float8 AS {name}_mean, \
             round((percentile_disc(0.5) WITHIN GROUP (ORDER BY {seconds}) / 60)::numeric, 2) \
                 ::float8 AS {name}_median, \
             round((percentile_disc(0.9) WITHIN GROUP (ORDER BY {seconds}) / 60)::numeric, 2) \
                 ::float8 AS {name}_p90"
        )
    };
    let figures: Vec<IncidentFigures> = sqlx::query_as(&format!(
        "SELECT severity, count(*) AS incidents, {}, {}, \
             count(*) FILTER (WHERE sla_breached) AS breached \
         FROM incidents WHERE detected_at >= $1 AND detected_at < $2 \
         GROUP BY GROUPING SETS ((severity), ())",
        times("mtta", "acknowledged_at"),
        times("mttr", "resolved_at"),
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let overdue: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM incidents \
         WHERE severity = ANY($1) AND resolved_at < $2 \
             AND (post_mortem_completed_at IS NULL OR post_mortem_completed_at >= $3)",
    )
    .bind(
        IncidentSeverity::ALL
            .iter()
            .filter(|s| s.requires_post_mortem())
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(to - POST_MORTEM_DUE)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let none = |severity: Option<&str>| IncidentFigures {
        severity: severity.map(str::to_owned),
        incidents: 0,
        mtta: Mtta {
            mean: None,
            median: None,
            p90: None,
        },
        mttr: Mttr {
            mean: None,
            median: None,
            p90: None,
        },
        breached: 0,
    };
    let of = |severity: Option<&str>| {
        figures
            .iter()
            .find(|f| f.severity.as_deref() == severity)
            .cloned()
            .unwrap_or_else(|| none(severity))
    };
    Ok(IncidentAnalytics {
        total: of(None),
        by_severity: IncidentSeverity::ALL
            .iter()
            .map(|s| of(Some(s.as_str())))
            .collect(),
        post_mortems_overdue: overdue,
    })
}

/// The knowledge base in the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KbAnalytics {
    /// Reads of articles.
    pub views: i64,
    /// Searches with text (first pages).
    pub searches: i64,
    pub searches_without_results: i64,
    /// Ratings last given or changed in the period, and their mean (1 to 5).
    pub ratings: i64,
    pub mean_rating: Option<f64>,
    /// Tickets opened after their customer was shown articles, and their share of the tickets
    /// opened (of the analytics filter's slice).
    pub tickets_created_after_articles: i64,
    #[schema(minimum = 0, maximum = 1)]
    pub article_usage_rate: Option<f64>,
    /// The most frequent searches that found nothing, at most ten.
    pub top_searches_without_results: Vec<SearchedQuery>,
}

/// The knowledge base's reader figures of `[from, to)`; the ticket figures are the caller's.
pub async fn kb(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tickets_created: i64,
    tickets_created_after_articles: i64,
) -> Result<KbAnalytics, sqlx::Error> {
    let views: i64 = sqlx::query_scalar(
        "SELECT (SELECT coalesce(sum(views), 0) FROM kb_daily_views \
                 WHERE day >= $1::date AND day < $2::date)::bigint \
             + (SELECT count(*) FROM kb_article_views WHERE viewed_at >= $1 AND viewed_at < $2)",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let (ratings, mean_rating): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), round(avg(rating), 2)::float8 FROM kb_ratings \
         WHERE updated_at >= $1 AND updated_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let searches = search_insights(pool, from, to, TOP_SEARCHES).await?;
    Ok(KbAnalytics {
        views,
        searches: searches.searches,
        searches_without_results: searches.searches_without_results,
        ratings,
        mean_rating,
        tickets_created_after_articles,
        article_usage_rate: (tickets_created > 0)
            .then(|| tickets_created_after_articles as f64 / tickets_created as f64),
        top_searches_without_results: searches.top_without_results,
    })
}
