//! The `webhook_endpoints` read model: one row per endpoint, written from its events, which the
//! API lists and reads. It holds no signing secret: the delivery worker opens that from the
//! endpoint's own sealed event when it signs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres};
use support_domain::webhook::{WebhookDefinition, WebhookEndpointEvent};
use support_domain::RecordedEvent;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::{Cursor, Page, PageRequest, Total};
use crate::{Projection, ProjectionError, Redacted};

pub const AGGREGATE_TYPE: &str = "webhook_endpoint";
/// The read model's name: its consumer, checkpoint and dead letters.
pub const READ_MODEL: &str = "webhook_endpoints";

/// A webhook endpoint as the API shows it; never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointView {
    pub id: Uuid,
    #[schema(example = "https://hooks.example.com/support")]
    pub url: String,
    /// The event types delivered to it (docs/events.md).
    #[schema(example = json!(["TicketOpened", "SlaBreached"]))]
    pub event_types: Vec<String>,
    pub description: Option<String>,
    /// Whether events are delivered to it.
    pub active: bool,
    /// Why the service disabled it (it answered 410 Gone); `null` while active, or when an admin
    /// deactivated it.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event this view reflects.
    pub version: i64,
}

const ROW_COLUMNS: &str = "id, url, event_types, description, active, disabled_reason, \
     created_at, updated_at, version";

pub struct WebhookEndpointsProjection;

#[async_trait]
impl Projection for WebhookEndpointsProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["webhook_endpoints"]
    }

    /// One statement an event: endpoints change rarely.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            apply(conn, event).await?;
        }
        Ok(())
    }
}

async fn apply(conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
    let endpoint_event = WebhookEndpointEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let id = Uuid::parse_str(&event.aggregate_id)
        .map_err(|e| ProjectionError::undecodable_event(event, e))?;
    let query = match endpoint_event {
        WebhookEndpointEvent::WebhookEndpointRegistered { definition, .. } => with_definition(
            "INSERT INTO webhook_endpoints (id, version, updated_at, url, event_types, \
                 description, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, true, $3)",
            id,
            event,
            definition,
        ),
        WebhookEndpointEvent::WebhookEndpointChanged { definition } => with_definition(
            "UPDATE webhook_endpoints SET version = $2, updated_at = $3, url = $4, \
                 event_types = $5, description = $6 WHERE id = $1",
            id,
            event,
            definition,
        ),
        WebhookEndpointEvent::WebhookEndpointDeactivated { reason } => sqlx::query(
            "UPDATE webhook_endpoints SET version = $2, updated_at = $3, active = false, \
                 disabled_reason = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(event.sequence)
        .bind(event.occurred_at)
        .bind(reason.map(|r| r.as_str().to_owned())),
        WebhookEndpointEvent::WebhookEndpointReactivated {} => sqlx::query(
            "UPDATE webhook_endpoints SET version = $2, updated_at = $3, active = true, \
                 disabled_reason = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(event.sequence)
        .bind(event.occurred_at),
    };
    // Events come in order from the registration, so a change that finds no row means the read
    // model lost it: an error, never a silent skip.
    ProjectionError::expect_one_row(query.execute(&mut *conn).await?, event)
}

/// `sql` with the endpoint's id, the event's sequence and time, and the definition's columns.
fn with_definition(
    sql: &'static str,
    id: Uuid,
    event: &RecordedEvent,
    definition: WebhookDefinition,
) -> Query<'static, Postgres, PgArguments> {
    sqlx::query(sql)
        .bind(id)
        .bind(event.sequence)
        .bind(event.occurred_at)
        .bind(definition.url.as_str().to_owned())
        .bind(definition.event_types.as_slice().to_vec())
        .bind(definition.description.map(|d| d.as_str().to_owned()))
}

pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<WebhookEndpointView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM webhook_endpoints WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// A page of endpoints, newest first, after the page's cursor. A desk has few, so the total is
/// always counted.
pub async fn list(
    pool: &PgPool,
    page: PageRequest,
) -> Result<Page<WebhookEndpointView>, sqlx::Error> {
    let (after_at, after_id) = page.cursor().map(|c| (c.created_at, c.id)).unzip();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(pool)
        .await?;
    let items: Vec<WebhookEndpointView> = sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM webhook_endpoints \
         WHERE $1::timestamptz IS NULL OR (created_at, id) < ($1, $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(after_at)
    .bind(after_id)
    .bind(i64::from(page.limit) + 1)
    .fetch_all(pool)
    .await?;
    let cursor_of = |last: &WebhookEndpointView| Cursor {
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
