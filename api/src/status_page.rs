//! The public status page: `GET /api/v1/status` (JSON), `GET /status` (a page a person reads,
//! rendered on the server, without JavaScript) and `GET /status/feed.atom`, none of which needs a
//! token; and the admin's part under the support API: overriding a component's state and
//! scheduling maintenance windows.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use html_escape::{encode_double_quoted_attribute, encode_text};
use serde::{Deserialize, Serialize};
use support_domain::status_page::{
    ComponentName, ComponentStatus, MaintenanceDescription, MaintenanceTitle, MaintenanceWindow,
    StatusPage, StatusPageCommand,
};
use support_domain::ticket::Labels;
use support_domain::{ActorRole, FieldErrors};
use support_projections::schema;
use support_projections::status_page::{
    self, ComponentView, MaintenanceView, PublicIncident, StatusSummary, READ_MODEL,
};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Principal;
use crate::commands::{CommandAccepted, RequestIds};
use crate::extract::{parsed, path_id, required, ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;
use crate::tickets::requests::{instant, labels, labels_schema};

/// The routes outside the support API: public, no token.
pub fn public_routes() -> Router<ApiContext> {
    Router::new()
        .route("/api/v1/status", get(get_status))
        .route("/status", get(status_page))
        .route("/status/feed.atom", get(status_feed))
}

/// The admin's routes, under the support API.
pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/status/components/{name}", put(override_component))
        .route("/status/maintenances", post(schedule_maintenance))
        .route(
            "/status/maintenances/{maintenance_id}",
            delete(cancel_maintenance),
        )
}

/// The page's commands carry no version the admin read: one that loses a race with another is
/// decided again on the new state.
const ATTEMPTS: usize = 3;
const ACCEPTED: &str =
    "Recorded; the read model did not show it within the wait bound. GET /api/v1/status shortly.";

/// The status of the service: every component with its state, its 90 daily bars and its uptime;
/// the active incidents with their public updates; maintenance not yet over. No token needed.
///
/// A component's state is the worst its active incidents give (`WIDESPREAD` impact: major
/// outage, `MAJOR`: partial outage, `MINOR`: degraded performance), unless an admin overrides it;
/// a maintenance window under way shows `UNDER_MAINTENANCE` where nothing worse holds.
#[utoipa::path(get, path = "/api/v1/status", tag = "status page",
    responses((status = 200, description = "The status now", body = StatusSummary)),
    security(()))]
pub async fn get_status(State(ctx): State<ApiContext>) -> Result<Json<StatusSummary>, ApiError> {
    Ok(Json(
        status_page::summary(&ctx.pool, ctx.clock.now()).await?,
    ))
}

/// The status page, as HTML a person reads: the same as `GET /api/v1/status`.
#[utoipa::path(get, path = "/status", tag = "status page",
    responses((status = 200, description = "The status page", content_type = "text/html")),
    security(()))]
pub async fn status_page(State(ctx): State<ApiContext>) -> Result<Response, ApiError> {
    let summary = status_page::summary(&ctx.pool, ctx.clock.now()).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        render_page(&summary),
    )
        .into_response())
}

/// The incidents as an Atom feed: one entry per incident (its id a stable `urn:uuid:`), updated
/// as it moves, with its public updates; the 50 most recently changed.
#[utoipa::path(get, path = "/status/feed.atom", tag = "status page",
    responses((status = 200, description = "The feed", content_type = "application/atom+xml")),
    security(()))]
pub async fn status_feed(State(ctx): State<ApiContext>) -> Result<Response, ApiError> {
    let incidents = status_page::public_incidents(&ctx.pool, false, 50).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        render_feed(&incidents, ctx.clock.now()),
    )
        .into_response())
}

/// The component a URL names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ComponentPath {
    /// The component: an affected system's name, as incidents name it.
    #[param(schema_with = component_name)]
    pub name: String,
}

fn component_name() -> Object {
    schema::text(ComponentName::MAX_CHARS).build()
}

/// An override of a component's state.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverrideComponentRequest {
    /// The state to show whatever the incidents say; absent (or `null`, which counts as absent):
    /// the incidents decide again.
    #[schema(schema_with = schema::component_status)]
    pub status: Option<String>,
}

/// A component after an override.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentOverridden {
    pub name: String,
    /// The override now; null when the incidents decide.
    #[schema(schema_with = schema::component_status_or_null)]
    pub override_status: Option<String>,
}

/// Override a component's state, or (without `status`) let its incidents decide it again.
/// Admins.
#[utoipa::path(put, path = "/api/v1/support/status/components/{name}", tag = "status page", request_body = OverrideComponentRequest,
    params(ComponentPath),
    responses(
        (status = 200, description = "The override as recorded", body = ComponentOverridden),
        (status = 202, description = ACCEPTED, body = CommandAccepted),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only admins change the status page", body = Problem),
        (status = 422, description = "The status or the name is invalid", body = Problem)),
    security(("bearer" = [])))]
pub async fn override_component(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(ComponentPath { name }): ApiPath<ComponentPath>,
    ApiJson(body): ApiJson<OverrideComponentRequest>,
) -> Result<Response, ApiError> {
    principal.require(&[ActorRole::Admin], "change the status page")?;
    let mut errors = FieldErrors::default();
    let component = errors.take("name", ComponentName::parse(&name));
    let status = parsed(
        &mut errors,
        "status",
        body.status.as_deref(),
        ComponentStatus::parse,
    );
    errors.into_result().map_err(ApiError::Validation)?;
    let component = component.expect("no errors means the name parsed");
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = StatusPageCommand::OverrideComponent {
        caller: principal.caller(),
        component: component.clone(),
        status,
    };
    let committed = ctx
        .execute_retrying::<StatusPage>(StatusPage::id(), command, &metadata, ATTEMPTS)
        .await?;
    let answer = ComponentOverridden {
        name: component.as_str().to_owned(),
        override_status: status.map(|s| s.as_str().to_owned()),
    };
    // Nothing changed (no override to clear, the same one again): nothing to wait for.
    if !committed.appended {
        return Ok(Json(answer).into_response());
    }
    let location = "/api/v1/status".to_owned();
    Ok(ctx
        .answer(StatusCode::OK, location, committed, READ_MODEL, || async {
            Ok(Some(&answer))
        })
        .await)
}

/// A maintenance window to schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleMaintenanceRequest {
    #[schema(required = true, schema_with = maintenance_title)]
    pub title: Option<String>,
    #[schema(schema_with = maintenance_description)]
    pub description: Option<String>,
    /// The components under maintenance: at least one.
    #[schema(required = true, schema_with = labels_schema)]
    pub components: Option<Vec<String>>,
    /// RFC 3339.
    #[schema(required = true, value_type = DateTime<Utc>)]
    pub starts_at: Option<String>,
    /// RFC 3339; after `startsAt`.
    #[schema(required = true, value_type = DateTime<Utc>)]
    pub ends_at: Option<String>,
}

fn maintenance_title() -> Object {
    schema::text(MaintenanceTitle::MAX_CHARS).build()
}

fn maintenance_description() -> Object {
    schema::text(MaintenanceDescription::MAX_CHARS).build()
}

impl ScheduleMaintenanceRequest {
    fn parse(&self, maintenance_id: Uuid) -> Result<MaintenanceWindow, FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = match &self.title {
            Some(title) => errors.take("title", MaintenanceTitle::parse(title)),
            None => required(&mut errors, "title", None),
        };
        let description = parsed(
            &mut errors,
            "description",
            self.description.as_deref(),
            MaintenanceDescription::parse,
        );
        let components: Option<Labels> = match &self.components {
            Some(_) => labels(&mut errors, "components", self.components.as_ref()),
            None => required(&mut errors, "components", None),
        };
        let mut at = |field: &str, value: &Option<String>| match value {
            Some(value) => parsed(&mut errors, field, Some(value), |v| instant(v, false)),
            None => required(&mut errors, field, None),
        };
        let starts_at = at("startsAt", &self.starts_at);
        let ends_at = at("endsAt", &self.ends_at);
        errors.into_result()?;
        let parsed = "no errors means every field parsed";
        let window = MaintenanceWindow {
            maintenance_id,
            title: title.expect(parsed),
            description,
            components: components.expect(parsed),
            starts_at: starts_at.expect(parsed),
            ends_at: ends_at.expect(parsed),
        };
        window.check()?;
        Ok(window)
    }
}

/// Schedule a maintenance window: its components show `UNDER_MAINTENANCE` while it lasts, where
/// nothing worse holds. Admins.
#[utoipa::path(post, path = "/api/v1/support/status/maintenances", tag = "status page", request_body = ScheduleMaintenanceRequest,
    responses(
        (status = 201, description = "Scheduled", body = MaintenanceView, headers(("Location" = String, description = "The status page"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only admins change the status page", body = Problem),
        (status = 422, description = "A field is missing or invalid (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn schedule_maintenance(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<ScheduleMaintenanceRequest>,
) -> Result<Response, ApiError> {
    principal.require(&[ActorRole::Admin], "change the status page")?;
    let id = Uuid::new_v4();
    let window = body.parse(id).map_err(ApiError::Validation)?;
    let view = MaintenanceView {
        id,
        title: window.title.as_str().to_owned(),
        description: window.description.as_ref().map(|d| d.as_str().to_owned()),
        components: window.components.as_slice().to_vec(),
        starts_at: window.starts_at,
        ends_at: window.ends_at,
    };
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = StatusPageCommand::ScheduleMaintenance {
        caller: principal.caller(),
        window,
    };
    let committed = ctx
        .execute_retrying::<StatusPage>(StatusPage::id(), command, &metadata, ATTEMPTS)
        .await?;
    Ok(ctx
        .answer(
            StatusCode::CREATED,
            "/api/v1/status".to_owned(),
            committed,
            READ_MODEL,
            || async { Ok(Some(&view)) },
        )
        .await)
}

/// Cancel a maintenance window: it no longer shows. Admins.
#[utoipa::path(delete, path = "/api/v1/support/status/maintenances/{maintenance_id}", tag = "status page",
    params(("maintenance_id" = Uuid, Path, description = "The window's id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Only admins change the status page", body = Problem),
        (status = 404, description = "No maintenance window has this id", body = Problem)),
    security(("bearer" = [])))]
pub async fn cancel_maintenance(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(maintenance_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(&[ActorRole::Admin], "change the status page")?;
    let maintenance_id = path_id(&maintenance_id, "maintenance window")?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = StatusPageCommand::CancelMaintenance {
        caller: principal.caller(),
        maintenance_id,
    };
    ctx.execute_retrying::<StatusPage>(StatusPage::id(), command, &metadata, ATTEMPTS)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The colour of a state's bar; every state is also said in words beside it.
fn colour(status: Option<ComponentStatus>) -> &'static str {
    match status {
        None => "#d0d4da",
        Some(ComponentStatus::Operational) => "#2e8540",
        Some(ComponentStatus::UnderMaintenance) => "#2f6fb5",
        Some(ComponentStatus::DegradedPerformance) => "#b58105",
        Some(ComponentStatus::PartialOutage) => "#c05a00",
        Some(ComponentStatus::MajorOutage) => "#b0232a",
    }
}

fn label(status: &str) -> &'static str {
    ComponentStatus::parse(status).map_or("Unknown", ComponentStatus::label)
}

/// The page: a heading with the overall state, each component with its state in words, its
/// uptime and its bars (an SVG whose bars each have a title, and a text alternative), the
/// active incidents with their public updates, and maintenance to come.
fn render_page(summary: &StatusSummary) -> String {
    let mut page = String::new();
    let overall = label(&summary.status);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Service status: {overall}</title>\n\
         <link rel=\"alternate\" type=\"application/atom+xml\" title=\"Incidents\" href=\"/status/feed.atom\">\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem;color:#1b1f24}}\
         .component{{border-top:1px solid #d0d4da;padding:.75rem 0}}.state{{font-weight:600}}\
         svg{{display:block;width:100%;height:2.5rem}}.sr-only{{position:absolute;left:-10000px}}</style>\n\
         </head>\n<body>\n<main>\n<h1>Service status</h1>\n\
         <p id=\"overall\" class=\"state\" data-status=\"{code}\">{overall}</p>\n\
         <p>Updated {generated}. <a href=\"/status/feed.atom\">Subscribe to incidents (Atom)</a>.</p>\n",
        code = summary.status,
        generated = summary.generated_at.format("%Y-%m-%d %H:%M UTC"),
    );
    page.push_str(
        "<section aria-labelledby=\"components\">\n<h2 id=\"components\">Components</h2>\n",
    );
    if summary.components.is_empty() {
        page.push_str("<p>No components are known yet.</p>\n");
    }
    for component in &summary.components {
        render_component(&mut page, component);
    }
    page.push_str("</section>\n<section aria-labelledby=\"incidents\">\n<h2 id=\"incidents\">Active incidents</h2>\n");
    if summary.active_incidents.is_empty() {
        page.push_str("<p>No active incidents.</p>\n");
    }
    for incident in &summary.active_incidents {
        render_incident(&mut page, incident);
    }
    page.push_str("</section>\n<section aria-labelledby=\"maintenance\">\n<h2 id=\"maintenance\">Scheduled maintenance</h2>\n");
    if summary.upcoming_maintenance.is_empty() {
        page.push_str("<p>No maintenance is scheduled.</p>\n");
    }
    for window in &summary.upcoming_maintenance {
        let _ = write!(
            page,
            "<article>\n<h3>{title}</h3>\n<p>{from} to {to}: {components}</p>\n{description}</article>\n",
            title = encode_text(&window.title),
            from = window.starts_at.format("%Y-%m-%d %H:%M UTC"),
            to = window.ends_at.format("%Y-%m-%d %H:%M UTC"),
            components = encode_text(&window.components.join(", ")),
            description = window
                .description
                .as_deref()
                .map(|d| format!("<p>{}</p>\n", encode_text(d)))
                .unwrap_or_default(),
        );
    }
    page.push_str("</section>\n</main>\n</body>\n</html>\n");
    page
}

fn render_component(page: &mut String, component: &ComponentView) {
    let name = encode_text(&component.name);
    let id = encode_double_quoted_attribute(&component.name);
    let _ = write!(
        page,
        "<article class=\"component\" data-component=\"{id}\">\n<h3>{name}</h3>\n\
         <p><span class=\"state\" data-status=\"{code}\">{state}</span>{overridden}; \
         {uptime:.2}% uptime over the last 90 days.</p>\n\
         <svg viewBox=\"0 0 {width} 30\" role=\"img\" aria-label=\"{name}: the last 90 days, one bar a day\" preserveAspectRatio=\"none\">\n",
        code = component.status,
        state = label(&component.status),
        overridden = if component.overridden { " (set by an admin)" } else { "" },
        uptime = component.uptime_percent,
        width = component.days.len() * 4,
    );
    let mut worst_days = Vec::new();
    for (index, day) in component.days.iter().enumerate() {
        let status = day
            .status
            .as_deref()
            .and_then(|s| ComponentStatus::parse(s).ok());
        let words = status.map_or("No data", ComponentStatus::label);
        let _ = writeln!(
            page,
            "<rect class=\"bar\" x=\"{x}\" y=\"0\" width=\"3\" height=\"30\" fill=\"{fill}\" data-date=\"{date}\" data-status=\"{code}\"><title>{date}: {words}</title></rect>",
            x = index * 4,
            fill = colour(status),
            date = day.date,
            code = day.status.as_deref().unwrap_or("NONE"),
        );
        if status.is_some_and(|s| s != ComponentStatus::Operational) {
            worst_days.push(format!("{}: {words}", day.date));
        }
    }
    let summary = if worst_days.is_empty() {
        "Every day with data was operational.".to_owned()
    } else {
        format!("Days not fully operational: {}.", worst_days.join("; "))
    };
    let _ = writeln!(
        page,
        "</svg>\n<p class=\"sr-only\">{}</p>\n</article>",
        encode_text(&summary)
    );
}

fn render_incident(page: &mut String, incident: &PublicIncident) {
    let _ = write!(
        page,
        "<article class=\"incident\" data-incident=\"{number}\">\n<h3>{title}</h3>\n\
         <p>{number}: {status}, {impact} impact on {systems}, since {detected}.</p>\n<ol reversed>\n",
        number = encode_text(&incident.incident_number),
        title = encode_text(&incident.title),
        status = incident.status,
        impact = incident.impact,
        systems = encode_text(&incident.affected_systems.join(", ")),
        detected = incident.detected_at.format("%Y-%m-%d %H:%M UTC"),
    );
    for update in &incident.updates {
        let _ = writeln!(
            page,
            "<li><time datetime=\"{at}\">{when}</time> ({status}): {message}</li>",
            at = update.posted_at.to_rfc3339(),
            when = update.posted_at.format("%Y-%m-%d %H:%M UTC"),
            status = update.status,
            message = encode_text(&update.message),
        );
    }
    page.push_str("</ol>\n</article>\n");
}

/// The Atom document: every text escaped, one entry per incident with a stable id.
fn render_feed(incidents: &[PublicIncident], now: DateTime<Utc>) -> String {
    let updated = incidents.first().map_or(now, |i| i.updated_at);
    let mut feed = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>urn:uuid:{}</id>\n<title>Service status: incidents</title>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"/status\"/>\n\
         <link rel=\"self\" href=\"/status/feed.atom\"/>\n<updated>{}</updated>\n\
         <author><name>Support desk</name></author>\n",
        StatusPage::id(),
        updated.to_rfc3339(),
    );
    for incident in incidents {
        let mut content = format!(
            "{}: {}, {} impact on {}.",
            incident.incident_number,
            incident.status,
            incident.impact,
            incident.affected_systems.join(", ")
        );
        for update in &incident.updates {
            let _ = write!(
                content,
                "\n{} ({}): {}",
                update.posted_at.format("%Y-%m-%d %H:%M UTC"),
                update.status,
                update.message
            );
        }
        let _ = write!(
            feed,
            "<entry>\n<id>urn:uuid:{id}</id>\n<title>[{status}] {title}</title>\n\
             <published>{published}</published>\n<updated>{updated}</updated>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"/status\"/>\n\
             <content type=\"text\">{content}</content>\n</entry>\n",
            id = incident.id,
            status = incident.status,
            title = encode_text(&incident.title),
            published = incident.detected_at.to_rfc3339(),
            updated = incident.updated_at.to_rfc3339(),
            content = encode_text(&content),
        );
    }
    feed.push_str("</feed>\n");
    feed
}
