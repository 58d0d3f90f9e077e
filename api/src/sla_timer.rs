//! The SLA timer: records warnings and breaches, climbs escalation ladders, records the
//! incidents' missed targets, and holds or releases the clocks of tickets linked to incidents,
//! when their instants come; and tells knowledge base articles that their readers rate them low, or no
//! longer (`kb_rating_alerts`), as soon as the ratings say so. It sleeps until the earliest row of `sla_timers`, `escalation_timers` or `incident_timers`, or
//! until a projection announces an earlier one, leases the due rows (claimed with
//! `FOR UPDATE SKIP LOCKED` and committed at once, so timers side by side share the work and no
//! lock is held while the tickets are commanded), and sends each ticket (or incident) the command that records
//! what is due on it. The ticket decides on its own state, with the true instant: a row made
//! stale by a pause, or recorded already, records nothing; a timer that was down over a deadline records the breach at the deadline when it
//! starts.

use chrono::{DateTime, SubsecRound, Utc};
use futures::stream::{self, StreamExt};
use std::sync::{Arc, Mutex};

use support_domain::escalation::EscalationBook;
use support_domain::incident::{Incident, IncidentCommand};
use support_domain::ticket::{FollowIncidents, RecordDue, Ticket, TicketCommand};
use support_domain::{Actor, ActorRole, Caller, EventMetadata};
use support_projections::incidents::holds;
use support_projections::sla::timers::TIMERS_CHANNEL;
use support_projections::Redacted;
use support_workers::supervise::supervise;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::startup::ApiContext;
use crate::{alert_watch, due_passes, kb_rating_alerts};

/// Who the timer's events are recorded as.
pub const TIMER_ACTOR: &str = "sla-timer";
/// Rows claimed from each table in one pass; a pass that claims as many or more runs again at once.
const BATCH: i64 = 256;
const IN_FLIGHT: usize = 16;
/// A command that loses a race with another command on its ticket is tried again at once.
pub(crate) const ATTEMPTS: usize = 5;
/// How long a claimed row is the claimer's: a row whose command failed (or whose timer died) is
/// claimed again after it.
const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Runs until the process stops, restarted after an error (a lost database connection) as every
/// worker loop is.
pub async fn run(ctx: ApiContext) {
    supervise("sla-timer", || {
        let ctx = ctx.clone();
        async move { watch(&ctx).await.map_err(anyhow::Error::from) }
    })
    .await
}

async fn watch(ctx: &ApiContext) -> Result<(), ApiError> {
    // The earliest unclaimed row, or the earliest lease to run out, of either table, and the
    // earliest alert to tell.
    let next_due = format!(
        "SELECT least( \
         (SELECT due_at FROM sla_timers WHERE claimed_until IS NULL ORDER BY due_at LIMIT 1), \
         (SELECT min(claimed_until) FROM sla_timers WHERE claimed_until IS NOT NULL), \
         (SELECT due_at FROM escalation_timers WHERE claimed_until IS NULL \
          ORDER BY due_at LIMIT 1), \
         (SELECT min(claimed_until) FROM escalation_timers WHERE claimed_until IS NOT NULL), \
         (SELECT due_at FROM incident_timers WHERE claimed_until IS NULL \
          ORDER BY due_at LIMIT 1), \
         (SELECT min(claimed_until) FROM incident_timers WHERE claimed_until IS NOT NULL), \
         (SELECT due_at FROM incident_hold_checks WHERE claimed_until IS NULL \
          ORDER BY due_at LIMIT 1), \
         (SELECT min(claimed_until) FROM incident_hold_checks WHERE claimed_until IS NOT NULL), \
         {}, {})",
        kb_rating_alerts::NEXT_DUE,
        alert_watch::NEXT_DUE
    );
    // The alert rules are evaluated at most once a minute, however often the timer wakes.
    let evaluated: Mutex<Option<DateTime<Utc>>> = Mutex::new(None);
    let evaluated = &evaluated;
    due_passes::run(
        ctx,
        TIMERS_CHANNEL,
        BATCH as usize,
        &next_due,
        |now| async move {
            let timers = record_due(ctx, now).await?;
            let alerts = kb_rating_alerts::tell_pending(ctx, now, BATCH).await?;
            let last = *evaluated.lock().expect("not poisoned");
            if last.is_none_or(|last| now - last >= alert_watch::EVERY) {
                alert_watch::evaluate(ctx, now).await?;
                *evaluated.lock().expect("not poisoned") = Some(now);
            }
            // Again at once while either filled its batch.
            Ok(timers.max(alerts))
        },
    )
    .await
}

/// A read model of due instants, one row an aggregate, keyed by `key`.
struct TimerTable {
    name: &'static str,
    key: &'static str,
}

/// The tickets' due instants: SLA warnings and deadlines, and the next levels of climbs.
const TICKET_TIMERS: [TimerTable; 2] = [
    TimerTable {
        name: "sla_timers",
        key: "ticket_id",
    },
    TimerTable {
        name: "escalation_timers",
        key: "ticket_id",
    },
];
/// The incidents' next target deadlines.
const INCIDENT_TIMERS: TimerTable = TimerTable {
    name: "incident_timers",
    key: "incident_id",
};
/// Tickets whose links or incidents changed: held by an active incident, or released.
const INCIDENT_HOLD_CHECKS: TimerTable = TimerTable {
    name: "incident_hold_checks",
    key: "ticket_id",
};

impl TimerTable {
    /// Leases the rows due at `now`, earliest first: their aggregates and instants.
    async fn claim(
        &self,
        ctx: &ApiContext,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, ApiError> {
        let TimerTable { name, key } = self;
        Ok(sqlx::query_as(&format!(
            "UPDATE {name} t SET claimed_until = $3 FROM ( \
                 SELECT {key} FROM {name} \
                 WHERE due_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) \
                 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS c \
             WHERE t.{key} = c.{key} \
             RETURNING t.{key}, t.due_at"
        ))
        .bind(now)
        .bind(BATCH)
        .bind(now + LEASE)
        .fetch_all(&ctx.pool)
        .await?)
    }

    /// Deletes the rows of `claimed` whose aggregates took their command. Only the row as
    /// claimed, under this pass's lease (taken at `now`): one the projection moved or queued
    /// again meanwhile is a new instant to wait for.
    async fn release(
        &self,
        ctx: &ApiContext,
        now: DateTime<Utc>,
        claimed: &[(Uuid, DateTime<Utc>)],
        recorded: &[Uuid],
    ) -> Result<(), ApiError> {
        let TimerTable { name, key } = self;
        let (ids, instants): (Vec<Uuid>, Vec<DateTime<Utc>>) = claimed
            .iter()
            .filter(|(id, _)| recorded.contains(id))
            .copied()
            .unzip();
        sqlx::query(&format!(
            "DELETE FROM {name} t USING unnest($1::uuid[], $2::timestamptz[]) AS d(id, due_at) \
             WHERE t.{key} = d.id AND t.due_at = d.due_at AND t.claimed_until = $3"
        ))
        .bind(&ids)
        .bind(&instants)
        .bind(now + LEASE)
        .execute(&ctx.pool)
        .await?;
        Ok(())
    }
}

/// Sends `command` to each of `ids`, at most `IN_FLIGHT` at once, and answers those that took it
/// (or no longer exist); a failure is logged, and its row tried again when its lease runs out.
async fn command_each<F, Fut>(ids: Vec<Uuid>, command: F) -> Vec<Uuid>
where
    F: Fn(Uuid) -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    stream::iter(ids)
        .map(|id| {
            let outcome = command(id);
            async move { (id, outcome.await) }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter_map(|(id, outcome)| async move {
            match outcome {
                Ok(()) | Err(ApiError::NotFound(_)) => Some(id),
                Err(error) => {
                    tracing::warn!(%id, error = %Redacted(&error), "cannot record a due timer; tried again when its lease runs out");
                    None
                }
            }
        })
        .collect()
        .await
}

/// Leases the rows due at `now`, earliest first, of every timer table, sends each ticket and
/// each incident one command, and returns how many rows it leased. A row is deleted once its
/// aggregate took the command, whatever it recorded; a row whose command failed keeps its lease,
/// and is tried again when the lease runs out.
pub async fn record_due(ctx: &ApiContext, now: DateTime<Utc>) -> Result<usize, ApiError> {
    // As every command's time: in microseconds, as PostgreSQL keeps them.
    let now = now.trunc_subsecs(6);
    let mut claimed = Vec::new();
    for table in &TICKET_TIMERS {
        claimed.push(table.claim(ctx, now).await?);
    }
    // One command a ticket, which records whatever fell due on it in the order it happened.
    let mut tickets: Vec<Uuid> = claimed
        .iter()
        .flatten()
        .map(|(ticket, _)| *ticket)
        .collect();
    tickets.sort_unstable();
    tickets.dedup();
    let escalations = ctx.active_escalations.get(ctx).await?;
    let recorded = command_each(tickets, |ticket| {
        record(ctx, ticket, escalations.clone(), now)
    })
    .await;
    for (table, claimed) in TICKET_TIMERS.iter().zip(&claimed) {
        table.release(ctx, now, claimed, &recorded).await?;
    }
    let incidents = INCIDENT_TIMERS.claim(ctx, now).await?;
    let ids = incidents.iter().map(|(incident, _)| *incident).collect();
    let recorded = command_each(ids, |incident| record_targets(ctx, incident, now)).await;
    INCIDENT_TIMERS
        .release(ctx, now, &incidents, &recorded)
        .await?;
    let holds = INCIDENT_HOLD_CHECKS.claim(ctx, now).await?;
    let ids = holds.iter().map(|(ticket, _)| *ticket).collect();
    let followed = command_each(ids, |ticket| {
        follow_incidents(ctx, ticket, escalations.clone(), now)
    })
    .await;
    INCIDENT_HOLD_CHECKS
        .release(ctx, now, &holds, &followed)
        .await?;
    Ok(claimed.iter().map(Vec::len).sum::<usize>() + incidents.len() + holds.len())
}

/// Who the timer's commands come from.
pub(crate) fn timer_caller() -> Caller {
    Caller {
        actor: Actor {
            sub: TIMER_ACTOR.to_owned(),
            role: ActorRole::Service,
        },
        customer_id: None,
    }
}

/// The metadata of a command the timer sends at `now`: the pass's instant, the same the
/// aggregate decides with.
pub(crate) fn timer_metadata(ctx: &ApiContext, now: DateTime<Utc>) -> EventMetadata {
    EventMetadata {
        occurred_at: now,
        ..ctx.worker_metadata(TIMER_ACTOR)
    }
}

async fn record(
    ctx: &ApiContext,
    ticket: Uuid,
    escalations: Arc<EscalationBook>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let command = TicketCommand::RecordDue(RecordDue {
        caller: timer_caller(),
        at: now,
        escalations,
    });
    ctx.execute_retrying::<Ticket>(ticket, command, &timer_metadata(ctx, now), ATTEMPTS)
        .await
        .map(|_| ())
}

/// Sends `ticket` the incidents active among its links, as the hold read model has them now.
async fn follow_incidents(
    ctx: &ApiContext,
    ticket: Uuid,
    escalations: Arc<EscalationBook>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let active_incidents = holds::active_incidents_of(&ctx.pool, ticket).await?;
    let command = TicketCommand::FollowIncidents(FollowIncidents {
        caller: timer_caller(),
        at: now,
        active_incidents,
        escalations,
    });
    ctx.execute_retrying::<Ticket>(ticket, command, &timer_metadata(ctx, now), ATTEMPTS)
        .await
        .map(|_| ())
}

async fn record_targets(
    ctx: &ApiContext,
    incident: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let command = IncidentCommand::RecordDueTargets {
        caller: timer_caller(),
        at: now,
    };
    ctx.execute_retrying::<Incident>(incident, command, &timer_metadata(ctx, now), ATTEMPTS)
        .await
        .map(|_| ())
}
