//! The NPS survey: a customer answers for their account, 0 to 10 with a comment; one response
//! counts every 90 days (docs/analytics.md).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use support_domain::nps::{survey_id, NpsComment, NpsScore, NpsSurvey, NpsSurveyCommand};
use support_domain::{ActorRole, FieldErrors};
use support_projections::nps::{latest_response, NpsResponseView, READ_MODEL};
use support_projections::schema;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::commands::{CommandAccepted, RequestIds};
use crate::extract::{parsed, ApiJson};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

pub fn routes() -> Router<ApiContext> {
    Router::new().route("/nps-responses", post(respond))
}

/// The body of `POST /nps-responses`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NpsResponseRequest {
    /// How likely the customer is to recommend the product: 0 (not at all) to 10 (extremely).
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 10)]
    pub score: Option<f64>,
    #[schema(schema_with = comment)]
    pub comment: Option<String>,
}

fn comment() -> utoipa::openapi::schema::Object {
    schema::text(NpsComment::MAX_CHARS).build()
}

impl NpsResponseRequest {
    fn parse(&self) -> Result<(NpsScore, Option<NpsComment>), FieldErrors> {
        let mut errors = FieldErrors::default();
        let score = match self.score {
            None => {
                errors.push("score", "is required");
                None
            }
            Some(score) => errors.take("score", NpsScore::parse(score)),
        };
        let comment = parsed(
            &mut errors,
            "comment",
            self.comment.as_deref(),
            NpsComment::parse,
        );
        errors.into_result()?;
        Ok((score.expect("checked"), comment))
    }
}

/// Answer the NPS survey for the caller's customer account. Customers only; one response an
/// account counts every 90 days, and one sooner is refused with the instant the next counts.
#[utoipa::path(post, path = "/api/v1/support/nps-responses", tag = "analytics", request_body = NpsResponseRequest,
    responses(
        (status = 201, description = "The response", body = NpsResponseView),
        (status = 202, description = "Recorded; not shown yet within the wait bound", body = CommandAccepted),
        (status = 403, description = "Only customers answer, for their own account", body = Problem),
        (status = 409, description = "The account's last response counts for 90 days, or its personal data was erased", body = Problem)),
    security(("bearer" = [])))]
pub async fn respond(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<NpsResponseRequest>,
) -> Result<Response, ApiError> {
    principal.require(&[ActorRole::Customer], "answer the NPS survey")?;
    let (score, comment) = body.parse().map_err(ApiError::Validation)?;
    let customer_id = principal
        .customer_id
        .clone()
        .ok_or_else(|| ApiError::Forbidden("the token names no customer account".to_owned()))?;
    let id = survey_id(&customer_id);
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = NpsSurveyCommand::Respond {
        caller: principal.caller(),
        at: metadata.occurred_at,
        score,
        comment,
    };
    let committed = ctx.execute::<NpsSurvey>(id, command, &metadata).await?;
    let pool = ctx.pool.clone();
    let location = format!("/api/v1/support/customers/{customer_id}/personal-data");
    Ok(ctx
        .answer(StatusCode::CREATED, location, committed, READ_MODEL, || {
            let pool = pool.clone();
            async move { Ok(latest_response(&pool, id).await?) }
        })
        .await)
}
