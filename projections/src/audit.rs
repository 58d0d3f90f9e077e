//! The audit search: events of the store by who caused them, what they are and when they happened,
//! newest first. Each filter has an index (migrations/0009_audit_search.sql).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use support_domain::{ActorRole, RecordedEvent};

use crate::event_log::{recorded_event, EVENT_COLUMNS};
use crate::ProjectionError;

/// What to search for; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// The actor's `sub`.
    pub actor: Option<String>,
    pub actor_role: Option<ActorRole>,
    pub aggregate_type: Option<String>,
    /// Only with `aggregate_type`: the store is keyed by type, then id.
    pub aggregate_id: Option<String>,
    pub event_type: Option<String>,
    /// Happened (the metadata's `occurredAt`) at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Happened before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// Where a page of the search ends: the global position of its last event, below which the next
/// page starts. Clients see it only as an opaque string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor(i64);

impl AuditCursor {
    /// URL-safe base64 of the position.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.to_be_bytes())
    }

    /// `None` for anything the search did not give out: positions start at 1.
    pub fn decode(text: &str) -> Option<Self> {
        let bytes: [u8; 8] = URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()?;
        let position = i64::from_be_bytes(bytes);
        (position >= 1).then_some(Self(position))
    }
}

/// An event as the store holds it, with when the store recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditedEvent {
    pub event: RecordedEvent,
    pub recorded_at: DateTime<Utc>,
}

/// At most `limit` matching events, newest first, and where the next page starts if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub events: Vec<AuditedEvent>,
    pub next: Option<AuditCursor>,
}

/// The events after `after` (all of them without it) that match, newest first: `limit` of them
/// and one more, which tells whether a next page exists.
fn search_query<'a>(
    prefix: &str,
    filter: &AuditFilter,
    after: Option<AuditCursor>,
    limit: u32,
) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}SELECT {EVENT_COLUMNS}, e.recorded_at FROM events e WHERE true"
    ));
    let text_filters = [
        ("e.metadata ->> 'actorSub'", filter.actor.clone()),
        (
            "e.metadata ->> 'actorRole'",
            filter.actor_role.map(|role| role.as_str().to_owned()),
        ),
        ("e.aggregate_type", filter.aggregate_type.clone()),
        ("e.aggregate_id", filter.aggregate_id.clone()),
        ("e.event_type", filter.event_type.clone()),
    ];
    for (column, value) in text_filters {
        if let Some(value) = value {
            query.push(format!(" AND {column} = ")).push_bind(value);
        }
    }
    if let Some(from) = filter.from {
        query
            .push(" AND event_occurred_at(e.metadata) >= ")
            .push_bind(from);
    }
    if let Some(to) = filter.to {
        query
            .push(" AND event_occurred_at(e.metadata) < ")
            .push_bind(to);
    }
    if let Some(AuditCursor(position)) = after {
        query.push(" AND e.global_position < ").push_bind(position);
    }
    query
        .push(" ORDER BY e.global_position DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    query
}

/// One page of the events that match `filter`, newest first, starting below `after`.
pub async fn search(
    pool: &PgPool,
    filter: &AuditFilter,
    after: Option<AuditCursor>,
    limit: u32,
) -> Result<AuditPage, ProjectionError> {
    let rows = search_query("", filter, after, limit)
        .build()
        .fetch_all(pool)
        .await?;
    let mut events = rows
        .iter()
        .map(|row| {
            Ok(AuditedEvent {
                event: recorded_event(row)?,
                recorded_at: row.try_get("recorded_at")?,
            })
        })
        .collect::<Result<Vec<_>, ProjectionError>>()?;
    let next = if events.len() > limit as usize {
        events.truncate(limit as usize);
        events
            .last()
            .map(|last| AuditCursor(last.event.global_position))
    } else {
        None
    };
    Ok(AuditPage { events, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_nothing_else_is_one() {
        let cursor = AuditCursor(1_234_567);
        assert_eq!(AuditCursor::decode(&cursor.encode()), Some(cursor));
        let text = cursor.encode();
        for bad in [
            "",
            "not a cursor",
            &text[..text.len() - 1],
            &format!("{text}AA"),
            &AuditCursor(0).encode(),
            &AuditCursor(-5).encode(),
        ] {
            assert_eq!(AuditCursor::decode(bad), None, "{bad:?}");
        }
    }

    /// With sequential scans priced out, PostgreSQL still picks one where no index can serve a
    /// query: so a plan without one proves that every filter, alone and with a cursor, has its
    /// index. The filters that pick few events out of many are also held to the index made for
    /// them.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_audit_filter_is_served_by_an_index(pool: PgPool) {
        let mut conn = crate::explain::pricing_out_seq_scans(&pool).await;
        let now = Utc::now();
        let filters = [
            (AuditFilter::default(), None),
            (
                AuditFilter {
                    actor: Some("agent-7".into()),
                    ..Default::default()
                },
                Some("events_by_actor"),
            ),
            (
                AuditFilter {
                    actor_role: Some(ActorRole::Service),
                    ..Default::default()
                },
                Some("events_by_actor_role"),
            ),
            (
                AuditFilter {
                    aggregate_type: Some("ticket".into()),
                    ..Default::default()
                },
                None,
            ),
            (
                AuditFilter {
                    aggregate_type: Some("ticket".into()),
                    aggregate_id: Some("7c9e6679-7425-40de-944b-e07fc1f90ae7".into()),
                    ..Default::default()
                },
                Some("events_pkey"),
            ),
            (
                AuditFilter {
                    event_type: Some("TicketEscalated".into()),
                    ..Default::default()
                },
                Some("events_by_event_type"),
            ),
            (
                AuditFilter {
                    from: Some(now),
                    to: Some(now),
                    ..Default::default()
                },
                None,
            ),
            (
                AuditFilter {
                    actor: Some("agent-7".into()),
                    from: Some(now),
                    to: Some(now),
                    ..Default::default()
                },
                None,
            ),
        ];
        for (filter, index) in &filters {
            for after in [None, Some(AuditCursor(1000))] {
                let plan = crate::explain::assert_indexed(
                    &mut conn,
                    &mut search_query("EXPLAIN ", filter, after, 50),
                    &format!("{filter:?} {after:?}"),
                )
                .await;
                if let Some(index) = index {
                    assert!(plan.contains(index), "{filter:?} {after:?}:\n{plan}");
                }
            }
        }
    }
}
