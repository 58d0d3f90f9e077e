//! The dashboard a support lead reads: `GET /dashboard`, a static page whose script signs in with
//! a bearer token and draws `GET /api/v1/support/analytics` as SVG charts. The page and its assets
//! need no token (they hold no data); the script's request to the API does. The files are built
//! into the binary, so the page has no build step and loads nothing from another origin.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::startup::ApiContext;

const PAGE: &str = include_str!("dashboard/dashboard.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const STYLES: &str = include_str!("dashboard/dashboard.css");

/// The page runs only its own script and styles, and talks only to its own origin: an injected
/// script could not read the token or send it elsewhere.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'";

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/dashboard", get(dashboard_page))
        .route("/dashboard/dashboard.js", get(dashboard_script))
        .route("/dashboard/dashboard.css", get(dashboard_styles))
}

/// A file of the page. `no-cache`: a browser revalidates, so a new binary's page and script are
/// never mixed with an old one's.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        body,
    )
        .into_response()
}

/// The support dashboard, a page a person reads: ticket volume, the backlog and its age, SLA
/// compliance, reply and resolution times, CSAT and NPS, incidents and knowledge base searches
/// that found nothing, drawn from `GET /api/v1/support/analytics`. The page needs no token; its
/// script asks for one (an agent's, admin's or auditor's) in the URL's fragment (`#token=`) or a
/// form, and reads the period from `#start=YYYY-MM-DD&end=YYYY-MM-DD&interval=day`.
#[utoipa::path(get, path = "/dashboard", tag = "analytics",
    responses((status = 200, description = "The dashboard page", content_type = "text/html")),
    security(()))]
pub async fn dashboard_page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn dashboard_script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn dashboard_styles() -> Response {
    asset("text/css; charset=utf-8", STYLES)
}
