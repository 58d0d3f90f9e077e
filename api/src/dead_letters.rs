//! Admins list the events a read model could not apply and retry them once the cause is fixed.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use support_domain::{ActorRole, FieldErrors};
use support_projections::dead_letters::{self, DeadLetter, LetterState, RetryError};
use utoipa::IntoParams;

use crate::auth::Principal;
use crate::extract::ApiQuery;
use crate::idempotency::DESCRIPTION as IDEMPOTENCY_KEY;
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/admin/dead-letters", get(list_dead_letters))
        .route("/admin/dead-letters/{id}/retry", post(retry_dead_letter))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Only this read model's dead letters.
    pub projection: Option<String>,
    /// `open` (the default: not applied yet), `resolved` or `all`.
    #[param(pattern = "^(open|resolved|all)$")]
    pub state: Option<String>,
    /// At most this many, newest first: 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<String>,
}

impl DeadLetterQuery {
    fn parse(&self) -> Result<(LetterState, i64), FieldErrors> {
        let mut errors = FieldErrors::default();
        let state = match self.state.as_deref().unwrap_or("open") {
            "open" => Some(LetterState::Open),
            "resolved" => Some(LetterState::Resolved),
            "all" => Some(LetterState::All),
            _ => {
                errors.push("state", "must be open, resolved or all");
                None
            }
        };
        let limit = match self.limit.as_deref().map(str::parse::<i64>) {
            None => Some(100),
            Some(Ok(limit)) if (1..=500).contains(&limit) => Some(limit),
            Some(_) => {
                errors.push("limit", "must be a whole number from 1 to 500");
                None
            }
        };
        errors.into_result()?;
        Ok((state.expect("checked"), limit.expect("checked")))
    }
}

/// Events a read model could not apply, newest first. Admins only.
#[utoipa::path(get, path = "/api/v1/support/admin/dead-letters", tag = "operations",
    params(DeadLetterQuery),
    responses((status = 200, body = Vec<DeadLetter>), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_dead_letters(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<DeadLetterQuery>,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    principal.require(&[ActorRole::Admin], "read dead letters")?;
    let (state, limit) = query.parse().map_err(ApiError::Validation)?;
    let letters = dead_letters::list(&ctx.pool, query.projection.as_deref(), state, limit).await?;
    Ok(Json(letters))
}

/// Apply a dead letter again, with the events of its aggregate parked behind it. Admins only.
///
/// `409` when it still cannot be applied (the problem's detail has the error) or was applied
/// already.
#[utoipa::path(post, path = "/api/v1/support/admin/dead-letters/{id}/retry", tag = "operations",
    params(("id" = i64, Path, description = "The dead letter's id"),
        ("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)),
    responses((status = 200, description = "Applied; the letter is resolved", body = DeadLetter),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn retry_dead_letter(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DeadLetter>, ApiError> {
    principal.require(&[ActorRole::Admin], "retry dead letters")?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("dead letter"))?;
    match dead_letters::retry(&ctx.pool, &ctx.projections, id, &principal.sub).await {
        Ok(letter) => Ok(Json(letter)),
        Err(RetryError::NotFound(_)) => Err(ApiError::NotFound("dead letter")),
        Err(error @ (RetryError::AlreadyResolved(_) | RetryError::StillFailing(_))) => {
            Err(ApiError::Conflict {
                detail: error.to_string(),
                allowed_statuses: None,
            })
        }
        Err(RetryError::Database(error)) => Err(error.into()),
    }
}
