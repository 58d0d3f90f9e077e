//! The ticket endpoints: thin handlers that parse, authorise, run one command and answer with the
//! read model as it stands after that command.

pub mod escalations;
pub mod requests;
pub mod satisfaction;
pub mod sla;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use support_domain::ticket::{
    AddComment, AgentId, EscalateTicket, OpenTicket, Ticket, TicketCommand, TicketNumber,
};
use support_domain::{Actor, ActorRole, RecordedEvent};
use support_projections::event_log::{aggregate_history_as_of, missing_aggregates, opened_history};
use support_projections::page::Page;
use support_projections::tickets::{
    self, LongLists, TicketDetail, TicketKey, TicketScope, TicketView, AGGREGATE_TYPE, READ_MODEL,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::commands::{CommandAccepted, Committed, RequestIds};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::numbering;
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;
use requests::{
    AddCommentRequest, CreateTicketRequest, EscalateRequest, TicketListQuery, TicketQuery,
    UpdateTicketRequest,
};

const STAFF: &[ActorRole] = &[ActorRole::Agent, ActorRole::Admin];
/// Every role but the read-only auditor.
const WRITERS: &[ActorRole] = &[
    ActorRole::Customer,
    ActorRole::Agent,
    ActorRole::Admin,
    ActorRole::Service,
];

/// The descriptions the annotations share.
const KEY: &str = "Ticket id (a UUID) or number (TKT-YYYYMMDD-XXXX)";
const NOT_FOUND: &str = "No such ticket, or one the caller may not see";
const ACCEPTED: &str =
    "Recorded; the read model did not show it within the wait bound. Poll Location.";

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/tickets", post(create_ticket).get(list_tickets))
        .route("/tickets/{key}", get(get_ticket).put(update_ticket))
        .route("/tickets/{key}/comments", post(add_comment))
        .route("/tickets/{key}/escalate", post(escalate_ticket))
        .route(
            "/tickets/{key}/escalations",
            get(escalations::ticket_escalations),
        )
        .route("/tickets/{key}/history", get(ticket_history))
        .route("/tickets/{key}/sla", get(sla::explain_sla))
        .route(
            "/tickets/{key}/satisfaction",
            post(satisfaction::rate_satisfaction).get(satisfaction::get_satisfaction),
        )
        .layer(Extension(LongLists::default()))
}

/// One entry of a ticket's audit trail: one event, as recorded.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: ActorView,
    pub source: String,
    pub request_id: String,
    pub correlation_id: String,
    /// The event's payload: what changed.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

/// Who caused an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorView {
    pub sub: String,
    #[schema(schema_with = support_projections::schema::actor_role)]
    pub role: String,
}

impl From<Actor> for ActorView {
    fn from(actor: Actor) -> Self {
        Self {
            sub: actor.sub,
            role: actor.role.as_str().to_owned(),
        }
    }
}

/// The ticket a command names by id or number, found on the write side: a ticket whose opening
/// the read model does not show yet can be worked at once. Whether the caller may reach it is the
/// aggregate's decision.
pub(crate) async fn ticket_id(ctx: &ApiContext, key: &str) -> Result<Uuid, ApiError> {
    if let Ok(id) = Uuid::parse_str(key) {
        return Ok(id);
    }
    let number = TicketNumber::parse(key).map_err(|_| ApiError::NotFound("ticket"))?;
    let (day, counter) = number.day_and_counter();
    numbering::holder(&ctx.pool, TicketNumber::PREFIX, Some(day), counter)
        .await?
        .ok_or(ApiError::NotFound("ticket"))
}

/// Answers a ticket command with the ticket once the read model shows the command's events, its
/// clocks read at the command's own instant `at`.
async fn answer_with_ticket(
    ctx: &ApiContext,
    status: StatusCode,
    committed: Committed,
    principal: &Principal,
    at: DateTime<Utc>,
) -> Response {
    let id = committed.id;
    let location = format!("/api/v1/support/tickets/{id}");
    ctx.answer(status, location, committed, READ_MODEL, || async {
        // The caller could reach the ticket when they acted; the answer shows what their command
        // did even if it moved the ticket out of their scope (a reassignment).
        let detail = tickets::find_detail(
            &ctx.pool,
            &TicketKey::Id(id),
            &TicketScope::Everything,
            principal.sees_internal_notes(),
        )
        .await?;
        Ok(detail.map(|detail| detail.clocks_read_at(at)))
    })
    .await
}

/// Open a ticket.
///
/// Customers open tickets for themselves (`customerId` defaults to theirs). The response is the
/// ticket as the read model shows it; `202` if it did not within the wait bound.
#[utoipa::path(post, path = "/api/v1/support/tickets", tag = "tickets", request_body = CreateTicketRequest,
    responses(
        (status = 201, description = "Ticket opened", body = TicketDetail, headers(("Location" = String, description = "The ticket's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The ticket's URL"))),
        (status = 403, description = "An auditor, or a customer naming another customer's account", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_ticket(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<CreateTicketRequest>,
) -> Result<Response, ApiError> {
    principal.require(WRITERS, "open tickets")?;
    let customer_id = match principal.role {
        ActorRole::Customer => {
            let own = principal.customer_id.clone();
            if body.customer_id.is_some() && body.customer_id != own {
                return Err(ApiError::Forbidden(
                    "customers can only open tickets for themselves".to_owned(),
                ));
            }
            own
        }
        _ => body.customer_id.clone(),
    };
    if principal.role == ActorRole::Customer && body.customer_tier.is_some() {
        return Err(ApiError::Forbidden(
            "customers cannot choose their tier: it comes from their token".to_owned(),
        ));
    }
    let (mut content, suggested_articles_seen) = body
        .parse(customer_id.as_deref())
        .map_err(ApiError::Validation)?;
    if principal.role == ActorRole::Customer {
        content.customer_tier = principal.tier;
    }
    // An actor's id, as valid as an assignee's.
    let on_behalf = body.created_by.as_deref().map(AgentId::parse);
    let created_by = match (principal.role, on_behalf) {
        (ActorRole::Service, Some(Ok(on_behalf))) => on_behalf.as_str().to_owned(),
        _ => principal.sub.clone(),
    };
    let metadata = ctx.metadata(&principal, &ids)?;
    let id = Uuid::new_v4();
    let day = metadata.occurred_at.date_naive();
    let counter = numbering::take(&ctx.pool, TicketNumber::PREFIX, Some(day), id).await?;
    let command = TicketCommand::Open(OpenTicket {
        ticket_id: id,
        ticket_number: TicketNumber::new(day, counter),
        content,
        suggested_articles_seen,
        created_by,
        at: metadata.occurred_at,
        policies: ctx.active_policies.get(&ctx).await?,
    });
    let committed = ctx.create::<Ticket>(id, command, &metadata).await?;
    Ok(answer_with_ticket(
        &ctx,
        StatusCode::CREATED,
        committed,
        &principal,
        metadata.occurred_at,
    )
    .await)
}

/// List tickets the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/support/tickets", tag = "tickets", params(TicketListQuery),
    responses((status = 200, body = Page<TicketView>), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_tickets(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Extension(long_lists): Extension<LongLists>,
    ApiQuery(query): ApiQuery<TicketListQuery>,
) -> Result<Json<Page<TicketView>>, ApiError> {
    let (filter, page) = query.parse().map_err(ApiError::Validation)?;
    let scope = principal.ticket_scope();
    let mut page = tickets::list(&ctx.pool, &filter, &scope, page, &long_lists).await?;
    let now = ctx.clock.now();
    for ticket in &mut page.items {
        ticket.read_clocks(now);
    }
    Ok(Json(page))
}

/// One ticket, by id or by number (`TKT-YYYYMMDD-XXXX`), with its comments; with `asOf`, as it
/// stood at that instant.
///
/// Who may see the ticket is decided on the ticket as it is now, as for its history.
#[utoipa::path(get, path = "/api/v1/support/tickets/{key}", tag = "tickets",
    params(("key" = String, Path, description = KEY), TicketQuery),
    responses((status = 200, description = "The ticket", body = TicketDetail),
        (status = 404, description = "No such ticket, or one the caller may not see, or not opened yet at asOf", body = Problem),
        (status = 422, description = "asOf is not an RFC 3339 instant, or a parameter is unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn get_ticket(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<TicketQuery>,
) -> Result<Json<TicketDetail>, ApiError> {
    let as_of = query.parse().map_err(ApiError::Validation)?;
    let key = TicketKey::parse(&key).ok_or(ApiError::NotFound("ticket"))?;
    let scope = principal.ticket_scope();
    let include_internal = principal.sees_internal_notes();
    let detail = match as_of {
        None => tickets::find_detail(&ctx.pool, &key, &scope, include_internal)
            .await?
            .map(|detail| detail.clocks_read_at(ctx.clock.now())),
        // The clocks as they stood then, too.
        Some(as_of) => match tickets::find(&ctx.pool, &key, &scope).await? {
            Some(ticket) => ticket_as_of(&ctx, ticket.id, as_of, include_internal)
                .await?
                .map(|detail| detail.clocks_read_at(as_of)),
            None => None,
        },
    };
    detail.map(Json).ok_or(ApiError::NotFound("ticket"))
}

/// The ticket as it stood at `as_of`, folded from its events up to then; `None` if it was not
/// opened yet.
async fn ticket_as_of(
    ctx: &ApiContext,
    id: Uuid,
    as_of: DateTime<Utc>,
    include_internal: bool,
) -> Result<Option<TicketDetail>, ApiError> {
    let mut conn = ctx.pool.acquire().await?;
    let events =
        aggregate_history_as_of(&mut *conn, AGGREGATE_TYPE, &id.to_string(), as_of).await?;
    let events = ctx.data_keys.open_all(&mut conn, events).await?;
    Ok(tickets::fold_detail(&events, include_internal)?)
}

/// Change any subset of a ticket's fields, status and assignee included. Staff only.
///
/// Each changed field becomes its own event; all of them are recorded, or none.
#[utoipa::path(put, path = "/api/v1/support/tickets/{key}", tag = "tickets", request_body = UpdateTicketRequest,
    params(("key" = String, Path, description = KEY)),
    responses(
        (status = 200, description = "The ticket after the change", body = TicketDetail, headers(("Location" = String, description = "The ticket's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The ticket's URL"))),
        (status = 403, description = "Customers, services and auditors cannot change tickets", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "Illegal transition (lists allowedStatuses), the assignee rule, a final ticket, a resolutionNote for a resolved ticket, or a concurrent change", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_ticket(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateTicketRequest>,
) -> Result<Response, ApiError> {
    principal.require(STAFF, "change tickets")?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let mut update = body
        .parse(principal.caller(), metadata.occurred_at)
        .map_err(ApiError::Validation)?;
    let id = ticket_id(&ctx, &key).await?;
    if let Some(related) = &update.related_tickets {
        let missing = missing_aggregates(&ctx.pool, AGGREGATE_TYPE, related).await?;
        if let Some(unknown) = missing.first() {
            return Err(ApiError::field(
                "relatedTickets",
                format!("no ticket has the id {unknown}"),
            ));
        }
    }
    if body.rematches() {
        update.policies = ctx.active_policies.get(&ctx).await?;
    }
    update.escalations = ctx.active_escalations.get(&ctx).await?;
    let committed = ctx
        .execute::<Ticket>(id, TicketCommand::Update(update), &metadata)
        .await?;
    Ok(answer_with_ticket(
        &ctx,
        StatusCode::OK,
        committed,
        &principal,
        metadata.occurred_at,
    )
    .await)
}

/// Add a comment. Customers post public replies to their own tickets; staff may post internal notes.
#[utoipa::path(post, path = "/api/v1/support/tickets/{key}/comments", tag = "tickets", request_body = AddCommentRequest,
    params(("key" = String, Path, description = KEY)),
    responses(
        (status = 201, description = "The ticket with the comment", body = TicketDetail, headers(("Location" = String, description = "The ticket's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The ticket's URL"))),
        (status = 403, description = "Services and auditors cannot comment; customers cannot post internal notes", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "The ticket is final, or a concurrent change", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_comment(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<AddCommentRequest>,
) -> Result<Response, ApiError> {
    principal.require(
        &[ActorRole::Customer, ActorRole::Agent, ActorRole::Admin],
        "comment on tickets",
    )?;
    let (body, visibility) = body.parse().map_err(ApiError::Validation)?;
    let id = ticket_id(&ctx, &key).await?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = TicketCommand::AddComment(AddComment {
        comment_id: Uuid::new_v4(),
        caller: principal.caller(),
        at: metadata.occurred_at,
        body,
        visibility,
        escalations: ctx.active_escalations.get(&ctx).await?,
    });
    let committed = ctx.execute::<Ticket>(id, command, &metadata).await?;
    Ok(answer_with_ticket(
        &ctx,
        StatusCode::CREATED,
        committed,
        &principal,
        metadata.occurred_at,
    )
    .await)
}

/// Escalate a ticket one level, with a reason. Staff only.
///
/// A ticket climbing a ladder steps onto its next level (or, past the last, the first again while
/// the ladder repeats); one not climbing starts the ladder of the first escalation rule for
/// `MANUAL` that applies to it; without such a rule it goes one level up, calling nobody.
#[utoipa::path(post, path = "/api/v1/support/tickets/{key}/escalate", tag = "tickets", request_body = EscalateRequest,
    params(("key" = String, Path, description = KEY)),
    responses(
        (status = 200, description = "The ticket one level up", body = TicketDetail, headers(("Location" = String, description = "The ticket's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The ticket's URL"))),
        (status = 403, description = "Customers, services and auditors cannot escalate", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "The ticket is resolved or final, on the last level of a ladder that repeats no more, or a concurrent change", body = Problem)),
    security(("bearer" = [])))]
pub async fn escalate_ticket(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<EscalateRequest>,
) -> Result<Response, ApiError> {
    principal.require(STAFF, "escalate tickets")?;
    let reason = body.parse().map_err(ApiError::Validation)?;
    let id = ticket_id(&ctx, &key).await?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = TicketCommand::Escalate(EscalateTicket {
        caller: principal.caller(),
        at: metadata.occurred_at,
        reason,
        escalations: ctx.active_escalations.get(&ctx).await?,
    });
    let committed = ctx.execute::<Ticket>(id, command, &metadata).await?;
    Ok(answer_with_ticket(
        &ctx,
        StatusCode::OK,
        committed,
        &principal,
        metadata.occurred_at,
    )
    .await)
}

/// The ticket's audit trail from the event stream, oldest first. Customers do not see internal notes.
#[utoipa::path(get, path = "/api/v1/support/tickets/{key}/history", tag = "tickets",
    params(("key" = String, Path, description = KEY)),
    responses((status = 200, description = "The events, oldest first", body = Vec<HistoryEntry>),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn ticket_history(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
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
    Ok(Json(history_entries(
        events,
        principal.sees_internal_notes(),
    )))
}

/// A ticket's opened events as its history shows them; internal notes only when asked for.
pub fn history_entries(events: Vec<RecordedEvent>, include_internal: bool) -> Vec<HistoryEntry> {
    events
        .into_iter()
        .filter(|event| include_internal || event.payload["visibility"] != "INTERNAL")
        .map(|event| HistoryEntry {
            sequence: event.sequence,
            event_type: event.event_type,
            event_version: event.event_version,
            occurred_at: event.occurred_at,
            actor: event.metadata.actor().into(),
            source: event.metadata.source,
            request_id: event.metadata.request_id,
            correlation_id: event.metadata.correlation_id,
            changes: event.payload,
        })
        .collect()
}
