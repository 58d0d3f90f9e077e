//! Events a read model could not apply. After a bounded number of deliveries the runner parks such
//! an event here, with its error, and the read model carries on; the aggregate's later events are
//! parked behind it, so its order holds. An admin retries it once the cause is fixed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use support_domain::RecordedEvent;
use utoipa::ToSchema;

use crate::personal_data::DataKeys;
use crate::projection::Projections;
use crate::read_model::{announce, apply_guarded, lock, Positions};
use crate::{event_log, ProjectionError, Redacted};

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: i64,
    /// The read model that could not apply it.
    pub projection: String,
    pub subject: String,
    /// Absent when the message was not an event envelope at all.
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    pub sequence: Option<i64>,
    pub event_type: Option<String>,
    /// The last error met applying it.
    pub error: String,
    /// How often the bus had delivered it when it was parked.
    pub deliveries: i64,
    pub retries: i64,
    pub dead_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    /// The message as it arrived (UTF-8, lossy).
    pub message: String,
}

const COLUMNS: &str =
    "id, projection, subject, aggregate_type, aggregate_id, sequence, event_type, \
    error, deliveries, retries, dead_at, resolved_at, resolved_by, \
    convert_from(message, 'UTF8') AS message";

/// What the runner parks: the message, and the event it carried when it could be read.
pub struct Parked<'a> {
    pub projection: &'a str,
    pub subject: &'a str,
    pub message: &'a [u8],
    pub event: Option<&'a RecordedEvent>,
    pub error: String,
    pub deliveries: i64,
}

/// The channel on which a parked event announces `<read model>:<dead letter id>`.
pub const PARKED_CHANNEL: &str = "dead_letter_parked";

pub async fn park(conn: &mut PgConnection, parked: Parked<'_>) -> Result<i64, sqlx::Error> {
    let event = parked.event;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO dead_letters (projection, subject, aggregate_type, aggregate_id, sequence, \
             event_type, error, deliveries, message) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(parked.projection)
    .bind(parked.subject)
    .bind(event.map(|e| e.aggregate_type.as_str()))
    .bind(event.map(|e| e.aggregate_id.as_str()))
    .bind(event.map(|e| e.sequence))
    .bind(event.map(|e| e.event_type.as_str()))
    .bind(parked.error)
    .bind(parked.deliveries)
    .bind(String::from_utf8_lossy(parked.message).as_bytes())
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PARKED_CHANNEL)
        .bind(format!("{}:{id}", parked.projection))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Whether an earlier event of this aggregate waits in the dead letters of this read model.
pub async fn blocks(
    conn: &mut PgConnection,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM dead_letters WHERE projection = $1 \
         AND aggregate_type = $2 AND aggregate_id = $3 AND resolved_at IS NULL)",
    )
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterState {
    Open,
    Resolved,
    All,
}

/// Dead letters, newest first.
pub async fn list(
    pool: &PgPool,
    projection: Option<&str>,
    state: LetterState,
    limit: i64,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let state = match state {
        LetterState::Open => "AND resolved_at IS NULL",
        LetterState::Resolved => "AND resolved_at IS NOT NULL",
        LetterState::All => "",
    };
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM dead_letters \
         WHERE ($1::text IS NULL OR projection = $1) {state} ORDER BY id DESC LIMIT $2"
    ))
    .bind(projection)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn find(pool: &PgPool, id: i64) -> Result<Option<DeadLetter>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no dead letter has the id {0}")]
    NotFound(i64),
    #[error("dead letter {0} was already applied")]
    AlreadyResolved(i64),
    #[error("it still cannot be applied: {0}")]
    StillFailing(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Applies a dead letter again, from the event store when the event is there (the source of truth),
/// else from the message as it arrived; the events parked behind it are applied with it. On
/// success they are marked resolved by `by`; on failure the letter keeps the new error.
pub async fn retry(
    pool: &PgPool,
    keys: &DataKeys,
    projections: &Projections,
    id: i64,
    by: &str,
) -> Result<DeadLetter, RetryError> {
    let letter = find(pool, id).await?.ok_or(RetryError::NotFound(id))?;
    if letter.resolved_at.is_some() {
        return Err(RetryError::AlreadyResolved(id));
    }
    let projection = projections
        .find(&letter.projection)
        .map_err(RetryError::StillFailing)?;
    let mut tx = pool.begin().await?;
    lock(&mut tx, projection.name()).await?;
    let applied = async {
        let mut events = match (&letter.aggregate_type, &letter.aggregate_id) {
            (Some(aggregate_type), Some(aggregate_id)) => {
                event_log::aggregate_history(&mut *tx, aggregate_type, aggregate_id).await?
            }
            _ => Vec::new(),
        };
        if events.is_empty() {
            events.push(
                serde_json::from_str::<RecordedEvent>(&letter.message)
                    .map_err(|e| ProjectionError::undecodable("the dead letter", Redacted(&e)))?,
            );
        }
        let refs: Vec<&RecordedEvent> = events.iter().collect();
        let opened = keys.open_events(&mut tx, &refs).await?;
        let opened: Vec<&RecordedEvent> = opened.iter().map(|e| e.as_ref()).collect();
        apply_guarded(
            &mut tx,
            projection.as_ref(),
            &mut Positions::default(),
            &opened,
        )
        .await?;
        announce(&mut tx, projection.name(), &refs).await?;
        Ok::<_, ProjectionError>(())
    }
    .await;
    match applied {
        Ok(()) => {
            sqlx::query(
                "UPDATE dead_letters SET resolved_at = now(), resolved_by = $2 \
                 WHERE resolved_at IS NULL AND (id = $1 OR (projection = $3 \
                     AND aggregate_type = $4 AND aggregate_id = $5))",
            )
            .bind(id)
            .bind(by)
            .bind(&letter.projection)
            .bind(&letter.aggregate_type)
            .bind(&letter.aggregate_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(find(pool, id).await?.ok_or(RetryError::NotFound(id))?)
        }
        Err(error) => {
            tx.rollback().await?;
            // Kept and answered without the values an error can quote: see `Redacted`.
            let error = Redacted(&error).to_string();
            sqlx::query("UPDATE dead_letters SET retries = retries + 1, error = $2 WHERE id = $1")
                .bind(id)
                .bind(&error)
                .execute(pool)
                .await?;
            Err(RetryError::StillFailing(error))
        }
    }
}
