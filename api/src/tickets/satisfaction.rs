//! Customer satisfaction: the customer rates each resolution of their ticket, 1 to 5 with a
//! comment, once per resolution (rating it again replaces the rating). The resolution's email
//! and in-app notice invite them (docs/analytics.md).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use support_domain::ticket::{RateSatisfaction, Ticket, TicketCommand};
use support_domain::ActorRole;
use support_projections::analytics::{satisfaction_of, SatisfactionView, READ_MODEL};
use support_projections::tickets::{self, TicketKey};

use super::requests::RateSatisfactionRequest;
use super::{ticket_id, KEY, NOT_FOUND};
use crate::auth::Principal;
use crate::commands::{CommandAccepted, RequestIds};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

/// Rate the ticket's latest resolution. The ticket's customer only, while it is RESOLVED or
/// CLOSED; rating the same resolution again replaces the rating.
#[utoipa::path(post, path = "/api/v1/support/tickets/{key}/satisfaction", tag = "tickets", request_body = RateSatisfactionRequest,
    params(("key" = String, Path, description = KEY)),
    responses(
        (status = 200, description = "The rating, as the ticket now holds it", body = SatisfactionView, headers(("Location" = String, description = "The rating's URL"))),
        (status = 202, description = "Recorded; not shown yet within the wait bound", body = CommandAccepted, headers(("Location" = String, description = "The rating's URL"))),
        (status = 403, description = "Only the ticket's customer rates it", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "The ticket is not resolved (nor closed after its resolution), or its personal data was erased", body = Problem)),
    security(("bearer" = [])))]
pub async fn rate_satisfaction(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<RateSatisfactionRequest>,
) -> Result<Response, ApiError> {
    principal.require(&[ActorRole::Customer], "rate a ticket's resolution")?;
    let (score, comment) = body.parse().map_err(ApiError::Validation)?;
    let id = ticket_id(&ctx, &key).await?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = TicketCommand::RateSatisfaction(RateSatisfaction {
        caller: principal.caller(),
        score,
        comment,
    });
    let committed = ctx.execute::<Ticket>(id, command, &metadata).await?;
    let location = format!("/api/v1/support/tickets/{id}/satisfaction");
    let pool = ctx.pool.clone();
    Ok(ctx
        .answer(StatusCode::OK, location, committed, READ_MODEL, || {
            let pool = pool.clone();
            async move { Ok(satisfaction_of(&pool, id).await?) }
        })
        .await)
}

/// The ticket's latest satisfaction rating: its customer's, and the staff's to read.
#[utoipa::path(get, path = "/api/v1/support/tickets/{key}/satisfaction", tag = "tickets",
    params(("key" = String, Path, description = KEY)),
    responses((status = 200, description = "The rating", body = SatisfactionView),
        (status = 404, description = "No such ticket, one the caller may not see, or no rating yet", body = Problem)),
    security(("bearer" = [])))]
pub async fn get_satisfaction(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<SatisfactionView>, ApiError> {
    let key = TicketKey::parse(&key).ok_or(ApiError::NotFound("ticket"))?;
    let ticket = tickets::find(&ctx.pool, &key, &principal.ticket_scope())
        .await?
        .ok_or(ApiError::NotFound("ticket"))?;
    satisfaction_of(&ctx.pool, ticket.id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("satisfaction rating"))
}
