//! The `sla_policies` read model: one row per policy, written from the policy events. The API
//! lists and reads policies from it, and hands a ticket's command the active ones to match among.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use support_domain::sla::{
    ApplicablePolicy, CustomerTier, SlaPolicyBook, SlaPolicyDefinition, SlaPolicyEvent,
};
use support_domain::ticket::TicketPriority;
use support_domain::RecordedEvent;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::PageRequest;
use crate::{schema, Projection, ProjectionError, Redacted};

pub const AGGREGATE_TYPE: &str = "sla_policy";
/// The read model's name: its consumer, checkpoint and dead letters.
pub const READ_MODEL: &str = "sla_policies";

/// An SLA policy as the API shows it: the spec's `SLAPolicy`, with `holidays`, its state and
/// its version.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaPolicyView {
    pub id: Uuid,
    #[schema(example = "Enterprise P1")]
    pub name: String,
    #[schema(schema_with = schema::ticket_priority)]
    pub priority: String,
    /// The tier the policy is for; `null`: every tier.
    #[schema(schema_with = schema::customer_tier_or_null)]
    pub customer_tier: Option<String>,
    /// Minutes until the first response is due.
    #[schema(schema_with = schema::target_minutes)]
    pub response_time_target: u32,
    /// Minutes until resolution is due; never below `responseTimeTarget`.
    #[schema(schema_with = schema::target_minutes)]
    pub resolution_time_target: u32,
    /// Percent of the response target after which a warning is due.
    #[schema(schema_with = schema::warning_percent)]
    pub response_time_warning_threshold: u8,
    /// Percent of the resolution target after which a warning is due.
    #[schema(schema_with = schema::warning_percent)]
    pub resolution_time_warning_threshold: u8,
    /// Whether targets count business hours only; otherwise every minute counts.
    pub apply_business_hours_only: bool,
    /// `HH:MM`, local time in `timezone`.
    pub business_hours_start: Option<String>,
    /// `HH:MM`, local time in `timezone`.
    pub business_hours_end: Option<String>,
    /// ISO weekdays, 1 (Monday) to 7 (Sunday).
    #[schema(schema_with = schema::business_days_or_null)]
    pub business_days: Option<Vec<u8>>,
    /// The IANA time zone the calendar is kept in.
    #[schema(example = "UTC")]
    pub timezone: String,
    /// Days that count as no business day.
    pub holidays: Vec<NaiveDate>,
    pub auto_escalate_on_breach: bool,
    pub notify_on_warning: bool,
    pub notify_on_breach: bool,
    /// Whether the policy applies to new tickets.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event this view reflects.
    pub version: i64,
}

/// A policy's row as the queries read it.
#[derive(sqlx::FromRow)]
struct PolicyRow {
    id: Uuid,
    definition: Json<SlaPolicyDefinition>,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

const ROW_COLUMNS: &str = "id, definition, active, created_at, updated_at, version";

impl From<PolicyRow> for SlaPolicyView {
    fn from(row: PolicyRow) -> Self {
        let Json(definition) = row.definition;
        let calendar = definition.calendar.fields();
        Self {
            id: row.id,
            name: definition.name.as_str().to_owned(),
            priority: definition.priority.as_str().to_owned(),
            customer_tier: definition.customer_tier.map(|t| t.as_str().to_owned()),
            response_time_target: definition.response_time_target.get(),
            resolution_time_target: definition.resolution_time_target.get(),
            response_time_warning_threshold: definition.response_time_warning_threshold.get(),
            resolution_time_warning_threshold: definition.resolution_time_warning_threshold.get(),
            apply_business_hours_only: calendar.apply_business_hours_only,
            business_hours_start: calendar.business_hours_start,
            business_hours_end: calendar.business_hours_end,
            business_days: calendar.business_days,
            timezone: calendar.timezone,
            holidays: calendar.holidays,
            auto_escalate_on_breach: definition.auto_escalate_on_breach,
            notify_on_warning: definition.notify_on_warning,
            notify_on_breach: definition.notify_on_breach,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// The `sla_policies` read model.
pub struct SlaPoliciesProjection;

#[async_trait]
impl Projection for SlaPoliciesProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["sla_policies"]
    }

    /// One statement an event: policies change rarely, so a batch holds few of their events.
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
    let policy_event = SlaPolicyEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let id = Uuid::parse_str(&event.aggregate_id)
        .map_err(|e| ProjectionError::undecodable_event(event, e))?;
    let query = match policy_event {
        SlaPolicyEvent::SlaPolicyCreated { definition, .. } => with_definition(
            "INSERT INTO sla_policies (id, version, updated_at, name, priority, customer_tier, \
                 priority_rank, tier_rank, definition, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, $3)",
            id,
            event,
            definition,
        ),
        SlaPolicyEvent::SlaPolicyRevised { definition } => with_definition(
            "UPDATE sla_policies SET version = $2, updated_at = $3, name = $4, priority = $5, \
                 customer_tier = $6, priority_rank = $7, tier_rank = $8, definition = $9 \
             WHERE id = $1",
            id,
            event,
            definition,
        ),
        SlaPolicyEvent::SlaPolicyDeactivated {} | SlaPolicyEvent::SlaPolicyReactivated {} => {
            let active = matches!(policy_event, SlaPolicyEvent::SlaPolicyReactivated {});
            sqlx::query(
                "UPDATE sla_policies SET version = $2, updated_at = $3, active = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(event.sequence)
            .bind(event.occurred_at)
            .bind(active)
        }
    };
    ProjectionError::expect_one_row(query.execute(&mut *conn).await?, event)
}

/// `sql` with the policy's id, the event's sequence and time, and the definition's columns.
fn with_definition(
    sql: &'static str,
    id: Uuid,
    event: &RecordedEvent,
    definition: SlaPolicyDefinition,
) -> Query<'static, Postgres, PgArguments> {
    let priority = definition.priority;
    let tier = definition.customer_tier;
    let place = |position: Option<usize>| position.expect("ALL lists every value") as i16;
    let priority_rank = place(TicketPriority::ALL.iter().position(|p| *p == priority));
    // Policies for every tier first, then each tier in its place.
    let tier_rank = tier.map_or(0, |t| {
        1 + place(CustomerTier::ALL.iter().position(|c| *c == t))
    });
    sqlx::query(sql)
        .bind(id)
        .bind(event.sequence)
        .bind(event.occurred_at)
        .bind(definition.name.as_str().to_owned())
        .bind(priority.as_str())
        .bind(tier.map(|t| t.as_str()))
        .bind(priority_rank)
        .bind(tier_rank)
        .bind(Json(definition))
}

/// One policy, by id.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<SlaPolicyView>, sqlx::Error> {
    let row: Option<PolicyRow> = sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM sla_policies WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(SlaPolicyView::from))
}

/// A policy's definition as its latest event states it, active or not.
pub async fn find_definition<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<SlaPolicyDefinition>, sqlx::Error> {
    let definition: Option<Json<SlaPolicyDefinition>> =
        sqlx::query_scalar("SELECT definition FROM sla_policies WHERE id = $1")
            .bind(id)
            .fetch_optional(executor)
            .await?;
    Ok(definition.map(|Json(definition)| definition))
}

/// The filters of the policy list; each one given must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyFilter {
    pub priority: Option<TicketPriority>,
    pub customer_tier: Option<CustomerTier>,
    pub active: Option<bool>,
}

impl PolicyFilter {
    fn restrict(&self, query: &mut QueryBuilder<'_, Postgres>) {
        if let Some(priority) = self.priority {
            query.push(" AND priority = ").push_bind(priority.as_str());
        }
        if let Some(tier) = self.customer_tier {
            query.push(" AND customer_tier = ").push_bind(tier.as_str());
        }
        if let Some(active) = self.active {
            query.push(" AND active = ").push_bind(active);
        }
    }
}

/// A page of policies, in the list's order.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaPolicyPage {
    pub items: Vec<SlaPolicyView>,
    /// The page number asked for.
    pub page: u32,
    pub limit: u32,
    /// How many policies match the filters over all pages.
    pub total: i64,
}

/// The page `page` of the policies that match `filter`, sorted by priority (most urgent first),
/// then tier (no tier first, then ENTERPRISE to FREE), then name, then id. A desk has few
/// policies, so the total is always counted and pages are numbered.
pub async fn list(
    pool: &PgPool,
    filter: &PolicyFilter,
    page: PageRequest,
) -> Result<SlaPolicyPage, sqlx::Error> {
    let total: i64 = count_query("", filter)
        .build_query_scalar()
        .fetch_one(pool)
        .await?;
    let rows: Vec<PolicyRow> = page_query("", filter, page)
        .build_query_as()
        .fetch_all(pool)
        .await?;
    Ok(SlaPolicyPage {
        items: rows.into_iter().map(SlaPolicyView::from).collect(),
        page: page.number().unwrap_or(1),
        limit: page.limit,
        total,
    })
}

/// `prefix` is `EXPLAIN ` in the test that checks the plans.
fn count_query(prefix: &str, filter: &PolicyFilter) -> QueryBuilder<'static, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}SELECT count(*) FROM sla_policies WHERE true"
    ));
    filter.restrict(&mut query);
    query
}

fn page_query(
    prefix: &str,
    filter: &PolicyFilter,
    page: PageRequest,
) -> QueryBuilder<'static, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}SELECT {ROW_COLUMNS} FROM sla_policies WHERE true"
    ));
    filter.restrict(&mut query);
    query
        .push(" ORDER BY priority_rank, tier_rank, name, id LIMIT ")
        .push_bind(i64::from(page.limit))
        .push(" OFFSET ")
        .push_bind(page.offset() as i64);
    query
}

/// Every active policy: there are few, and a ticket's command picks among them on its own state
/// (`SlaPolicyBook::matching`, where the rule lives). One scan of `sla_policies_active`.
pub async fn active_policies<'e>(
    executor: impl PgExecutor<'e>,
) -> Result<SlaPolicyBook, sqlx::Error> {
    let rows: Vec<(Uuid, DateTime<Utc>, Json<SlaPolicyDefinition>)> =
        sqlx::query_as(ACTIVE).fetch_all(executor).await?;
    Ok(SlaPolicyBook::new(
        rows.into_iter()
            .map(|(id, created_at, Json(definition))| ApplicablePolicy {
                priority: definition.priority,
                customer_tier: definition.customer_tier,
                created_at,
                terms: definition.terms(id),
            })
            .collect(),
    ))
}

const ACTIVE: &str = "SELECT id, created_at, definition FROM sla_policies WHERE active";

#[cfg(test)]
mod tests;
