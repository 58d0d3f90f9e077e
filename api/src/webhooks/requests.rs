//! Request bodies and query strings of the webhook endpoints, and how each parses into a
//! command. Every field is read on its own, so that every problem is reported by name at once.

use serde::Deserialize;
use serde_json::json;
use support_domain::webhook::{
    EventTypes, WebhookDefinition, WebhookDescription, WebhookUrl, SUBSCRIBABLE,
};
use support_domain::{Caller, FieldErrors};
use support_projections::page::{Cursor, PageRequest, PageStart, NOT_A_CURSOR};
use support_projections::schema;
use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{explicit_null, parsed, required, UnknownParameters};
use crate::notifier::webhook::Egress;

fn url() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::Custom(
            "uri".to_owned(),
        )))
        .max_length(Some(WebhookUrl::MAX_CHARS))
        .examples([json!("https://hooks.example.com/support")])
        .build()
}

fn event_types() -> Array {
    let names = SUBSCRIBABLE
        .iter()
        .flat_map(|(_, types)| types.iter().copied());
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names));
    ArrayBuilder::new()
        .items(name)
        .min_items(Some(1))
        .max_items(Some(EventTypes::max_items()))
        .build()
}

fn description() -> Object {
    schema::text(WebhookDescription::MAX_CHARS)
        .examples([json!("The on-call bridge")])
        .build()
}

/// The URL, as the egress rules allow it.
fn checked_url(
    errors: &mut FieldErrors,
    egress: &Egress,
    value: Option<&str>,
) -> Option<WebhookUrl> {
    let url = parsed(errors, "url", value, WebhookUrl::parse)?;
    errors.take("url", egress.check_url(url.as_str()).map(|_| url))
}

fn checked_event_types(errors: &mut FieldErrors, values: Option<&[String]>) -> Option<EventTypes> {
    match EventTypes::parse(values?) {
        Ok(types) => Some(types),
        Err((index, message)) => {
            let field = match index {
                Some(index) => format!("eventTypes[{index}]"),
                None => "eventTypes".to_owned(),
            };
            errors.push(field, message);
            None
        }
    }
}

/// The body of `POST /webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhookRequest {
    /// https; http only to an IP address that `SUPPORTD_WEBHOOK_ALLOW` names. An address
    /// literal must not be internal (private, loopback, link-local, ...) unless it names it.
    #[schema(required = true, schema_with = url)]
    pub url: Option<String>,
    /// The event types to receive, as docs/events.md names them; at least one.
    #[schema(required = true, schema_with = event_types)]
    pub event_types: Option<Vec<String>>,
    #[schema(schema_with = description)]
    pub description: Option<String>,
    /// `true` when not sent.
    pub active: Option<bool>,
}

impl CreateWebhookRequest {
    pub fn parse(&self, egress: &Egress) -> Result<(WebhookDefinition, bool), FieldErrors> {
        let mut errors = FieldErrors::default();
        let url = required(&mut errors, "url", self.url.as_deref());
        let url = checked_url(&mut errors, egress, url);
        let types = required(&mut errors, "eventTypes", self.event_types.as_deref());
        let event_types = checked_event_types(&mut errors, types);
        let description = parsed(
            &mut errors,
            "description",
            self.description.as_deref(),
            WebhookDescription::parse,
        );
        errors.into_result()?;
        let definition = WebhookDefinition {
            url: url.expect("checked"),
            event_types: event_types.expect("checked"),
            description,
        };
        Ok((definition, self.active.unwrap_or(true)))
    }
}

/// The body of `PUT /webhooks/{webhook_id}`: any subset of the endpoint's fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWebhookRequest {
    #[schema(schema_with = url)]
    pub url: Option<String>,
    /// The complete list: it replaces the endpoint's.
    #[schema(schema_with = event_types)]
    pub event_types: Option<Vec<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(schema_with = description)]
    pub description: Option<Option<String>>,
    /// `false` deactivates the endpoint; `true` reactivates it, also after the service disabled
    /// it for answering 410.
    pub active: Option<bool>,
}

impl UpdateWebhookRequest {
    pub fn parse(
        &self,
        caller: Caller,
        egress: &Egress,
    ) -> Result<support_domain::webhook::UpdateWebhookEndpoint, FieldErrors> {
        let mut errors = FieldErrors::default();
        let url = checked_url(&mut errors, egress, self.url.as_deref());
        let event_types = checked_event_types(&mut errors, self.event_types.as_deref());
        let description = match &self.description {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) => errors
                .take("description", WebhookDescription::parse(text))
                .map(Some),
        };
        errors.into_result()?;
        Ok(support_domain::webhook::UpdateWebhookEndpoint {
            caller,
            url,
            event_types,
            description,
            active: self.active,
        })
    }
}

/// The page of `GET /webhooks` and of `GET /webhooks/{webhook_id}/deliveries` (and, with a cursor
/// of its own, of the inbox): newest first, from a cursor. An unknown parameter is refused, not
/// ignored.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct CursorPageQuery {
    /// The `nextCursor` of the previous page, unchanged: the page that follows it.
    pub cursor: Option<String>,
    /// Items per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl CursorPageQuery {
    pub fn parse(&self) -> Result<PageRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        let (after, limit) = self.read(&mut errors, Cursor::decode);
        errors.into_result()?;
        Ok(PageRequest {
            start: after.map_or(PageStart::Number(1), PageStart::After),
            limit,
        })
    }

    /// The cursor, as `decode` reads the list's own, and the page size; what is wrong goes to
    /// `errors` (and the default size stands in for a wrong one).
    pub fn read<C>(
        &self,
        errors: &mut FieldErrors,
        decode: fn(&str) -> Option<C>,
    ) -> (Option<C>, u32) {
        self.unknown.refuse(errors);
        let limit = parsed(errors, "limit", self.limit.as_deref(), |v| {
            v.parse::<u32>()
                .map_err(|_| "must be a whole number".to_owned())
        });
        let limit = PageRequest::limit(limit).unwrap_or_else(|(field, message)| {
            errors.push(field, message);
            PageRequest::DEFAULT_LIMIT
        });
        let after = self.cursor.as_deref().and_then(|text| {
            let after = decode(text);
            if after.is_none() {
                errors.push("cursor", NOT_A_CURSOR);
            }
            after
        });
        (after, limit)
    }
}

#[cfg(test)]
mod tests {
    use support_domain::{Actor, ActorRole};

    use super::*;

    fn fields(errors: &FieldErrors) -> Vec<&str> {
        errors.0.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_create_request_reports_every_bad_field_at_once() {
        let request: CreateWebhookRequest = serde_json::from_value(json!({
            "url": "http://hooks.example.com/a",
            "eventTypes": ["TicketOpened", "ticket.closed"],
            "description": " ",
        }))
        .unwrap();
        let errors = request.parse(&Egress::default()).unwrap_err();
        assert_eq!(fields(&errors), ["url", "eventTypes[1]", "description"]);
        let empty: CreateWebhookRequest =
            serde_json::from_value(json!({"eventTypes": []})).unwrap();
        assert_eq!(
            fields(&empty.parse(&Egress::default()).unwrap_err()),
            ["url", "eventTypes"]
        );
    }

    #[test]
    fn an_update_takes_any_subset_and_null_removes_the_description() {
        let admin = Caller {
            actor: Actor {
                sub: "admin-1".into(),
                role: ActorRole::Admin,
            },
            customer_id: None,
        };
        let request: UpdateWebhookRequest =
            serde_json::from_value(json!({"description": null, "active": true})).unwrap();
        let update = request.parse(admin.clone(), &Egress::default()).unwrap();
        assert_eq!(update.description, Some(None));
        assert_eq!(update.url, None);
        assert_eq!(update.active, Some(true));
        let refused: UpdateWebhookRequest =
            serde_json::from_value(json!({"url": "https://10.0.0.1/x"})).unwrap();
        assert_eq!(
            fields(&refused.parse(admin, &Egress::default()).unwrap_err()),
            ["url"]
        );
    }

    #[test]
    fn page_queries_refuse_unknown_parameters_and_bad_values_by_name() {
        let query: CursorPageQuery =
            serde_json::from_value(json!({"limit": "x", "page": "2"})).unwrap();
        assert_eq!(fields(&query.parse().unwrap_err()), ["page", "limit"]);
        for (cursor, limit, refused) in [
            ("nope", "5", &["cursor"][..]),
            ("", "101", &["limit", "cursor"]),
        ] {
            let query: CursorPageQuery =
                serde_json::from_value(json!({"cursor": cursor, "limit": limit})).unwrap();
            assert_eq!(fields(&query.parse().unwrap_err()), refused);
        }
        let first = CursorPageQuery::default().parse().unwrap();
        assert_eq!(first.limit, PageRequest::DEFAULT_LIMIT);
    }
}
