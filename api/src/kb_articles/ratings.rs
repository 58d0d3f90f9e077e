//! Readers rate the articles they can see: one rating per reader and article, which rating again
//! replaces. The article shows the mean, the count, the helpful share and whether it is rated
//! low; the SLA timer tells the article when that flag changes (`crate::kb_rating_alerts`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use support_domain::kb::{rating_id, KbRating, KbRatingCommand};
use support_domain::ActorRole;
use support_projections::kb::{self, KbRatingView};

use super::requests::RateKbArticleRequest;
use super::{audience, visible_article, KEY, NOT_FOUND};
use crate::auth::Principal;
use crate::commands::{CommandAccepted, RequestIds};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

/// Who rates: readers with an identity, so that each has one rating.
const RATERS: &[ActorRole] = &[ActorRole::Customer, ActorRole::Agent, ActorRole::Admin];

/// Rate an article: 1 to 5 stars, whether it helped, and a comment. Customers, agents and admins.
///
/// One rating per reader and article: rating again replaces the reader's rating (200), the first
/// one is created (201). Customers rate the published public articles they can read; any other
/// article answers 404 to them, as if absent. The comment is personal data: sealed in the event
/// store, exported with the customer's data and erased with it.
#[utoipa::path(post, path = "/api/v1/support/kb-articles/{article_key}/ratings", tag = "knowledge base", request_body = RateKbArticleRequest,
    params(("article_key" = String, Path, description = KEY)),
    responses(
        (status = 201, description = "The reader's first rating of the article", body = KbRatingView, headers(("Location" = String, description = "The article's URL, which shows its ratings"))),
        (status = 200, description = "The reader's rating, replaced (or sent again unchanged)", body = KbRatingView, headers(("Location" = String, description = "The article's URL, which shows its ratings"))),
        (status = 202, description = "Recorded; the read model did not show it within the wait bound", body = CommandAccepted, headers(("Location" = String, description = "The article's URL"))),
        (status = 401, description = "No valid bearer token: a rating needs a reader", body = Problem),
        (status = 403, description = "Services and auditors do not rate articles", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "The reader's data was erased: their rating accepts no further changes; or a concurrent rating by the same reader", body = Problem),
        (status = 422, description = "A field is missing or invalid (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn rate_kb_article(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<RateKbArticleRequest>,
) -> Result<Response, ApiError> {
    principal.require(RATERS, "rate knowledge base articles")?;
    let verdict = body.parse().map_err(ApiError::Validation)?;
    let article = visible_article(&ctx, &key, audience(Some(&principal))).await?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let id = rating_id(article.id, &principal.sub);
    let command = KbRatingCommand::Rate {
        caller: principal.caller(),
        article_id: article.id,
        verdict,
    };
    let committed = ctx.execute::<KbRating>(id, command, &metadata).await?;
    let first = committed.appended && committed.head.is_some_and(|head| head.sequence == 1);
    let status = if first {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/v1/support/kb-articles/{}", article.id);
    let read = || async { Ok(kb::find_rating(&ctx.pool, id).await?) };
    Ok(ctx
        .answer(status, location, committed, kb::RATINGS_READ_MODEL, read)
        .await)
}
