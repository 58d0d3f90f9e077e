//! The SLA policy aggregate: what tickets of a priority (and, optionally, of a customer tier) are
//! promised. Admins create, revise, deactivate and reactivate policies; each change is an event,
//! so the audit log shows who changed which promise when. A ticket copies a policy's terms when
//! the policy is applied (`SlaTerms`): revising a policy never rewrites a ticket's past.

#[cfg(test)]
mod tests;

use chrono::NaiveDate;
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    BusinessCalendar, CalendarFields, CustomerTier, PolicyName, SlaTerms, TargetMinutes,
    WarningPercent,
};
use crate::ticket::TicketPriority;
use crate::{ActorRole, Caller, DomainError, FieldErrors, Refusal};

/// Everything a policy says, as requests, events and the read model spell it: the spec's
/// `SLAPolicy` fields (the calendar's flattened in, plus `holidays`) without its id and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaPolicyDefinition {
    pub name: PolicyName,
    pub priority: TicketPriority,
    /// `None`: the policy applies to customers of every tier (and to tickets without a customer).
    pub customer_tier: Option<CustomerTier>,
    pub response_time_target: TargetMinutes,
    pub resolution_time_target: TargetMinutes,
    pub response_time_warning_threshold: WarningPercent,
    pub resolution_time_warning_threshold: WarningPercent,
    #[serde(flatten)]
    pub calendar: BusinessCalendar,
    pub auto_escalate_on_breach: bool,
    pub notify_on_warning: bool,
    pub notify_on_breach: bool,
}

/// What the resolution target must respect: a ticket is never due for resolution before it is
/// due for a first response.
pub fn check_target_order(
    response: TargetMinutes,
    resolution: TargetMinutes,
) -> Result<(), String> {
    if resolution < response {
        Err(format!(
            "must not be below responseTimeTarget ({response}): a ticket is not due for \
             resolution before it is due for a response"
        ))
    } else {
        Ok(())
    }
}

impl SlaPolicyDefinition {
    /// What a ticket copies when this policy, known as `policy_id`, is applied to it.
    pub fn terms(&self, policy_id: Uuid) -> SlaTerms {
        SlaTerms {
            policy_id,
            policy_name: self.name.clone(),
            response_time_target: self.response_time_target,
            resolution_time_target: self.resolution_time_target,
            response_time_warning_threshold: self.response_time_warning_threshold,
            resolution_time_warning_threshold: self.resolution_time_warning_threshold,
            calendar: self.calendar.clone(),
            auto_escalate_on_breach: self.auto_escalate_on_breach,
            notify_on_warning: self.notify_on_warning,
            notify_on_breach: self.notify_on_breach,
        }
    }

    /// The rules across fields, which no single value can hold, as the fields a request sets
    /// them with. A target order that breaks is blamed on the resolution target, unless the
    /// request changed only the response target.
    fn check(&self, blame_response: bool) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if let Err(message) =
            check_target_order(self.response_time_target, self.resolution_time_target)
        {
            if blame_response {
                errors.push(
                    "responseTimeTarget",
                    format!(
                        "must not be above resolutionTimeTarget ({}): a ticket is not due for \
                         resolution before it is due for a response",
                        self.resolution_time_target
                    ),
                );
            } else {
                errors.push("resolutionTimeTarget", message);
            }
        }
        errors.into_result()
    }
}

/// The namespace of the default policies' ids: each is the UUID v5 of its priority's name in it,
/// the same in every database, so that replicas starting together, and every restart, name the
/// same aggregate and create it once.
pub const DEFAULT_POLICY_NAMESPACE: Uuid =
    Uuid::from_u128(0x5c1a_0e6e_9d3b_4f0a_8d7e_53a1_d0c1_e5a7);

/// The id of the default policy of `priority`.
pub fn default_policy_id(priority: TicketPriority) -> Uuid {
    Uuid::new_v5(&DEFAULT_POLICY_NAMESPACE, priority.as_str().as_bytes())
}

/// The policy a fresh desk has for `priority`: the spec's response targets (15 minutes, 1 hour,
/// 4 hours, 24 hours), resolution targets of 4 hours, 8 hours, 1 day and 3 days, around the clock
/// in UTC, warning at 80%, notifying on warnings and breaches, escalating on none.
pub fn default_policy(priority: TicketPriority) -> SlaPolicyDefinition {
    let (response, resolution) = match priority {
        TicketPriority::Critical => (15, 240),
        TicketPriority::High => (60, 480),
        TicketPriority::Medium => (240, 1_440),
        TicketPriority::Low => (1_440, 4_320),
    };
    let minutes = |m| TargetMinutes::parse(m).expect("default targets are in range");
    let warning = WarningPercent::parse(80).expect("80% is in range");
    SlaPolicyDefinition {
        name: PolicyName::parse(&format!("Default {priority}")).expect("default names are short"),
        priority,
        customer_tier: None,
        response_time_target: minutes(response),
        resolution_time_target: minutes(resolution),
        response_time_warning_threshold: warning,
        resolution_time_warning_threshold: warning,
        calendar: BusinessCalendar::around_the_clock(chrono_tz::UTC),
        auto_escalate_on_breach: false,
        notify_on_warning: true,
        notify_on_breach: true,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SlaPolicyCommand {
    Create(CreateSlaPolicy),
    Update(UpdateSlaPolicy),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateSlaPolicy {
    pub caller: Caller,
    pub policy_id: Uuid,
    pub definition: SlaPolicyDefinition,
}

/// A partial update: `None` leaves a field as it is. Every change of the definition becomes one
/// `SlaPolicyRevised`; `active` deactivates or reactivates.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateSlaPolicy {
    pub caller: Caller,
    pub name: Option<PolicyName>,
    pub priority: Option<TicketPriority>,
    /// `Some(None)` makes the policy apply to every tier.
    pub customer_tier: Option<Option<CustomerTier>>,
    pub response_time_target: Option<TargetMinutes>,
    pub resolution_time_target: Option<TargetMinutes>,
    pub response_time_warning_threshold: Option<WarningPercent>,
    pub resolution_time_warning_threshold: Option<WarningPercent>,
    pub calendar: CalendarChanges,
    pub auto_escalate_on_breach: Option<bool>,
    pub notify_on_warning: Option<bool>,
    pub notify_on_breach: Option<bool>,
    pub active: Option<bool>,
}

impl UpdateSlaPolicy {
    /// An update by `caller` that changes nothing yet.
    pub fn by(caller: Caller) -> Self {
        Self {
            caller,
            name: None,
            priority: None,
            customer_tier: None,
            response_time_target: None,
            resolution_time_target: None,
            response_time_warning_threshold: None,
            resolution_time_warning_threshold: None,
            calendar: CalendarChanges::default(),
            auto_escalate_on_breach: None,
            notify_on_warning: None,
            notify_on_breach: None,
            active: None,
        }
    }
}

/// Changes to some of the calendar's fields. They arrive unchecked: whether they are valid
/// depends on the fields they leave as they are (an end of business hours after a start the
/// request does not send), which only the aggregate knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CalendarChanges {
    pub apply_business_hours_only: Option<bool>,
    /// `Some(None)` removes it.
    pub business_hours_start: Option<Option<String>>,
    /// `Some(None)` removes it.
    pub business_hours_end: Option<Option<String>>,
    /// `Some(None)` removes them.
    pub business_days: Option<Option<Vec<u8>>>,
    pub timezone: Option<String>,
    pub holidays: Option<Vec<NaiveDate>>,
}

impl CalendarChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `fields` with these changes made.
    pub fn apply_to(self, fields: CalendarFields) -> CalendarFields {
        CalendarFields {
            apply_business_hours_only: self
                .apply_business_hours_only
                .unwrap_or(fields.apply_business_hours_only),
            business_hours_start: self
                .business_hours_start
                .unwrap_or(fields.business_hours_start),
            business_hours_end: self.business_hours_end.unwrap_or(fields.business_hours_end),
            business_days: self.business_days.unwrap_or(fields.business_days),
            timezone: self.timezone.unwrap_or(fields.timezone),
            holidays: self.holidays.unwrap_or(fields.holidays),
        }
    }
}

/// Everything that can happen to a policy. The catalogue with payloads is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum SlaPolicyEvent {
    /// A new policy, active at once.
    SlaPolicyCreated {
        policy_id: Uuid,
        #[serde(flatten)]
        definition: SlaPolicyDefinition,
    },
    /// The whole definition after a change: a consumer needs no earlier event to know the policy.
    SlaPolicyRevised {
        #[serde(flatten)]
        definition: SlaPolicyDefinition,
    },
    /// The policy no longer applies to new tickets; tickets that copied its terms keep them.
    SlaPolicyDeactivated {},
    SlaPolicyReactivated {},
}

impl SlaPolicyEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            SlaPolicyEvent::SlaPolicyCreated { .. } => "SlaPolicyCreated",
            SlaPolicyEvent::SlaPolicyRevised { .. } => "SlaPolicyRevised",
            SlaPolicyEvent::SlaPolicyDeactivated {} => "SlaPolicyDeactivated",
            SlaPolicyEvent::SlaPolicyReactivated {} => "SlaPolicyReactivated",
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

// A policy is the desk's own configuration: its name and terms are nobody's personal data.
crate::recorded::without_personal_data!(SlaPolicyEvent);

crate::recorded::domain_event!(SlaPolicyEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SlaPolicyError {
    #[error("the SLA policy does not exist")]
    NotFound,
    #[error("the SLA policy exists already")]
    AlreadyExists,
    #[error("only admins change SLA policies")]
    Forbidden,
    #[error("the auditor role reads SLA policies and changes none")]
    ReadOnlyCaller,
    #[error("the policy would be invalid: {0}")]
    Invalid(FieldErrors),
}

impl DomainError for SlaPolicyError {
    fn refusal(&self) -> Refusal {
        match self {
            SlaPolicyError::NotFound => Refusal::NotFound {
                resource: "SLA policy",
            },
            SlaPolicyError::AlreadyExists => Refusal::Conflict {
                allowed_statuses: None,
            },
            SlaPolicyError::Forbidden | SlaPolicyError::ReadOnlyCaller => Refusal::Forbidden,
            SlaPolicyError::Invalid(errors) => Refusal::InvalidFields(errors.clone()),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaPolicy {
    /// `None` until the policy is created.
    definition: Option<SlaPolicyDefinition>,
    active: bool,
}

impl Aggregate for SlaPolicy {
    const TYPE: &'static str = "sla_policy";
    type Command = SlaPolicyCommand;
    type Event = SlaPolicyEvent;
    type Error = SlaPolicyError;
    type Services = ();

    async fn handle(
        &mut self,
        command: SlaPolicyCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SlaPolicyError> {
        let events = match command {
            SlaPolicyCommand::Create(create) => self.create(create)?,
            SlaPolicyCommand::Update(update) => self.update(update)?,
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: SlaPolicyEvent) {
        match event {
            SlaPolicyEvent::SlaPolicyCreated { definition, .. } => {
                self.definition = Some(definition);
                self.active = true;
            }
            SlaPolicyEvent::SlaPolicyRevised { definition } => self.definition = Some(definition),
            SlaPolicyEvent::SlaPolicyDeactivated {} => self.active = false,
            SlaPolicyEvent::SlaPolicyReactivated {} => self.active = true,
        }
    }
}

/// Admins change policies, and the service creates the defaults; auditors only read, and agents
/// and customers work under policies without setting them.
fn check_writer(caller: &Caller) -> Result<(), SlaPolicyError> {
    match caller.actor.role {
        ActorRole::Admin | ActorRole::Service => Ok(()),
        ActorRole::Auditor => Err(SlaPolicyError::ReadOnlyCaller),
        ActorRole::Agent | ActorRole::Customer => Err(SlaPolicyError::Forbidden),
    }
}

impl SlaPolicy {
    fn create(&self, create: CreateSlaPolicy) -> Result<Vec<SlaPolicyEvent>, SlaPolicyError> {
        check_writer(&create.caller)?;
        if self.definition.is_some() {
            return Err(SlaPolicyError::AlreadyExists);
        }
        create
            .definition
            .check(false)
            .map_err(SlaPolicyError::Invalid)?;
        Ok(vec![SlaPolicyEvent::SlaPolicyCreated {
            policy_id: create.policy_id,
            definition: create.definition,
        }])
    }

    /// The definition's changes first, as one event, then the change of state; all or none.
    fn update(&self, update: UpdateSlaPolicy) -> Result<Vec<SlaPolicyEvent>, SlaPolicyError> {
        check_writer(&update.caller)?;
        let current = self.definition.as_ref().ok_or(SlaPolicyError::NotFound)?;
        let blame_response =
            update.response_time_target.is_some() && update.resolution_time_target.is_none();
        let mut next = current.clone();
        let mut errors = FieldErrors::default();
        if !update.calendar.is_empty() {
            let fields = update.calendar.apply_to(current.calendar.fields());
            match BusinessCalendar::parse(&fields) {
                Ok(calendar) => next.calendar = calendar,
                Err(calendar_errors) => errors.0.extend(calendar_errors.0),
            }
        }
        next.name = update.name.unwrap_or(next.name);
        next.priority = update.priority.unwrap_or(next.priority);
        next.customer_tier = update.customer_tier.unwrap_or(next.customer_tier);
        next.response_time_target = update
            .response_time_target
            .unwrap_or(next.response_time_target);
        next.resolution_time_target = update
            .resolution_time_target
            .unwrap_or(next.resolution_time_target);
        next.response_time_warning_threshold = update
            .response_time_warning_threshold
            .unwrap_or(next.response_time_warning_threshold);
        next.resolution_time_warning_threshold = update
            .resolution_time_warning_threshold
            .unwrap_or(next.resolution_time_warning_threshold);
        next.auto_escalate_on_breach = update
            .auto_escalate_on_breach
            .unwrap_or(next.auto_escalate_on_breach);
        next.notify_on_warning = update.notify_on_warning.unwrap_or(next.notify_on_warning);
        next.notify_on_breach = update.notify_on_breach.unwrap_or(next.notify_on_breach);
        if let Err(rules) = next.check(blame_response) {
            errors.0.extend(rules.0);
        }
        errors.into_result().map_err(SlaPolicyError::Invalid)?;

        let mut events = Vec::new();
        if next != *current {
            events.push(SlaPolicyEvent::SlaPolicyRevised { definition: next });
        }
        match (self.active, update.active) {
            (true, Some(false)) => events.push(SlaPolicyEvent::SlaPolicyDeactivated {}),
            (false, Some(true)) => events.push(SlaPolicyEvent::SlaPolicyReactivated {}),
            _ => {}
        }
        Ok(events)
    }
}
