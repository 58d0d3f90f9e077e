//! How the API reads incidents: one, a filtered list paged as tickets are, its updates, its
//! post-mortem with its action items, and its timeline from the event store.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::postgres::Postgres;
use sqlx::types::Json;
use sqlx::{PgPool, QueryBuilder};
use support_domain::incident::{
    IncidentCategory, IncidentImpact, IncidentSeverity, IncidentStatus, PostMortemFields,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::event_log::{recorded_event, EVENT_COLUMNS};
use crate::page::{planned_rows, Cursor, Page, PageRequest, Total};
use crate::{schema, ProjectionError};

/// An incident as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentView {
    pub id: Uuid,
    #[schema(example = "INC-20261129-0001")]
    pub incident_number: String,
    pub title: String,
    pub description: String,
    #[schema(schema_with = schema::incident_severity)]
    pub severity: String,
    #[schema(schema_with = schema::incident_status)]
    pub status: String,
    #[schema(schema_with = schema::incident_category)]
    pub category: String,
    #[schema(schema_with = schema::incident_impact)]
    pub impact: String,
    pub affected_systems: Vec<String>,
    pub affected_services: Vec<String>,
    pub affected_customers: i32,
    pub incident_commander: Option<String>,
    pub assigned_team: Vec<String>,
    pub reported_by: String,
    pub detected_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    /// When it was last resolved (or closed unresolved); null while active, and again after it
    /// reopens.
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Minutes from detection to acknowledge it in, from the severity.
    pub response_time_target: i32,
    /// Minutes from detection to resolve it in, from the severity.
    pub resolution_time_target: i32,
    /// `detectedAt` plus `responseTimeTarget`.
    pub response_due_at: DateTime<Utc>,
    /// `detectedAt` plus `resolutionTimeTarget`.
    pub resolution_due_at: DateTime<Utc>,
    /// Whether a target was missed: acknowledged or resolved after its deadline, or not yet and
    /// past it.
    pub sla_breached: bool,
    /// Minutes from detection to acknowledgement; while unacknowledged, the minutes so far.
    #[sqlx(skip)]
    pub mtta: f64,
    /// Minutes from detection to resolution; while unresolved, the minutes so far.
    #[sqlx(skip)]
    pub mttr: f64,
    pub root_cause: Option<String>,
    pub mitigation: Option<String>,
    pub resolution: Option<String>,
    /// Critical and high incidents close only after their post-mortem is completed.
    pub post_mortem_required: bool,
    pub post_mortem_completed: bool,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event this view reflects.
    pub version: i64,
}

impl IncidentView {
    /// MTTA and MTTR as they stand at `now`.
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        let minutes = |until: Option<DateTime<Utc>>| {
            let seconds = (until.unwrap_or(now) - self.detected_at).num_milliseconds() as f64 / 1e3;
            (seconds.max(0.0) / 60.0 * 100.0).round() / 100.0
        };
        self.mtta = minutes(self.acknowledged_at);
        self.mttr = minutes(self.resolved_at);
        self
    }
}

const INCIDENT_COLUMNS: &str = "id, incident_number, title, description, severity, status, \
     category, impact, affected_systems, affected_services, affected_customers, \
     incident_commander, assigned_team, reported_by, detected_at, acknowledged_at, \
     acknowledged_by, resolved_at, closed_at, response_time_target, resolution_time_target, \
     detected_at + make_interval(mins => response_time_target) AS response_due_at, \
     detected_at + make_interval(mins => resolution_time_target) AS resolution_due_at, \
     sla_breached, root_cause, mitigation, resolution, \
     severity IN ('CRITICAL', 'HIGH') AS post_mortem_required, \
     post_mortem_completed_at IS NOT NULL AS post_mortem_completed, created_by, updated_at, \
     version";

/// A status update as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentUpdateView {
    pub id: Uuid,
    #[schema(schema_with = schema::update_visibility)]
    pub visibility: String,
    pub message: String,
    /// The incident's status when the update was posted.
    #[schema(schema_with = schema::incident_status)]
    pub status: String,
    pub posted_by: String,
    pub posted_at: DateTime<Utc>,
}

/// An incident with its linked tickets and its status updates, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentView,
    /// The tickets linked to it (their `relatedIncidents` name it).
    pub linked_tickets: Vec<Uuid>,
    pub updates: Vec<IncidentUpdateView>,
}

/// One incident by id.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<IncidentView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// One incident with its linked tickets and every update.
pub async fn find_detail(pool: &PgPool, id: Uuid) -> Result<Option<IncidentDetail>, sqlx::Error> {
    let Some(incident) = find(pool, id).await? else {
        return Ok(None);
    };
    let (linked_tickets, updates) = tokio::try_join!(linked_tickets(pool, id), updates(pool, id))?;
    Ok(Some(IncidentDetail {
        incident,
        linked_tickets,
        updates,
    }))
}

/// The id of the incident numbered `number`.
pub async fn id_of_number(pool: &PgPool, number: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM incidents WHERE incident_number = $1")
        .bind(number)
        .fetch_optional(pool)
        .await
}

async fn linked_tickets(pool: &PgPool, id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM tickets WHERE related_incidents @> ARRAY[$1::uuid] \
         ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// An incident's status updates, oldest first.
pub async fn updates(pool: &PgPool, id: Uuid) -> Result<Vec<IncidentUpdateView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT update_id AS id, visibility, message, status, posted_by, posted_at \
         FROM incident_updates WHERE incident_id = $1 ORDER BY posted_at, update_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// What `GET /incidents` filters on; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    pub severity: Option<IncidentSeverity>,
    pub category: Option<IncidentCategory>,
    pub impact: Option<IncidentImpact>,
    pub commander: Option<String>,
    /// `true`: not resolved or closed; `false`: resolved or closed.
    pub active: Option<bool>,
    pub detected_from: Option<DateTime<Utc>>,
    pub detected_to: Option<DateTime<Utc>>,
}

impl IncidentFilter {
    fn restrict(&self, query: &mut QueryBuilder<'_, Postgres>) {
        let text_filters = [
            ("status", self.status.map(|v| v.as_str().to_owned())),
            ("severity", self.severity.map(|v| v.as_str().to_owned())),
            ("category", self.category.map(|v| v.as_str().to_owned())),
            ("impact", self.impact.map(|v| v.as_str().to_owned())),
            ("incident_commander", self.commander.clone()),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                query.push(format!(" AND {column} = ")).push_bind(value);
            }
        }
        match self.active {
            // As the partial index `incidents_active` spells it.
            Some(true) => query.push(" AND status NOT IN ('RESOLVED', 'CLOSED')"),
            Some(false) => query.push(" AND status IN ('RESOLVED', 'CLOSED')"),
            None => query,
        };
        if let Some(from) = self.detected_from {
            query.push(" AND detected_at >= ").push_bind(from);
        }
        if let Some(to) = self.detected_to {
            query.push(" AND detected_at < ").push_bind(to);
        }
    }
}

/// `prefix` then the query of a page.
fn page_query<'a>(
    prefix: &str,
    filter: &'a IncidentFilter,
    page: PageRequest,
) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}SELECT {INCIDENT_COLUMNS} FROM incidents WHERE true"
    ));
    filter.restrict(&mut query);
    if let Some(cursor) = page.cursor() {
        query
            .push(" AND (detected_at, id) < (")
            .push_bind(cursor.created_at)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    query
        .push(" ORDER BY detected_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(page.limit) + 1)
        .push(" OFFSET ")
        .push_bind(page.offset() as i64);
    query
}

/// `prefix` then a count of the matches, bounded to `Total::EXACT_UP_TO + 1`.
fn count_query<'a>(prefix: &str, filter: &'a IncidentFilter) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}SELECT count(*) FROM (SELECT 1 FROM incidents WHERE true"
    ));
    filter.restrict(&mut query);
    query
        .push(" LIMIT ")
        .push_bind(Total::EXACT_UP_TO + 1)
        .push(") AS bounded");
    query
}

/// The matches counted up to `Total::EXACT_UP_TO`, the planner's estimate beyond.
async fn total(pool: &PgPool, filter: &IncidentFilter) -> Result<Total, sqlx::Error> {
    let count: i64 = count_query("", filter)
        .build_query_scalar()
        .fetch_one(pool)
        .await?;
    if count <= Total::EXACT_UP_TO {
        return Ok(Total::exact(count));
    }
    let mut query = QueryBuilder::new("EXPLAIN (FORMAT JSON) SELECT 1 FROM incidents WHERE true");
    filter.restrict(&mut query);
    let plan: Json<serde_json::Value> = query.build_query_scalar().fetch_one(pool).await?;
    Ok(Total {
        count: planned_rows(&plan.0).max(count),
        is_estimate: true,
    })
}

/// A page of the incidents that match, newest detected first, with MTTA and MTTR at `now`.
pub async fn list(
    pool: &PgPool,
    filter: &IncidentFilter,
    page: PageRequest,
    now: DateTime<Utc>,
) -> Result<Page<IncidentView>, sqlx::Error> {
    let mut items = page_query("", filter, page);
    let (items, total) = tokio::join!(
        items.build_query_as::<IncidentView>().fetch_all(pool),
        total(pool, filter),
    );
    let items = items?.into_iter().map(|i| i.at(now)).collect();
    Ok(Page::with_lookahead(items, page, total?, |last| Cursor {
        created_at: last.detected_at,
        id: last.id,
    }))
}

/// An action item as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionItemView {
    pub id: Uuid,
    pub title: String,
    pub owner: Option<String>,
    pub due_date: Option<NaiveDate>,
    #[schema(schema_with = schema::action_item_status)]
    pub status: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An incident's action items, in the order they were added.
pub async fn action_items(pool: &PgPool, id: Uuid) -> Result<Vec<ActionItemView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT item_id AS id, title, owner, due_date, status, created_by, created_at, \
             updated_at \
         FROM incident_action_items WHERE incident_id = $1 ORDER BY created_at, item_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// One entry of an incident's timeline: an event of the incident, or of a ticket linked to or
/// unlinked from it, with who caused it and when.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// The event's type, as docs/events.md lists it: `IncidentUpdatePosted` for a status update.
    #[schema(example = "IncidentStatusChanged")]
    pub event_type: String,
    /// Who caused it: a user's id, or the service's for its own commands.
    pub actor: String,
    #[schema(schema_with = schema::actor_role)]
    pub actor_role: String,
    /// `incident`, or `ticket` for a ticket's link to the incident.
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The event's own fields, as the events catalogue gives them.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// An incident's timeline: its events, status updates included, and its tickets' links to it, in
/// the order they were recorded.
pub async fn timeline(pool: &PgPool, id: Uuid) -> Result<Vec<TimelineEntry>, ProjectionError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events e \
         WHERE e.aggregate_type = 'incident' AND e.aggregate_id = $1 \
         UNION ALL \
         SELECT {EVENT_COLUMNS} FROM events e \
         WHERE e.aggregate_type = 'ticket' \
           AND e.event_type IN ('TicketIncidentLinked', 'TicketIncidentUnlinked') \
           AND ((e.payload -> e.event_type) ->> 'incidentId') = $1 \
         ORDER BY global_position"
    ))
    .bind(id.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let event = recorded_event(row)?;
            Ok(TimelineEntry {
                at: event.occurred_at,
                actor: event.metadata.actor_sub,
                actor_role: event.metadata.actor_role.as_str().to_owned(),
                event_type: event.event_type,
                aggregate_type: event.aggregate_type,
                aggregate_id: event.aggregate_id,
                details: event.payload,
            })
        })
        .collect()
}

/// An incident's post-mortem: its texts, whether it is completed, its action items, and the
/// incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostMortemView {
    pub incident_id: Uuid,
    pub incident_number: String,
    pub required: bool,
    pub summary: Option<String>,
    pub root_cause: Option<String>,
    pub impact: Option<String>,
    pub what_went_well: Option<String>,
    pub what_went_wrong: Option<String>,
    pub lessons_learned: Option<String>,
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub action_items: Vec<ActionItemView>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(sqlx::FromRow)]
struct PostMortemRow {
    incident_number: String,
    required: bool,
    post_mortem: Json<PostMortemFields>,
    completed_at: Option<DateTime<Utc>>,
}

/// Incident `id`'s post-mortem, if the incident exists.
pub async fn post_mortem(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<PostMortemView>, ProjectionError> {
    let row: Option<PostMortemRow> = sqlx::query_as(
        "SELECT incident_number, severity IN ('CRITICAL', 'HIGH') AS required, post_mortem, \
             post_mortem_completed_at AS completed_at \
         FROM incidents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (action_items, timeline) = tokio::try_join!(
        async { Ok::<_, ProjectionError>(action_items(pool, id).await?) },
        timeline(pool, id),
    )?;
    let text = |t: Option<support_domain::incident::IncidentText>| t.map(|t| t.as_str().to_owned());
    let fields = row.post_mortem.0;
    Ok(Some(PostMortemView {
        incident_id: id,
        incident_number: row.incident_number,
        required: row.required,
        summary: text(fields.summary),
        root_cause: text(fields.root_cause),
        impact: text(fields.impact),
        what_went_well: text(fields.what_went_well),
        what_went_wrong: text(fields.what_went_wrong),
        lessons_learned: text(fields.lessons_learned),
        completed: row.completed_at.is_some(),
        completed_at: row.completed_at,
        action_items,
        timeline,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With sequential scans priced out, PostgreSQL still picks one where no index can serve a
    /// query: a plan without one proves that every filter has its index, for the page (from the
    /// top and from a cursor) and for the count alike.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_list_filter_is_served_by_an_index(pool: PgPool) {
        let mut conn = crate::explain::pricing_out_seq_scans(&pool).await;
        let now = Utc::now();
        let filters = [
            IncidentFilter::default(),
            IncidentFilter {
                status: Some(IncidentStatus::Investigating),
                ..Default::default()
            },
            IncidentFilter {
                severity: Some(IncidentSeverity::Critical),
                ..Default::default()
            },
            IncidentFilter {
                category: Some(IncidentCategory::DataCorruption),
                ..Default::default()
            },
            IncidentFilter {
                impact: Some(IncidentImpact::Widespread),
                ..Default::default()
            },
            IncidentFilter {
                commander: Some("oncall-engineer-id".into()),
                ..Default::default()
            },
            IncidentFilter {
                active: Some(true),
                ..Default::default()
            },
            IncidentFilter {
                active: Some(false),
                ..Default::default()
            },
            IncidentFilter {
                detected_from: Some(now),
                detected_to: Some(now),
                ..Default::default()
            },
        ];
        let cursor = Cursor {
            created_at: now,
            id: Uuid::new_v4(),
        }
        .encode();
        let starts = [
            PageRequest::parse(None, None, None).unwrap(),
            PageRequest::parse(None, Some(&cursor), None).unwrap(),
        ];
        for filter in &filters {
            let mut queries: Vec<QueryBuilder<'_, Postgres>> = starts
                .iter()
                .map(|start| page_query("EXPLAIN ", filter, *start))
                .collect();
            queries.push(count_query("EXPLAIN ", filter));
            for mut query in queries {
                crate::explain::assert_indexed(&mut conn, &mut query, &format!("{filter:?}")).await;
            }
        }
    }
}
