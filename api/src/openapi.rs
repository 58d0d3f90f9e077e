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

#[cfg(test)]
mod tests {
    use support_domain::ticket::{Labels, RelatedIds};

    use super::*;

    #[test]
    fn every_array_in_a_request_documents_its_maximum() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let requests: Vec<_> = schemas
            .iter()
            .filter(|(name, _)| name.ends_with("Request"))
            .collect();
        assert!(requests.len() >= 4, "the request bodies are documented");
        for (name, schema) in requests {
            for (field, property) in schema["properties"].as_object().unwrap() {
                if property.get("items").is_some() {
                    assert!(property["maxItems"].is_u64(), "{name}.{field}");
                }
            }
        }
        let update = &schemas["UpdateTicketRequest"]["properties"];
        assert_eq!(update["tags"]["maxItems"], Labels::MAX_ITEMS);
        assert_eq!(update["tags"]["items"]["maxLength"], Labels::MAX_CHARS);
        assert_eq!(update["relatedTickets"]["maxItems"], RelatedIds::MAX_ITEMS);
    }

    #[test]
    fn every_post_declares_the_idempotency_key() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let posts: Vec<_> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(path, item)| item.get("post").map(|post| (path, post)))
            .collect();
        assert!(posts.len() >= 3, "the POST operations are found");
        for (path, post) in posts {
            let declared = post["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == crate::idempotency::HEADER && p["in"] == "header");
            assert!(declared, "{path}");
        }
    }
}
