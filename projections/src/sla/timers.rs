//! `sla_timers`: one row per ticket under a running clock, its next SLA warning or deadline, which
//! the SLA timer claims when it falls due; the SLA event that records it brings the row of the
//! next one. The same read model keeps `escalation_timers`, the next level of each climb
//! (`crate::escalation::apply_climbs`), which the timer claims alike. Every SLA event carries both clocks as they stand after it, and an opening under a
//! policy what they start from, so a ticket's row is simply replaced by what its last such event
//! of a batch says.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use support_domain::sla::{ClockKind, DueKind, SlaClock, SlaClocks};
use support_domain::ticket::TicketEvent;
use support_domain::RecordedEvent;
use uuid::Uuid;

use crate::tickets::AGGREGATE_TYPE;
use crate::{Projection, ProjectionError, Redacted};

pub const READ_MODEL: &str = "sla_timers";
/// Notified, with the earliest new instant, when a batch adds timers: the SLA timer sleeps until
/// its next due row and wakes early only for an earlier one.
pub const TIMERS_CHANNEL: &str = "sla_timers";

pub struct SlaTimersProjection;

#[async_trait]
impl Projection for SlaTimersProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    /// With the climbs' next levels: the same timer claims both, and one read model of the
    /// ticket group more would cost every ticket event another position to keep.
    fn tables(&self) -> &'static [&'static str] {
        &["sla_timers", "escalation_timers"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let climbs = crate::escalation::apply_climbs(conn, events).await?;
        let mut last: HashMap<Uuid, SlaClocks> = HashMap::new();
        let sla_events = events
            .iter()
            .filter(|e| e.event_type == "TicketOpened" || e.event_type.starts_with("Sla"));
        for event in sla_events {
            let clocks = match TicketEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?
            {
                TicketEvent::TicketOpened { sla: Some(sla), .. } => sla.clocks(),
                TicketEvent::SlaPolicyApplied { clocks, .. }
                | TicketEvent::SlaClocksPaused { clocks, .. }
                | TicketEvent::SlaClocksResumed { clocks, .. }
                | TicketEvent::SlaClockCompleted { clocks, .. }
                | TicketEvent::SlaClockRestarted { clocks, .. }
                | TicketEvent::SlaClocksStopped { clocks }
                | TicketEvent::SlaWarningReached { clocks, .. }
                | TicketEvent::SlaBreached { clocks, .. } => clocks,
                _ => continue,
            };
            let id = Uuid::parse_str(&event.aggregate_id)
                .map_err(|e| ProjectionError::undecodable_event(event, e))?;
            last.insert(id, clocks);
        }
        if last.is_empty() {
            return notify(conn, climbs).await;
        }
        let stored = super::already_stored(events, last.keys().copied());
        let (mut ids, mut kinds, mut due) = (Vec::new(), Vec::new(), Vec::new());
        for (id, clocks) in &last {
            let next = ClockKind::ALL
                .iter()
                .flat_map(|kind| timers(clocks.clock(*kind)))
                .min_by_key(|(kind, at)| (*at, *kind == DueKind::Warning));
            if let Some((kind, at)) = next {
                ids.push(*id);
                kinds.push(kind.as_str());
                due.push(at);
            }
        }
        if !stored.is_empty() {
            sqlx::query("DELETE FROM sla_timers WHERE ticket_id = ANY($1)")
                .bind(&stored)
                .execute(&mut *conn)
                .await?;
        }
        if !ids.is_empty() {
            sqlx::query(
                "INSERT INTO sla_timers (ticket_id, kind, due_at) \
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])",
            )
            .bind(&ids)
            .bind(&kinds)
            .bind(&due)
            .execute(&mut *conn)
            .await?;
        }
        let earliest = due.iter().copied().chain(climbs).min();
        notify(conn, earliest).await
    }
}

/// Wakes the timer for `earliest`, the earliest instant a batch set, if it set one.
pub(crate) async fn notify(
    conn: &mut PgConnection,
    earliest: Option<DateTime<Utc>>,
) -> Result<(), ProjectionError> {
    if let Some(earliest) = earliest {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(TIMERS_CHANNEL)
            .bind(earliest.to_rfc3339())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// What is still to come on a clock: its warning, and its deadline while it counts toward it.
fn timers(clock: &SlaClock) -> impl Iterator<Item = (DueKind, DateTime<Utc>)> {
    let warning = clock.warning_at.map(|at| (DueKind::Warning, at));
    let breach = clock
        .deadline
        .filter(|_| clock.counting_since.is_some() && clock.breached_at.is_none())
        .map(|at| (DueKind::Breach, at));
    warning.into_iter().chain(breach)
}
