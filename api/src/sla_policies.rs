//! The SLA policy endpoints: admins create and change policies; staff and auditors read them.
//! A fresh desk gets a default policy for each priority, which the service creates at start-up
//! through the same command path (`create_defaults`).

pub mod checks;
pub mod requests;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use support_domain::sla::{
    default_policy, default_policy_id, CreateSlaPolicy, SlaPolicy, SlaPolicyCommand,
};
use support_domain::ticket::TicketPriority;
use support_domain::{ActorRole, Caller};
use support_projections::sla::policies::{self, SlaPolicyPage, SlaPolicyView, READ_MODEL};
use uuid::Uuid;

use crate::auth::Principal;
use crate::commands::{CommandAccepted, Committed, RequestIds};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;
use requests::{CreateSlaPolicyRequest, SlaPolicyListQuery, UpdateSlaPolicyRequest};

/// Who reads policies: everyone who works under them or checks that work, not customers.
const READERS: &[ActorRole] = &[
    ActorRole::Agent,
    ActorRole::Admin,
    ActorRole::Service,
    ActorRole::Auditor,
];
/// Who changes them, as the aggregate decides (`check_writer`); the service role is there for
/// integrations that manage a desk's configuration.
const WRITERS: &[ActorRole] = &[ActorRole::Admin, ActorRole::Service];
/// Who the default policies are recorded as.
pub const DEFAULTS_ACTOR: &str = "sla-defaults";

const ID: &str = "The policy's id (a UUID)";
const NOT_FOUND: &str = "No policy has this id";
const ACCEPTED: &str =
    "Recorded; the read model did not show it within the wait bound. Poll Location.";

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route(
            "/sla-policies",
            post(create_sla_policy).get(list_sla_policies),
        )
        .route(
            "/sla-policies/{policy_id}",
            get(get_sla_policy).put(update_sla_policy),
        )
        .route(
            "/sla-policies/{policy_id}/preview",
            post(checks::preview_sla_policy),
        )
        .route(
            "/sla-policies/{policy_id}/what-if",
            post(checks::what_if_sla_policy),
        )
}

/// A policy's id from a path; anything else (NUL, any length) names no policy.
fn policy_id(value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::NotFound("SLA policy"))
}

/// Answers a policy command with the policy once the read model shows the command's events.
async fn answer_with_policy(
    ctx: &ApiContext,
    status: StatusCode,
    committed: Committed,
) -> Response {
    let id = committed.id;
    let location = format!("/api/v1/support/sla-policies/{id}");
    ctx.answer(status, location, committed, READ_MODEL, || async {
        Ok(policies::find(&ctx.pool, id).await?)
    })
    .await
}

/// Create an SLA policy. Admins only.
///
/// The policy applies at once to new tickets of its priority (and tier); see `GET /sla-policies`
/// for which one a ticket gets when several could.
#[utoipa::path(post, path = "/api/v1/support/sla-policies", tag = "sla", request_body = CreateSlaPolicyRequest,
    responses(
        (status = 201, description = "Policy created", body = SlaPolicyView, headers(("Location" = String, description = "The policy's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The policy's URL"))),
        (status = 403, description = "Agents, customers and auditors cannot create policies", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_sla_policy(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<CreateSlaPolicyRequest>,
) -> Result<Response, ApiError> {
    principal.require(WRITERS, "create SLA policies")?;
    let definition = body.parse().map_err(ApiError::Validation)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let id = Uuid::new_v4();
    let command = SlaPolicyCommand::Create(CreateSlaPolicy {
        caller: principal.caller(),
        policy_id: id,
        definition,
    });
    let committed = ctx.create::<SlaPolicy>(id, command, &metadata).await?;
    Ok(answer_with_policy(&ctx, StatusCode::CREATED, committed).await)
}

/// List SLA policies, active and inactive, by priority (P0 first), then tier (policies for every
/// tier first), then name. Staff and auditors.
///
/// A new ticket gets the active policy of its priority for its customer's tier, else the active
/// one of its priority for every tier; among several, the one created first.
#[utoipa::path(get, path = "/api/v1/support/sla-policies", tag = "sla", params(SlaPolicyListQuery),
    responses((status = 200, description = "A page of policies", body = SlaPolicyPage),
        (status = 403, description = "Customers do not read policies", body = Problem),
        (status = 422, description = "A parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_sla_policies(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<SlaPolicyListQuery>,
) -> Result<Json<SlaPolicyPage>, ApiError> {
    principal.require(READERS, "read SLA policies")?;
    let (filter, page) = query.parse().map_err(ApiError::Validation)?;
    Ok(Json(policies::list(&ctx.pool, &filter, page).await?))
}

/// One SLA policy. Staff and auditors.
#[utoipa::path(get, path = "/api/v1/support/sla-policies/{policy_id}", tag = "sla",
    params(("policy_id" = String, Path, description = ID)),
    responses((status = 200, description = "The policy", body = SlaPolicyView),
        (status = 403, description = "Customers do not read policies", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_sla_policy(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SlaPolicyView>, ApiError> {
    principal.require(READERS, "read SLA policies")?;
    let id = policy_id(&id)?;
    policies::find(&ctx.pool, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("SLA policy"))
}

/// Change any subset of a policy's fields; `active: false` deactivates it and `true` reactivates
/// it. Admins only.
///
/// A change of the definition is one `SlaPolicyRevised` event, a change of `active` one
/// `SlaPolicyDeactivated` or `SlaPolicyReactivated`; a request that changes nothing records
/// nothing. Tickets keep the terms they copied.
#[utoipa::path(put, path = "/api/v1/support/sla-policies/{policy_id}", tag = "sla", request_body = UpdateSlaPolicyRequest,
    params(("policy_id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The policy after the change", body = SlaPolicyView, headers(("Location" = String, description = "The policy's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The policy's URL"))),
        (status = 403, description = "Agents, customers and auditors cannot change policies", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "A concurrent change of the policy", body = Problem),
        (status = 422, description = "A field is invalid, or does not fit the policy's other fields (a resolution target below the response target, business hours that end before they start)", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_sla_policy(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateSlaPolicyRequest>,
) -> Result<Response, ApiError> {
    principal.require(WRITERS, "change SLA policies")?;
    let update = body
        .parse(principal.caller())
        .map_err(ApiError::Validation)?;
    let id = policy_id(&id)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let committed = ctx
        .execute::<SlaPolicy>(id, SlaPolicyCommand::Update(update), &metadata)
        .await?;
    Ok(answer_with_policy(&ctx, StatusCode::OK, committed).await)
}

/// Creates the default policy of each priority that was never created, as the service
/// (`DEFAULTS_ACTOR`), through the command path: its events are in the store and the audit log
/// like an admin's. Each default has a fixed id (`default_policy_id`), so a restart, or replicas
/// starting together, create each once: the policy that exists already, or that another process
/// creates first, is refused with a conflict, which is the outcome wanted. A default an admin
/// revised or deactivated stays as they left it. Returns how many were created, once the read
/// model shows them (within the read bound): the first tickets find them.
pub async fn create_defaults(ctx: &ApiContext) -> Result<usize, ApiError> {
    let mut created = 0;
    for &priority in TicketPriority::ALL {
        let id = default_policy_id(priority);
        let metadata = ctx.worker_metadata(DEFAULTS_ACTOR);
        let command = SlaPolicyCommand::Create(CreateSlaPolicy {
            caller: Caller {
                actor: metadata.actor(),
                customer_id: None,
            },
            policy_id: id,
            definition: default_policy(priority),
        });
        match ctx.execute::<SlaPolicy>(id, command, &metadata).await {
            Ok(committed) => {
                created += 1;
                if let Some(head) = committed.head {
                    let key = id.to_string();
                    let shown = ctx
                        .checkpoints
                        .wait_until(READ_MODEL, committed.aggregate_type, &key, head, || async {
                            Ok(Some(()))
                        })
                        .await?;
                    if shown.is_none() {
                        tracing::warn!(policy = %id, "the default SLA policy is not in the read model yet: tickets opened meanwhile get none");
                    }
                }
            }
            Err(ApiError::Conflict { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(created)
}
