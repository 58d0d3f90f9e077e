//! The delivery log: a recipient's deliveries on one channel, newest first, each with its
//! attempts. The delivery worker writes the rows (api/src/notifier.rs); these are the reads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use support_domain::notification::NotificationChannel;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::{planned_rows, Cursor, Page, PageRequest, Total};

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

/// How many deliveries `recipient` has on `channel`: counted up to `Total::EXACT_UP_TO` (an
/// endpoint's log grows without end, and every page asks), the planner's estimate beyond.
async fn total(
    pool: &PgPool,
    recipient: &str,
    channel: NotificationChannel,
) -> Result<Total, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM notification_deliveries \
             WHERE recipient = $1 AND channel = $2 LIMIT $3) AS bounded",
    )
    .bind(recipient)
    .bind(channel.as_str())
    .bind(Total::EXACT_UP_TO + 1)
    .fetch_one(pool)
    .await?;
    if count <= Total::EXACT_UP_TO {
        return Ok(Total::exact(count));
    }
    let plan: sqlx::types::Json<serde_json::Value> = sqlx::query_scalar(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM notification_deliveries \
         WHERE recipient = $1 AND channel = $2",
    )
    .bind(recipient)
    .bind(channel.as_str())
    .fetch_one(pool)
    .await?;
    let estimate = planned_rows(&plan.0);
    Ok(Total {
        // More were counted than that: an estimate below the count would be plainly wrong.
        count: estimate.max(count),
        is_estimate: true,
    })
}

/// A page of a delivery log: `$1` recipient, `$2` channel, `$3` and `$4` the cursor, `$5` the
/// limit.
fn log_sql() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries \
         WHERE recipient = $1 AND channel = $2 \
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5"
    )
}

/// A page of `recipient`'s deliveries on `channel`, newest first, after the page's cursor.
pub async fn log(
    pool: &PgPool,
    recipient: &str,
    channel: NotificationChannel,
    page: PageRequest,
) -> Result<Page<DeliveryView>, sqlx::Error> {
    let (after_at, after_id) = page.cursor().map(|c| (c.created_at, c.id)).unzip();
    let rows: Vec<DeliveryRow> = sqlx::query_as(&log_sql())
        .bind(recipient)
        .bind(channel.as_str())
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(pool)
        .await?;
    let total = total(pool, recipient, channel).await?;
    let items = with_attempts(pool, rows).await?;
    let cursor_of = |last: &DeliveryView| Cursor {
        created_at: last.created_at,
        id: last.id,
    };
    Ok(Page::with_lookahead(items, page, total, cursor_of))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` deliveries of one event type to `recipient` on the webhook channel.
    async fn deliveries(pool: &PgPool, recipient: &str, count: i64) {
        sqlx::query(
            "INSERT INTO notification_deliveries (id, message_id, event_id, global_position, \
                 event_type, recipient, channel, kind, state, next_attempt_at, created_at) \
             SELECT gen_random_uuid(), 'ticket:' || n, gen_random_uuid(), n, 'TicketOpened', $1, \
                 'WEBHOOK', 'EVENT', 'DELIVERED', now(), now() - n * interval '1 second' \
             FROM generate_series(1, $2) AS n",
        )
        .bind(recipient)
        .bind(count)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE notification_deliveries")
            .execute(pool)
            .await
            .unwrap();
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_page_of_a_log_is_served_by_the_recipients_index(pool: PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {}", log_sql()))
            .bind("endpoint")
            .bind(NotificationChannel::Webhook.as_str())
            .bind(Some(chrono::Utc::now()))
            .bind(Some(Uuid::nil()))
            .bind(21_i64)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("notification_deliveries_by_recipient"),
            "{plan}"
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_log_is_counted_exactly_up_to_the_bound_and_estimated_beyond(pool: PgPool) {
        deliveries(&pool, "quiet", 3).await;
        deliveries(&pool, "busy", Total::EXACT_UP_TO + 50).await;
        let page = PageRequest::parse(None, None, Some(2)).unwrap();
        let quiet = log(&pool, "quiet", NotificationChannel::Webhook, page)
            .await
            .unwrap();
        assert_eq!((quiet.total, quiet.total_is_estimate), (3, false));
        assert_eq!(quiet.items.len(), 2);
        let busy = log(&pool, "busy", NotificationChannel::Webhook, page)
            .await
            .unwrap();
        assert!(busy.total_is_estimate);
        assert!(busy.total > Total::EXACT_UP_TO, "{}", busy.total);
    }
}
