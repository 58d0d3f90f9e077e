//! The OpenAPI document, generated from the handlers and types, and Swagger UI. What every
//! operation of a kind can answer (a token's 401, a body's 400/413/415/422, an Idempotency-Key's
//! 409/422, the database's 503) is added here once, by the rule that makes it so, rather than
//! repeated in each handler's annotation. So is the rate limit of every operation of the support
//! API: its 429 and its `RateLimit-*` headers.

use std::collections::BTreeSet;

use axum::Router;
use serde_json::Value;
use utoipa::openapi::content::Content;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::problem::PROBLEM_JSON;
use crate::startup::{ApiContext, SUPPORT_API};
use crate::tickets::requests::CrossFieldRules;
use crate::{
    alert_rules, analytics, audit, dashboard, dead_letters, escalation_policies, health,
    idempotency, incidents, kb_articles, notification_preferences, notifications, nps,
    personal_data, sla_policies, sla_report, status_page, tickets, webhooks,
};

const PROBLEM_REF: &str = "#/components/schemas/Problem";

#[derive(OpenApi)]
#[openapi(
    info(title = "supportd", description = "Support desk: tickets, SLAs, escalations. Every change is an event."),
    paths(
        tickets::create_ticket, tickets::list_tickets, tickets::get_ticket, tickets::update_ticket,
        tickets::add_comment, tickets::escalate_ticket, tickets::ticket_history,
        tickets::sla::explain_sla, tickets::escalations::ticket_escalations,
        tickets::satisfaction::rate_satisfaction, tickets::satisfaction::get_satisfaction,
        escalation_policies::create_escalation_policy,
        escalation_policies::list_escalation_policies,
        escalation_policies::get_escalation_policy,
        escalation_policies::update_escalation_policy,
        kb_articles::create_kb_article, kb_articles::search_kb_articles,
        kb_articles::get_kb_article, kb_articles::update_kb_article,
        kb_articles::kb_article_revisions, kb_articles::suggest_kb_articles,
        kb_articles::ticket_suggested_articles, kb_articles::kb_search_insights,
        kb_articles::ratings::rate_kb_article,
        incidents::create_incident, incidents::list_incidents, incidents::get_incident,
        incidents::update_incident, incidents::acknowledge_incident,
        incidents::post_incident_update, incidents::incident_timeline, incidents::link_ticket,
        incidents::unlink_ticket, incidents::get_post_mortem, incidents::update_post_mortem,
        incidents::add_action_item, incidents::update_action_item,
        status_page::get_status, status_page::status_page, status_page::status_feed,
        status_page::override_component, status_page::schedule_maintenance,
        status_page::cancel_maintenance,
        sla_policies::create_sla_policy, sla_policies::list_sla_policies,
        sla_policies::get_sla_policy, sla_policies::update_sla_policy,
        sla_policies::checks::preview_sla_policy, sla_policies::checks::what_if_sla_policy,
        audit::search_audit_log,
        sla_report::get_sla_report,
        analytics::get_analytics, dashboard::dashboard_page, nps::respond,
        alert_rules::create_alert_rule, alert_rules::list_alert_rules,
        alert_rules::get_alert_rule, alert_rules::update_alert_rule, alert_rules::alert_firings,
        personal_data::export_personal_data, personal_data::erase_personal_data,
        notification_preferences::get_notification_preferences,
        notification_preferences::put_notification_preferences,
        notifications::list_notifications, notifications::read_notification,
        notifications::read_all_notifications,
        dead_letters::list_dead_letters, dead_letters::retry_dead_letter,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::get_webhook,
        webhooks::update_webhook, webhooks::list_webhook_deliveries,
        webhooks::resend_webhook_delivery,
        health::healthz, health::readyz, health::metrics,
    ),
    modifiers(&BearerAuth, &CrossFieldRules, &JsonBodies, &QueryStrings, &PathParameters, &Authenticated, &IdempotentPosts, &RateLimited, &ProblemDocuments),
    tags((name = "tickets", description = "Support tickets"), (name = "sla", description = "SLA policies: the targets tickets are held to, and reports of how they were kept"), (name = "escalation", description = "Escalation policies: the ladders tickets climb on breaches, warnings and by hand"), (name = "knowledge base", description = "Knowledge base articles: written by staff, searched and read by anyone when published and public, rated by readers, and suggested for tickets"), (name = "incidents", description = "Incidents: reported by monitoring or staff, worked through their lifecycle against their severity's targets, told in status updates, linked to tickets, and closed after their post-mortem"), (name = "status page", description = "The public status page: components and their states, 90 days of bars, active incidents with their public updates, maintenance windows, and the incidents' Atom feed"), (name = "analytics", description = "Support analytics: ticket volumes, reply and resolution times, first contact resolution, the backlog and agents' figures, from rollups the events build; and the dashboard page that draws them"), (name = "audit", description = "The event store searched: who did what, and when"), (name = "privacy", description = "Customers' personal data: export and erasure"), (name = "notifications", description = "How each user is told of what happens: channels, addresses, working hours, and the in-app inbox"), (name = "operations", description = "Health, metrics and dead letters"), (name = "webhooks", description = "Webhook endpoints: the desk's events, signed, delivered to URLs admins register, and the log of each delivery"))
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

/// Every operation of the document, with its method.
fn operations(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    openapi
        .paths
        .paths
        .values_mut()
        .flat_map(operations_of_path)
}

/// Every operation of one path, with its method.
fn operations_of_path(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
}

/// Documents that `operation` can answer `status` with a problem document for `reason`; a status
/// the annotation already lists gets the reason added to its description.
fn may_answer(operation: &mut Operation, status: u16, reason: &str) {
    let problem = || {
        ResponseBuilder::new()
            .description(reason)
            .content(PROBLEM_JSON, Content::new(Some(Ref::new(PROBLEM_REF))))
            .build()
    };
    let response = operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| problem().into());
    if let RefOr::T(response) = response {
        if response.description.is_empty() {
            response.description = reason.to_owned();
        } else if !response.description.contains(reason) {
            response.description = format!("{} Or: {reason}", response.description);
        }
    }
}

/// Bodies are read by `ApiJson`, for every operation that takes one: a wrong media type, size,
/// syntax or shape, and fields the body does not declare, are refused; a field sent as `null`
/// counts as not sent.
struct JsonBodies;

impl Modify for JsonBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut bodies = BTreeSet::new();
        for (_, operation) in operations(openapi) {
            let Some(body) = &operation.request_body else {
                continue;
            };
            for content in body.content.values() {
                if let Some(RefOr::Ref(reference)) = &content.schema {
                    bodies.insert(reference.ref_location.clone());
                }
            }
            may_answer(operation, 400, "The body is not valid JSON.");
            may_answer(operation, 413, "The body is larger than 1 MiB.");
            may_answer(operation, 415, "The body is not sent as application/json.");
            may_answer(
                operation,
                422,
                "A field is missing, invalid or not a field of this request (all are listed).",
            );
        }
        let schemas = &mut openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas;
        for location in bodies {
            let name = location.trim_start_matches("#/components/schemas/");
            let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(name) else {
                panic!("the request body {name} is an object schema");
            };
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            for (field, property) in object.properties.iter_mut() {
                let nullable = !object.required.contains(field);
                let RefOr::T(property) = property else {
                    panic!("{name}.{field} is an inline schema");
                };
                set_nullable(property, nullable);
            }
        }
    }
}

/// Makes `schema` accept `null`, or refuse it: its type, and its enum when it has one.
fn set_nullable(schema: &mut Schema, nullable: bool) {
    let (schema_type, enum_values) = match schema {
        Schema::Object(object) => (&mut object.schema_type, object.enum_values.as_mut()),
        Schema::Array(array) => (&mut array.schema_type, None),
        _ => panic!("request fields are objects or arrays"),
    };
    let mut types = match schema_type {
        SchemaType::Type(single) => vec![single.clone()],
        SchemaType::Array(types) => types.clone(),
        SchemaType::AnyValue => return,
    };
    types.retain(|t| *t != Type::Null);
    if nullable {
        types.push(Type::Null);
    }
    *schema_type = match types.len() {
        1 => SchemaType::Type(types.remove(0)),
        _ => SchemaType::Array(types),
    };
    if let Some(values) = enum_values {
        values.retain(|v| !v.is_null());
        if nullable {
            values.push(Value::Null);
        }
    }
}

/// Query strings are read by `ApiQuery`, which refuses one it cannot read (a parameter sent twice).
struct QueryStrings;

impl Modify for QueryStrings {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (_, operation) in operations(openapi) {
            let parameters = operation.parameters.iter().flatten();
            if parameters
                .into_iter()
                .any(|p| p.parameter_in == ParameterIn::Query)
            {
                may_answer(
                    operation,
                    400,
                    "The query string cannot be read (a parameter sent twice, say).",
                );
            }
        }
    }
}

/// Path parameters are read by `ApiPath`, which refuses a segment it cannot read as text.
struct PathParameters;

impl Modify for PathParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (_, operation) in operations(openapi) {
            let parameters = operation.parameters.iter().flatten();
            if parameters
                .into_iter()
                .any(|p| p.parameter_in == ParameterIn::Path)
            {
                may_answer(
                    operation,
                    400,
                    "The path cannot be read (not UTF-8 once percent-decoded).",
                );
            }
        }
    }
}

/// Every operation that takes a bearer token checks it, and reads the database.
struct Authenticated;

impl Modify for Authenticated {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (_, operation) in operations(openapi) {
            if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                may_answer(
                    operation,
                    401,
                    "No bearer token, or one that is malformed, forged or expired.",
                );
                may_answer(
                    operation,
                    503,
                    "The database is unavailable; retry with backoff.",
                );
            }
        }
    }
}

/// Every POST passes the Idempotency-Key middleware (a route layer of every route), which reads
/// the body of a keyed request and replays kept answers.
struct IdempotentPosts;

impl Modify for IdempotentPosts {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let replayed = HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["true"])),
            )
            .description(Some(
                "`true` when this is the kept answer to an earlier request with the same key.",
            ))
            .build();
        let key = ParameterBuilder::new()
            .name(idempotency::HEADER)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(idempotency::DESCRIPTION))
            .schema(Some(idempotency::key_schema()))
            .build();
        for (method, operation) in operations(openapi) {
            if method != "post" {
                continue;
            }
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(key.clone());
            may_answer(
                operation,
                409,
                "A request with this Idempotency-Key is in progress; retry it.",
            );
            may_answer(operation, 413, "The body is larger than 1 MiB.");
            may_answer(
                operation,
                422,
                "The Idempotency-Key is malformed, or was used for another request.",
            );
            for (status, response) in operation.responses.responses.iter_mut() {
                let kept = status != "401" && !status.starts_with('5');
                if let (true, RefOr::T(response)) = (kept, response) {
                    response
                        .headers
                        .insert("Idempotent-Replayed".to_owned(), replayed.clone());
                }
            }
        }
    }
}

/// Every operation of the support API passes the rate limit (`rate_limit::limit_requests`, a
/// route layer of its routes, outside the Idempotency-Key's): every answer says where the caller
/// stands, and one over the limit is a 429, never a replayed answer.
struct RateLimited;

fn whole_number_header(minimum: u32, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(minimum)),
        )
        .description(Some(description))
        .build()
}

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let standing = [
            (
                "RateLimit-Limit",
                whole_number_header(
                    1,
                    "Requests a minute the caller may make, as a burst or spread out: each token \
                     subject by its role's limit, each client address without a valid token by \
                     the anonymous limit. Counted by each API process alone.",
                ),
            ),
            (
                "RateLimit-Remaining",
                whole_number_header(0, "Requests the caller may still make at once."),
            ),
            (
                "RateLimit-Reset",
                whole_number_header(
                    0,
                    "Seconds until the caller's whole allowance is back, rounded up.",
                ),
            ),
        ];
        let retry_after = whole_number_header(
            1,
            "Seconds until the next request will be accepted, rounded up.",
        );
        let limited = openapi
            .paths
            .paths
            .iter_mut()
            .filter(|(path, _)| path.starts_with(SUPPORT_API));
        for (_, item) in limited {
            for (_, operation) in operations_of_path(item) {
                may_answer(
                    operation,
                    429,
                    "The caller's rate limit is used up; retry after `Retry-After` seconds.",
                );
                for (status, response) in operation.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    for (name, header) in &standing {
                        response.headers.insert((*name).to_owned(), header.clone());
                    }
                    if status == "429" {
                        response
                            .headers
                            .insert("Retry-After".to_owned(), retry_after.clone());
                    }
                }
            }
        }
    }
}

/// Errors are answered as `application/problem+json` (`ApiError`), whatever the annotation says.
struct ProblemDocuments;

impl Modify for ProblemDocuments {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let is_problem = |content: &Content| matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location == PROBLEM_REF);
        for (_, operation) in operations(openapi) {
            for response in operation.responses.responses.values_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                response.content = std::mem::take(&mut response.content)
                    .into_iter()
                    .map(|(media_type, content)| match is_problem(&content) {
                        true => (PROBLEM_JSON.to_owned(), content),
                        false => (media_type, content),
                    })
                    .collect();
            }
        }
    }
}

pub fn routes() -> Router<ApiContext> {
    Router::new().merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", ApiDoc::openapi()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use support_domain::ticket::{Labels, RelatedIds, SeenArticles, TicketTitle};

    use super::*;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    /// Every operation as `method path`, with its JSON.
    fn operations_of(doc: &Value) -> Vec<(String, &Value)> {
        let paths = doc["paths"].as_object().unwrap();
        let operations: Vec<_> = paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().unwrap();
                item.iter()
                    .map(move |(method, operation)| (format!("{method} {path}"), operation))
            })
            .collect();
        assert!(operations.len() >= 12, "every operation is found");
        operations
    }

    fn statuses(operation: &Value) -> Vec<&str> {
        let responses = operation["responses"].as_object().unwrap();
        responses.keys().map(String::as_str).collect()
    }

    #[test]
    fn every_problem_is_answered_as_problem_json() {
        let doc = document();
        let mut problems = 0;
        for (name, operation) in operations_of(&doc) {
            for (status, response) in operation["responses"].as_object().unwrap() {
                for (media_type, content) in response["content"].as_object().into_iter().flatten() {
                    let is_problem = content["schema"]["$ref"] == PROBLEM_REF;
                    assert_eq!(is_problem, media_type == PROBLEM_JSON, "{name} {status}");
                    problems += usize::from(is_problem);
                }
                let error = status.starts_with('4') || status.starts_with('5');
                if error && name != "get /readyz" {
                    assert!(
                        response["content"][PROBLEM_JSON].is_object(),
                        "{name} {status}"
                    );
                }
            }
        }
        assert!(problems > 50);
    }

    #[test]
    fn every_operation_with_a_path_parameter_documents_an_unreadable_path() {
        let doc = document();
        let mut with_path = 0;
        for (name, operation) in operations_of(&doc) {
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if parameters.iter().any(|p| p["in"] == "path") {
                with_path += 1;
                assert!(statuses(operation).contains(&"400"), "{name}");
            }
        }
        assert!(with_path >= 9, "the operations on one resource are found");
    }

    #[test]
    fn every_operation_with_a_body_documents_how_bodies_are_refused() {
        let doc = document();
        let with_body: Vec<_> = operations_of(&doc)
            .into_iter()
            .filter(|(_, operation)| operation.get("requestBody").is_some())
            .collect();
        assert_eq!(
            with_body.len(),
            30,
            "tickets: create, update, comment, escalate, rate; SLA policies: create, update, preview, \
             what-if; escalation policies: create, update; webhooks: create, update; \
             notification preferences: put; KB articles: create, update, suggest, rate; \
             incidents: create, update, post an update, link a ticket, post-mortem, add and \
             change an action item; status page: override a component, schedule maintenance; \
             NPS: respond; alert rules: create, update"
        );
        for (name, operation) in with_body {
            let statuses = statuses(operation);
            for status in ["400", "413", "415", "422"] {
                assert!(statuses.contains(&status), "{name} {status}");
            }
            let body = &operation["requestBody"]["content"]["application/json"]["schema"]["$ref"];
            let schema = body
                .as_str()
                .unwrap()
                .trim_start_matches("#/components/schemas/");
            let schema = &doc["components"]["schemas"][schema];
            assert_eq!(schema["additionalProperties"], false, "{name}");
        }
    }

    #[test]
    fn every_authenticated_operation_and_every_post_documents_what_it_adds() {
        let doc = document();
        for (name, operation) in operations_of(&doc) {
            let statuses = statuses(operation);
            if operation.get("security").is_some() {
                assert!(
                    statuses.contains(&"401") && statuses.contains(&"503"),
                    "{name}"
                );
            }
            if name.starts_with("post ") {
                for status in ["409", "413", "422"] {
                    assert!(statuses.contains(&status), "{name} {status}");
                }
                let created = &operation["responses"]["201"];
                let ok = &operation["responses"]["200"];
                let success = if created.is_object() { created } else { ok };
                assert!(
                    success["headers"]["Idempotent-Replayed"].is_object(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn required_fields_are_required_and_only_optional_ones_may_be_null() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (name, schema) in schemas.iter().filter(|(name, _)| name.ends_with("Request")) {
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            for (field, property) in schema["properties"].as_object().unwrap() {
                let optional = !required.contains(&json!(field));
                let types = match &property["type"] {
                    Value::Array(types) => types.clone(),
                    single => vec![single.clone()],
                };
                assert_eq!(types.contains(&json!("null")), optional, "{name}.{field}");
                if let Some(values) = property["enum"].as_array() {
                    assert_eq!(values.contains(&Value::Null), optional, "{name}.{field}");
                }
            }
        }
        let required = |name: &str| schemas[name].get("required").cloned();
        assert_eq!(
            required("CreateTicketRequest"),
            Some(json!(["title", "description", "priority"]))
        );
        assert_eq!(required("AddCommentRequest"), Some(json!(["body"])));
        assert_eq!(required("EscalateRequest"), Some(json!(["reason"])));
        assert_eq!(required("UpdateTicketRequest"), None);
        let title = &schemas["CreateTicketRequest"]["properties"]["title"];
        assert_eq!(title["maxLength"], TicketTitle::MAX_CHARS);
    }

    #[test]
    fn every_array_in_a_request_documents_its_maximum() {
        let doc = document();
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
        let create = &schemas["CreateTicketRequest"]["properties"];
        let seen = &create["suggestedArticlesSeen"];
        assert_eq!(seen["maxItems"], SeenArticles::MAX_ITEMS);
        assert_eq!(seen["items"]["format"], "uuid");
    }

    #[test]
    fn every_support_operation_documents_its_rate_limit_and_no_other_does() {
        use crate::rate_limit::{LIMIT_HEADER, REMAINING_HEADER, RESET_HEADER};

        let doc = document();
        let mut limited = 0;
        for (name, operation) in operations_of(&doc) {
            let responses = operation["responses"].as_object().unwrap();
            if !name.contains(&format!(" {SUPPORT_API}/")) {
                assert!(!responses.contains_key("429"), "{name}");
                continue;
            }
            limited += 1;
            assert!(
                responses["429"]["headers"]["Retry-After"].is_object(),
                "{name}"
            );
            for (status, response) in responses {
                let headers: Vec<_> = response["headers"].as_object().unwrap().keys().collect();
                for header in [LIMIT_HEADER, REMAINING_HEADER, RESET_HEADER] {
                    let documented = headers.iter().any(|h| header == h.as_str());
                    assert!(documented, "{name} {status} {header}");
                }
            }
        }
        assert!(limited >= 9, "the support operations are found");
    }

    #[test]
    fn every_post_declares_the_idempotency_key() {
        let doc = document();
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
