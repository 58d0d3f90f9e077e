//! The knowledge base read models: `kb_articles` (each article's current revision and its search
//! document), `kb_article_revisions` (every revision in full) and `kb_words` (the words typos are
//! corrected to). `search` reads them for the API; views are counted beside them, not as events;
//! readers' ratings are a read model of their own (`ratings`), joined in.

mod ratings;
mod search;
mod views;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use support_domain::kb::{KbArticleEvent, KbArticleFields, KbStatus};
use support_domain::RecordedEvent;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{schema, Projection, ProjectionError, Redacted};

pub use ratings::{
    find_rating, ratings_of_customer, KbRatingView, KbRatingsProjection,
    AGGREGATE_TYPE as RATING_AGGREGATE_TYPE, READ_MODEL as RATINGS_READ_MODEL,
};
use ratings::{RATING_COLUMNS, SUMMARY_JOIN};
pub use search::{
    normalise_query, record_search, search, search_insights, suggest, ArticleHit, CategoryCount,
    KbAudience, KbSearch, KbSearchPage, SearchInsights, SearchedQuery,
};
use views::VIEWS;
pub use views::{
    count_view, count_view_at_version, figures_of_hits, fold_views, ReaderFigures, SearchFreshness,
};

pub const AGGREGATE_TYPE: &str = "kb_article";
/// The read model's name: its consumer, checkpoint and dead letters.
pub const READ_MODEL: &str = "kb_articles";

/// An article as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KbArticleView {
    pub id: Uuid,
    #[schema(example = "KB-000001")]
    pub article_number: String,
    #[schema(example = "How to Reset Your Password")]
    pub title: String,
    pub summary: String,
    /// Markdown.
    pub content: String,
    #[schema(schema_with = schema::kb_category)]
    pub category: String,
    #[schema(schema_with = schema::kb_status)]
    pub status: String,
    pub tags: Vec<String>,
    pub keywords: Vec<String>,
    /// Views and ratings: what readers change without a new version of the article.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub readers: ReaderFigures,
    pub author: String,
    pub is_internal: bool,
    pub is_pinned: bool,
    pub search_boost: f64,
    pub related_articles: Vec<Uuid>,
    pub related_tickets: Vec<Uuid>,
    pub related_incidents: Vec<Uuid>,
    /// The number of its current revision; 1 when created.
    pub revision: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was last published; null if it never was.
    pub published_at: Option<DateTime<Utc>>,
    /// The sequence of the last event this view reflects.
    pub version: i64,
}

/// The columns of `KbArticleView`, from `kb_articles a` with `SUMMARY_JOIN`.
fn view_columns() -> String {
    format!(
        "a.id, a.article_number, a.title, a.summary, a.content, a.category, a.status, a.tags, \
         a.keywords, {VIEWS} AS views, {RATING_COLUMNS}, a.author, a.is_internal, a.is_pinned, \
         a.search_boost, a.related_articles, a.related_tickets, a.related_incidents, a.revision, \
         a.created_by, a.created_at, a.updated_at, a.published_at, a.version"
    )
}

/// One article by id, whoever may see it.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<KbArticleView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM kb_articles a {SUMMARY_JOIN} WHERE a.id = $1",
        view_columns()
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// The id of the article numbered `number`.
pub async fn id_of_number<'e>(
    executor: impl PgExecutor<'e>,
    number: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM kb_articles WHERE article_number = $1")
        .bind(number)
        .fetch_optional(executor)
        .await
}

/// One revision in full, as `kb_article_revisions` keeps it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredRevision {
    pub revision: i32,
    pub fields: Json<KbArticleFields>,
    pub revised_by: String,
    pub revised_at: DateTime<Utc>,
}

/// Revisions `from` to `to` of an article, with the one before `from` (to compare it with), oldest
/// first.
pub async fn revisions<'e>(
    executor: impl PgExecutor<'e>,
    article_id: Uuid,
    from: i32,
    to: i32,
) -> Result<Vec<StoredRevision>, sqlx::Error> {
    sqlx::query_as(
        "SELECT revision, fields, revised_by, revised_at FROM kb_article_revisions \
         WHERE article_id = $1 AND revision BETWEEN $2 - 1 AND $3 ORDER BY revision",
    )
    .bind(article_id)
    .bind(from)
    .bind(to)
    .fetch_all(executor)
    .await
}

/// The `kb_articles` read model.
pub struct KbArticlesProjection;

#[async_trait]
impl Projection for KbArticlesProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "kb_articles",
            "kb_article_revisions",
            "kb_words",
            "kb_articles_changed",
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            apply_article_event(conn, event).await?;
        }
        if !events.is_empty() {
            // Last, so that the row is locked only while the batch commits.
            sqlx::query(
                "INSERT INTO kb_articles_changed (only_row, changed_in) \
                 VALUES (true, pg_current_xact_id()) \
                 ON CONFLICT (only_row) DO UPDATE SET changed_in = EXCLUDED.changed_in",
            )
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

async fn apply_article_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let article_event = KbArticleEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let id = Uuid::parse_str(&event.aggregate_id)
        .map_err(|e| ProjectionError::undecodable_event(event, e))?;
    match article_event {
        KbArticleEvent::KbArticleCreated {
            article_number,
            fields,
            ..
        } => {
            sqlx::query(
                "INSERT INTO kb_articles (id, article_number, version, revision, status, \
                     created_by, created_at, updated_at, title, summary, content, category, tags, \
                     keywords, author, is_internal, is_pinned, search_boost, related_articles, \
                     related_tickets, related_incidents, document, title_words) \
                 VALUES ($1, $2, $3, 1, $4, $5, $6, $6, '', '', '', '', '{}', '{}', '', false, \
                     false, 1, '{}', '{}', '{}', '', '')",
            )
            .bind(id)
            .bind(article_number.as_str())
            .bind(event.sequence)
            .bind(KbStatus::Draft.as_str())
            .bind(&event.metadata.actor_sub)
            .bind(event.occurred_at)
            .execute(&mut *conn)
            .await?;
            write_revision(conn, event, id, 1, &fields).await
        }
        KbArticleEvent::KbArticleRevised { revision, changes } => {
            let previous: Option<Json<KbArticleFields>> = sqlx::query_scalar(
                "SELECT fields FROM kb_article_revisions WHERE article_id = $1 \
                 ORDER BY revision DESC LIMIT 1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            let Json(mut fields) = previous.ok_or_else(|| ProjectionError::missing_row(event))?;
            changes.apply_to(&mut fields);
            write_revision(conn, event, id, revision as i32, &fields).await
        }
        KbArticleEvent::KbArticleStatusChanged { to, .. } => {
            let done = sqlx::query(
                "UPDATE kb_articles SET version = $2, updated_at = $3, status = $4, \
                     published_at = CASE WHEN $4 = 'PUBLISHED' THEN $3 ELSE published_at END \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(event.sequence)
            .bind(event.occurred_at)
            .bind(to.as_str())
            .execute(&mut *conn)
            .await?;
            ProjectionError::expect_one_row(done, event)
        }
        KbArticleEvent::KbArticleRatedLow { .. } | KbArticleEvent::KbArticleRatingRecovered {} => {
            let done = sqlx::query("UPDATE kb_articles SET version = $2 WHERE id = $1")
                .bind(id)
                .bind(event.sequence)
                .execute(&mut *conn)
                .await?;
            ProjectionError::expect_one_row(done, event)
        }
    }
}

/// Revision `revision` of article `id`: kept in full, made the article's current text with its
/// search document, and its words added to those typos are corrected to. One statement.
async fn write_revision(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    id: Uuid,
    revision: i32,
    fields: &KbArticleFields,
) -> Result<(), ProjectionError> {
    let labels = |labels: &support_domain::ticket::Labels| labels.as_slice().to_vec();
    let done = sqlx::query(
        "WITH kept AS ( \
             INSERT INTO kb_article_revisions (article_id, revision, fields, revised_by, revised_at) \
             VALUES ($1, $4, $5, $6, $3)), \
         words AS ( \
             INSERT INTO kb_words (word) \
             SELECT DISTINCT lexeme FROM unnest(to_tsvector('simple', \
                 concat_ws(' ', $7, array_to_string($11, ' '), array_to_string($12, ' '), $8, $9))) \
             WHERE length(lexeme) BETWEEN 3 AND 40 ORDER BY lexeme \
             ON CONFLICT DO NOTHING) \
         UPDATE kb_articles SET version = $2, updated_at = $3, revision = $4, title = $7, \
             summary = $8, content = $9, category = $10, tags = $11, keywords = $12, author = $13, \
             is_internal = $14, is_pinned = $15, search_boost = $16, related_articles = $17, \
             related_tickets = $18, related_incidents = $19, \
             document = setweight(to_tsvector('english', $7), 'A') \
                 || setweight(to_tsvector('english', array_to_string($12 || $11, ' ')), 'B') \
                 || setweight(to_tsvector('english', $8), 'C') \
                 || setweight(to_tsvector('english', $9), 'D'), \
             title_words = to_tsvector('simple', $7) \
         WHERE id = $1",
    )
    .bind(id)
    .bind(event.sequence)
    .bind(event.occurred_at)
    .bind(revision)
    .bind(Json(fields))
    .bind(&event.metadata.actor_sub)
    .bind(fields.title.as_str())
    .bind(fields.summary.as_str())
    .bind(fields.content.as_str())
    .bind(fields.category.as_str())
    .bind(labels(&fields.tags))
    .bind(labels(&fields.keywords))
    .bind(fields.author.as_str())
    .bind(fields.is_internal)
    .bind(fields.is_pinned)
    .bind(fields.search_boost.get())
    .bind(&fields.related_articles)
    .bind(&fields.related_tickets)
    .bind(&fields.related_incidents)
    .execute(&mut *conn)
    .await?;
    ProjectionError::expect_one_row(done, event)
}
