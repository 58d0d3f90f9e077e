//! The SLA timer: records warnings and breaches when their instants come. It sleeps until the
//! earliest row of `sla_timers`, or until the projection announces an earlier one, claims the due
//! rows with `FOR UPDATE SKIP LOCKED` (so timers side by side share the work and never record a
//! row twice), and sends each ticket the command that records it. The ticket decides on its own
//! state, with the true instant: a row made stale by a pause, or recorded already, records
//! nothing; a timer that was down over a deadline records the breach at the deadline when it
//! starts.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures::stream::{self, StreamExt};
use sqlx::postgres::PgListener;
use support_domain::sla::{ClockKind, DueKind};
use support_domain::ticket::{RecordSlaDue, Ticket, TicketCommand};
use support_domain::{Actor, ActorRole, Caller, EventMetadata};
use support_projections::sla::timers::TIMERS_CHANNEL;
use support_projections::Redacted;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::startup::ApiContext;

/// Who the timer's events are recorded as.
pub const TIMER_ACTOR: &str = "sla-timer";
/// Rows claimed in one transaction, and recorded this many at once.
const BATCH: i64 = 256;
const IN_FLIGHT: usize = 16;
/// A command that loses a race with another command on its ticket is tried again at once.
const ATTEMPTS: usize = 5;

/// Runs until the process stops; a lost database connection is retried after a second.
pub async fn run(ctx: ApiContext) {
    loop {
        if let Err(error) = watch(&ctx).await {
            tracing::warn!(error = %Redacted(&error), "the SLA timer stopped; restarting");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn watch(ctx: &ApiContext) -> Result<(), ApiError> {
    let mut listener = PgListener::connect_with(&ctx.pool)
        .await
        .map_err(anyhow::Error::from)?;
    listener
        .listen(TIMERS_CHANNEL)
        .await
        .map_err(anyhow::Error::from)?;
    loop {
        while record_due(ctx, ctx.clock.now()).await? == BATCH as usize {}
        let mut wake_at: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT min(due_at) FROM sla_timers")
                .fetch_one(&ctx.pool)
                .await?;
        // Sleeps until the next row is due (a day at most: a clock moved by hand or a lost
        // notification costs no more); a new row wakes it only if it is due sooner.
        loop {
            let until = wake_at
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
                .min(ctx.clock.now() + chrono::TimeDelta::days(1));
            tokio::select! {
                _ = ctx.clock.sleep_until(until) => break,
                notification = listener.recv() => {
                    let notification = notification.map_err(anyhow::Error::from)?;
                    let due = DateTime::parse_from_rfc3339(notification.payload())
                        .map(|d| d.with_timezone(&Utc))
                        .ok();
                    match (due, wake_at) {
                        (Some(due), Some(at)) if due >= at => {}
                        (Some(due), _) => wake_at = Some(due),
                        (None, _) => break,
                    }
                }
            }
        }
    }
}

/// Claims the rows due at `now`, earliest first, records each, and returns how many it claimed.
/// A row is deleted once its ticket took the command, whatever it recorded; a row whose command
/// failed stays, for the next pass.
pub async fn record_due(ctx: &ApiContext, now: DateTime<Utc>) -> Result<usize, ApiError> {
    // As every command's time: in microseconds, as PostgreSQL keeps them.
    let now = now.trunc_subsecs(6);
    let mut claim = ctx.pool.begin().await?;
    let due: Vec<(Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT ticket_id, clock, kind, due_at FROM sla_timers WHERE due_at <= $1 \
         ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(&mut *claim)
    .await?;
    let claimed = due.len();
    let done: Vec<_> = stream::iter(due)
        .map(|(ticket, clock, kind, due_at)| async move {
            let outcome = record(ctx, ticket, &clock, &kind, now).await;
            (ticket, clock, kind, due_at, outcome)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let (mut tickets, mut clocks, mut kinds, mut instants) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (ticket, clock, kind, due_at, outcome) in done {
        match outcome {
            Ok(()) | Err(ApiError::NotFound(_)) => {
                tickets.push(ticket);
                clocks.push(clock);
                kinds.push(kind);
                instants.push(due_at);
            }
            Err(error) => {
                tracing::warn!(%ticket, error = %Redacted(&error), "cannot record an SLA timer; retried on the next pass")
            }
        }
    }
    // Only the row as claimed: one the projection moved meanwhile is a new instant to wait for.
    sqlx::query(
        "DELETE FROM sla_timers t USING unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) \
             AS d(ticket_id, clock, kind, due_at) \
         WHERE t.ticket_id = d.ticket_id AND t.clock = d.clock AND t.kind = d.kind \
             AND t.due_at = d.due_at",
    )
    .bind(&tickets)
    .bind(&clocks)
    .bind(&kinds)
    .bind(&instants)
    .execute(&mut *claim)
    .await?;
    claim.commit().await?;
    Ok(claimed)
}

async fn record(
    ctx: &ApiContext,
    ticket: Uuid,
    clock: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let clock = ClockKind::parse(clock).map_err(anyhow::Error::msg)?;
    let due = RecordSlaDue {
        caller: Caller {
            actor: Actor {
                sub: TIMER_ACTOR.to_owned(),
                role: ActorRole::Service,
            },
            customer_id: None,
        },
        clock,
        at: now,
    };
    let command = match DueKind::parse(kind).map_err(anyhow::Error::msg)? {
        DueKind::Warning => TicketCommand::RecordSlaWarning(due),
        DueKind::Breach => TicketCommand::RecordSlaBreach(due),
    };
    let request_id = Uuid::new_v4().to_string();
    let metadata = EventMetadata {
        actor_sub: TIMER_ACTOR.to_owned(),
        actor_role: ActorRole::Service,
        correlation_id: request_id.clone(),
        request_id,
        causation_id: None,
        occurred_at: now,
        source: "worker".to_owned(),
    };
    let mut attempt = 1;
    loop {
        match ctx
            .execute::<Ticket>(ticket, command.clone(), &metadata)
            .await
        {
            Err(ApiError::Conflict { .. }) if attempt < ATTEMPTS => attempt += 1,
            outcome => return outcome.map(|_| ()),
        }
    }
}
