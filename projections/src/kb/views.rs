//! Article views: counted by inserting a row per read, so that any number of concurrent readers of
//! one article wait on no lock, and folded into `kb_article_view_counts` in batches so that a count
//! never sums more than one batch of rows. A view is committed before its read is answered, and a
//! fold moves rows in one statement: a crash of the service at any point loses none and counts
//! none twice.
//!
//! A view's commit does not wait for the WAL to reach the disk (`synchronous_commit` off for that
//! statement's own transaction): it is committed, and seen by every reader, before the read is
//! answered, but a crash of PostgreSQL itself (not of the service) may lose the views of its last
//! fraction of a second. Waiting for the disk halved the reads an article could serve.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ratings::{RATING_COLUMNS, SUMMARY_JOIN};

/// Turns off the wait for the disk at the commit of the statement that selects from it: which
/// must therefore be sent on its own, as its own transaction.
const NO_WAIT_FOR_THE_DISK: &str =
    "(SELECT set_config('synchronous_commit', 'off', true)) AS no_wait_for_the_disk";

/// The views of article `a`: those folded and those not folded yet.
pub(super) const VIEWS: &str = "coalesce((SELECT c.views FROM kb_article_view_counts c \
        WHERE c.article_id = a.id), 0) \
    + (SELECT count(*) FROM kb_article_views v WHERE v.article_id = a.id)";

/// Records one read of `article_id` at `at`. Not in a transaction of the caller's (see
/// `NO_WAIT_FOR_THE_DISK`).
pub async fn count_view(
    pool: &PgPool,
    article_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO kb_article_views (article_id, viewed_at) \
         SELECT $1, $2 FROM {NO_WAIT_FOR_THE_DISK}"
    ))
    .bind(article_id)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// What an article's readers change without a new version of it: its views and its ratings.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReaderFigures {
    /// How many times it was read (`GET` of the article); on an article, this read included.
    pub views: i64,
    /// The mean of its readers' ratings (1 to 5); 0 when unrated.
    pub rating: f64,
    pub rating_count: i64,
    /// The share of its ratings that found it helpful (0 to 1); null when unrated.
    pub helpful_ratio: Option<f64>,
    /// At least 5 ratings with a mean under 2.5.
    pub low_rated: bool,
}

/// Whether a kept search page is still what a search would find, and its hits' figures as they
/// stand.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchFreshness {
    /// The transaction that last changed the articles: a page cut before it is out of date.
    pub changed_in: i64,
    pub figures: Vec<(Uuid, ReaderFigures)>,
}

/// The articles' last change and the readers' figures of `hits`, in one round trip: a page kept
/// since that change still stands, with its figures brought up to date.
pub async fn figures_of_hits(pool: &PgPool, hits: &[Uuid]) -> Result<SearchFreshness, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        changed_in: i64,
        id: Option<Uuid>,
        #[sqlx(flatten)]
        figures: ReaderFigures,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT m.changed_in::text::bigint AS changed_in, a.id, {VIEWS} AS views, \
             {RATING_COLUMNS} \
         FROM kb_articles_changed m \
         LEFT JOIN (kb_articles a {SUMMARY_JOIN}) ON a.id = ANY($1)"
    ))
    .bind(hits)
    .fetch_all(pool)
    .await?;
    Ok(SearchFreshness {
        changed_in: rows.first().map_or(0, |row| row.changed_in),
        figures: rows
            .into_iter()
            .filter_map(|row| Some((row.id?, row.figures)))
            .collect(),
    })
}

/// Records one read of `article_id` at `at` if the read model still holds it at `version`, and
/// returns its readers' figures, this read included; `None`, counting nothing, when the article
/// changed or is gone. One statement: a reader that holds the article's text (a cache) checks and
/// counts in one round trip, and reads no text. Not in a transaction of the caller's (see
/// `NO_WAIT_FOR_THE_DISK`).
pub async fn count_view_at_version(
    pool: &PgPool,
    article_id: Uuid,
    version: i64,
    at: DateTime<Utc>,
) -> Result<Option<ReaderFigures>, sqlx::Error> {
    // The insert is not in the statement's snapshot, hence the + 1.
    sqlx::query_as(&format!(
        "WITH current AS ( \
             SELECT a.version, {VIEWS} AS views, {RATING_COLUMNS} \
             FROM kb_articles a {SUMMARY_JOIN} WHERE a.id = $1), \
         counted AS ( \
             INSERT INTO kb_article_views (article_id, viewed_at) \
             SELECT $1, $3 FROM current, {NO_WAIT_FOR_THE_DISK} WHERE version = $2) \
         SELECT views + 1 AS views, rating, rating_count, helpful_ratio, low_rated \
         FROM current WHERE version = $2"
    ))
    .bind(article_id)
    .bind(version)
    .bind(at)
    .fetch_optional(pool)
    .await
}

/// Folds up to `batch` unfolded views into the counts per article and per UTC day; how many it
/// folded. Concurrent folds take disjoint rows (`SKIP LOCKED`), and the rows leave the log in the
/// statement that counts them.
pub async fn fold_views<'e>(executor: impl PgExecutor<'e>, batch: i64) -> Result<u64, sqlx::Error> {
    let folded: Option<i64> = sqlx::query_scalar(
        "WITH taken AS ( \
             DELETE FROM kb_article_views WHERE id IN ( \
                 SELECT id FROM kb_article_views ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING article_id, viewed_at), \
         per_article AS ( \
             SELECT article_id, count(*) AS views FROM taken GROUP BY article_id), \
         added AS ( \
             INSERT INTO kb_article_view_counts (article_id, views) \
             SELECT article_id, views FROM per_article ORDER BY article_id \
             ON CONFLICT (article_id) DO UPDATE \
                 SET views = kb_article_view_counts.views + excluded.views), \
         per_day AS ( \
             INSERT INTO kb_daily_views (day, views) \
             SELECT (viewed_at AT TIME ZONE 'UTC')::date AS day, count(*) FROM taken \
             GROUP BY day ORDER BY day \
             ON CONFLICT (day) DO UPDATE SET views = kb_daily_views.views + excluded.views) \
         SELECT sum(views)::bigint FROM per_article",
    )
    .bind(batch)
    .fetch_one(executor)
    .await?;
    Ok(folded.unwrap_or(0) as u64)
}
