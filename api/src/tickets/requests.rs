//! Request bodies and query strings of the ticket endpoints, and how each parses into a command.
//! Fields arrive as plain JSON values so that every problem is reported by field name at once.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};
use support_domain::ticket::{
    AgentId, CommentBody, CommentVisibility, Customer, Labels, Reason, TicketCategory,
    TicketChannel, TicketDescription, TicketPriority, TicketStatus, TicketTitle, UpdateTicket,
};
use support_domain::FieldErrors;
use support_projections::page::PageRequest;
use support_projections::schema;
use support_projections::tickets::TicketFilter;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn explicit_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn required<T>(errors: &mut FieldErrors, field: &str, value: Option<T>) -> Option<T> {
    if value.is_none() {
        errors.push(field, "is required");
    }
    value
}

fn labels(errors: &mut FieldErrors, field: &str, values: Option<&Vec<String>>) -> Option<Labels> {
    match Labels::parse(values?) {
        Ok(labels) => Some(labels),
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

fn parsed<T>(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<&str>,
    parse: fn(&str) -> Result<T, String>,
) -> Option<T> {
    errors.take(field, parse(value?))
}

/// The body of `POST /tickets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTicketRequest {
    #[schema(example = "Unable to access lead dashboard")]
    pub title: Option<String>,
    #[schema(example = "Getting 500 error when trying to load the lead dashboard")]
    pub description: Option<String>,
    #[schema(schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    #[schema(schema_with = schema::ticket_category)]
    pub category: Option<String>,
    #[schema(schema_with = schema::ticket_channel)]
    pub channel: Option<String>,
    /// The customer the ticket is for; a customer's own id for customers. Staff may open internal
    /// tickets without one.
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    #[serde(default)]
    pub affected_systems: Option<Vec<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Honoured for the service role (an integration acting for someone); otherwise the caller.
    pub created_by: Option<String>,
}

/// A create request with every field valid, before it gets its id and number.
pub struct NewTicket {
    pub title: TicketTitle,
    pub description: TicketDescription,
    pub priority: TicketPriority,
    pub category: TicketCategory,
    pub channel: TicketChannel,
    pub customer: Option<Customer>,
    pub affected_systems: Labels,
    pub tags: Labels,
}

impl CreateTicketRequest {
    pub fn parse(&self, customer_id: Option<&str>) -> Result<NewTicket, FieldErrors> {
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
        let customer = match customer_id {
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
            None if self.customer_name.is_some() || self.customer_email.is_some() => {
                errors.push(
                    "customerId",
                    "is required with customerName or customerEmail",
                );
                None
            }
            None => None,
        };
        let affected_systems = labels(
            &mut errors,
            "affectedSystems",
            self.affected_systems.as_ref(),
        );
        let tags = labels(&mut errors, "tags", self.tags.as_ref());
        errors.into_result()?;
        Ok(NewTicket {
            title: title.expect("checked"),
            description: description.expect("checked"),
            priority: priority.expect("checked"),
            category: category.expect("checked"),
            channel: channel.expect("checked"),
            customer,
            affected_systems: affected_systems.unwrap_or_default(),
            tags: tags.unwrap_or_default(),
        })
    }
}

/// The body of `PUT /tickets/{id}`: any subset of the changeable fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTicketRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    #[schema(schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    #[schema(schema_with = schema::ticket_category)]
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub affected_systems: Option<Vec<String>>,
    pub related_tickets: Option<Vec<Uuid>>,
    pub related_incidents: Option<Vec<Uuid>>,
    /// An agent's id; `null` unassigns.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<String>)]
    pub assigned_to: Option<Option<String>>,
    #[schema(schema_with = schema::ticket_status)]
    pub status: Option<String>,
    /// Recorded when the request moves the ticket to RESOLVED.
    pub resolution_note: Option<String>,
    /// Accepted for compatibility; the actor is always the authenticated caller.
    pub updated_by: Option<String>,
}

impl UpdateTicketRequest {
    pub fn parse(&self) -> Result<UpdateTicket, FieldErrors> {
        let mut errors = FieldErrors::default();
        let update = UpdateTicket {
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
            tags: labels(&mut errors, "tags", self.tags.as_ref()),
            affected_systems: labels(
                &mut errors,
                "affectedSystems",
                self.affected_systems.as_ref(),
            ),
            related_tickets: self.related_tickets.clone(),
            related_incidents: self.related_incidents.clone(),
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
    pub body: Option<String>,
    /// PUBLIC (the default) or INTERNAL; internal notes are never shown to customers.
    #[schema(schema_with = schema::comment_visibility)]
    pub visibility: Option<String>,
    /// Accepted for compatibility; the author is always the authenticated caller.
    pub author: Option<String>,
}

impl AddCommentRequest {
    pub fn parse(&self) -> Result<(CommentBody, CommentVisibility), FieldErrors> {
        let mut errors = FieldErrors::default();
        let body = required(&mut errors, "body", self.body.as_deref());
        let body = body.and_then(|b| errors.take("body", CommentBody::parse(b)));
        let visibility = parsed(
            &mut errors,
            "visibility",
            self.visibility.as_deref().or(Some("PUBLIC")),
            CommentVisibility::parse,
        );
        errors.into_result()?;
        Ok((body.expect("checked"), visibility.expect("checked")))
    }
}

/// The body of `POST /tickets/{id}/escalate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalateRequest {
    #[schema(example = "Customer is losing revenue")]
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
    pub sla_breached: Option<String>,
    /// Created on or after this day or instant.
    pub created_from: Option<String>,
    /// Created on or before this day (inclusive) or before this instant.
    pub created_to: Option<String>,
    /// Text to find in the ticket number or title.
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

/// Reads a date or an instant; a bare date means the start of that UTC day, or of the next day
/// when it closes a range (`end_of_day`), so that the range includes it.
fn instant(value: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
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

fn number(value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| "must be a whole number".to_owned())
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
                |v| match v {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err("must be true or false".to_owned()),
                },
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
        let page = parsed(&mut errors, "page", self.page.as_deref(), number);
        let limit = parsed(&mut errors, "limit", self.limit.as_deref(), number);
        let page = match PageRequest::parse(page, self.cursor.as_deref(), limit) {
            Ok(page) => Some(page),
            Err((field, message)) => {
                errors.push(field, message);
                None
            }
        };
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
        }))
        .unwrap();
        let errors = request.parse(Some("c-1")).err().unwrap();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["title", "description", "priority", "channel", "tags[1]"]
        );
    }

    #[test]
    fn assigned_to_null_unassigns_and_absent_leaves_it() {
        let unassign: UpdateTicketRequest =
            serde_json::from_str(r#"{"assignedTo": null}"#).unwrap();
        assert_eq!(unassign.parse().unwrap().assignee, Some(None));
        let untouched: UpdateTicketRequest =
            serde_json::from_str(r#"{"status": "IN_PROGRESS"}"#).unwrap();
        assert_eq!(untouched.parse().unwrap().assignee, None);
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
