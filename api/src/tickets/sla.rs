//! `GET /tickets/{key}/sla`: a ticket's SLA explained step by step from its events: the policy
//! matched and why, each start, pause, resume, re-match, warning, breach and end, with its instant
//! and the deadlines it left.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use support_domain::sla::{ClockKind, OpeningSla, PauseReason, SlaClocks, SlaMatch, SlaTerms};
use support_domain::ticket::TicketEvent;
use support_domain::RecordedEvent;
use support_projections::event_log::aggregate_history;
use support_projections::tickets::{self, SlaClocksView, TicketKey, AGGREGATE_TYPE};
use support_projections::{ProjectionError, Redacted};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

/// A ticket's SLA: its clocks now, and how they came to be.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaExplanation {
    pub ticket_id: Uuid,
    pub ticket_number: String,
    /// Null for a ticket no policy matched.
    pub clocks: Option<SlaClocksView>,
    /// Oldest first.
    pub steps: Vec<SlaStep>,
}

/// One step of a ticket's SLA: one SLA event, or the opening under a policy.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaStep {
    /// The event's sequence in the ticket's stream.
    pub sequence: i64,
    /// The event, as the catalogue names it.
    pub event_type: String,
    /// When it happened: a warning's or breach's own instant, however late it was recorded.
    pub at: DateTime<Utc>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The clock the step concerns; null when it concerns both.
    #[schema(schema_with = support_projections::schema::clock_kind_or_null)]
    pub clock: Option<String>,
    /// What happened and why, in words.
    pub explanation: String,
    /// The policy applied, on the steps that apply one.
    pub policy_id: Option<Uuid>,
    /// Why the clocks paused or what no longer holds them, on `SlaClocksPaused` and
    /// `SlaClocksResumed`: `WAITING_CUSTOMER` or `INCIDENT` (an active incident linked to the
    /// ticket).
    #[schema(schema_with = support_projections::schema::pause_reason_or_null)]
    pub pause_reason: Option<String>,
    pub response_deadline: Option<DateTime<Utc>>,
    pub resolution_deadline: Option<DateTime<Utc>>,
}

/// Explain a ticket's SLA step by step.
#[utoipa::path(get, path = "/api/v1/support/tickets/{key}/sla", tag = "tickets",
    params(("key" = String, Path, description = super::KEY)),
    responses((status = 200, description = "The clocks now, and every SLA step, oldest first", body = SlaExplanation),
        (status = 404, description = super::NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn explain_sla(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Json<SlaExplanation>, ApiError> {
    let key = TicketKey::parse(&key).ok_or(ApiError::NotFound("ticket"))?;
    let mut ticket = tickets::find(&ctx.pool, &key, &principal.ticket_scope())
        .await?
        .ok_or(ApiError::NotFound("ticket"))?;
    ticket.read_clocks(ctx.clock.now());
    // SLA events carry no personal data: they are read as stored, without the ticket's key.
    let mut conn = ctx.pool.acquire().await?;
    let events = aggregate_history(&mut *conn, AGGREGATE_TYPE, &ticket.id.to_string()).await?;
    let mut steps = Vec::new();
    let mut terms: Option<SlaTerms> = None;
    let sla_events = events
        .iter()
        .filter(|e| e.event_type == "TicketOpened" || e.event_type.starts_with("Sla"));
    for recorded in sla_events {
        let step = if recorded.event_type == "TicketOpened" {
            // Only the policy it opened under is read; the rest of it stays sealed.
            let Some(sla) = opening_sla(recorded)? else {
                continue;
            };
            applied_step(&sla.terms, &sla.matched, &sla.clocks(), &mut terms)
        } else {
            let event = TicketEvent::from_parts(&recorded.event_type, &recorded.payload)
                .map_err(|e| ProjectionError::undecodable_event(recorded, Redacted(&e)))?;
            let Some(step) = step(&event, &mut terms) else {
                continue;
            };
            step
        };
        steps.push(SlaStep {
            sequence: recorded.sequence,
            event_type: recorded.event_type.clone(),
            at: step.at.unwrap_or(recorded.occurred_at),
            recorded_at: recorded.occurred_at,
            clock: step.clock.map(|c| c.as_str().to_owned()),
            explanation: step.explanation,
            policy_id: step.policy_id,
            pause_reason: step.pause_reason.map(|r| r.as_str().to_owned()),
            response_deadline: step.clocks.response.deadline,
            resolution_deadline: step.clocks.resolution.deadline,
        });
    }
    Ok(Json(SlaExplanation {
        ticket_id: ticket.id,
        ticket_number: ticket.ticket_number,
        clocks: ticket.sla_clocks,
        steps,
    }))
}

struct Step {
    at: Option<DateTime<Utc>>,
    clock: Option<ClockKind>,
    explanation: String,
    policy_id: Option<Uuid>,
    pause_reason: Option<PauseReason>,
    clocks: SlaClocks,
}

/// The policy a ticket opened under, if one matched.
fn opening_sla(opening: &RecordedEvent) -> Result<Option<OpeningSla>, ProjectionError> {
    match opening.payload.get("sla") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(sla) => OpeningSla::deserialize(sla)
            .map(Some)
            .map_err(|e| ProjectionError::undecodable_event(opening, Redacted(&e))),
    }
}

/// The step of a policy applied, at opening or again; `terms` is in force from then.
fn applied_step(
    applied: &SlaTerms,
    matched: &SlaMatch,
    clocks: &SlaClocks,
    terms: &mut Option<SlaTerms>,
) -> Step {
    let again = terms.is_some();
    let explanation = applied_in_words(applied, matched, again, clocks);
    *terms = Some(applied.clone());
    Step {
        at: None,
        clock: None,
        explanation,
        policy_id: Some(applied.policy_id),
        pause_reason: None,
        clocks: clocks.clone(),
    }
}

fn pause_in_words(reason: PauseReason) -> &'static str {
    match reason {
        PauseReason::WaitingCustomer => "the ticket waits for the customer",
        PauseReason::Incident => "an active incident linked to the ticket holds it",
    }
}

/// The step an SLA event is, in words; `terms` follows the policy in force.
fn step(event: &TicketEvent, terms: &mut Option<SlaTerms>) -> Option<Step> {
    let step = |clock: Option<ClockKind>, explanation: String, clocks: &SlaClocks| Step {
        at: None,
        clock,
        explanation,
        policy_id: None,
        pause_reason: None,
        clocks: clocks.clone(),
    };
    Some(match event {
        TicketEvent::SlaPolicyApplied {
            terms: applied,
            matched,
            clocks,
        } => applied_step(applied, matched, clocks, terms),
        TicketEvent::SlaClocksPaused { clocks, reason } => Step {
            pause_reason: Some(*reason),
            ..step(
            None,
            format!(
                "Paused ({reason}) while {}: {} of the response target and {} of the resolution target counted.",
                pause_in_words(*reason),
                counted(clocks, ClockKind::Response),
                counted(clocks, ClockKind::Resolution)
            ),
            clocks,
        )},
        TicketEvent::SlaClocksResumed { clocks, reason } => Step {
            pause_reason: Some(*reason),
            ..step(
            None,
            match clocks.paused_for.first() {
                None => format!(
                    "Resumed ({reason}): no longer {}; the deadlines moved by the paused time counted in the policy's calendar.",
                    pause_in_words(*reason)
                ),
                Some(still) => format!(
                    "No longer {} ({reason}), but still paused ({still}) while {}.",
                    pause_in_words(*reason),
                    pause_in_words(*still)
                ),
            },
            clocks,
        )},
        TicketEvent::SlaClockCompleted { clock, clocks } => {
            let c = clocks.clock(*clock);
            let verdict = if c.breached_at.is_some() {
                "completed after its breach"
            } else {
                "met"
            };
            let what = match clock {
                ClockKind::Response => "the first public reply by staff, or the resolution",
                ClockKind::Resolution => "the ticket was resolved",
            };
            step(
                Some(*clock),
                format!(
                    "The {} clock is {verdict}: {what}, after {} counted of a {}-minute target.",
                    clock.as_str().to_lowercase(),
                    counted(clocks, *clock),
                    c.target.get()
                ),
                clocks,
            )
        }
        TicketEvent::SlaClockRestarted { clock, clocks } => step(
            Some(*clock),
            format!(
                "The ticket was reopened: the {} clock counts on from {} already counted.",
                clock.as_str().to_lowercase(),
                counted(clocks, *clock)
            ),
            clocks,
        ),
        TicketEvent::SlaClocksStopped { clocks } => step(
            None,
            "Stopped without a verdict: the ticket was cancelled.".to_owned(),
            clocks,
        ),
        TicketEvent::SlaWarningReached { clock, at, clocks } => Step {
            at: Some(*at),
            ..step(
                Some(*clock),
                format!(
                    "Warning: the {} clock passed {}% of its target.",
                    clock.as_str().to_lowercase(),
                    clocks.clock(*clock).warning_threshold.get()
                ),
                clocks,
            )
        },
        TicketEvent::SlaBreached { clock, at, clocks } => Step {
            at: Some(*at),
            ..step(
                Some(*clock),
                format!(
                    "Breached: the {} clock reached its {}-minute target without being met.",
                    clock.as_str().to_lowercase(),
                    clocks.clock(*clock).target.get()
                ),
                clocks,
            )
        },
        _ => return None,
    })
}

fn applied_in_words(
    terms: &SlaTerms,
    matched: &SlaMatch,
    again: bool,
    clocks: &SlaClocks,
) -> String {
    let tier = match matched.customer_tier {
        Some(tier) => format!("customer tier {tier}"),
        None => "no customer tier".to_owned(),
    };
    let scope = match matched.policy_tier {
        Some(tier) => format!("it is the policy for {} and tier {tier}", matched.priority),
        None => format!("it is the policy for {} and every tier", matched.priority),
    };
    let calendar = &terms.calendar;
    let hours = if calendar.counts_business_hours() {
        let fields = calendar.fields();
        format!(
            "in business hours {}–{} on ISO days {:?} in {}",
            fields.business_hours_start.unwrap_or_default(),
            fields.business_hours_end.unwrap_or_default(),
            fields.business_days.unwrap_or_default(),
            fields.timezone
        )
    } else {
        format!("around the clock ({})", calendar.timezone().name())
    };
    let start = if again {
        format!(
            "Matched again after a change: the time counted so far is kept ({} response, {} resolution).",
            counted(clocks, ClockKind::Response),
            counted(clocks, ClockKind::Resolution)
        )
    } else {
        "Both clocks start.".to_owned()
    };
    format!(
        "Policy \"{}\" applies to a {} ticket with {tier}: {scope}. Response within {} min, resolution within {} min, counted {hours}. {start}",
        terms.policy_name.as_str(),
        matched.priority,
        terms.response_time_target.get(),
        terms.resolution_time_target.get(),
    )
}

/// The time a clock had counted at its event, in minutes and seconds.
fn counted(clocks: &SlaClocks, clock: ClockKind) -> String {
    let seconds = clocks.clock(clock).counted_micros / 1_000_000;
    format!("{}m{:02}s", seconds / 60, seconds % 60)
}
