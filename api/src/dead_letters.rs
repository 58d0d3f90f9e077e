//! Admins list the events a read model could not apply and retry them once the cause is fixed.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use support_domain::{ActorRole, FieldErrors};
use support_projections::dead_letters::{self, DeadLetter, LetterState, RetryError};
use support_projections::schema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::IntoParams;

use crate::auth::Principal;
use crate::extract::{ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

const ADMINS_ONLY: &str = "Only admins handle dead letters";

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/admin/dead-letters", get(list_dead_letters))
        .route("/admin/dead-letters/{id}/retry", post(retry_dead_letter))
}

/// Values arrive as text so that every bad one is reported by name at once.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Only this read model's dead letters.
    #[param(schema_with = schema::without_nul)]
    pub projection: Option<String>,
    /// `open` (the default: not applied yet), `resolved` or `all`.
    #[param(schema_with = letter_state)]
    pub state: Option<String>,
    /// At most this many, newest first (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
}

const MAX_LIMIT: i64 = 500;
const STATES: [(&str, LetterState); 3] = [
    ("open", LetterState::Open),
    ("resolved", LetterState::Resolved),
    ("all", LetterState::All),
];

fn letter_state() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(STATES.map(|(name, _)| name)))
        .build()
}

impl DeadLetterQuery {
    fn parse(&self) -> Result<(LetterState, i64), FieldErrors> {
        let mut errors = FieldErrors::default();
        let wanted = self.state.as_deref().unwrap_or("open");
        let state = STATES.iter().find(|(name, _)| *name == wanted);
        if state.is_none() {
            errors.push("state", "must be open, resolved or all");
        }
        let limit = match self.limit.as_deref().map(str::parse::<i64>) {
            None => Some(100),
            Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => Some(limit),
            Some(_) => {
                errors.push(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                );
                None
            }
        };
        errors.into_result()?;
        Ok((state.expect("checked").1, limit.expect("checked")))
    }
}

/// Events a read model could not apply, newest first. Admins only.
#[utoipa::path(get, path = "/api/v1/support/admin/dead-letters", tag = "operations",
    params(DeadLetterQuery),
    responses((status = 200, description = "The dead letters", body = Vec<DeadLetter>),
        (status = 403, description = ADMINS_ONLY, body = Problem),
        (status = 422, description = "A query parameter is invalid (all are listed)", body = Problem)),
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
    params(("id" = i64, Path, description = "The dead letter's id")),
    responses((status = 200, description = "Applied; the letter is resolved", body = DeadLetter),
        (status = 403, description = ADMINS_ONLY, body = Problem),
        (status = 404, description = "No such dead letter", body = Problem),
        (status = 409, description = "It still cannot be applied, or was applied already", body = Problem)),
    security(("bearer" = [])))]
pub async fn retry_dead_letter(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeadLetter>, ApiError> {
    principal.require(&[ActorRole::Admin], "retry dead letters")?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("dead letter"))?;
    match dead_letters::retry(
        &ctx.pool,
        &ctx.data_keys,
        &ctx.projections,
        id,
        &principal.sub,
    )
    .await
    {
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
