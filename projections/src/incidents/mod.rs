//! The incidents read model: `incidents` (each incident as it stands), `incident_updates` (its
//! status updates) and `incident_action_items` (its post-mortem's action items). `queries` reads
//! them for the API; an incident's linked tickets are read from the tickets' side.

pub mod holds;
mod queries;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::PgConnection;
use support_domain::incident::{IncidentEvent, IncidentStatus, IncidentTarget, PostMortemFields};
use support_domain::RecordedEvent;
use uuid::Uuid;

use crate::{Projection, ProjectionError, Redacted};

pub use queries::{
    action_items, find, find_detail, id_of_number, list, post_mortem, timeline, updates,
    ActionItemView, IncidentDetail, IncidentFilter, IncidentUpdateView, IncidentView,
    PostMortemView, TimelineEntry,
};

pub const AGGREGATE_TYPE: &str = "incident";
/// The read model's name: its consumer, checkpoint and dead letters.
pub const READ_MODEL: &str = "incidents";

/// The `incidents` read model.
pub struct IncidentsProjection;

#[async_trait]
impl Projection for IncidentsProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "incidents",
            "incident_updates",
            "incident_action_items",
            "incident_timers",
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut touched = Vec::new();
        for event in events {
            touched.push(apply_incident_event(conn, event).await?);
        }
        touched.sort_unstable();
        touched.dedup();
        let earliest = set_timers(conn, &touched).await?;
        crate::sla::timers::notify(conn, earliest).await
    }
}

/// Sets the timer rows of `incidents` to their next deadline: the response target's while the
/// incident is unacknowledged, then the resolution target's while it is unresolved, each until it
/// is missed; no row for an incident with nothing left to miss. A row whose deadline did not move
/// keeps its lease. Answers the earliest deadline set, for the timer to wake for.
async fn set_timers(
    conn: &mut PgConnection,
    incidents: &[Uuid],
) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    Ok(sqlx::query_scalar(
        "WITH next AS ( \
             SELECT id, CASE \
                 WHEN status IN ('RESOLVED', 'CLOSED') THEN NULL \
                 WHEN acknowledged_at IS NULL AND response_breached_at IS NULL \
                     THEN detected_at + make_interval(mins => response_time_target) \
                 WHEN resolution_breached_at IS NULL \
                     THEN detected_at + make_interval(mins => resolution_time_target) \
             END AS due_at \
             FROM incidents WHERE id = ANY($1)), \
         gone AS ( \
             DELETE FROM incident_timers t USING next \
             WHERE t.incident_id = next.id AND next.due_at IS NULL), \
         moved AS ( \
             INSERT INTO incident_timers (incident_id, due_at) \
             SELECT id, due_at FROM next WHERE due_at IS NOT NULL \
             ON CONFLICT (incident_id) DO UPDATE SET due_at = EXCLUDED.due_at, claimed_until = NULL \
             WHERE incident_timers.due_at <> EXCLUDED.due_at \
             RETURNING due_at) \
         SELECT min(due_at) FROM moved",
    )
    .bind(incidents)
    .fetch_one(&mut *conn)
    .await?)
}

/// An UPDATE of the incident row that moves its version and `updated_at` (`$1` id, `$2` sequence,
/// `$3` time), and sets the columns given (from `$4`).
macro_rules! advance {
    ($($set:literal)?) => {
        concat!(
            "UPDATE incidents SET version = $2, updated_at = $3", $(", ", $set,)?
            " WHERE id = $1"
        )
    };
}

fn guarded<'q>(sql: &'q str, id: Uuid, event: &RecordedEvent) -> Query<'q, Postgres, PgArguments> {
    sqlx::query(sql)
        .bind(id)
        .bind(event.sequence)
        .bind(event.occurred_at)
}

fn labels(labels: &support_domain::ticket::Labels) -> Vec<String> {
    labels.as_slice().to_vec()
}

/// Applies one event; answers the incident's id.
async fn apply_incident_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Uuid, ProjectionError> {
    use IncidentEvent::*;
    let incident_event = IncidentEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let id = Uuid::parse_str(&event.aggregate_id)
        .map_err(|e| ProjectionError::undecodable_event(event, e))?;
    let actor = event.metadata.actor_sub.as_str();
    let update = match incident_event {
        IncidentDetected {
            incident_number,
            fields,
            detected_at,
            targets,
            ..
        } => {
            sqlx::query(
                "INSERT INTO incidents (id, incident_number, version, title, description, \
                     severity, status, category, impact, affected_systems, affected_services, \
                     affected_customers, incident_commander, assigned_team, reported_by, \
                     detected_at, response_time_target, resolution_time_target, sla_breached, \
                     post_mortem, created_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                     $17, $18, false, '{}', $19, $16)",
            )
            .bind(id)
            .bind(incident_number.as_str())
            .bind(event.sequence)
            .bind(fields.title.as_str())
            .bind(fields.description.as_str())
            .bind(fields.severity.as_str())
            .bind(IncidentStatus::Detected.as_str())
            .bind(fields.category.as_str())
            .bind(fields.impact.as_str())
            .bind(labels(&fields.affected_systems))
            .bind(labels(&fields.affected_services))
            .bind(fields.affected_customers.get() as i32)
            .bind(fields.incident_commander.as_ref().map(|c| c.as_str()))
            .bind(labels(&fields.assigned_team))
            .bind(fields.reported_by.as_str())
            .bind(detected_at)
            .bind(targets.response_minutes as i32)
            .bind(targets.resolution_minutes as i32)
            .bind(actor)
            .execute(&mut *conn)
            .await?;
            return Ok(id);
        }
        IncidentAcknowledged {} => guarded(
            advance!("acknowledged_at = $3, acknowledged_by = $4"),
            id,
            event,
        )
        .bind(actor),
        IncidentStatusChanged { to, .. } => guarded(
            // A reopened incident is unresolved again; its first resolution no longer counts.
            advance!(
                "status = $4, \
                 resolved_at = CASE WHEN $4 IN ('RESOLVED', 'CLOSED') \
                     THEN coalesce(resolved_at, $3) END, \
                 closed_at = CASE WHEN $4 = 'CLOSED' THEN $3 END"
            ),
            id,
            event,
        )
        .bind(to.as_str()),
        IncidentSeverityChanged { to, targets, .. } => guarded(
            advance!("severity = $4, response_time_target = $5, resolution_time_target = $6"),
            id,
            event,
        )
        .bind(to.as_str())
        .bind(targets.response_minutes as i32)
        .bind(targets.resolution_minutes as i32),
        IncidentImpactChanged { to, .. } => {
            guarded(advance!("impact = $4"), id, event).bind(to.as_str())
        }
        IncidentCommanderChanged { commander, .. } => {
            guarded(advance!("incident_commander = $4"), id, event)
                .bind(commander.as_str().to_owned())
        }
        IncidentTeamChanged { assigned_team } => {
            guarded(advance!("assigned_team = $4"), id, event).bind(labels(&assigned_team))
        }
        IncidentAffectedSystemsChanged { affected_systems } => {
            guarded(advance!("affected_systems = $4"), id, event).bind(labels(&affected_systems))
        }
        IncidentAffectedServicesChanged { affected_services } => {
            guarded(advance!("affected_services = $4"), id, event).bind(labels(&affected_services))
        }
        IncidentRootCauseRecorded { root_cause } => {
            guarded(advance!("root_cause = $4"), id, event).bind(root_cause.as_str().to_owned())
        }
        IncidentMitigationRecorded { mitigation } => {
            guarded(advance!("mitigation = $4"), id, event).bind(mitigation.as_str().to_owned())
        }
        IncidentResolutionRecorded { resolution } => {
            guarded(advance!("resolution = $4"), id, event).bind(resolution.as_str().to_owned())
        }
        IncidentUpdatePosted {
            update_id,
            visibility,
            message,
            status,
        } => {
            sqlx::query(
                "INSERT INTO incident_updates (update_id, incident_id, visibility, message, \
                     status, posted_by, posted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(update_id)
            .bind(id)
            .bind(visibility.as_str())
            .bind(message.as_str())
            .bind(status.as_str())
            .bind(actor)
            .bind(event.occurred_at)
            .execute(&mut *conn)
            .await?;
            guarded(advance!(), id, event)
        }
        IncidentTargetMissed { target, due_at } => {
            let sql = match target {
                IncidentTarget::Response => {
                    advance!("response_breached_at = $4, sla_breached = true")
                }
                IncidentTarget::Resolution => {
                    advance!("resolution_breached_at = $4, sla_breached = true")
                }
            };
            guarded(sql, id, event).bind(due_at)
        }
        PostMortemRevised { changes } => {
            // The texts revised replace theirs; those absent from the change are kept.
            guarded(
                advance!("post_mortem = post_mortem || jsonb_strip_nulls($4)"),
                id,
                event,
            )
            .bind(Json::<PostMortemFields>(changes))
        }
        PostMortemCompleted {} => guarded(advance!("post_mortem_completed_at = $3"), id, event),
        ActionItemAdded { item } => {
            sqlx::query(
                "INSERT INTO incident_action_items (item_id, incident_id, title, owner, due_date, \
                     status, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(item.item_id)
            .bind(id)
            .bind(item.title.as_str())
            .bind(item.owner.as_ref().map(|o| o.as_str()))
            .bind(item.due_date)
            .bind(item.status.as_str())
            .bind(actor)
            .bind(event.occurred_at)
            .execute(&mut *conn)
            .await?;
            guarded(advance!(), id, event)
        }
        ActionItemRevised { item_id, changes } => {
            sqlx::query(
                "UPDATE incident_action_items SET title = coalesce($3, title), \
                     owner = coalesce($4, owner), due_date = coalesce($5, due_date), \
                     status = coalesce($6, status), updated_at = $7 \
                 WHERE item_id = $1 AND incident_id = $2",
            )
            .bind(item_id)
            .bind(id)
            .bind(changes.title.as_ref().map(|t| t.as_str()))
            .bind(changes.owner.as_ref().map(|o| o.as_str()))
            .bind(changes.due_date)
            .bind(changes.status.map(|s| s.as_str()))
            .bind(event.occurred_at)
            .execute(&mut *conn)
            .await?;
            guarded(advance!(), id, event)
        }
    };
    let done = update.execute(&mut *conn).await?;
    ProjectionError::expect_one_row(done, event)?;
    Ok(id)
}
