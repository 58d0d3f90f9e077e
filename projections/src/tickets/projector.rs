//! How ticket events land in the tickets read model.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres};
use support_domain::ticket::{TicketContent, TicketEvent, TicketStatus};
use support_domain::RecordedEvent;
use uuid::Uuid;

use super::{AGGREGATE_TYPE, READ_MODEL};
use crate::{Projection, ProjectionError};

/// Where one event lands: the ticket, the event's sequence and when it happened.
struct Target {
    id: Uuid,
    sequence: i64,
    at: DateTime<Utc>,
}

/// An UPDATE of the event's ticket that records the event's sequence and time.
macro_rules! advance {
    ($($set:literal)?) => {
        concat!(
            "UPDATE tickets SET version = $2, updated_at = $3", $(", ", $set,)?
            " WHERE id = $1"
        )
    };
}

fn guarded(sql: &'static str, target: &Target) -> Query<'static, Postgres, PgArguments> {
    sqlx::query(sql)
        .bind(target.id)
        .bind(target.sequence)
        .bind(target.at)
}

/// The `tickets` read model.
pub struct TicketsProjection;

#[async_trait]
impl Projection for TicketsProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        apply_all(conn, events).await
    }

    async fn clear(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        // DELETE rather than TRUNCATE: readers keep seeing the old rows until the rebuild commits.
        sqlx::query("DELETE FROM tickets").execute(conn).await?;
        Ok(())
    }
}

/// Applies a batch in order. The tickets it opens are inserted first, in one statement: an
/// opening is always its ticket's first event, so nothing else in the batch can precede it.
async fn apply_all(
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

/// A new row, its fields named as the table's columns: the insert's column list is read off it.
#[derive(Serialize)]
struct OpenedRow {
    id: Uuid,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    ticket_number: String,
    status: &'static str,
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

impl OpenedRow {
    fn from_event(event: &RecordedEvent) -> Result<Self, ProjectionError> {
        let name =
            RecordedEvent::message_id(&event.aggregate_type, &event.aggregate_id, event.sequence);
        let undecodable = |e: &dyn std::fmt::Display| ProjectionError::undecodable(&name, e);
        let TicketEvent::TicketOpened {
            ticket_number,
            content,
            created_by,
            ..
        } = TicketEvent::from_parts(&event.event_type, &event.payload)
            .map_err(|e| undecodable(&e))?
        else {
            return Err(undecodable(&"not a TicketOpened event"));
        };
        let TicketContent {
            title,
            description,
            priority,
            category,
            channel,
            customer,
            affected_systems,
            tags,
        } = content;
        let (customer_id, customer_name, customer_email) = customer
            .map(|c| (Some(c.id), c.name, c.email))
            .unwrap_or_default();
        Ok(Self {
            id: Uuid::parse_str(&event.aggregate_id).map_err(|e| undecodable(&e))?,
            version: event.sequence,
            created_at: event.occurred_at,
            updated_at: event.occurred_at,
            ticket_number: ticket_number.as_str().to_owned(),
            status: TicketStatus::Open.as_str(),
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
        })
    }
}

async fn insert_opened(
    conn: &mut PgConnection,
    events: &[&RecordedEvent],
) -> Result<(), ProjectionError> {
    let rows = events
        .iter()
        .map(|e| OpenedRow::from_event(e).and_then(|row| Ok(serde_json::to_value(row)?)))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(serde_json::Value::Object(first)) = rows.first() else {
        return Ok(());
    };
    let columns = first.keys().cloned().collect::<Vec<_>>().join(", ");
    sqlx::query(&format!(
        "INSERT INTO tickets ({columns}) \
         SELECT {columns} FROM jsonb_populate_recordset(NULL::tickets, $1)"
    ))
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
            expect_row(guarded(advance!(), &target).execute(&mut *conn).await?, &target)?;
            sqlx::query(
                "INSERT INTO ticket_comments (id, ticket_id, author_sub, author_role, body, visibility, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
    expect_row(update.execute(&mut *conn).await?, &target)
}

/// The framework hands over each ticket's events in order from its opening, so a change that finds
/// no row means the read model lost it: an error, never a silent skip.
fn expect_row(done: sqlx::postgres::PgQueryResult, target: &Target) -> Result<(), ProjectionError> {
    if done.rows_affected() == 1 {
        return Ok(());
    }
    Err(ProjectionError::OutOfOrder {
        aggregate: AGGREGATE_TYPE.to_owned(),
        id: target.id.to_string(),
        current: None,
        sequence: target.sequence,
    })
}
