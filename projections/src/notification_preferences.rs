//! The `notification_preferences` read model: one row per user who saved preferences, written
//! from the preferences events. The API shows a user theirs; the notifier finds the recipients of
//! a notification, named by sub, role or team, with their preferences, in one query.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use support_domain::notification::{
    ChannelChoices, EmailAddress, NotificationPreferencesEvent, PhoneNumber, Preferences,
    WorkingHoursFields, WorkingTime,
};
use support_domain::{ActorRole, RecordedEvent, ERASED};
use utoipa::openapi::schema::{Object, SchemaType, Type};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{schema, Projection, ProjectionError, Redacted};

pub const AGGREGATE_TYPE: &str = "notification_preferences";
/// The read model's name: its consumer, checkpoint and dead letters.
pub const READ_MODEL: &str = "notification_preferences";

/// A user's preferences as the API shows them to the user.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPreferencesView {
    /// Whose they are: the token's `sub`.
    pub sub: String,
    /// The role the token named at the last save (or now, if never saved).
    #[schema(schema_with = schema::actor_role)]
    pub role: String,
    /// The teams the token named at the last save (or now, if never saved).
    pub teams: Vec<String>,
    /// The channels of each kind of notification; an empty list: not notified of that kind.
    #[schema(schema_with = channel_choices)]
    pub channels: ChannelChoices,
    /// Where email notifications go; `[erased]` once erased.
    pub email: Option<String>,
    /// Where SMS notifications go, in E.164; `[erased]` once erased.
    pub phone: Option<String>,
    /// The IANA time zone working hours are in.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// When non-urgent notifications may reach the user; `null`: any time.
    #[schema(schema_with = working_hours_or_null)]
    pub working_hours: Option<WorkingHoursFields>,
    /// When they were last saved; `null`: never, these are the defaults.
    pub updated_at: Option<DateTime<Utc>>,
    /// The sequence of the last event this view reflects; `null` for the defaults.
    pub version: Option<i64>,
}

impl NotificationPreferencesView {
    /// What a user who never saved sees: the defaults, with the role and teams of their token.
    pub fn defaults(sub: &str, role: ActorRole, teams: Vec<String>) -> Self {
        let preferences = Preferences::defaults();
        let working_time = preferences.working_time.fields();
        Self {
            sub: sub.to_owned(),
            role: role.as_str().to_owned(),
            teams,
            channels: preferences.channels,
            email: None,
            phone: None,
            time_zone: working_time.time_zone,
            working_hours: working_time.working_hours,
            updated_at: None,
            version: None,
        }
    }
}

/// A recipient of notifications, as the notifier resolves them, with what they prefer.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientPreferences {
    pub sub: String,
    pub role: ActorRole,
    pub teams: Vec<String>,
    /// The customer account of a customer; `None` for staff.
    pub customer_id: Option<String>,
    /// An erased email or phone is `None` here: there is nowhere to send to.
    pub preferences: Preferences,
}

/// A user's row as the queries read it.
#[derive(sqlx::FromRow)]
struct PreferencesRow {
    sub: String,
    role: String,
    teams: Vec<String>,
    customer_id: Option<String>,
    channels: Json<ChannelChoices>,
    email: Option<String>,
    phone: Option<String>,
    working_time: Json<WorkingTime>,
    updated_at: DateTime<Utc>,
    version: i64,
}

const ROW_COLUMNS: &str =
    "sub, role, teams, customer_id, channels, email, phone, working_time, updated_at, version";

impl From<PreferencesRow> for NotificationPreferencesView {
    fn from(row: PreferencesRow) -> Self {
        let working_time = row.working_time.0.fields();
        Self {
            sub: row.sub,
            role: row.role,
            teams: row.teams,
            channels: row.channels.0,
            email: row.email,
            phone: row.phone,
            time_zone: working_time.time_zone,
            working_hours: working_time.working_hours,
            updated_at: Some(row.updated_at),
            version: Some(row.version),
        }
    }
}

impl TryFrom<PreferencesRow> for RecipientPreferences {
    type Error = sqlx::Error;

    fn try_from(row: PreferencesRow) -> Result<Self, sqlx::Error> {
        let role = row
            .role
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?;
        Ok(Self {
            sub: row.sub,
            role,
            teams: row.teams,
            customer_id: row.customer_id,
            preferences: Preferences {
                channels: row.channels.0,
                // What the events held was valid: only an erased value fails to parse again.
                email: row.email.and_then(|e| EmailAddress::parse(&e).ok()),
                phone: row.phone.and_then(|p| PhoneNumber::parse(&p).ok()),
                working_time: row.working_time.0,
            },
        })
    }
}

/// The `notification_preferences` read model.
pub struct NotificationPreferencesProjection;

#[async_trait]
impl Projection for NotificationPreferencesProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["notification_preferences"]
    }

    /// One statement an event: users save their preferences rarely.
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
    let preferences_event =
        NotificationPreferencesEvent::from_parts(&event.event_type, &event.payload)
            .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let id = Uuid::parse_str(&event.aggregate_id)
        .map_err(|e| ProjectionError::undecodable_event(event, e))?;
    let query = match preferences_event {
        NotificationPreferencesEvent::NotificationPreferencesSet {
            recipient,
            preferences,
        } => sqlx::query(
            "INSERT INTO notification_preferences (id, sub, role, teams, customer_id, channels, \
                 email, phone, working_time, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET role = $3, teams = $4, customer_id = $5, \
                 channels = $6, email = $7, phone = $8, working_time = $9, updated_at = $10, \
                 version = $11",
        )
        .bind(id)
        .bind(recipient.sub)
        .bind(recipient.role.as_str())
        .bind(recipient.teams.as_slice().to_vec())
        .bind(recipient.customer_id)
        .bind(Json(preferences.channels))
        .bind(preferences.email.map(|e| e.as_str().to_owned()))
        .bind(preferences.phone.map(|p| p.as_str().to_owned()))
        .bind(Json(preferences.working_time))
        .bind(event.occurred_at)
        .bind(event.sequence),
        NotificationPreferencesEvent::NotificationPreferencesErased { .. } => sqlx::query(
            "UPDATE notification_preferences SET email = CASE WHEN email IS NULL THEN NULL \
                 ELSE $4 END, phone = CASE WHEN phone IS NULL THEN NULL ELSE $4 END, \
                 erased_at = $3, updated_at = $3, version = $2 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(event.sequence)
        .bind(event.occurred_at)
        .bind(ERASED),
    };
    // Preferences are erased only once saved.
    ProjectionError::expect_one_row(query.execute(&mut *conn).await?, event)
}

/// The preferences of the user `sub`, if they ever saved any.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    sub: &str,
) -> Result<Option<NotificationPreferencesView>, sqlx::Error> {
    let row: Option<PreferencesRow> = sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM notification_preferences WHERE sub = $1"
    ))
    .bind(sub)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(NotificationPreferencesView::from))
}

/// The users named by sub, by role or by team (any of them), with their preferences, in sub
/// order; each once, however many ways it was named. One query, served by an index for each way
/// of naming. Users who never saved preferences have no row, so are found by none of them: for a
/// sub named directly, the caller takes `Preferences::defaults()`.
pub async fn recipients<'e>(
    executor: impl PgExecutor<'e>,
    subs: &[String],
    roles: &[ActorRole],
    teams: &[String],
) -> Result<Vec<RecipientPreferences>, sqlx::Error> {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let rows: Vec<PreferencesRow> = sqlx::query_as(RECIPIENTS)
        .bind(subs)
        .bind(&roles)
        .bind(teams)
        .fetch_all(executor)
        .await?;
    rows.into_iter()
        .map(RecipientPreferences::try_from)
        .collect()
}

const RECIPIENTS: &str = "SELECT sub, role, teams, customer_id, channels, email, phone, \
         working_time, updated_at, version \
     FROM notification_preferences \
     WHERE sub = ANY($1) OR role = ANY($2) OR teams && $3 ORDER BY sub";

/// The users of the customer accounts `customer_ids`, with their preferences, in sub order: who
/// a notification to a customer reaches. Served by `notification_preferences_by_customer`.
pub async fn of_customers<'e>(
    executor: impl PgExecutor<'e>,
    customer_ids: &[String],
) -> Result<Vec<RecipientPreferences>, sqlx::Error> {
    let rows: Vec<PreferencesRow> = sqlx::query_as(
        "SELECT sub, role, teams, customer_id, channels, email, phone, working_time, updated_at, \
             version \
         FROM notification_preferences WHERE customer_id = ANY($1) ORDER BY sub",
    )
    .bind(customer_ids)
    .fetch_all(executor)
    .await?;
    rows.into_iter()
        .map(RecipientPreferences::try_from)
        .collect()
}

/// The preferences filed under a customer account (its users'), not erased yet, by sub: what
/// an export shows and an erasure reaches.
pub async fn of_customer<'e>(
    executor: impl PgExecutor<'e>,
    customer_id: &str,
) -> Result<Vec<NotificationPreferencesView>, sqlx::Error> {
    let rows: Vec<PreferencesRow> = sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM notification_preferences WHERE customer_id = $1 \
         AND erased_at IS NULL ORDER BY sub"
    ))
    .bind(customer_id)
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Every kind's channels, as a saved user always has them.
fn channel_choices() -> Object {
    ChannelChoices::KINDS
        .iter()
        .fold(schema::channel_choices(), |object, kind| {
            object.required(kind.as_str())
        })
        .build()
}

fn working_hours_or_null() -> Object {
    schema::working_hours()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .build()
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;

    use super::*;

    #[sqlx::test(migrations = "../migrations")]
    async fn recipients_are_found_by_sub_role_and_team_through_indexes(pool: PgPool) {
        let mut conn = crate::explain::pricing_out_seq_scans(&pool).await;
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {RECIPIENTS}"))
            .bind(vec!["alice".to_owned()])
            .bind(vec!["admin"])
            .bind(vec!["billing".to_owned()])
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{plan}");
        for index in [
            "notification_preferences_sub_key",
            "notification_preferences_by_role",
            "notification_preferences_by_team",
        ] {
            assert!(plan.contains(index), "{index}:\n{plan}");
        }
    }
}
