//! The `webhook_endpoints` read model: one row per endpoint, written from its events, which the
//! API lists and reads. It holds no signing secret: the delivery worker opens that from the
//! endpoint's own sealed event when it signs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool};
use support_domain::webhook::{WebhookDefinition, WebhookEndpointEvent};
use support_domain::RecordedEvent;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::PageRequest;
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
    let definition_of = |definition: WebhookDefinition| {
        (
            definition.url.as_str().to_owned(),
            definition.event_types.as_slice().to_vec(),
            definition.description.map(|d| d.as_str().to_owned()),
        )
    };
    let query = match endpoint_event {
        WebhookEndpointEvent::WebhookEndpointRegistered { definition, .. } => {
            let (url, types, description) = definition_of(definition);
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, version, updated_at, url, event_types, \
                     description, active, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, true, $3)",
            )
            .bind(id)
            .bind(event.sequence)
            .bind(event.occurred_at)
            .bind(url)
            .bind(types)
            .bind(description)
        }
        WebhookEndpointEvent::WebhookEndpointChanged { definition } => {
            let (url, types, description) = definition_of(definition);
            sqlx::query(
                "UPDATE webhook_endpoints SET version = $2, updated_at = $3, url = $4, \
                     event_types = $5, description = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(event.sequence)
            .bind(event.occurred_at)
            .bind(url)
            .bind(types)
            .bind(description)
        }
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
    if query.execute(&mut *conn).await?.rows_affected() == 1 {
        return Ok(());
    }
    Err(ProjectionError::OutOfOrder {
        aggregate: AGGREGATE_TYPE.to_owned(),
        id: event.aggregate_id.clone(),
        current: None,
        sequence: event.sequence,
    })
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

/// A page of endpoints, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointPage {
    pub items: Vec<WebhookEndpointView>,
    /// The page number asked for.
    pub page: u32,
    pub limit: u32,
    /// How many endpoints there are over all pages.
    pub total: i64,
}

/// The page `page` of the endpoints, in the order they were registered. A desk has few, so the
/// total is always counted and pages are numbered.
pub async fn list(pool: &PgPool, page: PageRequest) -> Result<WebhookEndpointPage, sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(pool)
        .await?;
    let items = sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id LIMIT $1 OFFSET $2"
    ))
    .bind(i64::from(page.limit))
    .bind(page.offset() as i64)
    .fetch_all(pool)
    .await?;
    Ok(WebhookEndpointPage {
        items,
        page: page.number().unwrap_or(1),
        limit: page.limit,
        total,
    })
}
