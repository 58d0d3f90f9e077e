//! The OpenAPI document, generated from the handlers and types, and Swagger UI.

use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::startup::ApiContext;
use crate::{dead_letters, health, tickets};

#[derive(OpenApi)]
#[openapi(
    info(title = "supportd", description = "Support desk: tickets, SLAs, escalations. Every change is an event."),
    paths(
        tickets::create_ticket, tickets::list_tickets, tickets::get_ticket, tickets::update_ticket,
        tickets::add_comment, tickets::escalate_ticket, tickets::ticket_history,
        dead_letters::list_dead_letters, dead_letters::retry_dead_letter,
        health::healthz, health::readyz, health::metrics,
    ),
    modifiers(&BearerAuth),
    tags((name = "tickets", description = "Support tickets"), (name = "operations", description = "Health, metrics and dead letters"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn routes() -> Router<ApiContext> {
    Router::new().merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", ApiDoc::openapi()))
}
