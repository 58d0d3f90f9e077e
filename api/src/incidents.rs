//! The incident endpoints. Monitoring systems (the service role) and staff report incidents;
//! agents and admins run them; services and auditors read them too. Customers learn of incidents
//! from the status page and from the tickets linked to them.

pub mod requests;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use support_domain::incident::{
    ActionItem, ActionItemStatus, Incident, IncidentCommand, IncidentNumber,
};
use support_domain::ticket::{Ticket, TicketCommand};
use support_domain::ActorRole;
use support_projections::event_log::stream_head;
use support_projections::incidents::{
    self, IncidentDetail, IncidentView, PostMortemView, TimelineEntry, AGGREGATE_TYPE, READ_MODEL,
};
use support_projections::page::Page;
use support_projections::tickets;
use uuid::Uuid;

use self::requests::{
    CreateActionItemRequest, CreateIncidentRequest, IncidentListQuery, LinkTicketRequest,
    PostMortemRequest, PostUpdateRequest, UpdateActionItemRequest, UpdateIncidentRequest,
};
use crate::auth::Principal;
use crate::commands::{CommandAccepted, Committed, RequestIds};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::numbering;
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

const RESPONDERS: &[ActorRole] = &[ActorRole::Agent, ActorRole::Admin];
const REPORTERS: &[ActorRole] = &[ActorRole::Agent, ActorRole::Admin, ActorRole::Service];
const READERS: &[ActorRole] = &[
    ActorRole::Agent,
    ActorRole::Admin,
    ActorRole::Service,
    ActorRole::Auditor,
];

const KEY: &str = "The incident's id (a UUID) or number (INC-YYYYMMDD-XXXX)";
const NOT_FOUND: &str = "No incident has this id or number";
const ACCEPTED: &str =
    "Recorded; the read model did not show it within the wait bound. Poll Location.";
const RESOURCE: &str = "incident";
/// Incident commands carry no version the client read: one that loses a race (with the timer
/// recording a missed target, or holding a linked ticket) is decided again on the new state
/// rather than answered 409.
const ATTEMPTS: usize = 3;

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/incidents", post(create_incident).get(list_incidents))
        .route(
            "/incidents/{incident_key}",
            get(get_incident).put(update_incident),
        )
        .route(
            "/incidents/{incident_key}/acknowledge",
            post(acknowledge_incident),
        )
        .route(
            "/incidents/{incident_key}/updates",
            post(post_incident_update),
        )
        .route("/incidents/{incident_key}/timeline", get(incident_timeline))
        .route("/incidents/{incident_key}/tickets", post(link_ticket))
        .route(
            "/incidents/{incident_key}/tickets/{ticket_key}",
            delete(unlink_ticket),
        )
        .route(
            "/incidents/{incident_key}/post-mortem",
            get(get_post_mortem).put(update_post_mortem),
        )
        .route(
            "/incidents/{incident_key}/post-mortem/action-items",
            post(add_action_item),
        )
        .route(
            "/incidents/{incident_key}/post-mortem/action-items/{item_id}",
            put(update_action_item),
        )
}

/// The incident a URL names, on the write side: one whose detection the read model does not
/// show yet can be worked at once.
async fn incident_id(ctx: &ApiContext, key: &str) -> Result<Uuid, ApiError> {
    if let Ok(id) = Uuid::parse_str(key) {
        return Ok(id);
    }
    let number = IncidentNumber::parse(key).map_err(|_| ApiError::NotFound(RESOURCE))?;
    let (day, counter) = number.day_and_counter();
    numbering::holder(&ctx.pool, IncidentNumber::PREFIX, Some(day), counter)
        .await?
        .ok_or(ApiError::NotFound(RESOURCE))
}

/// The id of the incident a URL names, as the read model knows it.
async fn read_model_id(ctx: &ApiContext, key: &str) -> Result<Uuid, ApiError> {
    if let Ok(id) = Uuid::parse_str(key) {
        return Ok(id);
    }
    match IncidentNumber::parse(key) {
        Ok(number) => incidents::id_of_number(&ctx.pool, number.as_str())
            .await?
            .ok_or(ApiError::NotFound(RESOURCE)),
        Err(_) => Err(ApiError::NotFound(RESOURCE)),
    }
}

/// Incident `id` with its tickets and updates, its figures at `now`.
async fn detail(
    ctx: &ApiContext,
    id: Uuid,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<IncidentDetail>> {
    Ok(incidents::find_detail(&ctx.pool, id)
        .await?
        .map(|mut detail| {
            detail.incident = detail.incident.at(now);
            detail
        }))
}

fn location(id: Uuid) -> String {
    format!("/api/v1/support/incidents/{id}")
}

/// Answers an incident command with the incident once `read_model` shows the command's events.
async fn answer_with_incident(
    ctx: &ApiContext,
    status: StatusCode,
    committed: Committed,
    incident: Uuid,
    read_model: &'static str,
) -> Response {
    let now = ctx.clock.now();
    ctx.answer(status, location(incident), committed, read_model, || {
        detail(ctx, incident, now)
    })
    .await
}

/// Report an incident. Agents, admins and services (monitoring systems).
///
/// It gets the next number of its UTC day (`INC-20261129-0001`), the status `DETECTED`, and the
/// targets of its severity: CRITICAL 15 min to acknowledge and 4 h to resolve, HIGH 1 h / 8 h,
/// MEDIUM 4 h / 24 h, LOW 24 h / 72 h, counted from detection.
#[utoipa::path(post, path = "/api/v1/support/incidents", tag = "incidents", request_body = CreateIncidentRequest,
    responses(
        (status = 201, description = "Incident reported", body = IncidentDetail, headers(("Location" = String, description = "The incident's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The incident's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Customers and auditors do not report incidents", body = Problem),
        (status = 422, description = "A field is missing or invalid (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_incident(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<CreateIncidentRequest>,
) -> Result<Response, ApiError> {
    principal.require(REPORTERS, "report incidents")?;
    let fields = body.parse(&principal.sub).map_err(ApiError::Validation)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let id = Uuid::new_v4();
    let day = metadata.occurred_at.date_naive();
    let counter = numbering::take(&ctx.pool, IncidentNumber::PREFIX, Some(day), id).await?;
    let command = IncidentCommand::Detect {
        caller: principal.caller(),
        incident_id: id,
        number: IncidentNumber::new(day, counter),
        fields,
        detected_at: metadata.occurred_at,
    };
    let committed = ctx.create::<Incident>(id, command, &metadata).await?;
    Ok(answer_with_incident(&ctx, StatusCode::CREATED, committed, id, READ_MODEL).await)
}

/// List incidents, newest detected first. Staff, services and auditors.
#[utoipa::path(get, path = "/api/v1/support/incidents", tag = "incidents", params(IncidentListQuery),
    responses((status = 200, description = "A page of incidents", body = Page<IncidentView>),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Customers read incidents on the status page", body = Problem),
        (status = 422, description = "A parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_incidents(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<IncidentListQuery>,
) -> Result<Json<Page<IncidentView>>, ApiError> {
    principal.require(READERS, "read incidents")?;
    let (filter, page) = query.parse().map_err(ApiError::Validation)?;
    let page = incidents::list(&ctx.pool, &filter, page, ctx.clock.now()).await?;
    Ok(Json(page))
}

/// One incident, by id or number, with its linked tickets and every status update.
///
/// `mtta` and `mttr` are the minutes from detection to acknowledgement and to resolution, or so
/// far while the incident waits for them.
#[utoipa::path(get, path = "/api/v1/support/incidents/{incident_key}", tag = "incidents",
    params(("incident_key" = String, Path, description = KEY)),
    responses((status = 200, description = "The incident", body = IncidentDetail),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Customers read incidents on the status page", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_incident(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    principal.require(READERS, "read incidents")?;
    let id = read_model_id(&ctx, &key).await?;
    detail(&ctx, id, ctx.clock.now())
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound(RESOURCE))
}

/// Change an incident: any subset of its status, severity, impact, commander, team, affected
/// systems and services, root cause, mitigation and resolution. Agents and admins.
///
/// Each field that differs is its own event; the status moves last, after the rest. Forward
/// steps may skip (`DETECTED` → `RESOLVED`); `MONITORING` may fall back to `INVESTIGATING`; a
/// `RESOLVED` incident may reopen to `INVESTIGATING`; `CLOSED` is final. Moving an incident out of
/// `DETECTED` acknowledges it if nobody has. A CRITICAL or HIGH incident closes only once its
/// post-mortem is completed. A change of severity sets the new severity's targets, still counted
/// from detection.
#[utoipa::path(put, path = "/api/v1/support/incidents/{incident_key}", tag = "incidents", request_body = UpdateIncidentRequest,
    params(("incident_key" = String, Path, description = KEY)),
    responses(
        (status = 200, description = "The incident after the change", body = IncidentDetail, headers(("Location" = String, description = "The incident's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The incident's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only agents and admins run incidents", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "The status cannot follow the current one (`allowedStatuses` lists those that can), the incident is closed, its post-mortem is required first, or a concurrent change", body = Problem),
        (status = 422, description = "A field is invalid (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_incident(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateIncidentRequest>,
) -> Result<Response, ApiError> {
    principal.require(RESPONDERS, "run incidents")?;
    let changes = body.parse().map_err(ApiError::Validation)?;
    run(&ctx, &principal, &ids, &key, StatusCode::OK, |caller| {
        IncidentCommand::Update { caller, changes }
    })
    .await
}

/// Runs a command on the incident a URL names and answers with the incident.
async fn run(
    ctx: &ApiContext,
    principal: &Principal,
    ids: &RequestIds,
    key: &str,
    status: StatusCode,
    command: impl FnOnce(support_domain::Caller) -> IncidentCommand,
) -> Result<Response, ApiError> {
    let committed = commit(ctx, principal, ids, key, command).await?;
    let id = committed.id;
    Ok(answer_with_incident(ctx, status, committed, id, READ_MODEL).await)
}

/// Commits a command on the incident a URL names.
async fn commit(
    ctx: &ApiContext,
    principal: &Principal,
    ids: &RequestIds,
    key: &str,
    command: impl FnOnce(support_domain::Caller) -> IncidentCommand,
) -> Result<Committed, ApiError> {
    let id = incident_id(ctx, key).await?;
    let metadata = ctx.metadata(principal, ids)?;
    ctx.execute_retrying::<Incident>(id, command(principal.caller()), &metadata, ATTEMPTS)
        .await
}

/// Acknowledge an incident: someone is on it, and its response clock stops. Agents and admins.
///
/// The first acknowledgement counts; acknowledging again changes nothing.
#[utoipa::path(post, path = "/api/v1/support/incidents/{incident_key}/acknowledge", tag = "incidents",
    params(("incident_key" = String, Path, description = KEY)),
    responses(
        (status = 200, description = "The incident, acknowledged", body = IncidentDetail, headers(("Location" = String, description = "The incident's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The incident's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only agents and admins run incidents", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn acknowledge_incident(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
) -> Result<Response, ApiError> {
    principal.require(RESPONDERS, "run incidents")?;
    run(&ctx, &principal, &ids, &key, StatusCode::OK, |caller| {
        IncidentCommand::Acknowledge { caller }
    })
    .await
}

/// Post a status update: `PUBLIC` ones reach customers and the status page, `INTERNAL` ones
/// (the default) the responders only. Agents and admins.
#[utoipa::path(post, path = "/api/v1/support/incidents/{incident_key}/updates", tag = "incidents", request_body = PostUpdateRequest,
    params(("incident_key" = String, Path, description = KEY)),
    responses(
        (status = 201, description = "The incident with the update", body = IncidentDetail, headers(("Location" = String, description = "The incident's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The incident's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only agents and admins run incidents", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "The incident is closed", body = Problem),
        (status = 422, description = "A field is missing or invalid (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn post_incident_update(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<PostUpdateRequest>,
) -> Result<Response, ApiError> {
    principal.require(RESPONDERS, "run incidents")?;
    let (visibility, message) = body.parse().map_err(ApiError::Validation)?;
    run(
        &ctx,
        &principal,
        &ids,
        &key,
        StatusCode::CREATED,
        |caller| IncidentCommand::PostUpdate {
            caller,
            update_id: Uuid::new_v4(),
            visibility,
            message,
        },
    )
    .await
}

/// An incident's timeline: every event of the incident, its status updates among them, and the
/// links of tickets to it, in the order they were recorded, each with who and when.
#[utoipa::path(get, path = "/api/v1/support/incidents/{incident_key}/timeline", tag = "incidents",
    params(("incident_key" = String, Path, description = KEY)),
    responses((status = 200, description = "The timeline, oldest first", body = [TimelineEntry]),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Customers read incidents on the status page", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn incident_timeline(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<TimelineEntry>>, ApiError> {
    principal.require(READERS, "read incidents")?;
    let id = read_model_id(&ctx, &key).await?;
    if incidents::find(&ctx.pool, id).await?.is_none() {
        return Err(ApiError::NotFound(RESOURCE));
    }
    Ok(Json(incidents::timeline(&ctx.pool, id).await?))
}

/// Link a ticket to an incident: the ticket's `relatedIncidents` and the incident's
/// `linkedTickets` both show it. Agents and admins; linking twice links once.
#[utoipa::path(post, path = "/api/v1/support/incidents/{incident_key}/tickets", tag = "incidents", request_body = LinkTicketRequest,
    params(("incident_key" = String, Path, description = KEY)),
    responses(
        (status = 200, description = "The incident with the ticket linked", body = IncidentDetail, headers(("Location" = String, description = "The incident's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The incident's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only agents and admins link tickets", body = Problem),
        (status = 404, description = "No such incident, or no such ticket the caller may change", body = Problem),
        (status = 409, description = "The ticket is closed, cancelled or erased", body = Problem),
        (status = 422, description = "ticketId is missing", body = Problem)),
    security(("bearer" = [])))]
pub async fn link_ticket(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<LinkTicketRequest>,
) -> Result<Response, ApiError> {
    principal.require(RESPONDERS, "link tickets to incidents")?;
    let ticket_key = body.parse().map_err(ApiError::Validation)?;
    change_link(&ctx, &principal, &ids, &key, &ticket_key, true).await
}

/// Unlink a ticket from an incident. Agents and admins.
#[utoipa::path(delete, path = "/api/v1/support/incidents/{incident_key}/tickets/{ticket_key}", tag = "incidents",
    params(("incident_key" = String, Path, description = KEY),
        ("ticket_key" = String, Path, description = "The ticket's id (a UUID) or number")),
    responses(
        (status = 200, description = "The incident without the ticket", body = IncidentDetail, headers(("Location" = String, description = "The incident's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The incident's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only agents and admins link tickets", body = Problem),
        (status = 404, description = "No such incident or ticket, or the ticket is not linked to it", body = Problem),
        (status = 409, description = "The ticket is closed, cancelled or erased", body = Problem)),
    security(("bearer" = [])))]
pub async fn unlink_ticket(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath((key, ticket_key)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    principal.require(RESPONDERS, "link tickets to incidents")?;
    change_link(&ctx, &principal, &ids, &key, &ticket_key, false).await
}

/// The link lives on the ticket, whose clocks it concerns; the incident must exist.
async fn change_link(
    ctx: &ApiContext,
    principal: &Principal,
    ids: &RequestIds,
    key: &str,
    ticket_key: &str,
    linked: bool,
) -> Result<Response, ApiError> {
    let incident = incident_id(ctx, key).await?;
    let detected = stream_head(&ctx.pool, AGGREGATE_TYPE, &incident.to_string()).await?;
    if detected.is_none() {
        return Err(ApiError::NotFound(RESOURCE));
    }
    let ticket = crate::tickets::ticket_id(ctx, ticket_key).await?;
    let metadata = ctx.metadata(principal, ids)?;
    let command = TicketCommand::LinkIncident {
        caller: principal.caller(),
        incident_id: incident,
        linked,
    };
    let committed = ctx
        .execute_retrying::<Ticket>(ticket, command, &metadata, ATTEMPTS)
        .await?;
    Ok(answer_with_incident(
        ctx,
        StatusCode::OK,
        committed,
        incident,
        tickets::READ_MODEL,
    )
    .await)
}

/// An incident's post-mortem: its texts, whether it is completed, its action items, and the
/// incident's timeline taken from its events.
#[utoipa::path(get, path = "/api/v1/support/incidents/{incident_key}/post-mortem", tag = "incidents",
    params(("incident_key" = String, Path, description = KEY)),
    responses((status = 200, description = "The post-mortem", body = PostMortemView),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Customers do not read post-mortems", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_post_mortem(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<PostMortemView>, ApiError> {
    principal.require(READERS, "read post-mortems")?;
    let id = read_model_id(&ctx, &key).await?;
    incidents::post_mortem(&ctx.pool, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound(RESOURCE))
}

/// Answers a post-mortem command with the post-mortem once the read model shows it.
async fn answer_with_post_mortem(
    ctx: &ApiContext,
    status: StatusCode,
    committed: Committed,
) -> Response {
    let id = committed.id;
    let location = format!("{}/post-mortem", location(id));
    ctx.answer(status, location, committed, READ_MODEL, || async {
        Ok(incidents::post_mortem(&ctx.pool, id).await?)
    })
    .await
}

/// Runs a post-mortem command on the incident a URL names and answers with the post-mortem.
async fn run_on_post_mortem(
    ctx: &ApiContext,
    principal: &Principal,
    ids: &RequestIds,
    key: &str,
    status: StatusCode,
    command: impl FnOnce(support_domain::Caller) -> IncidentCommand,
) -> Result<Response, ApiError> {
    let committed = commit(ctx, principal, ids, key, command).await?;
    Ok(answer_with_post_mortem(ctx, status, committed).await)
}

/// Write the post-mortem: any subset of its texts; `"completed": true` completes it once every
/// text is written (422 names those still empty). Agents and admins, also after the incident
/// closed.
#[utoipa::path(put, path = "/api/v1/support/incidents/{incident_key}/post-mortem", tag = "incidents", request_body = PostMortemRequest,
    params(("incident_key" = String, Path, description = KEY)),
    responses(
        (status = 200, description = "The post-mortem after the change", body = PostMortemView, headers(("Location" = String, description = "The post-mortem's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The post-mortem's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only agents and admins write post-mortems", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 422, description = "A field is invalid, or a text is still empty on completion (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_post_mortem(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<PostMortemRequest>,
) -> Result<Response, ApiError> {
    principal.require(RESPONDERS, "write post-mortems")?;
    let (changes, complete) = body.parse().map_err(ApiError::Validation)?;
    run_on_post_mortem(&ctx, &principal, &ids, &key, StatusCode::OK, |caller| {
        IncidentCommand::RevisePostMortem {
            caller,
            changes,
            complete,
        }
    })
    .await
}

/// Add an action item to the post-mortem. Agents and admins.
#[utoipa::path(post, path = "/api/v1/support/incidents/{incident_key}/post-mortem/action-items", tag = "incidents", request_body = CreateActionItemRequest,
    params(("incident_key" = String, Path, description = KEY)),
    responses(
        (status = 201, description = "The post-mortem with the new item", body = PostMortemView, headers(("Location" = String, description = "The post-mortem's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The post-mortem's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only agents and admins write post-mortems", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 422, description = "A field is missing or invalid (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_action_item(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<CreateActionItemRequest>,
) -> Result<Response, ApiError> {
    principal.require(RESPONDERS, "write post-mortems")?;
    let fields = body.parse().map_err(ApiError::Validation)?;
    let item = ActionItem {
        item_id: Uuid::new_v4(),
        title: fields.title.expect("a new item's title is required"),
        owner: fields.owner,
        due_date: fields.due_date,
        status: fields.status.unwrap_or(ActionItemStatus::Open),
    };
    run_on_post_mortem(
        &ctx,
        &principal,
        &ids,
        &key,
        StatusCode::CREATED,
        |caller| IncidentCommand::AddActionItem { caller, item },
    )
    .await
}

/// Change an action item: any subset of its title, owner, due date and status (`OPEN`, `DONE`).
/// Agents and admins.
#[utoipa::path(put, path = "/api/v1/support/incidents/{incident_key}/post-mortem/action-items/{item_id}", tag = "incidents", request_body = UpdateActionItemRequest,
    params(("incident_key" = String, Path, description = KEY), ("item_id" = Uuid, Path, description = "The action item's id")),
    responses(
        (status = 200, description = "The post-mortem after the change", body = PostMortemView, headers(("Location" = String, description = "The post-mortem's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The post-mortem's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only agents and admins write post-mortems", body = Problem),
        (status = 404, description = "No such incident, or no such action item of it", body = Problem),
        (status = 422, description = "A field is invalid (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_action_item(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath((key, item)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<UpdateActionItemRequest>,
) -> Result<Response, ApiError> {
    principal.require(RESPONDERS, "write post-mortems")?;
    let item_id = Uuid::parse_str(&item).map_err(|_| ApiError::NotFound("action item"))?;
    let changes = body.parse().map_err(ApiError::Validation)?;
    run_on_post_mortem(&ctx, &principal, &ids, &key, StatusCode::OK, |caller| {
        IncidentCommand::ReviseActionItem {
            caller,
            item_id,
            changes,
        }
    })
    .await
}
