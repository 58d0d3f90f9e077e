//! `GET /tickets/{key}/escalations`: a ticket's escalation chain, every step it took up a ladder,
//! read from its events (the audit trail itself, so the chain and the history never disagree).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use support_domain::escalation::EscalationLadder;
use support_domain::ticket::TicketEvent;
use support_domain::ActorRole;
use support_projections::escalation::RecipientsFields;
use support_projections::event_log::opened_history;
use support_projections::tickets::{self, TicketKey, AGGREGATE_TYPE};
use support_projections::{schema, ProjectionError, Redacted};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ActorView, KEY, NOT_FOUND};
use crate::auth::Principal;
use crate::extract::ApiPath;
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

/// Who reads escalation chains: the staff who work tickets, and auditors; not customers.
const READERS: &[ActorRole] = &[
    ActorRole::Agent,
    ActorRole::Admin,
    ActorRole::Service,
    ActorRole::Auditor,
];

/// One step of a ticket's escalation chain.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalationStepView {
    /// The `TicketEscalated` event's sequence in the ticket's history.
    pub sequence: i64,
    /// The level stepped onto (1-based, on its ladder).
    pub level: u32,
    /// 1 for the ladder's first climb, one more for each repeat.
    pub round: u32,
    /// What caused this step: MANUAL for a step by hand, else what started the climb.
    #[schema(schema_with = schema::escalation_trigger)]
    pub trigger: String,
    pub reason: String,
    /// Who the level calls on.
    pub recipients: RecipientsFields,
    /// The escalation policy whose ladder the step is on; `null` for a step without a ladder.
    pub policy_id: Option<Uuid>,
    pub policy_name: Option<String>,
    pub escalated_at: DateTime<Utc>,
    pub escalated_by: ActorView,
    /// When the ticket climbs on by itself if its clock is still unmet; `null`: it does not.
    pub next_level_at: Option<DateTime<Utc>>,
}

/// A ticket's escalation chain, oldest step first. Staff and auditors.
#[utoipa::path(get, path = "/api/v1/support/tickets/{key}/escalations", tag = "tickets",
    params(("key" = String, Path, description = KEY)),
    responses((status = 200, description = "The steps, oldest first", body = Vec<EscalationStepView>),
        (status = 403, description = "Customers do not read escalation chains", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn ticket_escalations(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<EscalationStepView>>, ApiError> {
    principal.require(READERS, "read escalation chains")?;
    let key = TicketKey::parse(&key).ok_or(ApiError::NotFound("ticket"))?;
    let ticket = tickets::find(&ctx.pool, &key, &principal.ticket_scope())
        .await?
        .ok_or(ApiError::NotFound("ticket"))?;
    let events = opened_history(
        &ctx.pool,
        &ctx.data_keys,
        AGGREGATE_TYPE,
        &ticket.id.to_string(),
    )
    .await?;
    let mut ladder: Option<EscalationLadder> = None;
    let mut steps = Vec::new();
    for event in events.iter().filter(|e| e.event_type == "TicketEscalated") {
        let decoded = TicketEvent::from_parts(&event.event_type, &event.payload)
            .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))
            .map_err(anyhow::Error::from)?;
        let TicketEvent::TicketEscalated {
            level,
            reason,
            trigger,
            recipients,
            ladder: started,
            round,
            next_level_at,
        } = decoded
        else {
            continue;
        };
        // A step without a ladder of its own is on the ladder the climb started with, if any.
        match started {
            Some(started) => ladder = Some(*started),
            None if recipients.is_empty() => ladder = None,
            None => {}
        }
        steps.push(EscalationStepView {
            sequence: event.sequence,
            level,
            round,
            trigger: trigger.as_str().to_owned(),
            reason: reason.as_str().to_owned(),
            recipients: RecipientsFields::from(&recipients),
            policy_id: ladder.as_ref().map(|l| l.policy_id),
            policy_name: ladder.as_ref().map(|l| l.policy_name.as_str().to_owned()),
            escalated_at: event.occurred_at,
            escalated_by: event.metadata.actor().into(),
            next_level_at,
        });
    }
    Ok(Json(steps))
}
