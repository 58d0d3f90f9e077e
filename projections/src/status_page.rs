//! The status page read model: each component's state, derived from the active incidents' impact
//! and overridden by an admin, with every change kept for the daily bars; and the maintenance
//! windows. `summary` reads it for the public page, with the active incidents and their public
//! updates from the incidents read model.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use support_domain::incident::{IncidentEvent, IncidentImpact};
use support_domain::status_page::{ComponentStatus, StatusPageEvent};
use support_domain::RecordedEvent;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::incidents;
use crate::{schema, Projection, ProjectionError, Redacted};

pub const AGGREGATE_TYPE: &str = "status_page";
pub const READ_MODEL: &str = "status_page";
/// How many days of bars the page shows, today included.
pub const DAYS: i64 = 90;

pub struct StatusPageProjection;

#[async_trait]
impl Projection for StatusPageProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[incidents::AGGREGATE_TYPE, AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "status_components",
            "status_component_history",
            "status_incidents",
            "status_maintenances",
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            let touched = if event.aggregate_type == AGGREGATE_TYPE {
                apply_page_event(conn, event).await?
            } else {
                apply_incident_event(conn, event).await?
            };
            if !touched.is_empty() {
                restate(conn, &touched, event.occurred_at).await?;
            }
        }
        Ok(())
    }
}

fn decode_id(event: &RecordedEvent) -> Result<Uuid, ProjectionError> {
    Uuid::parse_str(&event.aggregate_id).map_err(|e| ProjectionError::undecodable_event(event, e))
}

/// Applies an incident's event; answers the components whose state it may change.
async fn apply_incident_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Vec<String>, ProjectionError> {
    let decoded = IncidentEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let id = decode_id(event)?;
    Ok(match decoded {
        IncidentEvent::IncidentDetected { fields, .. } => {
            let affected = fields.affected_systems.as_slice().to_vec();
            sqlx::query(
                "INSERT INTO status_incidents (incident_id, impact, affected_systems, active) \
                 VALUES ($1, $2, $3, true) ON CONFLICT (incident_id) DO NOTHING",
            )
            .bind(id)
            .bind(fields.impact.as_str())
            .bind(&affected)
            .execute(&mut *conn)
            .await?;
            affected
        }
        IncidentEvent::IncidentImpactChanged { to, .. } => {
            sqlx::query("UPDATE status_incidents SET impact = $2 WHERE incident_id = $1")
                .bind(id)
                .bind(to.as_str())
                .execute(&mut *conn)
                .await?;
            systems_of(conn, id).await?
        }
        IncidentEvent::IncidentStatusChanged { to, .. } => {
            sqlx::query("UPDATE status_incidents SET active = $2 WHERE incident_id = $1")
                .bind(id)
                .bind(to.is_active())
                .execute(&mut *conn)
                .await?;
            systems_of(conn, id).await?
        }
        IncidentEvent::IncidentAffectedSystemsChanged { affected_systems } => {
            let mut touched = systems_of(conn, id).await?;
            let now = affected_systems.as_slice().to_vec();
            sqlx::query("UPDATE status_incidents SET affected_systems = $2 WHERE incident_id = $1")
                .bind(id)
                .bind(&now)
                .execute(&mut *conn)
                .await?;
            touched.extend(now);
            touched
        }
        _ => Vec::new(),
    })
}

async fn systems_of(conn: &mut PgConnection, id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    Ok(
        sqlx::query_scalar("SELECT affected_systems FROM status_incidents WHERE incident_id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .unwrap_or_default(),
    )
}

/// Applies a status page event; answers the components whose state it may change.
async fn apply_page_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Vec<String>, ProjectionError> {
    let decoded = StatusPageEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    Ok(match decoded {
        StatusPageEvent::ComponentStatusOverridden { component, status } => {
            let name = component.as_str().to_owned();
            known(conn, std::slice::from_ref(&name), event.occurred_at).await?;
            sqlx::query("UPDATE status_components SET override_status = $2 WHERE name = $1")
                .bind(&name)
                .bind(status.as_str())
                .execute(&mut *conn)
                .await?;
            vec![name]
        }
        StatusPageEvent::ComponentOverrideCleared { component } => {
            let name = component.as_str().to_owned();
            sqlx::query("UPDATE status_components SET override_status = NULL WHERE name = $1")
                .bind(&name)
                .execute(&mut *conn)
                .await?;
            vec![name]
        }
        StatusPageEvent::MaintenanceScheduled { window } => {
            let components = window.components.as_slice().to_vec();
            known(conn, &components, event.occurred_at).await?;
            sqlx::query(
                "INSERT INTO status_maintenances (maintenance_id, title, description, \
                     components, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (maintenance_id) DO NOTHING",
            )
            .bind(window.maintenance_id)
            .bind(window.title.as_str())
            .bind(window.description.as_ref().map(|d| d.as_str()))
            .bind(&components)
            .bind(window.starts_at)
            .bind(window.ends_at)
            .execute(&mut *conn)
            .await?;
            Vec::new()
        }
        StatusPageEvent::MaintenanceCancelled { maintenance_id } => {
            sqlx::query(
                "UPDATE status_maintenances SET cancelled_at = $2 WHERE maintenance_id = $1",
            )
            .bind(maintenance_id)
            .bind(event.occurred_at)
            .execute(&mut *conn)
            .await?;
            Vec::new()
        }
    })
}

/// Makes `names` known components from `at` on, operational, if they were not.
async fn known(
    conn: &mut PgConnection,
    names: &[String],
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "WITH new AS ( \
             INSERT INTO status_components (name, derived_status, status, since, first_seen) \
             SELECT DISTINCT unnest($1::text[]), 'OPERATIONAL', 'OPERATIONAL', $2, $2 \
             ON CONFLICT (name) DO NOTHING RETURNING name) \
         INSERT INTO status_component_history (name, since, status) \
         SELECT name, $2, 'OPERATIONAL' FROM new ON CONFLICT DO NOTHING",
    )
    .bind(names)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets each of `names` to what its override, else its active incidents, make of it from `at`,
/// and keeps each change.
async fn restate(
    conn: &mut PgConnection,
    names: &[String],
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    known(conn, names, at).await?;
    let active: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT impact, affected_systems FROM status_incidents \
         WHERE active AND affected_systems && $1",
    )
    .bind(names)
    .fetch_all(&mut *conn)
    .await?;
    let mut derived: HashMap<&str, ComponentStatus> = HashMap::new();
    for (impact, systems) in &active {
        let status = IncidentImpact::parse(impact)
            .map(ComponentStatus::of_impact)
            .unwrap_or(ComponentStatus::Operational);
        for system in systems {
            let worst = derived
                .entry(system.as_str())
                .or_insert(ComponentStatus::Operational);
            if status.rank() > worst.rank() {
                *worst = status;
            }
        }
    }
    let statuses: Vec<&str> = names
        .iter()
        .map(|n| {
            derived
                .get(n.as_str())
                .copied()
                .unwrap_or(ComponentStatus::Operational)
                .as_str()
        })
        .collect();
    sqlx::query(
        "WITH d AS (SELECT * FROM unnest($1::text[], $2::text[]) AS d(name, derived)), \
         changed AS ( \
             UPDATE status_components c SET derived_status = d.derived, \
                 status = coalesce(c.override_status, d.derived), \
                 since = CASE WHEN c.status = coalesce(c.override_status, d.derived) \
                     THEN c.since ELSE $3 END \
             FROM d WHERE c.name = d.name \
             RETURNING c.name, c.status, c.since) \
         INSERT INTO status_component_history (name, since, status) \
         SELECT name, since, status FROM changed WHERE since = $3 \
         ON CONFLICT (name, since) DO UPDATE SET status = EXCLUDED.status",
    )
    .bind(names)
    .bind(&statuses)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One day of a component's bar.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayBar {
    pub date: NaiveDate,
    /// The worst state of the day; null before the component was known.
    #[schema(schema_with = schema::component_status_or_null)]
    pub status: Option<String>,
    /// Minutes of the day in `PARTIAL_OUTAGE` or `MAJOR_OUTAGE`.
    pub outage_minutes: f64,
}

/// A component as the status page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentView {
    #[schema(example = "api-service")]
    pub name: String,
    #[schema(schema_with = schema::component_status)]
    pub status: String,
    /// Whether an admin set the state, rather than the incidents.
    pub overridden: bool,
    /// Since when it is in `status` (for `UNDER_MAINTENANCE`: since the window began).
    pub since: DateTime<Utc>,
    /// The share of the last 90 days (since it was known, up to now) not in `PARTIAL_OUTAGE` or
    /// `MAJOR_OUTAGE`, in percent with two decimals.
    pub uptime_percent: f64,
    /// The last 90 days, oldest first, today last (UTC days).
    pub days: Vec<DayBar>,
}

/// A scheduled maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceView {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub components: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// An active incident as customers see it: its public updates only.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicIncident {
    pub id: Uuid,
    pub incident_number: String,
    pub title: String,
    #[schema(schema_with = schema::incident_status)]
    pub status: String,
    #[schema(schema_with = schema::incident_impact)]
    pub impact: String,
    pub affected_systems: Vec<String>,
    pub detected_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Public updates, newest first.
    pub updates: Vec<PublicUpdate>,
}

/// A public update as customers read it: not who posted it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicUpdate {
    pub id: Uuid,
    pub message: String,
    /// The incident's status when the update was posted.
    #[schema(schema_with = schema::incident_status)]
    pub status: String,
    pub posted_at: DateTime<Utc>,
}

/// The public status of the service.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusSummary {
    /// The worst state of any component.
    #[schema(schema_with = schema::component_status)]
    pub status: String,
    pub generated_at: DateTime<Utc>,
    pub components: Vec<ComponentView>,
    pub active_incidents: Vec<PublicIncident>,
    /// Windows not yet over, soonest first; one under way puts its components
    /// `UNDER_MAINTENANCE`.
    pub upcoming_maintenance: Vec<MaintenanceView>,
}

#[derive(sqlx::FromRow)]
struct ComponentRow {
    name: String,
    override_status: Option<String>,
    status: String,
    since: DateTime<Utc>,
    first_seen: DateTime<Utc>,
}

/// The status page at `now`.
pub async fn summary(pool: &PgPool, now: DateTime<Utc>) -> Result<StatusSummary, sqlx::Error> {
    let today = now.date_naive();
    let first_day = today - Duration::days(DAYS - 1);
    let window_start = Utc.from_utc_datetime(&first_day.and_hms_opt(0, 0, 0).expect("midnight"));
    let rows: Vec<ComponentRow> = sqlx::query_as(
        "SELECT name, override_status, status, since, first_seen FROM status_components \
         ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    // Each component's changes in the window, with the one in force when it began.
    let history: Vec<(String, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT name, since, status FROM status_component_history \
         WHERE since >= $1 AND since <= $2 \
         UNION ALL \
         (SELECT DISTINCT ON (name) name, since, status FROM status_component_history \
          WHERE since < $1 ORDER BY name, since DESC)",
    )
    .bind(window_start)
    .bind(now)
    .fetch_all(pool)
    .await?;
    let maintenance: Vec<MaintenanceView> = sqlx::query_as(
        "SELECT maintenance_id AS id, title, description, components, starts_at, ends_at \
         FROM status_maintenances WHERE cancelled_at IS NULL AND ends_at > $1 \
         ORDER BY starts_at, maintenance_id",
    )
    .bind(window_start)
    .fetch_all(pool)
    .await?;
    let mut changes: HashMap<&str, Vec<(DateTime<Utc>, ComponentStatus)>> = HashMap::new();
    for (name, since, status) in &history {
        if let Ok(status) = ComponentStatus::parse(status) {
            changes
                .entry(name.as_str())
                .or_default()
                .push((*since, status));
        }
    }
    let mut components = Vec::with_capacity(rows.len());
    for row in rows {
        let mut timeline = changes.remove(row.name.as_str()).unwrap_or_default();
        timeline.sort_by_key(|(since, _)| *since);
        let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = maintenance
            .iter()
            .filter(|m| m.components.contains(&row.name))
            .map(|m| (m.starts_at, m.ends_at))
            .collect();
        let (days, uptime_percent) = bars(&timeline, &windows, row.first_seen, first_day, now);
        let under_maintenance = windows.iter().find(|(s, e)| *s <= now && now < *e);
        let stored = ComponentStatus::parse(&row.status).unwrap_or(ComponentStatus::Operational);
        let (status, since) = match under_maintenance {
            Some((starts_at, _))
                if row.override_status.is_none()
                    && stored.rank() < ComponentStatus::UnderMaintenance.rank() =>
            {
                (ComponentStatus::UnderMaintenance, *starts_at)
            }
            _ => (stored, row.since),
        };
        components.push(ComponentView {
            name: row.name,
            status: status.as_str().to_owned(),
            overridden: row.override_status.is_some(),
            since,
            uptime_percent,
            days,
        });
    }
    let overall = components
        .iter()
        .filter_map(|c| ComponentStatus::parse(&c.status).ok())
        .max_by_key(|s| s.rank())
        .unwrap_or(ComponentStatus::Operational);
    Ok(StatusSummary {
        status: overall.as_str().to_owned(),
        generated_at: now,
        components,
        active_incidents: public_incidents(pool, true, 100).await?,
        upcoming_maintenance: maintenance
            .into_iter()
            .filter(|m| m.ends_at > now)
            .collect(),
    })
}

/// The 90 days of one component's bar, and its uptime over them: `timeline` its changes (the
/// first in force at the window's start), `windows` its maintenance windows.
fn bars(
    timeline: &[(DateTime<Utc>, ComponentStatus)],
    windows: &[(DateTime<Utc>, DateTime<Utc>)],
    first_seen: DateTime<Utc>,
    first_day: NaiveDate,
    now: DateTime<Utc>,
) -> (Vec<DayBar>, f64) {
    let (mut observed, mut down) = (Duration::zero(), Duration::zero());
    let mut days = Vec::with_capacity(DAYS as usize);
    for offset in 0..DAYS {
        let date = first_day + Duration::days(offset);
        let start = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"));
        let (from, until) = (start.max(first_seen), (start + Duration::days(1)).min(now));
        if until < from || (until == from && until != now) {
            days.push(DayBar {
                date,
                status: None,
                outage_minutes: 0.0,
            });
            continue;
        }
        let mut worst = ComponentStatus::Operational;
        let mut day_down = Duration::zero();
        for (index, (since, status)) in timeline.iter().enumerate() {
            let ends = timeline.get(index + 1).map_or(until, |(next, _)| *next);
            let overlap = ends.min(until) - (*since).max(from);
            if overlap > Duration::zero() {
                if status.rank() > worst.rank() {
                    worst = *status;
                }
                if status.is_outage() {
                    day_down += overlap;
                }
            }
        }
        // Today's bar shows the state now too, however short today has been.
        if until == now {
            if let Some((_, current)) = timeline.iter().rev().find(|(since, _)| *since <= now) {
                if current.rank() > worst.rank() {
                    worst = *current;
                }
            }
        }
        let maintained = windows.iter().any(|(s, e)| *s < until && *e > from);
        if maintained && worst.rank() < ComponentStatus::UnderMaintenance.rank() {
            worst = ComponentStatus::UnderMaintenance;
        }
        observed += until - from;
        down += day_down;
        days.push(DayBar {
            date,
            status: Some(worst.as_str().to_owned()),
            outage_minutes: (day_down.num_seconds() as f64 / 60.0 * 100.0).round() / 100.0,
        });
    }
    let uptime = if observed > Duration::zero() {
        100.0 * (1.0 - down.num_milliseconds() as f64 / observed.num_milliseconds() as f64)
    } else {
        100.0
    };
    (days, (uptime * 100.0).round() / 100.0)
}

#[derive(sqlx::FromRow)]
struct IncidentRow {
    id: Uuid,
    incident_number: String,
    title: String,
    status: String,
    impact: String,
    affected_systems: Vec<String>,
    detected_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

/// Incidents as customers see them, most recently changed first: the active ones, or (`active`
/// false) every one, at most `limit`; each with its public updates only.
pub async fn public_incidents(
    pool: &PgPool,
    active: bool,
    limit: i64,
) -> Result<Vec<PublicIncident>, sqlx::Error> {
    let rows: Vec<IncidentRow> = sqlx::query_as(
        "SELECT id, incident_number, title, status, impact, affected_systems, detected_at, \
             resolved_at, updated_at FROM incidents \
         WHERE NOT $1 OR status NOT IN ('RESOLVED', 'CLOSED') \
         ORDER BY updated_at DESC, id DESC LIMIT $2",
    )
    .bind(active)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let updates: Vec<(Uuid, Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT incident_id, update_id, message, status, posted_at \
         FROM incident_updates WHERE incident_id = ANY($1) AND visibility = 'PUBLIC' \
         ORDER BY posted_at DESC, update_id DESC",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| PublicIncident {
            updates: updates
                .iter()
                .filter(|(incident, ..)| *incident == row.id)
                .map(|(_, id, message, status, posted_at)| PublicUpdate {
                    id: *id,
                    message: message.clone(),
                    status: status.clone(),
                    posted_at: *posted_at,
                })
                .collect(),
            id: row.id,
            incident_number: row.incident_number,
            title: row.title,
            status: row.status,
            impact: row.impact,
            affected_systems: row.affected_systems,
            detected_at: row.detected_at,
            resolved_at: row.resolved_at,
            updated_at: row.updated_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_day_shows_its_worst_state_and_only_outages_count_against_uptime() {
        use ComponentStatus::*;
        let now = at("2026-11-29T12:00:00Z");
        let first_day = now.date_naive() - Duration::days(DAYS - 1);
        // Known from 27 November; a major outage from 23:00 on the 27th to 01:00 on the 28th; a
        // degradation on the 28th; maintenance on the 29th.
        let timeline = [
            (at("2026-11-27T00:00:00Z"), Operational),
            (at("2026-11-27T23:00:00Z"), MajorOutage),
            (at("2026-11-28T01:00:00Z"), Operational),
            (at("2026-11-28T10:00:00Z"), DegradedPerformance),
            (at("2026-11-28T11:00:00Z"), Operational),
        ];
        let windows = [(at("2026-11-29T02:00:00Z"), at("2026-11-29T03:00:00Z"))];
        let (days, uptime) = bars(
            &timeline,
            &windows,
            at("2026-11-27T00:00:00Z"),
            first_day,
            now,
        );
        assert_eq!(days.len(), 90);
        assert_eq!(days[0].date, first_day);
        assert!(
            days[..87].iter().all(|d| d.status.is_none()),
            "unknown before"
        );
        let last: Vec<(&str, f64)> = days[87..]
            .iter()
            .map(|d| (d.status.as_deref().unwrap(), d.outage_minutes))
            .collect();
        assert_eq!(
            last,
            [
                ("MAJOR_OUTAGE", 60.0),
                ("MAJOR_OUTAGE", 60.0),
                ("UNDER_MAINTENANCE", 0.0)
            ]
        );
        // 120 minutes down of 60 hours observed.
        assert_eq!(
            uptime,
            ((1.0 - 120.0 / 3600.0) * 10000.0_f64).round() / 100.0
        );
    }
}
