//! The delivery log: a recipient's deliveries on one channel, newest first, each with its
//! attempts. The delivery worker writes the rows (api/src/notifier.rs); these are the reads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use support_domain::notification::NotificationChannel;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::{Cursor, Page, PageRequest, Total};

/// A delivery with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Also the `webhook-id` of every attempt: receivers drop a repeat by it.
    pub id: Uuid,
    /// The delivered event's `eventId` (docs/events.md).
    pub event_id: Uuid,
    #[schema(example = "TicketOpened")]
    pub event_type: String,
    /// `PENDING` (to be tried at `nextAttemptAt`), `DELIVERED` or `FAILED` (no further tries).
    #[schema(example = "DELIVERED")]
    pub state: String,
    /// When it is tried next; `null` unless `PENDING`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Oldest first.
    pub attempts: Vec<AttemptView>,
}

/// One try at a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// 1 for the first attempt; numbering goes on across resends.
    pub number: i32,
    pub started_at: DateTime<Utc>,
    /// `DELIVERED`, `RETRY` (a passing failure), `FAILED` (a lasting one) or `GONE` (410).
    #[schema(example = "DELIVERED")]
    pub outcome: String,
    /// The receiver's HTTP status; `null` when none came (a timeout, a refused address).
    pub http_status: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// When the delivery was to be tried again after this attempt; `null` when it was not.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    event_id: Uuid,
    event_type: String,
    state: String,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

const DELIVERY_COLUMNS: &str = "id, event_id, event_type, state, next_attempt_at, created_at, \
     delivered_at, last_error";

/// A page of `recipient`'s deliveries on `channel`, newest first, after the page's cursor.
pub async fn log(
    pool: &PgPool,
    recipient: &str,
    channel: NotificationChannel,
    page: PageRequest,
) -> Result<Page<DeliveryView>, sqlx::Error> {
    let (after_at, after_id) = page.cursor().map(|c| (c.created_at, c.id)).unzip();
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries \
         WHERE recipient = $1 AND channel = $2 \
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5"
    ))
    .bind(recipient)
    .bind(channel.as_str())
    .bind(after_at)
    .bind(after_id)
    .bind(i64::from(page.limit) + 1)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notification_deliveries WHERE recipient = $1 AND channel = $2",
    )
    .bind(recipient)
    .bind(channel.as_str())
    .fetch_one(pool)
    .await?;
    let items = with_attempts(pool, rows).await?;
    let cursor_of = |last: &DeliveryView| Cursor {
        created_at: last.created_at,
        id: last.id,
    };
    Ok(Page::with_lookahead(
        items,
        page,
        Total::exact(total),
        cursor_of,
    ))
}

/// One delivery of `recipient` on `channel`.
pub async fn find(
    pool: &PgPool,
    recipient: &str,
    channel: NotificationChannel,
    id: Uuid,
) -> Result<Option<DeliveryView>, sqlx::Error> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries \
         WHERE id = $1 AND recipient = $2 AND channel = $3"
    ))
    .bind(id)
    .bind(recipient)
    .bind(channel.as_str())
    .fetch_all(pool)
    .await?;
    Ok(with_attempts(pool, rows).await?.pop())
}

async fn with_attempts(
    pool: &PgPool,
    rows: Vec<DeliveryRow>,
) -> Result<Vec<DeliveryView>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts: Vec<(Uuid, AttemptView)> = sqlx::query_as::<_, AttemptRow>(
        "SELECT delivery_id, number, started_at, outcome, http_status, latency_ms, error, \
             next_attempt_at \
         FROM notification_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, number",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| (row.delivery_id, row.attempt))
    .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let pending = row.state == "PENDING";
            DeliveryView {
                id: row.id,
                event_id: row.event_id,
                event_type: row.event_type,
                state: row.state,
                next_attempt_at: pending.then_some(row.next_attempt_at),
                created_at: row.created_at,
                delivered_at: row.delivered_at,
                last_error: row.last_error,
                attempts: attempts
                    .iter()
                    .filter(|(delivery, _)| *delivery == row.id)
                    .map(|(_, attempt)| attempt.clone())
                    .collect(),
            }
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: Uuid,
    #[sqlx(flatten)]
    attempt: AttemptView,
}
