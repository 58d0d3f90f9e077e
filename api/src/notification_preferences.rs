//! The notification preferences endpoints: each user reads and replaces their own, found by the
//! token's `sub`. Saving records the role and teams the token names, so that escalation
//! recipients named by role or team resolve to users.

pub mod requests;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use support_domain::notification::{
    preferences_id, NotificationPreferences, NotificationPreferencesCommand,
    SetNotificationPreferences,
};
use support_projections::notification_preferences::{
    self, NotificationPreferencesView, READ_MODEL,
};

use crate::auth::Principal;
use crate::commands::{CommandAccepted, RequestIds};
use crate::extract::ApiJson;
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;
use requests::PutNotificationPreferencesRequest;

const PATH: &str = "/api/v1/support/notification-preferences";

pub fn routes() -> Router<ApiContext> {
    Router::new().route(
        "/notification-preferences",
        get(get_notification_preferences).put(put_notification_preferences),
    )
}

/// Your notification preferences: the channels of each kind of notification, your email address
/// and phone number, time zone and working hours. Every role.
///
/// Until you save any, the defaults: IN_APP for every kind, no address, any time in UTC, with
/// the role and teams of your token.
#[utoipa::path(get, path = "/api/v1/support/notification-preferences", tag = "notifications",
    responses((status = 200, description = "Your preferences, or the defaults", body = NotificationPreferencesView)),
    security(("bearer" = [])))]
pub async fn get_notification_preferences(
    State(ctx): State<ApiContext>,
    principal: Principal,
) -> Result<Json<NotificationPreferencesView>, ApiError> {
    let saved = notification_preferences::find(&ctx.pool, &principal.sub).await?;
    Ok(Json(saved.unwrap_or_else(|| {
        NotificationPreferencesView::defaults(
            &principal.sub,
            principal.role,
            principal.teams.as_slice().to_vec(),
        )
    })))
}

/// Replace your notification preferences. Every role that writes (not auditors).
///
/// The body is the whole preferences: what it leaves out takes its default. Your role and teams
/// are recorded as your token names them, for escalations that name recipients by role or team.
/// A save that changes nothing records nothing. Your email address and phone number are personal
/// data: sealed in the events, and erased with your customer account's personal data.
#[utoipa::path(put, path = "/api/v1/support/notification-preferences", tag = "notifications",
    request_body = PutNotificationPreferencesRequest,
    responses(
        (status = 200, description = "Your preferences after the save", body = NotificationPreferencesView, headers(("Location" = String, description = "Your preferences' URL"))),
        (status = 202, description = "Recorded; the read model did not show it within the wait bound. Poll Location.", body = CommandAccepted, headers(("Location" = String, description = "Your preferences' URL"))),
        (status = 403, description = "Auditors change nothing", body = Problem),
        (status = 409, description = "Your preferences' personal data was erased, or a concurrent save", body = Problem),
        (status = 422, description = "A field is invalid, or a channel has nowhere to go (EMAIL without `email`, SMS without `phone`); all are listed", body = Problem)),
    security(("bearer" = [])))]
pub async fn put_notification_preferences(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<PutNotificationPreferencesRequest>,
) -> Result<Response, ApiError> {
    let preferences = body.parse().map_err(ApiError::Validation)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let id = preferences_id(&principal.sub);
    let command = NotificationPreferencesCommand::Set(Box::new(SetNotificationPreferences {
        caller: principal.caller(),
        teams: principal.teams.clone(),
        preferences,
    }));
    let committed = ctx
        .execute::<NotificationPreferences>(id, command, &metadata)
        .await?;
    let sub = principal.sub;
    Ok(ctx
        .answer(
            StatusCode::OK,
            PATH.to_owned(),
            committed,
            READ_MODEL,
            || async { Ok(notification_preferences::find(&ctx.pool, &sub).await?) },
        )
        .await)
}
