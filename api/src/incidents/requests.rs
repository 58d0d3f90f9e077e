//! Request bodies and query strings of the incident endpoints, and how each parses. Fields arrive
//! as plain JSON values so that every problem is reported by field name at once.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use support_domain::incident::{
    ActionItemChanges, ActionItemStatus, ActionItemTitle, AffectedCustomers, IncidentCategory,
    IncidentChanges, IncidentFields, IncidentImpact, IncidentSeverity, IncidentStatus,
    IncidentText, IncidentTitle, PostMortemChanges, UpdateMessage, UpdateVisibility,
};
use support_domain::ticket::AgentId;
use support_domain::FieldErrors;
use support_projections::incidents::IncidentFilter;
use support_projections::page::PageRequest;
use support_projections::schema;
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{
    boolean, page_or_cursor, parsed, required, required_parsed, UnknownParameters,
};
use crate::tickets::requests::{instant, labels, labels_schema};

fn title() -> Object {
    schema::text(IncidentTitle::MAX_CHARS)
        .examples([json!("API Service Outage")])
        .build()
}

fn text() -> Object {
    schema::text(IncidentText::MAX_CHARS).build()
}

fn message() -> Object {
    schema::text(UpdateMessage::MAX_CHARS).build()
}

fn action_item_title() -> Object {
    schema::text(ActionItemTitle::MAX_CHARS).build()
}

/// A new incident, `DETECTED`, numbered `INC-YYYYMMDD-XXXX` by the UTC day.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateIncidentRequest {
    #[schema(required = true, schema_with = title)]
    pub title: Option<String>,
    #[schema(required = true, schema_with = text)]
    pub description: Option<String>,
    #[schema(required = true, schema_with = schema::incident_severity)]
    pub severity: Option<String>,
    #[schema(required = true, schema_with = schema::incident_category)]
    pub category: Option<String>,
    #[schema(required = true, schema_with = schema::incident_impact)]
    pub impact: Option<String>,
    /// The systems it affects: the status page's components.
    #[schema(schema_with = labels_schema)]
    pub affected_systems: Option<Vec<String>>,
    #[schema(schema_with = labels_schema)]
    pub affected_services: Option<Vec<String>>,
    /// How many customers it affects, as far as known. Default 0.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    pub affected_customers: Option<f64>,
    #[schema(schema_with = schema::agent_id)]
    pub incident_commander: Option<String>,
    #[schema(schema_with = labels_schema)]
    pub assigned_team: Option<Vec<String>>,
    /// Who reported it (a person's or a monitoring system's id); the caller when absent.
    #[schema(schema_with = schema::agent_id)]
    pub reported_by: Option<String>,
}

impl CreateIncidentRequest {
    pub fn parse(&self, caller: &str) -> Result<IncidentFields, FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = required_parsed(&mut errors, "title", &self.title, IncidentTitle::parse);
        let description = required_parsed(
            &mut errors,
            "description",
            &self.description,
            IncidentText::parse,
        );
        let severity = required_parsed(
            &mut errors,
            "severity",
            &self.severity,
            IncidentSeverity::parse,
        );
        let category = required_parsed(
            &mut errors,
            "category",
            &self.category,
            IncidentCategory::parse,
        );
        let impact = required_parsed(&mut errors, "impact", &self.impact, IncidentImpact::parse);
        let affected_systems = labels(
            &mut errors,
            "affectedSystems",
            self.affected_systems.as_ref(),
        );
        let affected_services = labels(
            &mut errors,
            "affectedServices",
            self.affected_services.as_ref(),
        );
        let affected_customers = errors.take(
            "affectedCustomers",
            AffectedCustomers::parse(self.affected_customers.unwrap_or(0.0)),
        );
        let incident_commander = parsed(
            &mut errors,
            "incidentCommander",
            self.incident_commander.as_deref(),
            AgentId::parse,
        );
        let assigned_team = labels(&mut errors, "assignedTeam", self.assigned_team.as_ref());
        let reported_by = parsed(
            &mut errors,
            "reportedBy",
            Some(self.reported_by.as_deref().unwrap_or(caller)),
            AgentId::parse,
        );
        errors.into_result()?;
        let parsed = "no errors means every field parsed";
        Ok(IncidentFields {
            title: title.expect(parsed),
            description: description.expect(parsed),
            severity: severity.expect(parsed),
            category: category.expect(parsed),
            impact: impact.expect(parsed),
            affected_systems: affected_systems.unwrap_or_default(),
            affected_services: affected_services.unwrap_or_default(),
            affected_customers: affected_customers.expect(parsed),
            incident_commander,
            assigned_team: assigned_team.unwrap_or_default(),
            reported_by: reported_by.expect(parsed),
        })
    }
}

/// Any subset of what changes during an incident; each field that differs is its own event, the
/// move of status last.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateIncidentRequest {
    #[schema(schema_with = schema::incident_status)]
    pub status: Option<String>,
    #[schema(schema_with = schema::incident_severity)]
    pub severity: Option<String>,
    #[schema(schema_with = schema::incident_impact)]
    pub impact: Option<String>,
    #[schema(schema_with = schema::agent_id)]
    pub incident_commander: Option<String>,
    #[schema(schema_with = labels_schema)]
    pub assigned_team: Option<Vec<String>>,
    #[schema(schema_with = labels_schema)]
    pub affected_systems: Option<Vec<String>>,
    #[schema(schema_with = labels_schema)]
    pub affected_services: Option<Vec<String>>,
    #[schema(schema_with = text)]
    pub root_cause: Option<String>,
    /// What was done to reduce the impact.
    #[schema(schema_with = text)]
    pub mitigation: Option<String>,
    /// The permanent fix.
    #[schema(schema_with = text)]
    pub resolution: Option<String>,
    /// Accepted for compatibility; the actor is always the authenticated caller.
    #[schema(schema_with = schema::agent_id)]
    pub updated_by: Option<String>,
}

impl UpdateIncidentRequest {
    pub fn parse(&self) -> Result<IncidentChanges, FieldErrors> {
        let mut errors = FieldErrors::default();
        let text = |errors: &mut FieldErrors, field: &str, value: &Option<String>| {
            parsed(errors, field, value.as_deref(), IncidentText::parse)
        };
        let changes = IncidentChanges {
            status: parsed(
                &mut errors,
                "status",
                self.status.as_deref(),
                IncidentStatus::parse,
            ),
            severity: parsed(
                &mut errors,
                "severity",
                self.severity.as_deref(),
                IncidentSeverity::parse,
            ),
            impact: parsed(
                &mut errors,
                "impact",
                self.impact.as_deref(),
                IncidentImpact::parse,
            ),
            incident_commander: parsed(
                &mut errors,
                "incidentCommander",
                self.incident_commander.as_deref(),
                AgentId::parse,
            ),
            assigned_team: labels(&mut errors, "assignedTeam", self.assigned_team.as_ref()),
            affected_systems: labels(
                &mut errors,
                "affectedSystems",
                self.affected_systems.as_ref(),
            ),
            affected_services: labels(
                &mut errors,
                "affectedServices",
                self.affected_services.as_ref(),
            ),
            root_cause: text(&mut errors, "rootCause", &self.root_cause),
            mitigation: text(&mut errors, "mitigation", &self.mitigation),
            resolution: text(&mut errors, "resolution", &self.resolution),
        };
        parsed(
            &mut errors,
            "updatedBy",
            self.updated_by.as_deref(),
            AgentId::parse,
        );
        errors.into_result()?;
        Ok(changes)
    }
}

/// A status update: `PUBLIC` for customers and the status page, `INTERNAL` for the responders.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostUpdateRequest {
    #[schema(required = true, schema_with = message)]
    pub message: Option<String>,
    /// Default `INTERNAL`: nothing reaches customers unless meant to.
    #[schema(schema_with = schema::update_visibility)]
    pub visibility: Option<String>,
}

impl PostUpdateRequest {
    pub fn parse(&self) -> Result<(UpdateVisibility, UpdateMessage), FieldErrors> {
        let mut errors = FieldErrors::default();
        let message = required_parsed(&mut errors, "message", &self.message, UpdateMessage::parse);
        let visibility = parsed(
            &mut errors,
            "visibility",
            self.visibility.as_deref(),
            UpdateVisibility::parse,
        );
        errors.into_result()?;
        Ok((
            visibility.unwrap_or(UpdateVisibility::Internal),
            message.expect("no errors means the message parsed"),
        ))
    }
}

/// The filters of `GET /incidents`. Dates are `YYYY-MM-DD` (a whole UTC day) or RFC 3339 instants.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct IncidentListQuery {
    #[param(schema_with = schema::incident_status)]
    pub status: Option<String>,
    #[param(schema_with = schema::incident_severity)]
    pub severity: Option<String>,
    #[param(schema_with = schema::incident_category)]
    pub category: Option<String>,
    #[param(schema_with = schema::incident_impact)]
    pub impact: Option<String>,
    /// The incident commander's id.
    #[param(schema_with = schema::agent_id)]
    pub commander: Option<String>,
    /// `true`: incidents not yet resolved; `false`: resolved or closed ones.
    #[param(value_type = Option<bool>)]
    pub active: Option<String>,
    /// Detected on or after this day or instant.
    pub detected_from: Option<String>,
    /// Detected on or before this day (inclusive) or before this instant.
    pub detected_to: Option<String>,
    /// 1-based page number (default 1). Pages reach the first 10,000 incidents; beyond, use
    /// `cursor`. Not together with `cursor`.
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Items per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page, unchanged: the page that follows it.
    pub cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl IncidentListQuery {
    pub fn parse(&self) -> Result<(IncidentFilter, PageRequest), FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let filter = IncidentFilter {
            status: parsed(
                &mut errors,
                "status",
                self.status.as_deref(),
                IncidentStatus::parse,
            ),
            severity: parsed(
                &mut errors,
                "severity",
                self.severity.as_deref(),
                IncidentSeverity::parse,
            ),
            category: parsed(
                &mut errors,
                "category",
                self.category.as_deref(),
                IncidentCategory::parse,
            ),
            impact: parsed(
                &mut errors,
                "impact",
                self.impact.as_deref(),
                IncidentImpact::parse,
            ),
            commander: parsed(&mut errors, "commander", self.commander.as_deref(), |v| {
                AgentId::parse(v).map(|id| id.as_str().to_owned())
            }),
            active: parsed(&mut errors, "active", self.active.as_deref(), boolean),
            detected_from: parsed(
                &mut errors,
                "detectedFrom",
                self.detected_from.as_deref(),
                |v| instant(v, false),
            ),
            detected_to: parsed(
                &mut errors,
                "detectedTo",
                self.detected_to.as_deref(),
                |v| instant(v, true),
            ),
        };
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

/// Any subset of the post-mortem's texts; `completed: true` completes it, once every text is
/// written.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostMortemRequest {
    #[schema(schema_with = text)]
    pub summary: Option<String>,
    #[schema(schema_with = text)]
    pub root_cause: Option<String>,
    #[schema(schema_with = text)]
    pub impact: Option<String>,
    #[schema(schema_with = text)]
    pub what_went_well: Option<String>,
    #[schema(schema_with = text)]
    pub what_went_wrong: Option<String>,
    #[schema(schema_with = text)]
    pub lessons_learned: Option<String>,
    /// `true` completes it: refused (422) while a text is empty. A completed post-mortem stays
    /// completed; `false` changes nothing.
    pub completed: Option<bool>,
}

impl PostMortemRequest {
    pub fn parse(&self) -> Result<(PostMortemChanges, bool), FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut text = |field: &str, value: &Option<String>| {
            parsed(&mut errors, field, value.as_deref(), IncidentText::parse)
        };
        let changes = PostMortemChanges {
            summary: text("summary", &self.summary),
            root_cause: text("rootCause", &self.root_cause),
            impact: text("impact", &self.impact),
            what_went_well: text("whatWentWell", &self.what_went_well),
            what_went_wrong: text("whatWentWrong", &self.what_went_wrong),
            lessons_learned: text("lessonsLearned", &self.lessons_learned),
        };
        errors.into_result()?;
        Ok((changes, self.completed.unwrap_or(false)))
    }
}

/// A new action item of a post-mortem, `OPEN` unless said otherwise.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateActionItemRequest {
    #[schema(required = true, schema_with = action_item_title)]
    pub title: Option<String>,
    #[schema(schema_with = schema::agent_id)]
    pub owner: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<NaiveDate>)]
    pub due_date: Option<String>,
    #[schema(schema_with = schema::action_item_status)]
    pub status: Option<String>,
}

/// Any subset of an action item's fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateActionItemRequest {
    #[schema(schema_with = action_item_title)]
    pub title: Option<String>,
    #[schema(schema_with = schema::agent_id)]
    pub owner: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<NaiveDate>)]
    pub due_date: Option<String>,
    #[schema(schema_with = schema::action_item_status)]
    pub status: Option<String>,
}

fn due_date(value: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .ok_or_else(|| "must be a date, YYYY-MM-DD".to_owned())
}

/// An action item's fields as a change: the same parsing for a new item and for a revision.
fn action_item_changes(
    errors: &mut FieldErrors,
    title: &Option<String>,
    owner: &Option<String>,
    due: &Option<String>,
    status: &Option<String>,
) -> ActionItemChanges {
    ActionItemChanges {
        title: parsed(errors, "title", title.as_deref(), ActionItemTitle::parse),
        owner: parsed(errors, "owner", owner.as_deref(), AgentId::parse),
        due_date: parsed(errors, "dueDate", due.as_deref(), due_date),
        status: parsed(errors, "status", status.as_deref(), ActionItemStatus::parse),
    }
}

impl CreateActionItemRequest {
    pub fn parse(&self) -> Result<ActionItemChanges, FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.title.is_none() {
            required::<()>(&mut errors, "title", None);
        }
        let changes = action_item_changes(
            &mut errors,
            &self.title,
            &self.owner,
            &self.due_date,
            &self.status,
        );
        errors.into_result()?;
        Ok(changes)
    }
}

impl UpdateActionItemRequest {
    pub fn parse(&self) -> Result<ActionItemChanges, FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = action_item_changes(
            &mut errors,
            &self.title,
            &self.owner,
            &self.due_date,
            &self.status,
        );
        errors.into_result()?;
        Ok(changes)
    }
}

/// The ticket to link to the incident.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkTicketRequest {
    /// The ticket's id (a UUID) or number (`TKT-YYYYMMDD-XXXX`).
    #[schema(required = true, example = "TKT-20261129-0001")]
    pub ticket_id: Option<String>,
}

impl LinkTicketRequest {
    pub fn parse(&self) -> Result<String, FieldErrors> {
        let mut errors = FieldErrors::default();
        let key = required(&mut errors, "ticketId", self.ticket_id.clone());
        errors.into_result()?;
        Ok(key.expect("no errors means the ticket was named"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_parses_and_every_bad_field_is_reported_at_once() {
        let request: CreateIncidentRequest = serde_json::from_value(json!({
            "title": "API Service Outage",
            "description": "Main API service is returning 503 errors",
            "severity": "CRITICAL",
            "category": "OUTAGE",
            "impact": "WIDESPREAD",
            "affectedSystems": ["api-service", "data-service"],
            "affectedServices": ["lead-routing", "agent-matching"],
            "affectedCustomers": 150,
            "incidentCommander": "oncall-engineer-id",
            "assignedTeam": ["team-sre", "team-backend"],
            "reportedBy": "monitoring-system"
        }))
        .unwrap();
        let fields = request.parse("svc").unwrap();
        assert_eq!(fields.reported_by.as_str(), "monitoring-system");
        assert_eq!(fields.affected_customers.get(), 150);

        let bad: CreateIncidentRequest = serde_json::from_value(json!({
            "severity": "SEV1",
            "category": "OUTAGE",
            "impact": "TOTAL",
            "affectedSystems": ["ok", ""],
            "affectedCustomers": -1,
        }))
        .unwrap();
        assert_eq!(
            bad.parse("svc").unwrap_err().fields(),
            [
                "title",
                "description",
                "severity",
                "impact",
                "affectedSystems[1]",
                "affectedCustomers"
            ]
        );
    }

    #[test]
    fn due_dates_are_calendar_days() {
        assert!(due_date("2026-12-01").is_ok());
        for bad in ["2026-13-01", "2026-02-30", "2026-12-1", "tomorrow"] {
            assert!(due_date(bad).is_err(), "{bad}");
        }
    }
}
