//! The in-app inbox: each user (any role) reads their own delivered in-app notifications, unread
//! first, and marks them read. Read state is the user's own, not an event: like a resend of a
//! delivery, it changes no aggregate and is not in the audit trail.

pub mod requests;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use support_projections::notifications::inbox::{self, InboxEntry};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::extract::{path_id, ApiPath, ApiQuery};
use crate::notifier::events_at;
use crate::notifier::message::headline;
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;
use crate::webhooks::requests::CursorPageQuery;
use requests::InboxQuery;

const NOT_FOUND: &str = "The caller has no delivered notification with this id";

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/notifications", get(list_notifications))
        .route("/notifications/read-all", post(read_all_notifications))
        .route(
            "/notifications/{notification_id}/read",
            post(read_notification),
        )
}

/// A notification in the caller's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub id: Uuid,
    /// Why the caller is told: `SLA_WARNING`, `SLA_BREACH`, `ESCALATION`, `ASSIGNMENT`,
    /// `PUBLIC_REPLY`, `STATUS_CHANGE`, `KB_LOW_RATING`, `INCIDENT_ALERT`, `INCIDENT_UPDATE`,
    /// `SUPPORT_ALERT`.
    #[schema(example = "ESCALATION")]
    pub kind: String,
    pub read: bool,
    /// When the caller first marked it read; `null` while unread.
    pub read_at: Option<DateTime<Utc>>,
    /// When it reached the inbox (after the caller's working hours began, when it waited).
    pub delivered_at: DateTime<Utc>,
    /// The event it is about, as docs/events.md names it.
    #[schema(example = "TicketEscalated")]
    pub event_type: String,
    /// The ticket it is about; `null` for an event that is not a ticket's.
    pub ticket_id: Option<Uuid>,
    #[schema(example = "TKT-20261129-0001")]
    pub ticket_number: Option<String>,
    /// The incident it is about; `null` for an event that is not an incident's.
    pub incident_id: Option<Uuid>,
    #[schema(example = "INC-20261129-0001")]
    pub incident_number: Option<String>,
    /// The ticket's or the incident's title as it is now; a ticket's reads `[erased]` once the
    /// customer's data is erased.
    #[schema(example = "Dashboard down")]
    pub title: Option<String>,
    /// What happened, worded as the email and SMS channels word it.
    #[schema(example = "Escalated to level 2")]
    pub headline: String,
}

/// A page of the caller's inbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Inbox {
    /// Unread first, then newest first.
    pub items: Vec<NotificationView>,
    pub limit: u32,
    /// Pass as `cursor` to read the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// How many of the caller's notifications are unread, over all pages.
    pub unread_count: i64,
}

/// What `read-all` did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MarkedRead {
    /// How many notifications were unread and now are read.
    pub marked: u64,
}

/// The caller's in-app notifications: unread first, then newest first. Any role; each user sees
/// only their own.
///
/// A notification appears once the notifier delivered it: one that waits for the caller's
/// working hours is not listed before they begin. Page with `nextCursor`.
#[utoipa::path(get, path = "/api/v1/support/notifications", tag = "notifications", params(InboxQuery, CursorPageQuery),
    responses((status = 200, description = "A page of the caller's notifications", body = Inbox),
        (status = 422, description = "A parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_notifications(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> Result<Json<Inbox>, ApiError> {
    let request = query.parse().map_err(ApiError::Validation)?;
    let page = inbox::list(&ctx.pool, &principal.sub, request).await?;
    let unread_count = inbox::unread_count(&ctx.pool, &principal.sub).await?;
    Ok(Json(Inbox {
        items: worded(&ctx, page.entries).await?,
        limit: request.limit,
        next_cursor: page.next_cursor,
        unread_count,
    }))
}

/// Mark one of the caller's notifications read. Any role. Marking it again changes nothing
/// (`readAt` stays the first time).
#[utoipa::path(post, path = "/api/v1/support/notifications/{notification_id}/read", tag = "notifications",
    params(("notification_id" = String, Path, description = "The notification's id (a UUID)")),
    responses((status = 200, description = "The notification, read", body = NotificationView),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn read_notification(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(notification_id): ApiPath<String>,
) -> Result<Json<NotificationView>, ApiError> {
    let id = path_id(&notification_id, "notification")?;
    let entry = inbox::mark_read(&ctx.pool, &principal.sub, id, now(&ctx))
        .await?
        .ok_or(ApiError::NotFound("notification"))?;
    let mut worded = worded(&ctx, vec![entry]).await?;
    worded
        .pop()
        .map(Json)
        .ok_or(ApiError::NotFound("notification"))
}

/// Mark all the caller's delivered notifications read. Any role.
#[utoipa::path(post, path = "/api/v1/support/notifications/read-all", tag = "notifications",
    responses((status = 200, description = "How many were marked read", body = MarkedRead)),
    security(("bearer" = [])))]
pub async fn read_all_notifications(
    State(ctx): State<ApiContext>,
    principal: Principal,
) -> Result<Json<MarkedRead>, ApiError> {
    let marked = inbox::mark_all_read(&ctx.pool, &principal.sub, now(&ctx)).await?;
    Ok(Json(MarkedRead { marked }))
}

/// In microseconds, as PostgreSQL keeps it, so that `readAt` reads back as answered.
fn now(ctx: &ApiContext) -> DateTime<Utc> {
    ctx.clock.now().trunc_subsecs(6)
}

/// The entries with what happened in words, from their events as the notifier reads them.
async fn worded(
    ctx: &ApiContext,
    entries: Vec<InboxEntry>,
) -> Result<Vec<NotificationView>, ApiError> {
    let events = events_at(ctx, entries.iter().map(|e| e.global_position).collect()).await?;
    Ok(entries
        .into_iter()
        .map(|entry| NotificationView {
            headline: events
                .get(&entry.global_position)
                .map_or_else(|| entry.event_type.clone(), headline),
            id: entry.id,
            kind: entry.kind,
            read: entry.read_at.is_some(),
            read_at: entry.read_at,
            delivered_at: entry.delivered_at,
            event_type: entry.event_type,
            ticket_id: entry.ticket_id,
            ticket_number: entry.ticket_number,
            incident_id: entry.incident_id,
            incident_number: entry.incident_number,
            title: entry.title,
        })
        .collect())
}
