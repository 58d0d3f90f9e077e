//! Request bodies and query strings of the ticket endpoints, and how each parses into a command.
//! Fields arrive as plain JSON values so that every problem is reported by field name at once.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use support_domain::kb::Stars;
use support_domain::sla::{ClockState, CustomerTier};
use support_domain::ticket::{
    AgentId, CommentBody, CommentVisibility, Customer, Labels, Reason, RelatedIds,
    SatisfactionComment, SeenArticles, TicketCategory, TicketChannel, TicketContent,
    TicketDescription, TicketPriority, TicketStatus, TicketTitle, UpdateTicket,
};
use support_domain::{Caller, FieldErrors};
use support_projections::page::PageRequest;
use support_projections::schema;
use support_projections::tickets::TicketFilter;
use utoipa::openapi::schema::{
    Array, ArrayBuilder, Object, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{KnownFormat, OpenApi, RefOr};
use utoipa::{IntoParams, Modify, ToSchema};

use crate::extract::{boolean, explicit_null, page_or_cursor, parsed, required, UnknownParameters};
use uuid::Uuid;

/// How a list parses (`Labels::parse`): on failure, the index of the bad item (if one) and why.
type ListParser<T> = fn(&[String]) -> Result<T, (Option<usize>, String)>;

/// A list parsed whole, a bad item named by its index (`tags[1]`).
fn listed<T>(
    errors: &mut FieldErrors,
    field: &str,
    values: Option<&Vec<String>>,
    parse: ListParser<T>,
) -> Option<T> {
    match parse(values?) {
        Ok(list) => Some(list),
        Err((Some(index), message)) => {
            errors.push(format!("{field}[{index}]"), message);
            None
        }
        Err((None, message)) => {
            errors.push(field, message);
            None
        }
    }
}

pub(crate) fn labels(
    errors: &mut FieldErrors,
    field: &str,
    values: Option<&Vec<String>>,
) -> Option<Labels> {
    listed(errors, field, values, Labels::parse)
}

pub(crate) fn related_ids(
    errors: &mut FieldErrors,
    field: &str,
    ids: Option<&Vec<Uuid>>,
) -> Option<Vec<Uuid>> {
    errors.take(field, RelatedIds::parse(ids?))
}

/// The schema of tags and affected systems, from the limits `Labels::parse` enforces.
pub(crate) fn labels_schema() -> Array {
    ArrayBuilder::new()
        .items(schema::text(Labels::MAX_CHARS))
        .max_items(Some(Labels::MAX_ITEMS))
        .build()
}

fn ids_schema(max_items: usize) -> Array {
    let id = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    ArrayBuilder::new()
        .items(id)
        .max_items(Some(max_items))
        .build()
}

/// The schema of related ticket or incident ids, from the limit `RelatedIds::parse` enforces.
pub(crate) fn related_ids_schema() -> Array {
    ids_schema(RelatedIds::MAX_ITEMS)
}

/// The schema of the articles a customer saw, from the limit `SeenArticles::parse` enforces.
fn seen_articles_schema() -> Array {
    ids_schema(SeenArticles::MAX_ITEMS)
}

fn title() -> Object {
    schema::text(TicketTitle::MAX_CHARS)
        .examples([json!("Unable to access lead dashboard")])
        .build()
}

fn description() -> Object {
    schema::text(TicketDescription::MAX_CHARS)
        .examples([json!(
            "Getting 500 error when trying to load the lead dashboard"
        )])
        .build()
}

fn comment_body() -> Object {
    schema::text(CommentBody::MAX_CHARS).build()
}

fn reason() -> Object {
    schema::text(Reason::MAX_CHARS).build()
}

fn escalation_reason() -> Object {
    schema::text(Reason::MAX_CHARS)
        .examples([json!("Customer is losing revenue")])
        .build()
}

fn customer_text() -> Object {
    schema::text(Customer::MAX_CHARS).build()
}

fn customer_email() -> Object {
    schema::email(Customer::EMAIL_MAX_CHARS).build()
}

/// The body of `POST /tickets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTicketRequest {
    #[schema(required = true, schema_with = title)]
    pub title: Option<String>,
    #[schema(required = true, schema_with = description)]
    pub description: Option<String>,
    #[schema(required = true, schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    /// GENERAL when not sent.
    #[schema(schema_with = schema::ticket_category)]
    pub category: Option<String>,
    /// API when not sent.
    #[schema(schema_with = schema::ticket_channel)]
    pub channel: Option<String>,
    /// The customer the ticket is for; a customer's own id for customers. Staff may open internal
    /// tickets without one. Required with `customerName` or `customerEmail`.
    #[schema(schema_with = customer_text)]
    pub customer_id: Option<String>,
    #[schema(schema_with = customer_text)]
    pub customer_name: Option<String>,
    #[schema(schema_with = customer_email)]
    pub customer_email: Option<String>,
    /// The customer's plan, which can pick the SLA policy. Staff and services set it; a
    /// customer's comes from their token's `tier` claim.
    #[schema(schema_with = schema::customer_tier)]
    pub customer_tier: Option<String>,
    #[serde(default)]
    #[schema(schema_with = labels_schema)]
    pub affected_systems: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = labels_schema)]
    pub tags: Option<Vec<String>>,
    /// The knowledge-base articles the customer was shown or opened before opening the ticket,
    /// for deflection figures; duplicates are dropped, order kept. Only when opening a ticket.
    #[serde(default)]
    #[schema(schema_with = seen_articles_schema)]
    pub suggested_articles_seen: Option<Vec<String>>,
    /// Honoured for the service role (an integration acting for someone); otherwise the caller.
    pub created_by: Option<String>,
}

impl CreateTicketRequest {
    /// The ticket's content and the articles the customer saw, once every field is valid; it gets
    /// its id and number afterwards.
    pub fn parse(
        &self,
        customer_id: Option<&str>,
    ) -> Result<(TicketContent, SeenArticles), FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = required(&mut errors, "title", self.title.as_deref());
        let title = title.and_then(|t| errors.take("title", TicketTitle::parse(t)));
        let description = required(&mut errors, "description", self.description.as_deref());
        let description =
            description.and_then(|d| errors.take("description", TicketDescription::parse(d)));
        let priority = required(&mut errors, "priority", self.priority.as_deref());
        let priority = parsed(&mut errors, "priority", priority, TicketPriority::parse);
        let category = parsed(
            &mut errors,
            "category",
            self.category.as_deref().or(Some("GENERAL")),
            TicketCategory::parse,
        );
        let channel = parsed(
            &mut errors,
            "channel",
            self.channel.as_deref().or(Some("API")),
            TicketChannel::parse,
        );
        let unnamed = self.customer_id.is_none();
        let customer = match customer_id {
            // Even a customer names their account to describe it: the schema cannot tell roles apart.
            _ if unnamed && (self.customer_name.is_some() || self.customer_email.is_some()) => {
                errors.push(
                    "customerId",
                    "is required with customerName or customerEmail",
                );
                None
            }
            Some(id) => match Customer::parse(
                id,
                self.customer_name.as_deref(),
                self.customer_email.as_deref(),
            ) {
                Ok(customer) => Some(customer),
                Err((field, message)) => {
                    errors.push(field, message);
                    None
                }
            },
            None => None,
        };
        let affected_systems = labels(
            &mut errors,
            "affectedSystems",
            self.affected_systems.as_ref(),
        );
        let tags = labels(&mut errors, "tags", self.tags.as_ref());
        let seen = listed(
            &mut errors,
            "suggestedArticlesSeen",
            self.suggested_articles_seen.as_ref(),
            SeenArticles::parse,
        );
        let customer_tier = parsed(
            &mut errors,
            "customerTier",
            self.customer_tier.as_deref(),
            CustomerTier::parse,
        );
        errors.into_result()?;
        let content = TicketContent {
            title: title.expect("checked"),
            description: description.expect("checked"),
            priority: priority.expect("checked"),
            category: category.expect("checked"),
            channel: channel.expect("checked"),
            customer,
            customer_tier,
            affected_systems: affected_systems.unwrap_or_default(),
            tags: tags.unwrap_or_default(),
        };
        Ok((content, seen.unwrap_or_default()))
    }
}

/// The body of `PUT /tickets/{id}`: any subset of the changeable fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTicketRequest {
    #[schema(schema_with = title)]
    pub title: Option<String>,
    #[schema(schema_with = description)]
    pub description: Option<String>,
    #[schema(schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    #[schema(schema_with = schema::ticket_category)]
    pub category: Option<String>,
    /// The customer's plan; `null` clears it. A change matches the SLA policy again.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(schema_with = schema::customer_tier_or_null)]
    pub customer_tier: Option<Option<String>>,
    #[schema(schema_with = labels_schema)]
    pub tags: Option<Vec<String>>,
    #[schema(schema_with = labels_schema)]
    pub affected_systems: Option<Vec<String>>,
    #[schema(schema_with = related_ids_schema)]
    pub related_tickets: Option<Vec<Uuid>>,
    #[schema(schema_with = related_ids_schema)]
    pub related_incidents: Option<Vec<Uuid>>,
    /// An agent's id; `null` unassigns.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(schema_with = schema::agent_id)]
    pub assigned_to: Option<Option<String>>,
    #[schema(schema_with = schema::ticket_status)]
    pub status: Option<String>,
    /// Recorded when the request moves the ticket to RESOLVED; only with `status: RESOLVED`.
    #[schema(schema_with = reason)]
    pub resolution_note: Option<String>,
    /// Accepted for compatibility; the actor is always the authenticated caller.
    pub updated_by: Option<String>,
}

impl UpdateTicketRequest {
    /// Whether the change may match another SLA policy.
    pub fn rematches(&self) -> bool {
        self.priority.is_some() || self.customer_tier.is_some()
    }

    pub fn parse(&self, caller: Caller, at: DateTime<Utc>) -> Result<UpdateTicket, FieldErrors> {
        let mut errors = FieldErrors::default();
        let update = UpdateTicket {
            caller,
            at,
            escalations: Default::default(),
            policies: Default::default(),
            title: parsed(
                &mut errors,
                "title",
                self.title.as_deref(),
                TicketTitle::parse,
            ),
            description: parsed(
                &mut errors,
                "description",
                self.description.as_deref(),
                TicketDescription::parse,
            ),
            priority: parsed(
                &mut errors,
                "priority",
                self.priority.as_deref(),
                TicketPriority::parse,
            ),
            category: parsed(
                &mut errors,
                "category",
                self.category.as_deref(),
                TicketCategory::parse,
            ),
            customer_tier: match &self.customer_tier {
                None => None,
                Some(None) => Some(None),
                Some(Some(tier)) => errors
                    .take("customerTier", CustomerTier::parse(tier))
                    .map(Some),
            },
            tags: labels(&mut errors, "tags", self.tags.as_ref()),
            affected_systems: labels(
                &mut errors,
                "affectedSystems",
                self.affected_systems.as_ref(),
            ),
            related_tickets: related_ids(
                &mut errors,
                "relatedTickets",
                self.related_tickets.as_ref(),
            ),
            related_incidents: related_ids(
                &mut errors,
                "relatedIncidents",
                self.related_incidents.as_ref(),
            ),
            assignee: match &self.assigned_to {
                None => None,
                Some(None) => Some(None),
                Some(Some(agent)) => errors.take("assignedTo", AgentId::parse(agent)).map(Some),
            },
            status: parsed(
                &mut errors,
                "status",
                self.status.as_deref(),
                TicketStatus::parse,
            ),
            resolution_note: parsed(
                &mut errors,
                "resolutionNote",
                self.resolution_note.as_deref(),
                Reason::parse,
            ),
        };
        errors.into_result()?;
        Ok(update)
    }
}

/// The body of `POST /tickets/{id}/comments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddCommentRequest {
    #[schema(required = true, schema_with = comment_body)]
    pub body: Option<String>,
    /// PUBLIC (the default) or INTERNAL; internal notes are never shown to customers.
    #[schema(schema_with = schema::comment_visibility)]
    pub visibility: Option<String>,
    /// The spec's spelling of the same choice: `true` is INTERNAL, `false` PUBLIC. Sent together
    /// with `visibility`, the two must agree.
    pub is_internal: Option<bool>,
    /// Accepted for compatibility; the author is always the authenticated caller.
    pub author: Option<String>,
}

impl AddCommentRequest {
    pub fn parse(&self) -> Result<(CommentBody, CommentVisibility), FieldErrors> {
        let mut errors = FieldErrors::default();
        let body = required(&mut errors, "body", self.body.as_deref());
        let body = body.and_then(|b| errors.take("body", CommentBody::parse(b)));
        let named = parsed(
            &mut errors,
            "visibility",
            self.visibility.as_deref(),
            CommentVisibility::parse,
        );
        let flagged = self.is_internal.map(|internal| match internal {
            true => CommentVisibility::Internal,
            false => CommentVisibility::Public,
        });
        if let (Some(named), Some(flagged)) = (named, flagged) {
            if named != flagged {
                errors.push(
                    "visibility",
                    format!("is {named} but isInternal says {flagged}"),
                );
                errors.push(
                    "isInternal",
                    format!("says {flagged} but visibility is {named}"),
                );
            }
        }
        errors.into_result()?;
        let visibility = named.or(flagged).unwrap_or(CommentVisibility::Public);
        Ok((body.expect("checked"), visibility))
    }
}

/// The body of `POST /tickets/{id}/satisfaction`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateSatisfactionRequest {
    /// 1 (very unsatisfied) to 5 (very satisfied).
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 5)]
    pub score: Option<f64>,
    #[schema(schema_with = satisfaction_comment)]
    pub comment: Option<String>,
}

fn satisfaction_comment() -> Object {
    schema::text(SatisfactionComment::MAX_CHARS).build()
}

impl RateSatisfactionRequest {
    pub fn parse(&self) -> Result<(Stars, Option<SatisfactionComment>), FieldErrors> {
        let mut errors = FieldErrors::default();
        let score = match self.score {
            None => {
                errors.push("score", "is required");
                None
            }
            Some(score) => errors.take("score", Stars::parse(score)),
        };
        let comment = parsed(
            &mut errors,
            "comment",
            self.comment.as_deref(),
            SatisfactionComment::parse,
        );
        errors.into_result()?;
        Ok((score.expect("checked"), comment))
    }
}

/// The body of `POST /tickets/{id}/escalate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalateRequest {
    #[schema(required = true, schema_with = escalation_reason)]
    pub reason: Option<String>,
    /// Accepted for compatibility; the actor is always the authenticated caller.
    pub escalated_by: Option<String>,
}

impl EscalateRequest {
    pub fn parse(&self) -> Result<Reason, FieldErrors> {
        let mut errors = FieldErrors::default();
        let reason = required(&mut errors, "reason", self.reason.as_deref());
        let reason = reason.and_then(|r| errors.take("reason", Reason::parse(r)));
        errors.into_result()?;
        Ok(reason.expect("checked"))
    }
}

/// The rules across fields of the request bodies, which the derived schemas cannot state, as
/// JSON Schema `anyOf`: one alternative must hold, and an absent field counts as `null`, as it
/// does when the body is read. utoipa models no `anyOf` beside `properties`; its extensions map is
/// serialized in place, so the keyword rides there.
pub struct CrossFieldRules;

impl Modify for CrossFieldRules {
    fn modify(&self, openapi: &mut OpenApi) {
        let absent = || json!({"type": "null"});
        let rules = [
            (
                "CreateTicketRequest",
                json!([
                    {"required": ["customerId"], "properties": {"customerId": {"type": "string"}}},
                    {"properties": {"customerName": absent(), "customerEmail": absent()}},
                ]),
            ),
            (
                "UpdateTicketRequest",
                json!([
                    {"required": ["status"],
                     "properties": {"status": {"const": TicketStatus::Resolved.as_str()}}},
                    {"properties": {"resolutionNote": absent()}},
                ]),
            ),
            (
                "AddCommentRequest",
                json!([
                    {"properties": {"isInternal": absent()}},
                    {"properties": {"visibility": absent()}},
                    {"properties": {"isInternal": {"const": true},
                                    "visibility": {"const": CommentVisibility::Internal.as_str()}}},
                    {"properties": {"isInternal": {"const": false},
                                    "visibility": {"const": CommentVisibility::Public.as_str()}}},
                ]),
            ),
        ];
        let schemas = &mut openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas;
        for (name, alternatives) in rules {
            let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(name) else {
                panic!("{name} is an object schema");
            };
            object
                .extensions
                .get_or_insert_with(Default::default)
                .insert("anyOf".to_owned(), alternatives);
        }
    }
}

/// The filters of `GET /tickets`. Dates are `YYYY-MM-DD` (a whole UTC day) or RFC 3339 instants.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TicketListQuery {
    #[param(schema_with = schema::ticket_status)]
    pub status: Option<String>,
    #[param(schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    #[param(schema_with = schema::ticket_category)]
    pub category: Option<String>,
    #[param(schema_with = schema::ticket_channel)]
    pub channel: Option<String>,
    pub assigned_to: Option<String>,
    pub customer_id: Option<String>,
    /// `true` or `false`.
    #[param(value_type = Option<bool>)]
    pub sla_breached: Option<String>,
    #[param(schema_with = schema::customer_tier)]
    pub customer_tier: Option<String>,
    /// The most pressing state of the ticket's SLA clocks.
    #[param(schema_with = schema::clock_state)]
    pub sla_state: Option<String>,
    /// Tickets whose response clock runs toward a deadline before this day or instant: what
    /// breaches next.
    pub response_due_before: Option<String>,
    /// Tickets whose resolution clock runs toward a deadline before this day or instant.
    pub resolution_due_before: Option<String>,
    /// Created on or after this day or instant.
    pub created_from: Option<String>,
    /// Created on or before this day (inclusive) or before this instant.
    pub created_to: Option<String>,
    /// Text to find in the ticket number or title.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// 1-based page number (default 1). Pages reach the first 10,000 tickets; beyond, use
    /// `cursor`. Not together with `cursor`.
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Items per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page, unchanged: the page that follows it.
    pub cursor: Option<String>,
}

/// The query of `GET /tickets/{key}`. A parameter it does not know is refused: a misspelt `asOf`
/// would otherwise answer with the ticket as it is now.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Show the ticket as it stood at this instant, rebuilt from its events up to then: 404 if it
    /// was not opened yet.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub as_of: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl TicketQuery {
    /// The instant to show the ticket at; `None` for now.
    pub fn parse(&self) -> Result<Option<DateTime<Utc>>, FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let as_of = self.as_of.as_deref().and_then(|as_of| {
            let instant = DateTime::parse_from_rfc3339(as_of)
                .map(|instant| instant.with_timezone(&Utc))
                .map_err(|_| {
                    "must be an RFC 3339 instant, such as 2026-11-25T00:00:00Z".to_owned()
                });
            errors.take("asOf", instant)
        });
        errors.into_result()?;
        Ok(as_of)
    }
}

/// Reads a date or an instant; a bare date means the start of that UTC day, or of the next day
/// when it closes a range (`end_of_day`), so that the range includes it.
pub fn instant(value: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(value) {
        return Ok(instant.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| "must be a date (YYYY-MM-DD) or an RFC 3339 instant".to_owned())?;
    let day = if end_of_day {
        day.checked_add_days(Days::new(1))
            .ok_or("date out of range")?
    } else {
        day
    };
    Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}

impl TicketListQuery {
    pub fn parse(&self) -> Result<(TicketFilter, PageRequest), FieldErrors> {
        let mut errors = FieldErrors::default();
        let filter = TicketFilter {
            status: parsed(
                &mut errors,
                "status",
                self.status.as_deref(),
                TicketStatus::parse,
            ),
            priority: parsed(
                &mut errors,
                "priority",
                self.priority.as_deref(),
                TicketPriority::parse,
            ),
            category: parsed(
                &mut errors,
                "category",
                self.category.as_deref(),
                TicketCategory::parse,
            ),
            channel: parsed(
                &mut errors,
                "channel",
                self.channel.as_deref(),
                TicketChannel::parse,
            ),
            assigned_to: self.assigned_to.clone(),
            customer_id: self.customer_id.clone(),
            sla_breached: parsed(
                &mut errors,
                "slaBreached",
                self.sla_breached.as_deref(),
                boolean,
            ),
            customer_tier: parsed(
                &mut errors,
                "customerTier",
                self.customer_tier.as_deref(),
                CustomerTier::parse,
            ),
            sla_state: parsed(
                &mut errors,
                "slaState",
                self.sla_state.as_deref(),
                ClockState::parse,
            ),
            response_due_before: parsed(
                &mut errors,
                "responseDueBefore",
                self.response_due_before.as_deref(),
                |v| instant(v, false),
            ),
            resolution_due_before: parsed(
                &mut errors,
                "resolutionDueBefore",
                self.resolution_due_before.as_deref(),
                |v| instant(v, false),
            ),
            created_from: parsed(
                &mut errors,
                "createdFrom",
                self.created_from.as_deref(),
                |v| instant(v, false),
            ),
            created_before: parsed(&mut errors, "createdTo", self.created_to.as_deref(), |v| {
                instant(v, true)
            }),
            text: self
                .q
                .as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(str::to_owned),
        };
        if filter
            .text
            .as_ref()
            .is_some_and(|q| q.chars().count() > 200)
        {
            errors.push("q", "must be at most 200 characters");
        }
        let page = page_or_cursor(
            &mut errors,
            self.page.as_deref(),
            self.cursor.as_deref(),
            self.limit.as_deref(),
        );
        errors.into_result()?;
        Ok((filter, page.expect("checked")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_request_reports_every_bad_field() {
        let request: CreateTicketRequest = serde_json::from_value(serde_json::json!({
            "priority": "URGENT",
            "channel": "FAX",
            "tags": ["ok", ""],
            "suggestedArticlesSeen": [uuid::Uuid::nil(), "kb-42"],
        }))
        .unwrap();
        let errors = request.parse(Some("c-1")).err().unwrap();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "title",
                "description",
                "priority",
                "channel",
                "tags[1]",
                "suggestedArticlesSeen[1]"
            ]
        );
    }

    #[test]
    fn a_customer_is_described_only_with_its_id_sent() {
        let request: CreateTicketRequest = serde_json::from_value(serde_json::json!({
            "title": "t", "description": "d", "priority": "P3_LOW", "customerName": "Jo",
        }))
        .unwrap();
        // Even when the caller is a customer, whose account the ticket is for anyway.
        let errors = request.parse(Some("c-1")).unwrap_err();
        assert_eq!(errors.0[0].field, "customerId");
        let named: CreateTicketRequest = serde_json::from_value(serde_json::json!({
            "title": "t", "description": "d", "priority": "P3_LOW", "customerName": "Jo",
            "customerId": "c-1",
        }))
        .unwrap();
        assert!(named.parse(Some("c-1")).is_ok());
    }

    #[test]
    fn assigned_to_null_unassigns_and_absent_leaves_it() {
        let unassign: UpdateTicketRequest =
            serde_json::from_str(r#"{"assignedTo": null}"#).unwrap();
        let caller = || Caller {
            actor: support_domain::Actor {
                sub: "agent-7".into(),
                role: support_domain::ActorRole::Agent,
            },
            customer_id: None,
        };
        assert_eq!(
            unassign
                .parse(caller(), chrono::DateTime::UNIX_EPOCH)
                .unwrap()
                .assignee,
            Some(None)
        );
        let untouched: UpdateTicketRequest =
            serde_json::from_str(r#"{"status": "IN_PROGRESS"}"#).unwrap();
        assert_eq!(
            untouched
                .parse(caller(), chrono::DateTime::UNIX_EPOCH)
                .unwrap()
                .assignee,
            None
        );
    }

    #[test]
    fn is_internal_chooses_the_visibility_and_must_agree_with_it() {
        let visibility = |json: serde_json::Value| {
            serde_json::from_value::<AddCommentRequest>(json)
                .unwrap()
                .parse()
                .map(|(_, visibility)| visibility)
        };
        let body = "Pool exhausted";
        assert_eq!(
            visibility(serde_json::json!({"body": body, "isInternal": true})),
            Ok(CommentVisibility::Internal)
        );
        assert_eq!(
            visibility(serde_json::json!({"body": body, "isInternal": false})),
            Ok(CommentVisibility::Public)
        );
        assert_eq!(
            visibility(serde_json::json!({"body": body})),
            Ok(CommentVisibility::Public)
        );
        assert_eq!(
            visibility(
                serde_json::json!({"body": body, "isInternal": true, "visibility": "INTERNAL"})
            ),
            Ok(CommentVisibility::Internal)
        );
        let disagreeing = visibility(
            serde_json::json!({"body": body, "isInternal": true, "visibility": "PUBLIC"}),
        )
        .unwrap_err();
        let fields: Vec<_> = disagreeing.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["visibility", "isInternal"]);
    }

    #[test]
    fn a_closing_date_includes_its_whole_day() {
        let query = TicketListQuery {
            created_from: Some("2024-01-01".into()),
            created_to: Some("2024-01-31".into()),
            ..Default::default()
        };
        let (filter, page) = query.parse().unwrap();
        assert_eq!(
            filter.created_before.unwrap().to_rfc3339(),
            "2024-02-01T00:00:00+00:00"
        );
        assert_eq!((page.number(), page.limit), (Some(1), 20));
    }

    #[test]
    fn list_limits_are_bounded() {
        let query = TicketListQuery {
            limit: Some("101".into()),
            ..Default::default()
        };
        assert_eq!(query.parse().unwrap_err().0[0].field, "limit");
    }
}
