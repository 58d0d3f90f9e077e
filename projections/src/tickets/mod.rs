//! The `tickets` read model: one row per ticket plus its comments. `queries` reads it for the API,
//! `projector` writes it from the ticket events.

mod counts;
mod projector;
mod queries;
mod sla;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::schema;
use support_domain::sla::AppliedSla;

pub use projector::{fold_detail, TicketsProjection};
pub use queries::{find, find_detail, list, LongLists, TicketFilter, TicketKey, TicketScope};
pub use sla::{SlaClockView, SlaClocksView};

pub const AGGREGATE_TYPE: &str = "ticket";
/// The read model's name: its consumer, checkpoint and dead letters.
pub const READ_MODEL: &str = "tickets";

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketView {
    pub id: Uuid,
    #[schema(example = "TKT-20261126-0001")]
    pub ticket_number: String,
    pub title: String,
    pub description: String,
    #[schema(schema_with = schema::ticket_priority)]
    pub priority: String,
    #[schema(schema_with = schema::ticket_status)]
    pub status: String,
    #[schema(schema_with = schema::ticket_category)]
    pub category: String,
    #[schema(schema_with = schema::ticket_channel)]
    pub channel: String,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub assigned_to: Option<String>,
    #[schema(schema_with = schema::customer_tier_or_null)]
    pub customer_tier: Option<String>,
    /// The SLA policy the ticket runs under.
    pub sla_id: Option<Uuid>,
    /// The most pressing state of its clocks: BREACHED, then RUNNING, PAUSED, MET, STOPPED.
    #[schema(schema_with = schema::clock_state_or_null)]
    pub sla_state: Option<String>,
    pub response_deadline: Option<DateTime<Utc>>,
    pub resolution_deadline: Option<DateTime<Utc>>,
    /// When staff first replied publicly.
    pub response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_note: Option<String>,
    pub sla_breached: bool,
    /// Both clocks at the moment of the request; null for a ticket without a policy.
    #[sqlx(skip)]
    pub sla_clocks: Option<SlaClocksView>,
    /// The policy's terms and the clocks as their last event left them.
    #[serde(skip)]
    #[schema(ignore)]
    pub sla: Option<Json<AppliedSla>>,
    pub escalation_level: i32,
    pub related_tickets: Vec<Uuid>,
    pub related_incidents: Vec<Uuid>,
    pub tags: Vec<String>,
    pub affected_systems: Vec<String>,
    /// The knowledge-base articles the customer was shown or opened before opening the ticket.
    pub suggested_articles_seen: Vec<Uuid>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event this view reflects.
    pub version: i64,
}

impl TicketView {
    /// Shows the clocks as they stand at `at`, the moment of the request: with a breach whose
    /// instant has passed, even if the timer has not recorded it yet.
    pub fn read_clocks(&mut self, at: DateTime<Utc>) {
        let Some(sla) = &self.sla else { return };
        let clocks = sla::caught_up(&sla.clocks, at);
        self.sla_state = Some(clocks.summary().as_str().to_owned());
        self.sla_breached = clocks.breached();
        self.sla_clocks = Some(SlaClocksView::read(&sla.terms, &clocks, at));
    }
}

impl TicketDetail {
    /// The detail with its clocks as they stand at `at`.
    pub fn clocks_read_at(mut self, at: DateTime<Utc>) -> Self {
        self.ticket.read_clocks(at);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    pub id: Uuid,
    pub author_sub: String,
    #[schema(schema_with = schema::actor_role)]
    pub author_role: String,
    pub body: String,
    #[schema(schema_with = schema::comment_visibility)]
    pub visibility: String,
    pub created_at: DateTime<Utc>,
}

/// A ticket with the comments its reader may see.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketDetail {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub ticket: TicketView,
    #[schema(value_type = Vec<CommentView>)]
    pub comments: Json<Vec<CommentView>>,
}

/// The tickets read model as comparable data: every ticket, comment and counter, without
/// bookkeeping (when a row was projected, how often lists were rewritten). Tests compare read
/// models built in different ways with it.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub tickets: Vec<serde_json::Value>,
    pub comments: Vec<serde_json::Value>,
    pub counts: Vec<serde_json::Value>,
}

#[cfg(any(test, feature = "testing"))]
impl Snapshot {
    pub async fn take(pool: &sqlx::PgPool) -> Result<Self, sqlx::Error> {
        let rows = |sql| sqlx::query_scalar(sql).fetch_all(pool);
        Ok(Self {
            tickets: rows("SELECT to_jsonb(t) - 'projected_at' FROM tickets t ORDER BY id").await?,
            comments: rows("SELECT to_jsonb(c) FROM ticket_comments c ORDER BY id").await?,
            counts: rows(
                "SELECT to_jsonb(c) FROM ticket_counts c \
                 WHERE tickets <> 0 AND dimension <> 'rewritten' ORDER BY dimension, value",
            )
            .await?,
        })
    }
}
