//! The audit log: admins and auditors search the event store for who did what and when, over HTTP
//! (`GET /audit`) or from the command line (`supportd audit`), and get the same entries.

use std::io::Write;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use support_domain::{ActorRole, FieldErrors, RecordedEvent};
use support_projections::audit::{self, AuditCursor, AuditFilter, AuditedEvent};
use support_projections::personal_data::DataKeys;
use support_projections::schema;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Principal;
use crate::database;
use crate::extract::{ApiQuery, UnknownParameters};
use crate::problem::{ApiError, Problem};
use crate::settings::Settings;
use crate::startup::ApiContext;
use crate::tickets::ActorView;

/// Who may read the audit log.
const READERS: &[ActorRole] = &[ActorRole::Admin, ActorRole::Auditor];
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

pub fn routes() -> Router<ApiContext> {
    Router::new().route("/audit", get(search_audit_log))
}

/// One event of the store, as the audit log shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub event_id: Uuid,
    /// The event's place in the whole store's order.
    pub global_position: i64,
    #[schema(example = "ticket")]
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The event's place in its aggregate's order, from 1.
    pub sequence: i64,
    #[schema(example = "TicketStatusChanged")]
    pub event_type: String,
    pub event_version: String,
    /// When the command that caused it happened: what `from` and `to` select on.
    pub occurred_at: DateTime<Utc>,
    /// When the event store recorded it.
    pub recorded_at: DateTime<Utc>,
    pub actor: ActorView,
    pub request_id: String,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    /// `api`, `worker` or `import`.
    pub source: String,
    /// The event's fields: what changed (docs/events.md lists them for each event type).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<AuditedEvent> for AuditEntry {
    fn from(AuditedEvent { event, recorded_at }: AuditedEvent) -> Self {
        let actor = event.metadata.actor().into();
        Self {
            event_id: event.event_id,
            global_position: event.global_position,
            aggregate_type: event.aggregate_type,
            aggregate_id: event.aggregate_id,
            sequence: event.sequence,
            event_type: event.event_type,
            event_version: event.event_version,
            occurred_at: event.occurred_at,
            recorded_at,
            actor,
            request_id: event.metadata.request_id,
            correlation_id: event.metadata.correlation_id,
            causation_id: event.metadata.causation_id,
            source: event.metadata.source,
            payload: event.payload,
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLog {
    pub items: Vec<AuditEntry>,
    pub limit: u32,
    /// Pass as `cursor`, with the same filters, to read the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// At most `limit` entries that match `filter`, newest first, from below `after`, and where the
/// next page starts: the one place where audit entries are made of stored events, for the API and
/// the command line alike.
pub async fn entries(
    pool: &PgPool,
    keys: &DataKeys,
    filter: &AuditFilter,
    after: Option<AuditCursor>,
    limit: u32,
) -> Result<(Vec<AuditEntry>, Option<AuditCursor>), ApiError> {
    let mut page = audit::search(pool, filter, after, limit).await?;
    // Auditors read personal fields open, or erased where the key is gone, as history shows them.
    let mut conn = pool.acquire().await?;
    let sealed: Vec<RecordedEvent> = page.events.iter().map(|e| e.event.clone()).collect();
    for (audited, opened) in page
        .events
        .iter_mut()
        .zip(keys.open_all(&mut conn, sealed).await?)
    {
        audited.event = opened;
    }
    let entries = page.events.into_iter().map(AuditEntry::from).collect();
    Ok((entries, page.next))
}

/// The filters of `GET /audit`. Values arrive as text so that every bad one is reported by name
/// at once; a parameter the search does not know is refused, not ignored, since a misspelt filter
/// would widen the answer. Text is documented without NUL (`ApiQuery` refuses it) by a pattern,
/// not by `schema::without_nul`: a parameter's `schema_with` drops its description.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events caused by this actor (the token `sub` they acted with).
    #[param(pattern = r"^[^\u0000]*$")]
    pub actor: Option<String>,
    /// Only events caused by actors in this role.
    #[param(schema_with = schema::actor_role)]
    pub actor_role: Option<String>,
    /// Only events of this kind of aggregate (`ticket`).
    #[param(pattern = r"^[^\u0000]*$")]
    pub aggregate_type: Option<String>,
    /// Only the events of this aggregate (a ticket's id); needs `aggregateType`.
    #[param(pattern = r"^[^\u0000]*$")]
    pub aggregate_id: Option<String>,
    /// Only events of this type (`TicketStatusChanged`; docs/events.md lists them).
    #[param(pattern = r"^[^\u0000]*$")]
    pub event_type: Option<String>,
    /// Only events that happened (`occurredAt`) at or after this instant.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub from: Option<String>,
    /// Only events that happened before this instant.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub to: Option<String>,
    /// Entries per page (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page, unchanged: the page that follows it.
    #[param(pattern = r"^[^\u0000]*$")]
    pub cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

fn rfc3339(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 instant, such as 2026-11-25T00:00:00Z".to_owned())
}

impl AuditQuery {
    fn parse(&self) -> Result<(AuditFilter, Option<AuditCursor>, u32), FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let from = (self.from.as_deref()).and_then(|from| errors.take("from", rfc3339(from)));
        let to = (self.to.as_deref()).and_then(|to| errors.take("to", rfc3339(to)));
        let actor_role = self
            .actor_role
            .as_deref()
            .and_then(|role| errors.take("actorRole", role.parse()));
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                errors.push("to", "must not be before from");
            }
        }
        if self.aggregate_id.is_some() && self.aggregate_type.is_none() {
            errors.push(
                "aggregateId",
                "needs aggregateType: the event store is keyed by type, then id",
            );
        }
        let limit = match self.limit.as_deref().map(str::parse::<u32>) {
            None => Some(DEFAULT_LIMIT),
            Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => Some(limit),
            Some(_) => {
                errors.push(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                );
                None
            }
        };
        let after = self.cursor.as_deref().and_then(|cursor| {
            let decoded = AuditCursor::decode(cursor);
            if decoded.is_none() {
                errors.push(
                    "cursor",
                    "is not a cursor this search gave out: pass a nextCursor back unchanged",
                );
            }
            decoded
        });
        errors.into_result()?;
        let filter = AuditFilter {
            actor: self.actor.clone(),
            actor_role,
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            event_type: self.event_type.clone(),
            from,
            to,
        };
        Ok((filter, after, limit.expect("checked")))
    }
}

/// Search the event store: who did what, and when. Admins and auditors only.
///
/// Every filter given must match. Newest first (by the store's order); page with `nextCursor`.
/// "What did agent-7 do yesterday": `?actor=agent-7&from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z`.
#[utoipa::path(get, path = "/api/v1/support/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "The matching events, newest first", body = AuditLog),
        (status = 403, description = "Only admins and auditors read the audit log", body = Problem),
        (status = 422, description = "A query parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn search_audit_log(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    principal.require(READERS, "read the audit log")?;
    let (filter, after, limit) = query.parse().map_err(ApiError::Validation)?;
    let (items, next) = entries(&ctx.pool, &ctx.data_keys, &filter, after, limit).await?;
    Ok(Json(AuditLog {
        items,
        limit,
        next_cursor: next.map(AuditCursor::encode),
    }))
}

/// `supportd audit`: the audit log from the event store at DATABASE_URL, as JSON lines.
#[derive(Debug, Clone, clap::Parser)]
pub struct AuditArgs {
    /// Only events caused by this actor (their token's `sub`).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only events caused by actors in this role.
    #[arg(long, value_parser = str::parse::<ActorRole>)]
    pub actor_role: Option<ActorRole>,
    /// Only events of this kind of aggregate (`ticket`).
    #[arg(long)]
    pub aggregate_type: Option<String>,
    /// Only the events of this aggregate; needs --aggregate-type.
    #[arg(long, requires = "aggregate_type")]
    pub aggregate_id: Option<String>,
    /// Only events of this type (`TicketStatusChanged`).
    #[arg(long)]
    pub event_type: Option<String>,
    /// Only events that happened at or after this instant (RFC 3339), or day (YYYY-MM-DD: from its
    /// start, UTC).
    #[arg(long, value_parser = instant_or_day)]
    pub since: Option<DateTime<Utc>>,
    /// Only events that happened before this instant, or day (before its start, UTC).
    #[arg(long, value_parser = instant_or_day)]
    pub until: Option<DateTime<Utc>>,
    /// At most this many events [default: all that match].
    #[arg(long)]
    pub limit: Option<u64>,
}

/// An RFC 3339 instant, or a day (`YYYY-MM-DD`) meaning its start, UTC.
fn instant_or_day(value: &str) -> Result<DateTime<Utc>, String> {
    rfc3339(value).or_else(|_| {
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(|day| day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
            .map_err(|_| "must be an RFC 3339 instant or a date (YYYY-MM-DD)".to_owned())
    })
}

impl AuditArgs {
    pub fn filter(&self) -> AuditFilter {
        AuditFilter {
            actor: self.actor.clone(),
            actor_role: self.actor_role,
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            event_type: self.event_type.clone(),
            from: self.since,
            to: self.until,
        }
    }
}

/// Writes the entries that match `filter`, newest first, one JSON object a line, reading page after
/// page until `limit` are written or none is left; returns how many were written.
pub async fn write_entries(
    pool: &PgPool,
    keys: &DataKeys,
    filter: &AuditFilter,
    limit: Option<u64>,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut written = 0;
    let mut after = None;
    loop {
        let wanted = limit.map_or(MAX_LIMIT, |limit| {
            (limit - written).min(u64::from(MAX_LIMIT)) as u32
        });
        if wanted == 0 {
            return Ok(written);
        }
        let (page, next) = entries(pool, keys, filter, after, wanted).await?;
        for entry in &page {
            serde_json::to_writer(&mut *out, entry)?;
            writeln!(out)?;
        }
        written += page.len() as u64;
        match next {
            Some(next) => after = Some(next),
            None => return Ok(written),
        }
    }
}

/// Runs `supportd audit`: prints to standard output.
pub async fn print(args: AuditArgs, settings: &Settings) -> anyhow::Result<()> {
    let pool = database::connect(&settings.database_url).await?;
    let mut out = std::io::stdout().lock();
    let keys = DataKeys::new(&settings.master_key);
    write_entries(&pool, &keys, &args.filter(), args.limit, &mut out).await?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn refused(query: AuditQuery) -> Vec<String> {
        let errors = query.parse().unwrap_err();
        errors.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn every_bad_parameter_is_named_at_once() {
        let query: AuditQuery = serde_json::from_value(serde_json::json!({
            "actr": "agent-7",
            "actorRole": "boss",
            "aggregateId": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "from": "yesterday",
            "to": "2026-11-26",
            "limit": "501",
            "cursor": "forged",
        }))
        .unwrap();
        assert_eq!(
            refused(query),
            [
                "actr",
                "from",
                "to",
                "actorRole",
                "aggregateId",
                "limit",
                "cursor"
            ]
        );
        let backwards = AuditQuery {
            from: Some("2026-11-26T00:00:00Z".into()),
            to: Some("2026-11-25T00:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(refused(backwards), ["to"]);
        let zero = AuditQuery {
            limit: Some("0".into()),
            ..Default::default()
        };
        assert_eq!(refused(zero), ["limit"]);
    }

    #[test]
    fn defaults_and_instants_with_offsets() {
        let query = AuditQuery {
            actor: Some("agent-7".into()),
            from: Some("2026-11-25T01:00:00+01:00".into()),
            ..Default::default()
        };
        let (filter, after, limit) = query.parse().unwrap();
        assert_eq!(filter.actor.as_deref(), Some("agent-7"));
        assert_eq!(
            filter.from.unwrap().to_rfc3339(),
            "2026-11-25T00:00:00+00:00"
        );
        assert_eq!((after, limit), (None, DEFAULT_LIMIT));
    }

    #[test]
    fn the_command_line_takes_days_as_their_utc_start() {
        let args = AuditArgs::try_parse_from([
            "audit",
            "--actor",
            "agent-7",
            "--actor-role",
            "agent",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-02T12:00:00Z",
        ])
        .unwrap();
        let filter = args.filter();
        assert_eq!(filter.actor_role, Some(ActorRole::Agent));
        assert_eq!(
            filter.from.unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(filter.to.unwrap().to_rfc3339(), "2026-11-02T12:00:00+00:00");
        for bad in [
            vec!["audit", "--since", "yesterday"],
            vec!["audit", "--actor-role", "boss"],
            vec!["audit", "--aggregate-id", "7c9e6679"],
        ] {
            assert!(AuditArgs::try_parse_from(&bad).is_err(), "{bad:?}");
        }
    }
}
