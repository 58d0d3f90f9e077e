//! The in-app inbox: a user's delivered `IN_APP` deliveries, unread first, then newest first, each
//! with the ticket it is about as the tickets read model shows it now (an erased title reads
//! `[erased]`). The delivery worker makes a row visible by delivering it; reading it is the
//! user's own state, kept on the row (`read_at`), not an event.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use support_domain::notification::NotificationChannel;
use uuid::Uuid;

use crate::incidents::AGGREGATE_TYPE as INCIDENT;
use crate::page::{next_cursor, Cursor};
use crate::tickets::AGGREGATE_TYPE as TICKET;

/// A position in an inbox: the last notification of a page, read or not, after which the next
/// page starts. Unread ones come first, so the position says which of the two runs it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxCursor {
    pub read: bool,
    /// The notification's delivery time and id.
    pub after: Cursor,
}

impl InboxCursor {
    const UNREAD: char = 'u';
    const READ: char = 'r';

    pub fn encode(&self) -> String {
        let run = if self.read { Self::READ } else { Self::UNREAD };
        format!("{run}{}", self.after.encode())
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut chars = text.chars();
        let read = match chars.next()? {
            Self::UNREAD => false,
            Self::READ => true,
            _ => return None,
        };
        Some(Self {
            read,
            after: Cursor::decode(chars.as_str())?,
        })
    }
}

/// One notification of an inbox, as stored; the API words it from its event.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InboxEntry {
    pub id: Uuid,
    pub kind: String,
    pub event_type: String,
    pub global_position: i64,
    pub read_at: Option<DateTime<Utc>>,
    pub delivered_at: DateTime<Utc>,
    /// `None` when the event is not a ticket's, or the ticket is not in the read model.
    pub ticket_id: Option<Uuid>,
    pub ticket_number: Option<String>,
    /// `None` when the event is not an incident's, or the incident is not in the read model.
    pub incident_id: Option<Uuid>,
    pub incident_number: Option<String>,
    /// The ticket's or the incident's.
    pub title: Option<String>,
}

impl InboxEntry {
    fn cursor(&self) -> InboxCursor {
        InboxCursor {
            read: self.read_at.is_some(),
            after: Cursor {
                created_at: self.delivered_at,
                id: self.id,
            },
        }
    }
}

/// Which of a user's notifications to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxRequest {
    pub unread_only: bool,
    pub after: Option<InboxCursor>,
    pub limit: u32,
}

/// A page of an inbox, and where the next one starts (`None` on the last).
#[derive(Debug, Clone, PartialEq)]
pub struct InboxPage {
    pub entries: Vec<InboxEntry>,
    pub next_cursor: Option<String>,
}

/// The rows of a recipient's inbox: delivered in-app notifications only, so that one waiting for
/// the recipient's working hours stays out of sight until the worker delivers it.
const INBOX: &str = "d.recipient = $1 AND d.channel = $2 AND d.state = 'DELIVERED'";

/// A page of an inbox: `$1` recipient, `$2` channel, `$3` unread only, `$4`..`$6` the cursor
/// (read or not, delivered at, id), `$7` the limit.
fn page_sql() -> String {
    format!(
        "SELECT {ENTRY_COLUMNS} FROM notification_deliveries d WHERE {INBOX} \
           AND (NOT $3 OR d.read_at IS NULL) \
           AND ($4::boolean IS NULL OR (d.read_at IS NOT NULL) > $4 \
                OR ((d.read_at IS NOT NULL) = $4 AND (d.delivered_at, d.id) < ($5, $6))) \
         ORDER BY d.read_at IS NOT NULL, d.delivered_at DESC, d.id DESC LIMIT $7"
    )
}

/// The ticket or incident each entry of `page` is about, looked up after the page is cut.
fn with_subjects(page: &str) -> String {
    format!(
        "WITH page AS ({page}) \
         SELECT p.id, p.kind, p.event_type, p.global_position, p.read_at, p.delivered_at, \
             t.id AS ticket_id, t.ticket_number, i.id AS incident_id, i.incident_number, \
             coalesce(t.title, i.title) AS title \
         FROM page p JOIN events e ON e.global_position = p.global_position \
         LEFT JOIN tickets t ON e.aggregate_type = '{TICKET}' \
             AND t.id = CASE WHEN e.aggregate_type = '{TICKET}' THEN e.aggregate_id::uuid END \
         LEFT JOIN incidents i ON e.aggregate_type = '{INCIDENT}' \
             AND i.id = CASE WHEN e.aggregate_type = '{INCIDENT}' THEN e.aggregate_id::uuid END \
         ORDER BY p.read_at IS NOT NULL, p.delivered_at DESC, p.id DESC"
    )
}

const ENTRY_COLUMNS: &str = "d.id, d.kind, d.event_type, d.global_position, d.read_at, \
     d.delivered_at";

/// A page of `recipient`'s inbox: unread first, then newest first (by delivery, then id).
pub async fn list(
    pool: &PgPool,
    recipient: &str,
    request: InboxRequest,
) -> Result<InboxPage, sqlx::Error> {
    let after = request.after;
    let mut entries: Vec<InboxEntry> = sqlx::query_as(&with_subjects(&page_sql()))
        .bind(recipient)
        .bind(NotificationChannel::InApp.as_str())
        .bind(request.unread_only)
        .bind(after.map(|c| c.read))
        .bind(after.map(|c| c.after.created_at))
        .bind(after.map(|c| c.after.id))
        .bind(i64::from(request.limit) + 1)
        .fetch_all(pool)
        .await?;
    let next_cursor = next_cursor(&mut entries, request.limit, |last| last.cursor().encode());
    Ok(InboxPage {
        entries,
        next_cursor,
    })
}

/// How many of an inbox's notifications are unread: `$1` recipient, `$2` channel.
fn unread_sql() -> String {
    format!("SELECT count(*) FROM notification_deliveries d WHERE {INBOX} AND d.read_at IS NULL")
}

/// How many of `recipient`'s delivered in-app notifications are unread.
pub async fn unread_count(pool: &PgPool, recipient: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&unread_sql())
        .bind(recipient)
        .bind(NotificationChannel::InApp.as_str())
        .fetch_one(pool)
        .await
}

/// Marks one of `recipient`'s notifications read at `now` (kept at the first time when it was
/// read already), and answers it; `None` when `recipient` has no such delivered notification.
pub async fn mark_read(
    pool: &PgPool,
    recipient: &str,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<InboxEntry>, sqlx::Error> {
    sqlx::query_as(&with_subjects(&format!(
        "UPDATE notification_deliveries d SET read_at = coalesce(d.read_at, $4) \
         WHERE {INBOX} AND d.id = $3 RETURNING {ENTRY_COLUMNS}"
    )))
    .bind(recipient)
    .bind(NotificationChannel::InApp.as_str())
    .bind(id)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// Marks every unread notification of `recipient`'s read at `now`; answers how many.
pub async fn mark_all_read(
    pool: &PgPool,
    recipient: &str,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&format!(
        "UPDATE notification_deliveries d SET read_at = $3 WHERE {INBOX} AND d.read_at IS NULL"
    ))
    .bind(recipient)
    .bind(NotificationChannel::InApp.as_str())
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrations = "../migrations")]
    async fn the_page_and_the_unread_count_are_served_by_the_inbox_index(pool: PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
        let explain = |sql: String| format!("EXPLAIN {sql}");
        let page: Vec<String> = sqlx::query_scalar(&explain(page_sql()))
            .bind("agent-1")
            .bind(NotificationChannel::InApp.as_str())
            .bind(false)
            .bind(Some(false))
            .bind(Some(Utc::now()))
            .bind(Some(Uuid::nil()))
            .bind(21_i64)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let page = page.join("\n");
        assert!(page.contains("notification_deliveries_inbox"), "{page}");
        let count: Vec<String> = sqlx::query_scalar(&explain(unread_sql()))
            .bind("agent-1")
            .bind(NotificationChannel::InApp.as_str())
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let count = count.join("\n");
        assert!(count.contains("notification_deliveries_inbox"), "{count}");
    }

    #[test]
    fn a_cursor_reads_back_as_given_out_and_nothing_else_is_one() {
        let after = Cursor {
            created_at: DateTime::parse_from_rfc3339("2026-11-29T09:00:00.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            id: Uuid::new_v4(),
        };
        for read in [false, true] {
            let cursor = InboxCursor { read, after };
            assert_eq!(InboxCursor::decode(&cursor.encode()), Some(cursor));
        }
        for bad in [
            String::new(),
            after.encode(),
            format!("x{}", after.encode()),
            "u".to_owned(),
        ] {
            assert_eq!(InboxCursor::decode(&bad), None, "{bad:?}");
        }
    }
}
