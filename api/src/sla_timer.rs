//! The SLA timer: records warnings and breaches, and climbs escalation ladders, when their
//! instants come; and tells knowledge base articles that their readers rate them low, or no
//! longer (`kb_rating_alerts`), as soon as the ratings say so. It sleeps until the earliest row of `sla_timers` or `escalation_timers`, or
//! until a projection announces an earlier one, leases the due rows (claimed with
//! `FOR UPDATE SKIP LOCKED` and committed at once, so timers side by side share the work and no
//! lock is held while the tickets are commanded), and sends each ticket the command that records
//! what is due on it. The ticket decides on its own state, with the true instant: a row made
//! stale by a pause, or recorded already, records nothing; a timer that was down over a deadline records the breach at the deadline when it
//! starts.

use chrono::{DateTime, SubsecRound, Utc};
use futures::stream::{self, StreamExt};
use std::sync::Arc;

use support_domain::escalation::EscalationBook;
use support_domain::ticket::{RecordDue, Ticket, TicketCommand};
use support_domain::{Actor, ActorRole, Caller, EventMetadata};
use support_projections::sla::timers::TIMERS_CHANNEL;
use support_projections::Redacted;
use support_workers::supervise::supervise;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::startup::ApiContext;
use crate::{due_passes, kb_rating_alerts};

/// Who the timer's events are recorded as.
pub const TIMER_ACTOR: &str = "sla-timer";
/// Rows claimed from each table in one pass; a pass that claims as many or more runs again at once.
const BATCH: i64 = 256;
/// The read models of due instants, each one row a ticket: SLA warnings and deadlines, and the
/// next levels of climbs.
const TIMER_TABLES: [&str; 2] = ["sla_timers", "escalation_timers"];
const IN_FLIGHT: usize = 16;
/// A command that loses a race with another command on its ticket is tried again at once.
const ATTEMPTS: usize = 5;
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
         {})",
        kb_rating_alerts::NEXT_DUE
    );
    due_passes::run(
        ctx,
        TIMERS_CHANNEL,
        BATCH as usize,
        &next_due,
        |now| async move {
            let timers = record_due(ctx, now).await?;
            let alerts = kb_rating_alerts::tell_pending(ctx, now, BATCH).await?;
            // Again at once while either filled its batch.
            Ok(timers.max(alerts))
        },
    )
    .await
}

/// Leases the rows due at `now`, earliest first, of every timer table, sends each ticket one
/// command, and returns how many rows it leased. A row is deleted once its ticket took the
/// command, whatever it recorded; a row whose command failed keeps its lease, and is tried again
/// when the lease runs out.
pub async fn record_due(ctx: &ApiContext, now: DateTime<Utc>) -> Result<usize, ApiError> {
    // As every command's time: in microseconds, as PostgreSQL keeps them.
    let now = now.trunc_subsecs(6);
    let mut claimed: Vec<(&str, Uuid, DateTime<Utc>)> = Vec::new();
    for table in TIMER_TABLES {
        let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(&format!(
            "UPDATE {table} t SET claimed_until = $3 FROM ( \
                 SELECT ticket_id FROM {table} \
                 WHERE due_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) \
                 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS c \
             WHERE t.ticket_id = c.ticket_id \
             RETURNING t.ticket_id, t.due_at"
        ))
        .bind(now)
        .bind(BATCH)
        .bind(now + LEASE)
        .fetch_all(&ctx.pool)
        .await?;
        claimed.extend(rows.into_iter().map(|(ticket, due)| (table, ticket, due)));
    }
    // One command a ticket, which records whatever fell due on it in the order it happened.
    let mut tickets: Vec<Uuid> = claimed.iter().map(|(_, ticket, _)| *ticket).collect();
    tickets.sort_unstable();
    tickets.dedup();
    let escalations = ctx.active_escalations.get(ctx).await?;
    let recorded: Vec<Uuid> = stream::iter(tickets)
        .map(|ticket| {
            let escalations = escalations.clone();
            async move { (ticket, record(ctx, ticket, escalations, now).await) }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter_map(|(ticket, outcome)| async move {
            match outcome {
                Ok(()) | Err(ApiError::NotFound(_)) => Some(ticket),
                Err(error) => {
                    tracing::warn!(%ticket, error = %Redacted(&error), "cannot record a due timer; tried again when its lease runs out");
                    None
                }
            }
        })
        .collect()
        .await;
    for table in TIMER_TABLES {
        let (mut tickets, mut instants) = (Vec::new(), Vec::new());
        for (_, ticket, due_at) in claimed.iter().filter(|(t, ..)| *t == table) {
            if recorded.contains(ticket) {
                tickets.push(*ticket);
                instants.push(*due_at);
            }
        }
        // Only the row as claimed: one the projection moved meanwhile is a new instant to wait
        // for.
        sqlx::query(&format!(
            "DELETE FROM {table} t USING unnest($1::uuid[], $2::timestamptz[]) \
                 AS d(ticket_id, due_at) \
             WHERE t.ticket_id = d.ticket_id AND t.due_at = d.due_at"
        ))
        .bind(&tickets)
        .bind(&instants)
        .execute(&ctx.pool)
        .await?;
    }
    Ok(claimed.len())
}

async fn record(
    ctx: &ApiContext,
    ticket: Uuid,
    escalations: Arc<EscalationBook>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let command = TicketCommand::RecordDue(RecordDue {
        caller: Caller {
            actor: Actor {
                sub: TIMER_ACTOR.to_owned(),
                role: ActorRole::Service,
            },
            customer_id: None,
        },
        at: now,
        escalations,
    });
    // The pass's instant, the same the ticket decides with.
    let metadata = EventMetadata {
        occurred_at: now,
        ..ctx.worker_metadata(TIMER_ACTOR)
    };
    ctx.execute_retrying::<Ticket>(ticket, command, &metadata, ATTEMPTS)
        .await
        .map(|_| ())
}
