//! Reading the event store itself: for replays, for the relay and for the audit trail.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use support_domain::{EventMetadata, RecordedEvent};

use crate::personal_data::DataKeys;
use crate::{ProjectionError, Redacted};

/// The columns `recorded_event` reads, for queries that select events.
pub const EVENT_COLUMNS: &str = "e.aggregate_type, e.aggregate_id, e.sequence, e.global_position, \
     e.event_type, e.event_version, e.payload, e.metadata";

/// An events row as the envelope the bus carries. The store keeps postgres-es's externally tagged
/// form (`{"TicketOpened": {...}}`); the envelope carries the event's own fields.
pub fn recorded_event(row: &PgRow) -> Result<RecordedEvent, ProjectionError> {
    let aggregate_type: String = row.try_get("aggregate_type")?;
    let aggregate_id: String = row.try_get("aggregate_id")?;
    let sequence: i64 = row.try_get("sequence")?;
    let event_type: String = row.try_get("event_type")?;
    let undecodable = |reason: &dyn std::fmt::Display| {
        let name = RecordedEvent::message_id(&aggregate_type, &aggregate_id, sequence);
        ProjectionError::undecodable(&name, reason)
    };
    let stored: serde_json::Value = row.try_get("payload")?;
    let payload = match stored {
        serde_json::Value::Object(mut tagged) => tagged.remove(&event_type),
        _ => None,
    }
    .ok_or_else(|| undecodable(&"payload is not tagged with its type"))?;
    let metadata: EventMetadata =
        serde_json::from_value(row.try_get("metadata")?).map_err(|e| undecodable(&Redacted(&e)))?;
    Ok(RecordedEvent {
        event_id: RecordedEvent::derive_event_id(&aggregate_type, &aggregate_id, sequence),
        occurred_at: metadata.occurred_at,
        aggregate_type,
        aggregate_id,
        sequence,
        global_position: row.try_get("global_position")?,
        event_type,
        event_version: row.try_get("event_version")?,
        metadata,
        payload,
    })
}

/// Events of the given aggregate types after `position`, in global order.
pub async fn events_after(
    conn: &mut PgConnection,
    aggregate_types: &[&str],
    position: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e \
         WHERE e.aggregate_type = ANY($1) AND e.global_position > $2 \
         ORDER BY e.global_position LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(aggregate_types)
        .bind(position)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(recorded_event).collect()
}

/// Every event of one aggregate, oldest first: its audit trail.
pub async fn aggregate_history<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e \
         WHERE e.aggregate_type = $1 AND e.aggregate_id = $2 ORDER BY e.sequence"
    );
    let rows = sqlx::query(&sql)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(executor)
        .await?;
    rows.iter().map(recorded_event).collect()
}

/// Every event of one aggregate, oldest first, with its personal fields open (or erased): its
/// audit trail as people read it.
pub async fn opened_history(
    pool: &PgPool,
    keys: &DataKeys,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let mut conn = pool.acquire().await?;
    let events = aggregate_history(&mut *conn, aggregate_type, aggregate_id).await?;
    keys.open_all(&mut conn, events).await
}

/// The events of one aggregate up to the instant `as_of`, oldest first: those before its first
/// event that happened after `as_of`. A prefix rather than every event up to then, since commands
/// read the clock before they load the aggregate, and one that read it a moment earlier may come
/// later in the stream: the events left out of a prefix never leave the aggregate half changed.
pub async fn aggregate_history_as_of<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
    as_of: DateTime<Utc>,
) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e \
         WHERE e.aggregate_type = $1 AND e.aggregate_id = $2 AND e.sequence < COALESCE(( \
             SELECT min(later.sequence) FROM events later \
             WHERE later.aggregate_type = $1 AND later.aggregate_id = $2 \
             AND event_occurred_at(later.metadata) > $3), {}) \
         ORDER BY e.sequence",
        i64::MAX
    );
    let rows = sqlx::query(&sql)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(as_of)
        .fetch_all(executor)
        .await?;
    rows.iter().map(recorded_event).collect()
}

/// Where an aggregate's stream stands: its last sequence and that event's global position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHead {
    pub sequence: i64,
    pub global_position: i64,
}

pub async fn stream_head(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<StreamHead>, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT sequence, global_position FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(sequence, global_position)| StreamHead {
        sequence,
        global_position,
    }))
}

/// Ids among `ids` of aggregates of this type that were never created.
pub async fn missing_aggregates(
    pool: &PgPool,
    aggregate_type: &str,
    ids: &[uuid::Uuid],
) -> Result<Vec<uuid::Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT wanted FROM unnest($2::uuid[]) AS wanted WHERE NOT EXISTS ( \
             SELECT 1 FROM events WHERE aggregate_type = $1 AND aggregate_id = wanted::text \
             AND sequence = 1)",
    )
    .bind(aggregate_type)
    .bind(ids)
    .fetch_all(pool)
    .await
}
