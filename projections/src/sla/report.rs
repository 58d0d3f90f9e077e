//! `sla_report`: the verdicts of the tickets' SLA clocks, which the SLA report reads. A clock gets
//! a row when it has a verdict (met, or breached) and loses it when a reopening withdraws a met
//! verdict; the row carries the ticket's priority, category, tier and policy at the verdict. The
//! ticket's own dimensions live in `sla_report_tickets`, kept from its events, so the read model
//! needs no other. Every SLA event carries both clocks as they stand after it, so each one says
//! where each clock's verdict stands. docs/sla.md defines the figures the report makes of it.
//! The verdicts are also counted per UTC day, week and month of the verdict
//! (`sla_verdict_counts`), by what the compliance figures group them by, so that a period of
//! whole days is counted from a few rows (`grain.rs`) rather than from every verdict.

mod query;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use support_domain::sla::{ClockKind, SlaClocks};
use support_domain::ticket::TicketEvent;
use support_domain::RecordedEvent;
use uuid::Uuid;

pub use query::{
    compliance, report, BreachCounts, CategoryReport, ClockReport, Compliance, Durations,
    PriorityReport, ReportFilter, SlaCompliance, SlaReport, TopBreach, TOP_BREACHES,
};

use crate::copy_rows::copy_rows;
use crate::grain::Grain;
use crate::tickets::AGGREGATE_TYPE;
use crate::{Projection, ProjectionError, Redacted};

pub const READ_MODEL: &str = "sla_report";

/// The events the read model reads: a ticket's dimensions and its clocks.
const READ_EVENTS: &[&str] = &[
    "TicketOpened",
    "TicketReprioritized",
    "TicketRecategorized",
    "TicketCustomerTierChanged",
    "SlaPolicyApplied",
    "SlaClocksPaused",
    "SlaClocksResumed",
    "SlaClockCompleted",
    "SlaClockRestarted",
    "SlaClocksStopped",
    "SlaWarningReached",
    "SlaBreached",
];

pub struct SlaReportProjection;

#[async_trait]
impl Projection for SlaReportProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["sla_report", "sla_report_tickets", "sla_verdict_counts"]
    }

    /// Folds the batch's events into each ticket's state and verdict rows in memory, from the rows
    /// as they stood, then writes each ticket it touched again: a few statements a batch.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let read: Vec<&RecordedEvent> = events
            .iter()
            .copied()
            .filter(|e| READ_EVENTS.contains(&e.event_type.as_str()))
            .collect();
        if read.is_empty() {
            return Ok(());
        }
        let mut tickets: Vec<Uuid> = Vec::with_capacity(read.len());
        for event in &read {
            tickets.push(
                Uuid::parse_str(&event.aggregate_id)
                    .map_err(|e| ProjectionError::undecodable_event(event, e))?,
            );
        }
        // Only the rows of tickets opened before the batch are read and written again.
        let stored = super::already_stored(events, tickets.iter().copied());
        let (mut states, mut verdicts) = if stored.is_empty() {
            (HashMap::new(), HashMap::new())
        } else {
            stored_rows(conn, &stored).await?
        };
        // Each stored verdict is rewritten: counted out now, counted in as it ends the batch.
        let mut counts = VerdictCounts::default();
        for row in verdicts.values() {
            counts.add(row, -1);
        }

        for (event, ticket) in read.iter().zip(tickets) {
            let decoded = TicketEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
            if let TicketEvent::TicketOpened {
                ticket_number,
                content,
                sla,
                ..
            } = &decoded
            {
                states.insert(
                    ticket,
                    TicketState {
                        ticket_id: ticket,
                        ticket_number: ticket_number.as_str().to_owned(),
                        priority: content.priority.as_str().to_owned(),
                        category: content.category.as_str().to_owned(),
                        customer_tier: content.customer_tier.map(|t| t.as_str().to_owned()),
                        policy_id: sla.as_ref().map(|sla| sla.terms.policy_id),
                        opened_at: event.occurred_at,
                    },
                );
                // Clocks just started have no verdict.
                continue;
            }
            let state = states.get_mut(&ticket).ok_or_else(|| {
                ProjectionError::undecodable_event(event, "the ticket's opening was never applied")
            })?;
            let (clocks, completed) = match decoded {
                TicketEvent::TicketReprioritized { to, .. } => {
                    state.priority = to.as_str().to_owned();
                    continue;
                }
                TicketEvent::TicketRecategorized { to, .. } => {
                    state.category = to.as_str().to_owned();
                    continue;
                }
                TicketEvent::TicketCustomerTierChanged { to, .. } => {
                    state.customer_tier = to.map(|t| t.as_str().to_owned());
                    continue;
                }
                TicketEvent::SlaPolicyApplied { terms, clocks, .. } => {
                    state.policy_id = Some(terms.policy_id);
                    (clocks, None)
                }
                TicketEvent::SlaClockCompleted { clock, clocks } => (clocks, Some(clock)),
                TicketEvent::SlaClocksPaused { clocks, .. }
                | TicketEvent::SlaClocksResumed { clocks, .. }
                | TicketEvent::SlaClockRestarted { clocks, .. }
                | TicketEvent::SlaClocksStopped { clocks }
                | TicketEvent::SlaWarningReached { clocks, .. }
                | TicketEvent::SlaBreached { clocks, .. } => (clocks, None),
                _ => continue,
            };
            for kind in ClockKind::ALL {
                let key = (ticket, kind.as_str().to_owned());
                let before = verdicts.remove(&key);
                let after = verdict_row(state, *kind, &clocks, completed == Some(*kind), before);
                if let Some(row) = after {
                    verdicts.insert(key, row);
                }
            }
        }

        // Each touched ticket's rows are written again, whatever changed.
        if !stored.is_empty() {
            sqlx::query(
                "WITH states AS (DELETE FROM sla_report_tickets WHERE ticket_id = ANY($1)) \
                 DELETE FROM sla_report WHERE ticket_id = ANY($1)",
            )
            .bind(&stored)
            .execute(&mut *conn)
            .await?;
        }
        let mut states: Vec<TicketState> = states.into_values().collect();
        states.sort_unstable_by_key(|s| s.ticket_id);
        copy_rows(conn, "sla_report_tickets", &states).await?;
        let mut verdicts: Vec<VerdictRow> = verdicts.into_values().collect();
        verdicts.sort_unstable_by(|a, b| (a.ticket_id, &a.clock).cmp(&(b.ticket_id, &b.clock)));
        copy_rows(conn, "sla_report", &verdicts).await?;
        for row in &verdicts {
            counts.add(row, 1);
        }
        counts.write(conn).await
    }
}

/// A row of `sla_verdict_counts`: grain, the day, week or month it starts on, clock, priority,
/// category, tier ('' for none), verdict, and whether the clock still counts.
type CountKey = (
    Grain,
    NaiveDate,
    String,
    String,
    String,
    String,
    String,
    bool,
);

/// The changes to `sla_verdict_counts`, a column each, for `unnest`.
#[derive(Default)]
struct CountColumns {
    grains: Vec<&'static str>,
    starts: Vec<NaiveDate>,
    clocks: Vec<String>,
    priorities: Vec<String>,
    categories: Vec<String>,
    tiers: Vec<String>,
    verdicts: Vec<String>,
    open: Vec<bool>,
    counts: Vec<i64>,
}

/// What a batch changes in `sla_verdict_counts`.
#[derive(Default)]
struct VerdictCounts(HashMap<CountKey, i64>);

impl VerdictCounts {
    fn add(&mut self, row: &VerdictRow, times: i64) {
        let day = row.verdict_at.date_naive();
        for grain in Grain::ALL {
            let key = (
                grain,
                grain.start(day),
                row.clock.clone(),
                row.priority.clone(),
                row.category.clone(),
                row.customer_tier.clone().unwrap_or_default(),
                row.verdict.clone(),
                row.ended_at.is_none(),
            );
            *self.0.entry(key).or_default() += times;
        }
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        let mut changes: Vec<(CountKey, i64)> =
            self.0.into_iter().filter(|(_, n)| *n != 0).collect();
        if changes.is_empty() {
            return Ok(());
        }
        changes.sort_unstable();
        let mut c = CountColumns::default();
        for ((grain, starts_on, clock, priority, category, tier, verdict, open), n) in changes {
            c.grains.push(grain.as_str());
            c.starts.push(starts_on);
            c.clocks.push(clock);
            c.priorities.push(priority);
            c.categories.push(category);
            c.tiers.push(tier);
            c.verdicts.push(verdict);
            c.open.push(open);
            c.counts.push(n);
        }
        sqlx::query(
            "INSERT INTO sla_verdict_counts \
             SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::boolean[], $9::bigint[]) \
             ON CONFLICT (grain, starts_on, clock, priority, category, customer_tier, verdict, open) \
             DO UPDATE SET clocks = sla_verdict_counts.clocks + excluded.clocks",
        )
        .bind(&c.grains)
        .bind(&c.starts)
        .bind(&c.clocks)
        .bind(&c.priorities)
        .bind(&c.categories)
        .bind(&c.tiers)
        .bind(&c.verdicts)
        .bind(&c.open)
        .bind(&c.counts)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM sla_verdict_counts WHERE clocks = 0")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

type StoredRows = (
    HashMap<Uuid, TicketState>,
    HashMap<(Uuid, String), VerdictRow>,
);

/// The state and verdict rows of `tickets`.
async fn stored_rows(
    conn: &mut PgConnection,
    tickets: &[Uuid],
) -> Result<StoredRows, ProjectionError> {
    let states = sqlx::query_as::<_, TicketState>(
        "SELECT * FROM sla_report_tickets WHERE ticket_id = ANY($1)",
    )
    .bind(tickets)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|state| (state.ticket_id, state))
    .collect();
    let verdicts =
        sqlx::query_as::<_, VerdictRow>("SELECT * FROM sla_report WHERE ticket_id = ANY($1)")
            .bind(tickets)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|row| ((row.ticket_id, row.clock.clone()), row))
            .collect();
    Ok((states, verdicts))
}

/// A row of `sla_report_tickets`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
struct TicketState {
    ticket_id: Uuid,
    ticket_number: String,
    priority: String,
    category: String,
    customer_tier: Option<String>,
    policy_id: Option<Uuid>,
    opened_at: DateTime<Utc>,
}

/// A row of `sla_report`: one clock's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
struct VerdictRow {
    ticket_id: Uuid,
    clock: String,
    ticket_number: String,
    priority: String,
    category: String,
    customer_tier: Option<String>,
    policy_id: Uuid,
    verdict: String,
    verdict_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    target_seconds: f64,
    counted_seconds: Option<f64>,
    calendar_seconds: Option<f64>,
    breach_seconds: Option<f64>,
}

/// The row of `kind`'s clock after an SLA event left `clocks`, given its row `before` it.
/// `completing`: the event is this clock's completion, so an end it records is a kept promise
/// rather than a cancellation's stop.
fn verdict_row(
    state: &TicketState,
    kind: ClockKind,
    clocks: &SlaClocks,
    completing: bool,
    before: Option<VerdictRow>,
) -> Option<VerdictRow> {
    let clock = clocks.clock(kind);
    let (verdict, verdict_at) = clock.verdict()?;
    let verdict = verdict.as_str();
    let completed_at = match (clock.ended_at, &before) {
        (Some(ended), _) if completing => Some(ended),
        // Ended as it was at the last event: completed then, or stopped then.
        (Some(ended), Some(row)) if row.ended_at == Some(ended) => row.completed_at,
        _ => None,
    };
    // The same verdict keeps what it was filed under: a ticket reprioritized after its breach
    // still counts the breach under the priority, policy and target it had.
    let kept = before.filter(|b| b.verdict == verdict && b.verdict_at == verdict_at);
    let (priority, category, customer_tier, policy_id, target) = match kept {
        Some(row) => (
            row.priority,
            row.category,
            row.customer_tier,
            row.policy_id,
            row.target_seconds,
        ),
        None => (
            state.priority.clone(),
            state.category.clone(),
            state.customer_tier.clone(),
            state.policy_id?,
            f64::from(clock.target.get()) * 60.0,
        ),
    };
    let counted = clock
        .ended_at
        .map(|_| seconds(TimeDelta::microseconds(clock.counted_micros)));
    Some(VerdictRow {
        ticket_id: state.ticket_id,
        clock: kind.as_str().to_owned(),
        ticket_number: state.ticket_number.clone(),
        priority,
        category,
        customer_tier,
        policy_id,
        verdict: verdict.to_owned(),
        verdict_at,
        started_at: state.opened_at,
        ended_at: clock.ended_at,
        completed_at,
        target_seconds: target,
        counted_seconds: counted,
        calendar_seconds: completed_at.map(|done| seconds(done - state.opened_at)),
        breach_seconds: counted
            .filter(|_| clock.breached_at.is_some())
            .map(|counted| (counted - target).max(0.0)),
    })
}

fn seconds(time: TimeDelta) -> f64 {
    time.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

#[cfg(test)]
mod tests;
