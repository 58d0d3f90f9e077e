//! The `tickets` read model: one row per ticket plus its comments.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use support_domain::ticket::{
    TicketCategory, TicketChannel, TicketEvent, TicketPriority, TicketStatus,
};
use support_domain::RecordedEvent;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::{Page, PageRequest};
use crate::{schema, ProjectionError};

pub const AGGREGATE_TYPE: &str = "ticket";

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
    pub sla_id: Option<Uuid>,
    pub response_deadline: Option<DateTime<Utc>>,
    pub resolution_deadline: Option<DateTime<Utc>>,
    /// When staff first replied publicly.
    pub response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_note: Option<String>,
    pub sla_breached: bool,
    pub escalation_level: i32,
    pub related_tickets: Vec<Uuid>,
    pub related_incidents: Vec<Uuid>,
    pub tags: Vec<String>,
    pub affected_systems: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event this view reflects.
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    pub id: Uuid,
    pub author_sub: String,
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

const VIEW_COLUMNS: &str = "id, ticket_number, title, description, priority, status, category, \
    channel, customer_id, customer_name, customer_email, assigned_to, sla_id, response_deadline, \
    resolution_deadline, response_at, resolved_at, resolution_note, sla_breached, \
    escalation_level, related_tickets, related_incidents, tags, affected_systems, created_by, \
    created_at, updated_at, version";

/// Which tickets a reader may see: customers their own, agents theirs and the unassigned queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketScope {
    Everything,
    Customer(String),
    Agent(String),
}

impl TicketScope {
    fn restrict(&self, query: &mut QueryBuilder<'_, Postgres>) {
        match self {
            TicketScope::Everything => {}
            TicketScope::Customer(customer) => {
                query
                    .push(" AND customer_id = ")
                    .push_bind(customer.clone());
            }
            TicketScope::Agent(agent) => {
                query
                    .push(" AND (assigned_to = ")
                    .push_bind(agent.clone())
                    .push(" OR assigned_to IS NULL)");
            }
        }
    }
}

/// How a ticket is named in a URL: its id or its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketKey {
    Id(Uuid),
    Number(String),
}

impl TicketKey {
    fn restrict(&self, query: &mut QueryBuilder<'_, Postgres>) {
        match self {
            TicketKey::Id(id) => query.push("id = ").push_bind(*id),
            TicketKey::Number(number) => query.push("ticket_number = ").push_bind(number.clone()),
        };
    }

    pub fn parse(value: &str) -> Option<Self> {
        if let Ok(id) = Uuid::parse_str(value) {
            return Some(TicketKey::Id(id));
        }
        support_domain::ticket::TicketNumber::parse(value)
            .ok()
            .map(|n| TicketKey::Number(n.as_str().to_owned()))
    }
}

pub async fn find(
    pool: &PgPool,
    key: &TicketKey,
    scope: &TicketScope,
) -> Result<Option<TicketView>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("SELECT {VIEW_COLUMNS} FROM tickets WHERE "));
    key.restrict(&mut query);
    scope.restrict(&mut query);
    query.build_query_as().fetch_optional(pool).await
}

/// The ticket and its comments, oldest first, in one query; internal notes only when asked for.
pub async fn find_detail(
    pool: &PgPool,
    key: &TicketKey,
    scope: &TicketScope,
    include_internal: bool,
) -> Result<Option<TicketDetail>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!(
        "SELECT {VIEW_COLUMNS}, COALESCE((\
             SELECT json_agg(json_build_object('id', c.id, 'authorSub', c.author_sub, \
                 'authorRole', c.author_role, 'body', c.body, 'visibility', c.visibility, \
                 'createdAt', c.created_at) ORDER BY c.created_at, c.id) \
             FROM ticket_comments c WHERE c.ticket_id = tickets.id AND ("
    ));
    query
        .push_bind(include_internal)
        .push(" OR c.visibility = 'PUBLIC')), '[]') AS comments FROM tickets WHERE ");
    key.restrict(&mut query);
    scope.restrict(&mut query);
    query.build_query_as().fetch_optional(pool).await
}

/// Ids among `ids` that name no ticket.
pub async fn missing(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT wanted FROM unnest($1::uuid[]) AS wanted \
         WHERE NOT EXISTS (SELECT 1 FROM tickets WHERE id = wanted)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub category: Option<TicketCategory>,
    pub channel: Option<TicketChannel>,
    pub assigned_to: Option<String>,
    pub customer_id: Option<String>,
    pub sla_breached: Option<bool>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Matches anywhere in the ticket number or title, ignoring case.
    pub text: Option<String>,
}

impl TicketFilter {
    fn restrict(&self, query: &mut QueryBuilder<'_, Postgres>) {
        let text_filters = [
            ("status", self.status.map(|v| v.as_str().to_owned())),
            ("priority", self.priority.map(|v| v.as_str().to_owned())),
            ("category", self.category.map(|v| v.as_str().to_owned())),
            ("channel", self.channel.map(|v| v.as_str().to_owned())),
            ("assigned_to", self.assigned_to.clone()),
            ("customer_id", self.customer_id.clone()),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                query.push(format!(" AND {column} = ")).push_bind(value);
            }
        }
        if let Some(breached) = self.sla_breached {
            query.push(" AND sla_breached = ").push_bind(breached);
        }
        if let Some(from) = self.created_from {
            query.push(" AND created_at >= ").push_bind(from);
        }
        if let Some(before) = self.created_before {
            query.push(" AND created_at < ").push_bind(before);
        }
        if let Some(text) = &self.text {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            query
                .push(" AND (ticket_number || ' ' || title) ILIKE ")
                .push_bind(format!("%{escaped}%"));
        }
    }
}

/// `head` followed by the filters and the reader's scope.
fn filtered<'a>(
    head: &str,
    filter: &TicketFilter,
    scope: &TicketScope,
) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(head);
    filter.restrict(&mut query);
    scope.restrict(&mut query);
    query
}

/// One page of the filtered rows, newest first; ties on `created_at` are broken by id so pages are
/// stable.
fn page_of<'a>(
    head: &str,
    filter: &TicketFilter,
    scope: &TicketScope,
    page: PageRequest,
) -> QueryBuilder<'a, Postgres> {
    let mut query = filtered(head, filter, scope);
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(page.limit))
        .push(" OFFSET ")
        .push_bind(page.offset());
    query
}

const LIST_HEAD: &str = "FROM tickets WHERE true";

pub async fn list(
    pool: &PgPool,
    filter: &TicketFilter,
    scope: &TicketScope,
    page: PageRequest,
) -> Result<Page<TicketView>, sqlx::Error> {
    let mut items = page_of(
        &format!("SELECT {VIEW_COLUMNS} {LIST_HEAD}"),
        filter,
        scope,
        page,
    );
    let mut total = filtered(&format!("SELECT count(*) {LIST_HEAD}"), filter, scope);
    let (items, total) = tokio::join!(
        items.build_query_as().fetch_all(pool),
        total.build_query_scalar().fetch_one(pool),
    );
    Ok(Page {
        items: items?,
        page: page.page,
        limit: page.limit,
        total: total?,
    })
}

/// Where one event lands: the ticket, the event's sequence and when it happened.
struct Target {
    id: Uuid,
    sequence: i64,
    at: DateTime<Utc>,
}

/// An UPDATE that applies only on top of the event just before this one.
macro_rules! advance {
    ($($set:literal)?) => {
        concat!(
            "UPDATE tickets SET version = $2, updated_at = $3", $(", ", $set,)?
            " WHERE id = $1 AND version = $2 - 1"
        )
    };
}

fn guarded(sql: &'static str, target: &Target) -> Query<'static, Postgres, PgArguments> {
    sqlx::query(sql)
        .bind(target.id)
        .bind(target.sequence)
        .bind(target.at)
}

/// Applies a batch in order. The tickets it opens are inserted first, in one statement: an
/// opening is always its ticket's first event, so nothing else in the batch can precede it.
pub async fn apply_all(
    conn: &mut PgConnection,
    events: &[&RecordedEvent],
) -> Result<(), ProjectionError> {
    let (opened, changes): (Vec<&RecordedEvent>, Vec<&RecordedEvent>) =
        events.iter().partition(|e| e.event_type == "TicketOpened");
    insert_opened(conn, &opened).await?;
    for event in changes {
        apply(conn, event).await?;
    }
    Ok(())
}

/// A new row, as `jsonb_to_recordset` reads it.
#[derive(Serialize)]
struct OpenedRow {
    id: Uuid,
    version: i64,
    created_at: DateTime<Utc>,
    ticket_number: String,
    title: String,
    description: String,
    priority: &'static str,
    category: &'static str,
    channel: &'static str,
    customer_id: Option<String>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    affected_systems: Vec<String>,
    tags: Vec<String>,
    created_by: String,
}

async fn insert_opened(
    conn: &mut PgConnection,
    events: &[&RecordedEvent],
) -> Result<(), ProjectionError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let name =
            RecordedEvent::message_id(&event.aggregate_type, &event.aggregate_id, event.sequence);
        let undecodable = |e: &dyn std::fmt::Display| ProjectionError::undecodable(&name, e);
        let TicketEvent::TicketOpened {
            ticket_number,
            title,
            description,
            priority,
            category,
            channel,
            customer,
            affected_systems,
            tags,
            created_by,
            ..
        } = TicketEvent::from_parts(&event.event_type, &event.payload)
            .map_err(|e| undecodable(&e))?
        else {
            return Err(undecodable(&"not a TicketOpened event"));
        };
        let (customer_id, customer_name, customer_email) = customer
            .map(|c| (Some(c.id), c.name, c.email))
            .unwrap_or_default();
        rows.push(OpenedRow {
            id: Uuid::parse_str(&event.aggregate_id).map_err(|e| undecodable(&e))?,
            version: event.sequence,
            created_at: event.occurred_at,
            ticket_number: ticket_number.as_str().to_owned(),
            title: title.as_str().to_owned(),
            description: description.as_str().to_owned(),
            priority: priority.as_str(),
            category: category.as_str(),
            channel: channel.as_str(),
            customer_id,
            customer_name,
            customer_email,
            affected_systems: affected_systems.as_slice().to_vec(),
            tags: tags.as_slice().to_vec(),
            created_by,
        });
    }
    // A redelivered opening finds its row there and changes nothing.
    sqlx::query(
        "INSERT INTO tickets (id, version, created_at, updated_at, ticket_number, title, \
         description, priority, status, category, channel, customer_id, customer_name, \
         customer_email, affected_systems, tags, created_by) \
         SELECT id, version, created_at, created_at, ticket_number, title, description, priority, \
                'OPEN', category, channel, customer_id, customer_name, customer_email, \
                affected_systems, tags, created_by \
         FROM jsonb_to_recordset($1) AS r(id uuid, version bigint, created_at timestamptz, \
             ticket_number text, title text, description text, priority text, category text, \
             channel text, customer_id text, customer_name text, customer_email text, \
             affected_systems text[], tags text[], created_by text) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(Json(rows))
    .execute(conn)
    .await?;
    Ok(())
}

async fn apply(conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
    let name =
        RecordedEvent::message_id(&event.aggregate_type, &event.aggregate_id, event.sequence);
    let ticket_event = TicketEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable(&name, e))?;
    let target = Target {
        id: Uuid::parse_str(&event.aggregate_id)
            .map_err(|e| ProjectionError::undecodable(&name, e))?,
        sequence: event.sequence,
        at: event.occurred_at,
    };

    let update = match ticket_event {
        TicketEvent::TicketOpened { .. } => return insert_opened(conn, &[event]).await,
        TicketEvent::TicketRetitled { title } => {
            guarded(advance!("title = $4"), &target).bind(title.as_str().to_owned())
        }
        TicketEvent::TicketDescriptionChanged { description } => {
            guarded(advance!("description = $4"), &target).bind(description.as_str().to_owned())
        }
        TicketEvent::TicketReprioritized { to, .. } => {
            guarded(advance!("priority = $4"), &target).bind(to.as_str())
        }
        TicketEvent::TicketRecategorized { to, .. } => {
            guarded(advance!("category = $4"), &target).bind(to.as_str())
        }
        TicketEvent::TicketTagsChanged { tags } => {
            guarded(advance!("tags = $4"), &target).bind(tags.as_slice().to_vec())
        }
        TicketEvent::TicketAffectedSystemsChanged { affected_systems } => {
            guarded(advance!("affected_systems = $4"), &target)
                .bind(affected_systems.as_slice().to_vec())
        }
        TicketEvent::TicketAssigned { assignee, .. } => {
            guarded(advance!("assigned_to = $4"), &target).bind(assignee.as_str().to_owned())
        }
        TicketEvent::TicketUnassigned { .. } => guarded(advance!("assigned_to = NULL"), &target),
        TicketEvent::TicketStatusChanged { to, note, .. } => guarded(
            // Resolving stamps the resolution; closing keeps it; anything else (a reopen) clears it.
            advance!(
                "status = $4, \
                 resolved_at = CASE $4 WHEN 'RESOLVED' THEN $3 WHEN 'CLOSED' THEN resolved_at END, \
                 resolution_note = CASE $4 WHEN 'RESOLVED' THEN $5 WHEN 'CLOSED' THEN resolution_note END"
            ),
            &target,
        )
        .bind(to.as_str())
        .bind(note.map(|n| n.as_str().to_owned())),
        TicketEvent::TicketCommentAdded {
            comment_id,
            author,
            body,
            visibility,
        } => {
            advance_or_skip(conn, guarded(advance!(), &target), &target).await?;
            sqlx::query(
                "INSERT INTO ticket_comments (id, ticket_id, author_sub, author_role, body, visibility, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(comment_id)
            .bind(target.id)
            .bind(author.sub)
            .bind(author.role.as_str())
            .bind(body.as_str())
            .bind(visibility.as_str())
            .bind(target.at)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        TicketEvent::TicketFirstResponseRecorded { .. } => {
            guarded(advance!("response_at = $3"), &target)
        }
        TicketEvent::TicketEscalated { level, .. } => {
            guarded(advance!("escalation_level = $4"), &target).bind(level as i32)
        }
        TicketEvent::TicketRelatedTicketLinked { related_ticket_id } => guarded(
            advance!("related_tickets = array_append(related_tickets, $4)"),
            &target,
        )
        .bind(related_ticket_id),
        TicketEvent::TicketRelatedTicketUnlinked { related_ticket_id } => guarded(
            advance!("related_tickets = array_remove(related_tickets, $4)"),
            &target,
        )
        .bind(related_ticket_id),
        TicketEvent::TicketIncidentLinked { incident_id } => guarded(
            advance!("related_incidents = array_append(related_incidents, $4)"),
            &target,
        )
        .bind(incident_id),
        TicketEvent::TicketIncidentUnlinked { incident_id } => guarded(
            advance!("related_incidents = array_remove(related_incidents, $4)"),
            &target,
        )
        .bind(incident_id),
    };
    advance_or_skip(conn, update, &target).await
}

/// Runs a guarded update. When it matched no row the event is either already applied (a
/// redelivery: nothing to do) or ahead of the row (an error, so the batch is retried later).
async fn advance_or_skip(
    conn: &mut PgConnection,
    update: Query<'static, Postgres, PgArguments>,
    target: &Target,
) -> Result<(), ProjectionError> {
    if update.execute(&mut *conn).await?.rows_affected() == 1 {
        return Ok(());
    }
    let current: Option<i64> = sqlx::query_scalar("SELECT version FROM tickets WHERE id = $1")
        .bind(target.id)
        .fetch_optional(&mut *conn)
        .await?;
    match current {
        Some(version) if version >= target.sequence => Ok(()),
        current => Err(ProjectionError::OutOfOrder {
            aggregate: AGGREGATE_TYPE,
            id: target.id.to_string(),
            current,
            sequence: target.sequence,
        }),
    }
}

/// Empties the read model before a replay rebuilds it.
pub async fn clear(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    // DELETE rather than TRUNCATE: readers keep seeing the old rows until the rebuild commits.
    sqlx::query("DELETE FROM tickets").execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With sequential scans priced out, PostgreSQL still picks one where no index can serve a
    /// query: so a plan without one proves that every filter, in every scope, has its index.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_list_filter_is_served_by_an_index(pool: PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
        let now = Utc::now();
        let filters = [
            TicketFilter::default(),
            TicketFilter {
                status: Some(TicketStatus::Open),
                ..Default::default()
            },
            TicketFilter {
                priority: Some(TicketPriority::High),
                ..Default::default()
            },
            TicketFilter {
                category: Some(TicketCategory::Billing),
                ..Default::default()
            },
            TicketFilter {
                channel: Some(TicketChannel::Email),
                ..Default::default()
            },
            TicketFilter {
                assigned_to: Some("agent-7".into()),
                ..Default::default()
            },
            TicketFilter {
                customer_id: Some("customer-123".into()),
                ..Default::default()
            },
            TicketFilter {
                sla_breached: Some(false),
                ..Default::default()
            },
            TicketFilter {
                sla_breached: Some(true),
                ..Default::default()
            },
            TicketFilter {
                created_from: Some(now),
                created_before: Some(now),
                ..Default::default()
            },
            TicketFilter {
                text: Some("dashboard".into()),
                ..Default::default()
            },
        ];
        let scopes = [
            TicketScope::Everything,
            TicketScope::Customer("customer-123".into()),
            TicketScope::Agent("agent-7".into()),
        ];
        let page = PageRequest::parse(None, None).unwrap();
        for filter in &filters {
            for scope in &scopes {
                let items = page_of(
                    &format!("EXPLAIN SELECT {VIEW_COLUMNS} {LIST_HEAD}"),
                    filter,
                    scope,
                    page,
                );
                let total = filtered(
                    &format!("EXPLAIN SELECT count(*) {LIST_HEAD}"),
                    filter,
                    scope,
                );
                for mut query in [items, total] {
                    let plan: Vec<String> = query
                        .build_query_scalar()
                        .fetch_all(&mut *conn)
                        .await
                        .unwrap();
                    let plan = plan.join("\n");
                    assert!(!plan.contains("Seq Scan"), "{filter:?} {scope:?}:\n{plan}");
                }
            }
        }
    }
}
