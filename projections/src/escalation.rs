//! The escalation read models: the policies (`escalation_policies`), which the API lists and
//! hands commands the active ones of, and the climbs' next levels (`escalation_timers`, kept with
//! the SLA timers), which the SLA timer claims when they fall due.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use support_domain::escalation::{
    ActiveEscalationPolicy, EscalationBook, EscalationPolicyDefinition, EscalationPolicyEvent,
    EscalationRule, Recipients,
};
use support_domain::ticket::{TicketEvent, TicketStatus};
use support_domain::RecordedEvent;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::PageRequest;
use crate::{schema, Projection, ProjectionError, Redacted};

pub const AGGREGATE_TYPE: &str = "escalation_policy";
/// The policies' read model: its consumer, checkpoint and dead letters.
pub const READ_MODEL: &str = "escalation_policies";

/// Who a level calls on, as requests write it and the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipientsFields {
    /// Agents by id (their token's `sub`).
    #[serde(default)]
    #[schema(schema_with = schema::agent_ids)]
    pub agents: Vec<String>,
    /// Everyone holding one of these roles.
    #[serde(default)]
    #[schema(schema_with = schema::staff_roles)]
    pub roles: Vec<String>,
    /// Every member of these teams (their token's `teams` claim).
    #[serde(default)]
    #[schema(schema_with = schema::team_names)]
    pub teams: Vec<String>,
}

/// One rung of a ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EscalationLevelFields {
    pub recipients: RecipientsFields,
    /// Minutes the ticket waits on this level before it climbs to the next, 1 to 10080.
    #[schema(minimum = 1, maximum = 10080)]
    pub delay_minutes: i64,
}

/// A rule: what a ticket must be for it to apply, and the ladder it then climbs. Empty
/// `priorities` or `categories` match every one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EscalationRuleFields {
    #[serde(default)]
    #[schema(schema_with = schema::ticket_priorities)]
    pub priorities: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = schema::ticket_categories)]
    pub categories: Vec<String>,
    /// What starts a climb on this ladder: MANUAL, RESPONSE_BREACH, RESOLUTION_BREACH, WARNING.
    #[schema(schema_with = schema::escalation_triggers)]
    pub triggers: Vec<String>,
    /// The levels, climbed in order; 1 to 10.
    #[schema(min_items = 1, max_items = 10)]
    pub levels: Vec<EscalationLevelFields>,
    /// How many times the ladder is climbed again after its last level, 0 to 9.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9)]
    pub repeat: i64,
}

impl From<&Recipients> for RecipientsFields {
    fn from(recipients: &Recipients) -> Self {
        Self {
            agents: recipients.agents.clone(),
            roles: recipients
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            teams: recipients
                .teams
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
        }
    }
}

impl From<&EscalationRule> for EscalationRuleFields {
    fn from(rule: &EscalationRule) -> Self {
        Self {
            priorities: rule
                .priorities
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            categories: rule
                .categories
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            triggers: rule
                .triggers
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            levels: rule
                .levels
                .iter()
                .map(|level| EscalationLevelFields {
                    recipients: RecipientsFields::from(&level.recipients),
                    delay_minutes: i64::from(level.delay_minutes.get()),
                })
                .collect(),
            repeat: i64::from(rule.repeat),
        }
    }
}

/// An escalation policy as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalationPolicyView {
    pub id: Uuid,
    #[schema(example = "Breached P0 and P1")]
    pub name: String,
    /// First match wins, in this order.
    pub rules: Vec<EscalationRuleFields>,
    /// Whether new climbs start under it.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event this view reflects.
    pub version: i64,
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    id: Uuid,
    definition: Json<EscalationPolicyDefinition>,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

const ROW_COLUMNS: &str = "id, definition, active, created_at, updated_at, version";

impl From<PolicyRow> for EscalationPolicyView {
    fn from(row: PolicyRow) -> Self {
        let Json(definition) = row.definition;
        Self {
            id: row.id,
            name: definition.name.as_str().to_owned(),
            rules: definition
                .rules
                .iter()
                .map(EscalationRuleFields::from)
                .collect(),
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// The `escalation_policies` read model.
pub struct EscalationPoliciesProjection;

#[async_trait]
impl Projection for EscalationPoliciesProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["escalation_policies"]
    }

    /// One statement an event: policies change rarely.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            apply_policy_event(conn, event).await?;
        }
        Ok(())
    }
}

async fn apply_policy_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let policy_event = EscalationPolicyEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let id = Uuid::parse_str(&event.aggregate_id)
        .map_err(|e| ProjectionError::undecodable_event(event, e))?;
    let query = match policy_event {
        EscalationPolicyEvent::EscalationPolicyCreated { definition, .. } => sqlx::query(
            "INSERT INTO escalation_policies (id, version, updated_at, name, definition, active, \
                 created_at) \
             VALUES ($1, $2, $3, $4, $5, true, $3)",
        )
        .bind(id)
        .bind(event.sequence)
        .bind(event.occurred_at)
        .bind(definition.name.as_str().to_owned())
        .bind(Json(definition)),
        EscalationPolicyEvent::EscalationPolicyRevised { definition } => sqlx::query(
            "UPDATE escalation_policies SET version = $2, updated_at = $3, name = $4, \
                 definition = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(event.sequence)
        .bind(event.occurred_at)
        .bind(definition.name.as_str().to_owned())
        .bind(Json(definition)),
        EscalationPolicyEvent::EscalationPolicyDeactivated {}
        | EscalationPolicyEvent::EscalationPolicyReactivated {} => {
            let active = matches!(
                policy_event,
                EscalationPolicyEvent::EscalationPolicyReactivated {}
            );
            sqlx::query(
                "UPDATE escalation_policies SET version = $2, updated_at = $3, active = $4 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(event.sequence)
            .bind(event.occurred_at)
            .bind(active)
        }
    };
    // A policy's events come in order from its creation: a change that finds no row means the
    // read model lost it, an error rather than a silent skip.
    ProjectionError::expect_one_row(query.execute(&mut *conn).await?, event)
}

/// One policy, by id.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<EscalationPolicyView>, sqlx::Error> {
    let row: Option<PolicyRow> = sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM escalation_policies WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(EscalationPolicyView::from))
}

/// A page of policies, oldest first: the order in which they are matched.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalationPolicyPage {
    pub items: Vec<EscalationPolicyView>,
    pub page: u32,
    pub limit: u32,
    /// How many policies match the filter over all pages.
    pub total: i64,
}

/// The page `page` of the policies (the active or inactive ones only, if `active` is given),
/// in the order matching tries them: oldest first, then by id. A desk has few, so the total is
/// always counted and pages are numbered.
pub async fn list(
    pool: &PgPool,
    active: Option<bool>,
    page: PageRequest,
) -> Result<EscalationPolicyPage, sqlx::Error> {
    let total: i64 = count_query("", active)
        .build_query_scalar()
        .fetch_one(pool)
        .await?;
    let rows: Vec<PolicyRow> = page_query("", active, page)
        .build_query_as()
        .fetch_all(pool)
        .await?;
    Ok(EscalationPolicyPage {
        items: rows.into_iter().map(EscalationPolicyView::from).collect(),
        page: page.number().unwrap_or(1),
        limit: page.limit,
        total,
    })
}

/// `prefix` is `EXPLAIN ` in the test that checks the plans.
fn count_query(prefix: &str, active: Option<bool>) -> QueryBuilder<'static, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}SELECT count(*) FROM escalation_policies WHERE true"
    ));
    if let Some(active) = active {
        query.push(" AND active = ").push_bind(active);
    }
    query
}

fn page_query(
    prefix: &str,
    active: Option<bool>,
    page: PageRequest,
) -> QueryBuilder<'static, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}SELECT {ROW_COLUMNS} FROM escalation_policies WHERE true"
    ));
    if let Some(active) = active {
        query.push(" AND active = ").push_bind(active);
    }
    query
        .push(" ORDER BY created_at, id LIMIT ")
        .push_bind(i64::from(page.limit))
        .push(" OFFSET ")
        .push_bind(page.offset() as i64);
    query
}

/// Every active policy, which a command picks a ladder among (`EscalationBook::matching`).
pub async fn active_policies<'e>(
    executor: impl PgExecutor<'e>,
) -> Result<EscalationBook, sqlx::Error> {
    let rows: Vec<(Uuid, DateTime<Utc>, Json<EscalationPolicyDefinition>)> =
        sqlx::query_as(ACTIVE).fetch_all(executor).await?;
    Ok(EscalationBook::new(
        rows.into_iter()
            .map(
                |(policy_id, created_at, Json(definition))| ActiveEscalationPolicy {
                    policy_id,
                    created_at,
                    definition,
                },
            )
            .collect(),
    ))
}

const ACTIVE: &str =
    "SELECT id, created_at, definition FROM escalation_policies WHERE active ORDER BY created_at, id";

/// Keeps `escalation_timers`: a ticket's row holds when its climb's next level is due, from the
/// step that set it until the climb ends (its clock met, its ladder climbed). Part of the
/// `sla_timers` read model, whose batches it shares (see `SlaTimersProjection`): the timer claims
/// both tables alike. Returns the earliest instant it set, for the timer's wake-up.
pub(crate) async fn apply_climbs(
    conn: &mut PgConnection,
    events: &[&RecordedEvent],
) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    let mut earliest: Option<DateTime<Utc>> = None;
    let relevant = events.iter().filter(|e| {
        matches!(
            e.event_type.as_str(),
            "TicketEscalated" | "TicketFirstResponseRecorded" | "TicketStatusChanged"
        )
    });
    for event in relevant {
        let ticket = Uuid::parse_str(&event.aggregate_id)
            .map_err(|e| ProjectionError::undecodable_event(event, e))?;
        let decoded = TicketEvent::from_parts(&event.event_type, &event.payload)
            .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
        match decoded {
            TicketEvent::TicketEscalated {
                ladder,
                next_level_at: Some(due),
                ..
            } => {
                // A climb's first step names the clock that ends it; later steps keep it.
                let until = ladder.map(|l| l.until.as_str());
                sqlx::query(
                    "INSERT INTO escalation_timers (ticket_id, due_at, until) \
                     VALUES ($1, $2, coalesce($3, 'RESOLUTION')) \
                     ON CONFLICT (ticket_id) DO UPDATE SET due_at = excluded.due_at, \
                         until = coalesce($3, escalation_timers.until), claimed_until = NULL",
                )
                .bind(ticket)
                .bind(due)
                .bind(until)
                .execute(&mut *conn)
                .await?;
                earliest = Some(earliest.map_or(due, |e| e.min(due)));
            }
            TicketEvent::TicketEscalated {
                next_level_at: None,
                ..
            } => {
                sqlx::query("DELETE FROM escalation_timers WHERE ticket_id = $1")
                    .bind(ticket)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::TicketFirstResponseRecorded { .. } => {
                sqlx::query(
                    "DELETE FROM escalation_timers WHERE ticket_id = $1 AND until = 'RESPONSE'",
                )
                .bind(ticket)
                .execute(&mut *conn)
                .await?;
            }
            TicketEvent::TicketStatusChanged { to, .. }
                if to == TicketStatus::Resolved || to.is_final() =>
            {
                sqlx::query("DELETE FROM escalation_timers WHERE ticket_id = $1")
                    .bind(ticket)
                    .execute(&mut *conn)
                    .await?;
            }
            _ => {}
        }
    }
    Ok(earliest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrations = "../migrations")]
    async fn every_list_filter_and_the_active_policies_are_served_by_an_index(pool: PgPool) {
        let mut conn = crate::explain::pricing_out_seq_scans(&pool).await;
        let page = PageRequest::parse(Some(2), None, Some(10)).unwrap();
        for active in [None, Some(true), Some(false)] {
            for mut query in [
                count_query("EXPLAIN ", active),
                page_query("EXPLAIN ", active, page),
            ] {
                crate::explain::assert_indexed(&mut conn, &mut query, &format!("{active:?}")).await;
            }
        }
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {ACTIVE}"))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert!(
            plan.join("\n").contains("escalation_policies_active"),
            "{plan:?}"
        );
    }
}
