//! The escalation policy aggregate: admins keep the desk's ladders in policies of ordered rules.
//! Each change is an event, so the audit log shows who changed which ladder when; a ticket copies
//! the ladder it starts to climb, so a change never reaches a climb under way.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::EscalationRule;
use crate::sla::PolicyName;
use crate::{ActorRole, Caller, DomainError, FieldErrors, Refusal};

/// Everything a policy says: its name and its rules, first match wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationPolicyDefinition {
    pub name: PolicyName,
    pub rules: Vec<EscalationRule>,
}

impl EscalationPolicyDefinition {
    pub const MAX_RULES: usize = 50;

    /// Every rule that breaks, at once, as the request's paths name its fields.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.rules.is_empty() || self.rules.len() > Self::MAX_RULES {
            errors.push("rules", format!("must have 1 to {} rules", Self::MAX_RULES));
        }
        for (index, rule) in self.rules.iter().enumerate() {
            rule.check(&format!("rules[{index}]"), &mut errors);
        }
        errors.into_result()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EscalationPolicyCommand {
    Create(CreateEscalationPolicy),
    Update(UpdateEscalationPolicy),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateEscalationPolicy {
    pub caller: Caller,
    pub policy_id: Uuid,
    pub definition: EscalationPolicyDefinition,
}

/// A partial update: `None` leaves a field as it is; `rules` replaces them all.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateEscalationPolicy {
    pub caller: Caller,
    pub name: Option<PolicyName>,
    pub rules: Option<Vec<EscalationRule>>,
    pub active: Option<bool>,
}

/// Everything that can happen to a policy. The catalogue with payloads is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum EscalationPolicyEvent {
    /// A new policy, active at once.
    EscalationPolicyCreated {
        policy_id: Uuid,
        #[serde(flatten)]
        definition: EscalationPolicyDefinition,
    },
    /// The whole definition after a change.
    EscalationPolicyRevised {
        #[serde(flatten)]
        definition: EscalationPolicyDefinition,
    },
    /// No new climb starts under it; climbs under way keep their copied ladder.
    EscalationPolicyDeactivated {},
    EscalationPolicyReactivated {},
}

impl EscalationPolicyEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            Self::EscalationPolicyCreated { .. } => "EscalationPolicyCreated",
            Self::EscalationPolicyRevised { .. } => "EscalationPolicyRevised",
            Self::EscalationPolicyDeactivated {} => "EscalationPolicyDeactivated",
            Self::EscalationPolicyReactivated {} => "EscalationPolicyReactivated",
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

// A policy is the desk's own configuration. Agent ids in it name staff as tickets' assignees do.
crate::recorded::without_personal_data!(EscalationPolicyEvent);

crate::recorded::domain_event!(EscalationPolicyEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EscalationPolicyError {
    #[error("the escalation policy does not exist")]
    NotFound,
    #[error("the escalation policy exists already")]
    AlreadyExists,
    #[error("only admins change escalation policies")]
    Forbidden,
    #[error("the auditor role reads escalation policies and changes none")]
    ReadOnlyCaller,
    #[error("the policy would be invalid: {0}")]
    Invalid(FieldErrors),
}

impl DomainError for EscalationPolicyError {
    fn refusal(&self) -> Refusal {
        match self {
            Self::NotFound => Refusal::NotFound {
                resource: "escalation policy",
            },
            Self::AlreadyExists => Refusal::Conflict {
                allowed_statuses: None,
            },
            Self::Forbidden | Self::ReadOnlyCaller => Refusal::Forbidden,
            Self::Invalid(errors) => Refusal::InvalidFields(errors.clone()),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationPolicy {
    definition: Option<EscalationPolicyDefinition>,
    active: bool,
}

impl Aggregate for EscalationPolicy {
    const TYPE: &'static str = "escalation_policy";
    type Command = EscalationPolicyCommand;
    type Event = EscalationPolicyEvent;
    type Error = EscalationPolicyError;
    type Services = ();

    async fn handle(
        &mut self,
        command: EscalationPolicyCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), EscalationPolicyError> {
        let events = match command {
            EscalationPolicyCommand::Create(create) => self.create(create)?,
            EscalationPolicyCommand::Update(update) => self.update(update)?,
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: EscalationPolicyEvent) {
        match event {
            EscalationPolicyEvent::EscalationPolicyCreated { definition, .. } => {
                self.definition = Some(definition);
                self.active = true;
            }
            EscalationPolicyEvent::EscalationPolicyRevised { definition } => {
                self.definition = Some(definition)
            }
            EscalationPolicyEvent::EscalationPolicyDeactivated {} => self.active = false,
            EscalationPolicyEvent::EscalationPolicyReactivated {} => self.active = true,
        }
    }
}

/// Admins (and integrations in the service role) keep the ladders; auditors only read them.
fn check_writer(caller: &Caller) -> Result<(), EscalationPolicyError> {
    match caller.actor.role {
        ActorRole::Admin | ActorRole::Service => Ok(()),
        ActorRole::Auditor => Err(EscalationPolicyError::ReadOnlyCaller),
        ActorRole::Agent | ActorRole::Customer => Err(EscalationPolicyError::Forbidden),
    }
}

impl EscalationPolicy {
    fn create(
        &self,
        create: CreateEscalationPolicy,
    ) -> Result<Vec<EscalationPolicyEvent>, EscalationPolicyError> {
        check_writer(&create.caller)?;
        if self.definition.is_some() {
            return Err(EscalationPolicyError::AlreadyExists);
        }
        create
            .definition
            .check()
            .map_err(EscalationPolicyError::Invalid)?;
        Ok(vec![EscalationPolicyEvent::EscalationPolicyCreated {
            policy_id: create.policy_id,
            definition: create.definition,
        }])
    }

    /// The definition's change first, as one event, then the change of state; all or none.
    fn update(
        &self,
        update: UpdateEscalationPolicy,
    ) -> Result<Vec<EscalationPolicyEvent>, EscalationPolicyError> {
        check_writer(&update.caller)?;
        let current = self
            .definition
            .as_ref()
            .ok_or(EscalationPolicyError::NotFound)?;
        let next = EscalationPolicyDefinition {
            name: update.name.unwrap_or_else(|| current.name.clone()),
            rules: update.rules.unwrap_or_else(|| current.rules.clone()),
        };
        next.check().map_err(EscalationPolicyError::Invalid)?;
        let mut events = Vec::new();
        if next != *current {
            events.push(EscalationPolicyEvent::EscalationPolicyRevised { definition: next });
        }
        match (self.active, update.active) {
            (true, Some(false)) => {
                events.push(EscalationPolicyEvent::EscalationPolicyDeactivated {})
            }
            (false, Some(true)) => {
                events.push(EscalationPolicyEvent::EscalationPolicyReactivated {})
            }
            _ => {}
        }
        Ok(events)
    }
}
