//! The `kb_ratings` read model: each reader's rating of an article (`kb_ratings`), and each
//! article's sums (`kb_rating_summaries`), which the article and its search hits show as the
//! mean, the count, the helpful share and the low-rating flag.
//!
//! When a batch changes whether an article is rated low, the same transaction marks its alert
//! pending and wakes the SLA timer, which tells the article (`KbArticleRatedLow` or
//! `KbArticleRatingRecovered`) and clears the mark: a crash anywhere leaves the mark set and the
//! article told again, which records nothing twice.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use support_domain::kb::{KbRatingEvent, RatingSummary, Stars, Verdict};
use support_domain::{RecordedEvent, ERASED};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::sla::timers::TIMERS_CHANNEL;
use crate::{Projection, ProjectionError, Redacted};

pub const AGGREGATE_TYPE: &str = "kb_rating";
/// The read model's name: its consumer, checkpoint and dead letters.
pub const READ_MODEL: &str = "kb_ratings";

/// The rating columns of an article `a`, from `kb_rating_summaries s` joined by `SUMMARY_JOIN`.
pub(super) const RATING_COLUMNS: &str = "coalesce(s.rating_sum::float8 \
        / nullif(s.rating_count, 0), 0) AS rating, \
    coalesce(s.rating_count, 0)::bigint AS rating_count, \
    s.helpful_count::float8 / nullif(s.rating_count, 0) AS helpful_ratio, \
    coalesce(s.low_rated, false) AS low_rated";
pub(super) const SUMMARY_JOIN: &str = "LEFT JOIN kb_rating_summaries s ON s.article_id = a.id";

/// A reader's rating as the API shows it to them, and as their customer's export lists it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KbRatingView {
    pub id: Uuid,
    pub article_id: Uuid,
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i16,
    pub helpful: bool,
    /// `[erased]` once the reader's customer account was erased.
    pub comment: Option<String>,
    /// When the reader first rated the article.
    pub rated_at: DateTime<Utc>,
    /// When they last changed their rating.
    pub updated_at: DateTime<Utc>,
}

const VIEW_COLUMNS: &str =
    "rating_id AS id, article_id, rating, helpful, comment, rated_at, updated_at";

/// One rating by id.
pub async fn find_rating<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<KbRatingView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM kb_ratings WHERE rating_id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// The ratings of a customer account's readers whose comments are not erased, oldest first: what
/// the account's export lists.
pub async fn ratings_of_customer<'e>(
    executor: impl PgExecutor<'e>,
    customer_id: &str,
) -> Result<Vec<KbRatingView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM kb_ratings WHERE customer_id = $1 AND erased_at IS NULL \
         ORDER BY rated_at, rating_id"
    ))
    .bind(customer_id)
    .fetch_all(executor)
    .await
}

/// The `kb_ratings` read model.
pub struct KbRatingsProjection;

#[async_trait]
impl Projection for KbRatingsProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["kb_ratings", "kb_rating_summaries"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut summaries: HashMap<Uuid, Sums> = HashMap::new();
        for event in events {
            let Some((article_id, change)) = apply_rating_event(conn, event).await? else {
                continue;
            };
            let sums = match summaries.entry(article_id) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(Sums {
                    summary: stored_summary(conn, article_id).await?,
                    flipped: false,
                    changed_at: event.occurred_at,
                }),
            };
            sums.apply(change, event.occurred_at);
        }
        write_summaries(conn, summaries).await
    }
}

/// What a rating event does to its article's sums.
enum Change {
    Added(Stars, bool),
    Replaced((Stars, bool), (Stars, bool)),
}

/// An article's sums as the batch leaves them.
struct Sums {
    summary: RatingSummary,
    /// Whether the batch changed `is_low` at any point: even back again, the article is told
    /// (harmlessly, if it already knew), so that a replay never drops a recovery still to tell.
    flipped: bool,
    changed_at: DateTime<Utc>,
}

/// An article's sums as the table holds them; zero for an article not rated before.
async fn stored_summary(
    conn: &mut PgConnection,
    article_id: Uuid,
) -> Result<RatingSummary, sqlx::Error> {
    let row: Option<(i32, i32, i32)> = sqlx::query_as(
        "SELECT rating_count, rating_sum, helpful_count FROM kb_rating_summaries \
         WHERE article_id = $1",
    )
    .bind(article_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (count, sum, helpful) = row.unwrap_or_default();
    Ok(RatingSummary {
        count: count as u32,
        sum: sum as u32,
        helpful: helpful as u32,
    })
}

impl Sums {
    fn apply(&mut self, change: Change, at: DateTime<Utc>) {
        let was_low = self.summary.is_low();
        match change {
            Change::Added(rating, helpful) => self.summary.add(rating, helpful),
            Change::Replaced(before, after) => self.summary.replace(before, after),
        }
        self.flipped |= self.summary.is_low() != was_low;
        self.changed_at = at;
    }
}

/// Writes the rating row of one event; returns its article and what it did to the sums, if
/// anything (an erasure changes none).
async fn apply_rating_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Option<(Uuid, Change)>, ProjectionError> {
    let rating_event = KbRatingEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let id = Uuid::parse_str(&event.aggregate_id)
        .map_err(|e| ProjectionError::undecodable_event(event, e))?;
    match rating_event {
        KbRatingEvent::KbArticleRated {
            article_id,
            reader,
            customer_id,
            verdict,
        } => {
            sqlx::query(
                "INSERT INTO kb_ratings (rating_id, article_id, reader, customer_id, rating, \
                     helpful, comment, rated_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(id)
            .bind(article_id)
            .bind(&reader)
            .bind(&customer_id)
            .bind(i16::from(verdict.rating.get()))
            .bind(verdict.helpful)
            .bind(verdict.comment.as_ref().map(|c| c.as_str()))
            .bind(event.occurred_at)
            .execute(&mut *conn)
            .await?;
            Ok(Some((
                article_id,
                Change::Added(verdict.rating, verdict.helpful),
            )))
        }
        KbRatingEvent::KbArticleRatingRevised { verdict } => {
            let Verdict {
                rating,
                helpful,
                comment,
            } = verdict;
            let before: Option<(Uuid, i16, bool)> = sqlx::query_as(
                "UPDATE kb_ratings r SET rating = $2, helpful = $3, comment = $4, updated_at = $5 \
                 FROM (SELECT rating_id, rating, helpful FROM kb_ratings WHERE rating_id = $1 \
                     FOR UPDATE) AS old \
                 WHERE r.rating_id = old.rating_id \
                 RETURNING r.article_id, old.rating, old.helpful",
            )
            .bind(id)
            .bind(i16::from(rating.get()))
            .bind(helpful)
            .bind(comment.as_ref().map(|c| c.as_str()))
            .bind(event.occurred_at)
            .fetch_optional(&mut *conn)
            .await?;
            let (article_id, old_rating, old_helpful) =
                before.ok_or_else(|| ProjectionError::missing_row(event))?;
            let old_rating = Stars::parse(f64::from(old_rating))
                .map_err(|e| ProjectionError::undecodable_event(event, e))?;
            Ok(Some((
                article_id,
                Change::Replaced((old_rating, old_helpful), (rating, helpful)),
            )))
        }
        KbRatingEvent::KbRatingErased { .. } => {
            let done = sqlx::query(
                "UPDATE kb_ratings SET comment = CASE WHEN comment IS NULL THEN NULL ELSE $2 END, \
                     erased_at = $3 \
                 WHERE rating_id = $1",
            )
            .bind(id)
            .bind(ERASED)
            .bind(event.occurred_at)
            .execute(&mut *conn)
            .await?;
            ProjectionError::expect_one_row(done, event).map(|()| None)
        }
    }
}

/// Writes the batch's sums, marks the alerts of the articles whose flag changed pending, and
/// wakes the SLA timer for them.
async fn write_summaries(
    conn: &mut PgConnection,
    summaries: HashMap<Uuid, Sums>,
) -> Result<(), ProjectionError> {
    if summaries.is_empty() {
        return Ok(());
    }
    let count = summaries.len();
    let mut rows = (
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
    );
    let mut earliest_pending: Option<DateTime<Utc>> = None;
    for (article_id, sums) in summaries {
        rows.0.push(article_id);
        rows.1.push(sums.summary.count as i32);
        rows.2.push(sums.summary.sum as i32);
        rows.3.push(sums.summary.helpful as i32);
        rows.4.push(sums.summary.is_low());
        rows.5.push(sums.flipped);
        rows.6.push(sums.changed_at);
        if sums.flipped {
            let at = sums.changed_at;
            earliest_pending = Some(earliest_pending.map_or(at, |earliest| earliest.min(at)));
        }
    }
    sqlx::query(
        "INSERT INTO kb_rating_summaries AS s (article_id, rating_count, rating_sum, \
             helpful_count, low_rated, alert_pending, changed_at) \
         SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::bool[], \
             $6::bool[], $7::timestamptz[]) ORDER BY 1 \
         ON CONFLICT (article_id) DO UPDATE SET rating_count = excluded.rating_count, \
             rating_sum = excluded.rating_sum, helpful_count = excluded.helpful_count, \
             low_rated = excluded.low_rated, \
             alert_pending = s.alert_pending OR excluded.alert_pending, \
             changed_at = excluded.changed_at",
    )
    .bind(&rows.0)
    .bind(&rows.1)
    .bind(&rows.2)
    .bind(&rows.3)
    .bind(&rows.4)
    .bind(&rows.5)
    .bind(&rows.6)
    .execute(&mut *conn)
    .await?;
    if let Some(earliest) = earliest_pending {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(TIMERS_CHANNEL)
            .bind(earliest.to_rfc3339())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
