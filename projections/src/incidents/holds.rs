//! `incident_holds`: which tickets are linked to which incidents (from the tickets' link events)
//! and which incidents are active (from the incidents' status), so that a ticket linked to an
//! active incident has its SLA clocks held. Every change that may hold or release a ticket queues
//! it in `incident_hold_checks`, which the SLA timer claims: it sends the ticket the incidents
//! active among its links, and the ticket decides on its own state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use support_domain::incident::{IncidentEvent, IncidentStatus};
use support_domain::ticket::TicketEvent;
use support_domain::RecordedEvent;
use uuid::Uuid;

use crate::{tickets, Projection, ProjectionError, Redacted};

pub const READ_MODEL: &str = "incident_holds";

pub struct IncidentHoldsProjection;

#[async_trait]
impl Projection for IncidentHoldsProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[super::AGGREGATE_TYPE, tickets::AGGREGATE_TYPE]
    }

    /// Not the checks: they are work for the timer, which a replay must not take away.
    fn tables(&self) -> &'static [&'static str] {
        &["incident_hold_links", "incident_hold_activity"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut earliest = None;
        for event in events {
            if apply_event(conn, event).await? {
                let at = event.occurred_at;
                earliest = Some(earliest.map_or(at, |e: DateTime<Utc>| e.min(at)));
            }
        }
        crate::sla::timers::notify(conn, earliest).await
    }
}

/// Applies one event; answers whether it queued a check.
async fn apply_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<bool, ProjectionError> {
    let id = || {
        Uuid::parse_str(&event.aggregate_id)
            .map_err(|e| ProjectionError::undecodable_event(event, e))
    };
    if event.aggregate_type == tickets::AGGREGATE_TYPE {
        // Only the links matter here: every other ticket event is skipped undecoded.
        if !matches!(
            event.event_type.as_str(),
            "TicketIncidentLinked" | "TicketIncidentUnlinked"
        ) {
            return Ok(false);
        }
        let ticket = id()?;
        let sql = match TicketEvent::from_parts(&event.event_type, &event.payload)
            .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?
        {
            TicketEvent::TicketIncidentLinked { incident_id } => (
                "INSERT INTO incident_hold_links (incident_id, ticket_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                incident_id,
            ),
            TicketEvent::TicketIncidentUnlinked { incident_id } => (
                "DELETE FROM incident_hold_links WHERE incident_id = $1 AND ticket_id = $2",
                incident_id,
            ),
            _ => return Ok(false),
        };
        sqlx::query(sql.0)
            .bind(sql.1)
            .bind(ticket)
            .execute(&mut *conn)
            .await?;
        check(&mut *conn, &[ticket], event).await?;
        return Ok(true);
    }
    let active = match IncidentEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?
    {
        IncidentEvent::IncidentDetected { .. } => IncidentStatus::Detected.is_active(),
        IncidentEvent::IncidentStatusChanged { to, .. } => to.is_active(),
        _ => return Ok(false),
    };
    let incident = id()?;
    // Only a change of activity moves its tickets' holds.
    let flipped: Option<bool> = sqlx::query_scalar(
        "INSERT INTO incident_hold_activity (incident_id, active) VALUES ($1, $2) \
         ON CONFLICT (incident_id) DO UPDATE SET active = EXCLUDED.active \
         WHERE incident_hold_activity.active <> EXCLUDED.active \
         RETURNING true",
    )
    .bind(incident)
    .bind(active)
    .fetch_optional(&mut *conn)
    .await?;
    if flipped.is_none() {
        return Ok(false);
    }
    let linked: Vec<Uuid> =
        sqlx::query_scalar("SELECT ticket_id FROM incident_hold_links WHERE incident_id = $1")
            .bind(incident)
            .fetch_all(&mut *conn)
            .await?;
    check(&mut *conn, &linked, event).await?;
    Ok(!linked.is_empty())
}

/// Queues `tickets` for a check from `event`'s instant. A ticket queued already, or being checked,
/// is checked again from the new instant: the check under way may have read the links before.
async fn check(
    conn: &mut PgConnection,
    tickets: &[Uuid],
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO incident_hold_checks (ticket_id, due_at) SELECT unnest($1::uuid[]), $2 \
         ON CONFLICT (ticket_id) DO UPDATE SET due_at = EXCLUDED.due_at, claimed_until = NULL",
    )
    .bind(tickets)
    .bind(event.occurred_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The incidents active now among those `ticket` is linked to.
pub async fn active_incidents_of<'e>(
    executor: impl PgExecutor<'e>,
    ticket: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT l.incident_id FROM incident_hold_links l \
         JOIN incident_hold_activity a USING (incident_id) \
         WHERE l.ticket_id = $1 AND a.active ORDER BY l.incident_id",
    )
    .bind(ticket)
    .fetch_all(executor)
    .await
}
