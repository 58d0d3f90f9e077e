//! `alert_rules`: the alert rules admins keep, and every firing of each, from the `alert_rule`
//! events. The service evaluates the active rules from here; the API lists them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use support_domain::alert::{AlertRuleEvent, AlertRuleFields};
use support_domain::RecordedEvent;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::escalation::RecipientsFields;
use crate::{schema, Projection, ProjectionError, Redacted};

pub const AGGREGATE_TYPE: &str = "alert_rule";
pub const READ_MODEL: &str = "alert_rules";

/// A rule as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertRuleView {
    #[sqlx(rename = "rule_id")]
    pub id: Uuid,
    pub version: i64,
    pub name: String,
    #[schema(schema_with = schema::alert_kind)]
    pub kind: String,
    pub threshold: f64,
    #[schema(value_type = RecipientsFields)]
    pub recipients: Json<RecipientsFields>,
    pub cooldown_minutes: i32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it last fired, about any subject.
    pub last_fired_at: Option<DateTime<Utc>>,
}

/// One firing of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertFiringView {
    /// `desk`, an agent's id, or an article's id.
    pub subject: String,
    pub observed: f64,
    pub threshold: f64,
    pub detail: String,
    pub fired_at: DateTime<Utc>,
}

const VIEW_COLUMNS: &str = "rule_id, version, name, kind, threshold, recipients, \
    cooldown_minutes, active, created_at, updated_at, last_fired_at";

pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<AlertRuleView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM alert_rules WHERE rule_id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// Every rule, oldest first: an admin keeps a handful.
pub async fn list<'e>(executor: impl PgExecutor<'e>) -> Result<Vec<AlertRuleView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM alert_rules ORDER BY created_at, rule_id"
    ))
    .fetch_all(executor)
    .await
}

/// The rules the service evaluates.
pub async fn active<'e>(executor: impl PgExecutor<'e>) -> Result<Vec<AlertRuleView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM alert_rules WHERE active ORDER BY created_at, rule_id"
    ))
    .fetch_all(executor)
    .await
}

/// A rule's latest firings, newest first, at most `limit`.
pub async fn firings<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    limit: i64,
) -> Result<Vec<AlertFiringView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT subject, observed, threshold, detail, fired_at FROM alert_firings \
         WHERE rule_id = $1 ORDER BY sequence DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(executor)
    .await
}

pub struct AlertRulesProjection;

#[async_trait]
impl Projection for AlertRulesProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["alert_rules", "alert_firings"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            let decoded = AlertRuleEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
            let id = Uuid::parse_str(&event.aggregate_id)
                .map_err(|e| ProjectionError::undecodable_event(event, e))?;
            match decoded {
                AlertRuleEvent::AlertRuleCreated { fields, .. } => {
                    write_rule(conn, id, event, &fields, true).await?
                }
                AlertRuleEvent::AlertRuleUpdated { fields } => {
                    write_rule(conn, id, event, &fields, false).await?
                }
                AlertRuleEvent::AlertFired {
                    subject,
                    observed,
                    threshold,
                    detail,
                    fired_at,
                    ..
                } => {
                    sqlx::query(
                        "WITH fired AS (INSERT INTO alert_firings (rule_id, sequence, subject, \
                             observed, threshold, detail, fired_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)) \
                         UPDATE alert_rules SET version = $2, last_fired_at = $7 \
                         WHERE rule_id = $1",
                    )
                    .bind(id)
                    .bind(event.sequence)
                    .bind(subject)
                    .bind(observed)
                    .bind(threshold)
                    .bind(detail)
                    .bind(fired_at)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}

async fn write_rule(
    conn: &mut PgConnection,
    id: Uuid,
    event: &RecordedEvent,
    fields: &AlertRuleFields,
    created: bool,
) -> Result<(), ProjectionError> {
    let recipients = Json(RecipientsFields::from(&fields.recipients));
    let statement = if created {
        "INSERT INTO alert_rules (rule_id, version, name, kind, threshold, recipients, \
             cooldown_minutes, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
    } else {
        "UPDATE alert_rules SET version = $2, name = $3, kind = $4, threshold = $5, \
             recipients = $6, cooldown_minutes = $7, active = $8, updated_at = $9 \
         WHERE rule_id = $1"
    };
    sqlx::query(statement)
        .bind(id)
        .bind(event.sequence)
        .bind(fields.name.as_str())
        .bind(fields.kind.as_str())
        .bind(fields.threshold)
        .bind(recipients)
        .bind(fields.cooldown_minutes.get() as i32)
        .bind(fields.active)
        .bind(event.occurred_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
