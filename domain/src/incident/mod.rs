//! Incidents: something is broken for many customers at once. An incident is detected, worked
//! through its lifecycle against the targets its severity sets, told to customers in public
//! updates, and closed after its post-mortem when its severity requires one.

mod post_mortem;
mod values;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use post_mortem::{
    ActionItem, ActionItemChanges, ActionItemStatus, ActionItemTitle, PostMortemChanges,
    PostMortemFields,
};
pub use values::{
    AffectedCustomers, IncidentCategory, IncidentImpact, IncidentNumber, IncidentSeverity,
    IncidentStatus, IncidentTarget, IncidentTargets, IncidentText, IncidentTitle, UpdateMessage,
    UpdateVisibility,
};

use crate::ticket::{AgentId, Labels};
use crate::{ActorRole, Caller, DomainError, FieldErrors, Refusal};

/// What an incident is when it is detected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentFields {
    pub title: IncidentTitle,
    pub description: IncidentText,
    pub severity: IncidentSeverity,
    pub category: IncidentCategory,
    pub impact: IncidentImpact,
    pub affected_systems: Labels,
    pub affected_services: Labels,
    pub affected_customers: AffectedCustomers,
    pub incident_commander: Option<AgentId>,
    pub assigned_team: Labels,
    /// Who reported it: a person's or a monitoring system's id.
    pub reported_by: AgentId,
}

/// What a `PUT` changes; each field present and different is its own event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentChanges {
    pub status: Option<IncidentStatus>,
    pub severity: Option<IncidentSeverity>,
    pub impact: Option<IncidentImpact>,
    pub incident_commander: Option<AgentId>,
    pub assigned_team: Option<Labels>,
    pub affected_systems: Option<Labels>,
    pub affected_services: Option<Labels>,
    pub root_cause: Option<IncidentText>,
    pub mitigation: Option<IncidentText>,
    pub resolution: Option<IncidentText>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IncidentCommand {
    Detect {
        caller: Caller,
        incident_id: Uuid,
        number: IncidentNumber,
        fields: IncidentFields,
        detected_at: DateTime<Utc>,
    },
    Update {
        caller: Caller,
        changes: IncidentChanges,
    },
    Acknowledge {
        caller: Caller,
    },
    PostUpdate {
        caller: Caller,
        update_id: Uuid,
        visibility: UpdateVisibility,
        message: UpdateMessage,
    },
    /// The timer worker woke at `at` for a target's deadline: the incident records each target
    /// whose deadline passed unmet. Sent by the service.
    RecordDueTargets {
        caller: Caller,
        at: DateTime<Utc>,
    },
    RevisePostMortem {
        caller: Caller,
        changes: PostMortemChanges,
        complete: bool,
    },
    AddActionItem {
        caller: Caller,
        item: ActionItem,
    },
    ReviseActionItem {
        caller: Caller,
        item_id: Uuid,
        changes: ActionItemChanges,
    },
}

/// Everything that can happen to an incident. The catalogue with payloads is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum IncidentEvent {
    /// A new incident, `DETECTED` at `detected_at`, with the targets of its severity.
    IncidentDetected {
        incident_id: Uuid,
        incident_number: IncidentNumber,
        #[serde(flatten)]
        fields: IncidentFields,
        detected_at: DateTime<Utc>,
        targets: IncidentTargets,
    },
    /// Someone took it on: the response clock stops. The actor is the event's.
    IncidentAcknowledged {},
    IncidentStatusChanged {
        from: IncidentStatus,
        to: IncidentStatus,
    },
    /// The targets follow the severity, counted from detection as before.
    IncidentSeverityChanged {
        from: IncidentSeverity,
        to: IncidentSeverity,
        targets: IncidentTargets,
    },
    IncidentImpactChanged {
        from: IncidentImpact,
        to: IncidentImpact,
    },
    IncidentCommanderChanged {
        commander: AgentId,
        previous: Option<AgentId>,
    },
    IncidentTeamChanged {
        assigned_team: Labels,
    },
    IncidentAffectedSystemsChanged {
        affected_systems: Labels,
    },
    IncidentAffectedServicesChanged {
        affected_services: Labels,
    },
    IncidentRootCauseRecorded {
        root_cause: IncidentText,
    },
    IncidentMitigationRecorded {
        mitigation: IncidentText,
    },
    IncidentResolutionRecorded {
        resolution: IncidentText,
    },
    /// A status update; public ones reach customers and the status page. `status` is the
    /// incident's when it was posted.
    IncidentUpdatePosted {
        update_id: Uuid,
        visibility: UpdateVisibility,
        message: UpdateMessage,
        status: IncidentStatus,
    },
    /// A target's deadline passed before it was met: the incident breached its targets.
    IncidentTargetMissed {
        target: IncidentTarget,
        due_at: DateTime<Utc>,
    },
    /// The post-mortem's texts that changed, with their new values.
    PostMortemRevised {
        changes: PostMortemChanges,
    },
    PostMortemCompleted {},
    ActionItemAdded {
        item: ActionItem,
    },
    ActionItemRevised {
        item_id: Uuid,
        changes: ActionItemChanges,
    },
}

impl IncidentEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            Self::IncidentDetected { .. } => "IncidentDetected",
            Self::IncidentAcknowledged {} => "IncidentAcknowledged",
            Self::IncidentStatusChanged { .. } => "IncidentStatusChanged",
            Self::IncidentSeverityChanged { .. } => "IncidentSeverityChanged",
            Self::IncidentImpactChanged { .. } => "IncidentImpactChanged",
            Self::IncidentCommanderChanged { .. } => "IncidentCommanderChanged",
            Self::IncidentTeamChanged { .. } => "IncidentTeamChanged",
            Self::IncidentAffectedSystemsChanged { .. } => "IncidentAffectedSystemsChanged",
            Self::IncidentAffectedServicesChanged { .. } => "IncidentAffectedServicesChanged",
            Self::IncidentRootCauseRecorded { .. } => "IncidentRootCauseRecorded",
            Self::IncidentMitigationRecorded { .. } => "IncidentMitigationRecorded",
            Self::IncidentResolutionRecorded { .. } => "IncidentResolutionRecorded",
            Self::IncidentUpdatePosted { .. } => "IncidentUpdatePosted",
            Self::IncidentTargetMissed { .. } => "IncidentTargetMissed",
            Self::PostMortemRevised { .. } => "PostMortemRevised",
            Self::PostMortemCompleted {} => "PostMortemCompleted",
            Self::ActionItemAdded { .. } => "ActionItemAdded",
            Self::ActionItemRevised { .. } => "ActionItemRevised",
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

// Incidents are about the service, written by staff and monitoring; they hold no customer's
// personal data (affected customers are a count).
crate::recorded::without_personal_data!(IncidentEvent);

crate::recorded::domain_event!(IncidentEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IncidentError {
    #[error("the incident does not exist")]
    NotFound,
    #[error("the incident exists already")]
    AlreadyExists,
    #[error("only agents and admins run incidents")]
    Forbidden,
    #[error("an incident in {from} cannot become {to}")]
    IllegalTransition {
        from: IncidentStatus,
        to: IncidentStatus,
        allowed: &'static [IncidentStatus],
    },
    #[error("the incident is closed; only its post-mortem may still change")]
    Closed,
    #[error(
        "a {severity} incident is closed only after its post-mortem is completed: complete it \
         with PUT /incidents/{{id}}/post-mortem and \"completed\": true"
    )]
    PostMortemRequired { severity: IncidentSeverity },
    #[error("the post-mortem is not complete: {missing}")]
    PostMortemIncomplete { missing: FieldErrors },
    #[error("the incident has no action item with this id")]
    ActionItemNotFound,
}

impl DomainError for IncidentError {
    fn refusal(&self) -> Refusal {
        match self {
            Self::NotFound => Refusal::NotFound {
                resource: "incident",
            },
            Self::ActionItemNotFound => Refusal::NotFound {
                resource: "action item",
            },
            Self::AlreadyExists | Self::PostMortemRequired { .. } => Refusal::Conflict {
                allowed_statuses: None,
            },
            Self::Forbidden => Refusal::Forbidden,
            Self::IllegalTransition { allowed, .. } => Refusal::Conflict {
                allowed_statuses: Some(allowed.iter().map(|s| s.as_str()).collect()),
            },
            Self::Closed => Refusal::Conflict {
                allowed_statuses: Some(Vec::new()),
            },
            Self::PostMortemIncomplete { missing } => Refusal::InvalidFields(missing.clone()),
        }
    }
}

/// An incident as its events leave it: what its decisions need.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    detected_at: Option<DateTime<Utc>>,
    targets: Option<IncidentTargets>,
    status: Option<IncidentStatus>,
    severity: Option<IncidentSeverity>,
    impact: Option<IncidentImpact>,
    incident_commander: Option<AgentId>,
    assigned_team: Labels,
    affected_systems: Labels,
    affected_services: Labels,
    root_cause: Option<IncidentText>,
    mitigation: Option<IncidentText>,
    resolution: Option<IncidentText>,
    acknowledged: bool,
    resolved: bool,
    missed: Vec<IncidentTarget>,
    post_mortem: PostMortemFields,
    post_mortem_completed: bool,
    action_items: Vec<ActionItem>,
}

impl Aggregate for Incident {
    const TYPE: &'static str = "incident";
    type Command = IncidentCommand;
    type Event = IncidentEvent;
    type Error = IncidentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: IncidentCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), IncidentError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: IncidentEvent) {
        use IncidentEvent::*;
        match event {
            IncidentDetected {
                fields,
                detected_at,
                targets,
                ..
            } => {
                self.detected_at = Some(detected_at);
                self.targets = Some(targets);
                self.status = Some(IncidentStatus::Detected);
                self.severity = Some(fields.severity);
                self.impact = Some(fields.impact);
                self.incident_commander = fields.incident_commander;
                self.assigned_team = fields.assigned_team;
                self.affected_systems = fields.affected_systems;
                self.affected_services = fields.affected_services;
            }
            IncidentAcknowledged {} => self.acknowledged = true,
            IncidentStatusChanged { to, .. } => {
                self.status = Some(to);
                // A reopened incident is unresolved again; its resolution clock still counts
                // from detection.
                self.resolved = !to.is_active();
            }
            IncidentSeverityChanged { to, targets, .. } => {
                self.severity = Some(to);
                self.targets = Some(targets);
            }
            IncidentImpactChanged { to, .. } => self.impact = Some(to),
            IncidentCommanderChanged { commander, .. } => self.incident_commander = Some(commander),
            IncidentTeamChanged { assigned_team } => self.assigned_team = assigned_team,
            IncidentAffectedSystemsChanged { affected_systems } => {
                self.affected_systems = affected_systems
            }
            IncidentAffectedServicesChanged { affected_services } => {
                self.affected_services = affected_services
            }
            IncidentRootCauseRecorded { root_cause } => self.root_cause = Some(root_cause),
            IncidentMitigationRecorded { mitigation } => self.mitigation = Some(mitigation),
            IncidentResolutionRecorded { resolution } => self.resolution = Some(resolution),
            IncidentUpdatePosted { .. } => {}
            IncidentTargetMissed { target, .. } => self.missed.push(target),
            PostMortemRevised { changes } => changes.apply_to(&mut self.post_mortem),
            PostMortemCompleted {} => self.post_mortem_completed = true,
            ActionItemAdded { item } => self.action_items.push(item),
            ActionItemRevised { item_id, changes } => {
                if let Some(item) = self.action_items.iter_mut().find(|i| i.item_id == item_id) {
                    changes.apply_to(item);
                }
            }
        }
    }
}

/// Agents and admins run incidents.
fn check_responder(caller: &Caller) -> Result<(), IncidentError> {
    if caller.actor.role.is_staff() {
        Ok(())
    } else {
        Err(IncidentError::Forbidden)
    }
}

impl Incident {
    fn decide(&self, command: IncidentCommand) -> Result<Vec<IncidentEvent>, IncidentError> {
        use IncidentCommand::*;
        match command {
            Detect {
                caller,
                incident_id,
                number,
                fields,
                detected_at,
            } => {
                // Monitoring systems report incidents in the service role.
                if !(caller.actor.role.is_staff() || caller.actor.role == ActorRole::Service) {
                    return Err(IncidentError::Forbidden);
                }
                if self.status.is_some() {
                    return Err(IncidentError::AlreadyExists);
                }
                let targets = fields.severity.targets();
                Ok(vec![IncidentEvent::IncidentDetected {
                    incident_id,
                    incident_number: number,
                    fields,
                    detected_at,
                    targets,
                }])
            }
            Update { caller, changes } => {
                check_responder(&caller)?;
                self.update(changes)
            }
            Acknowledge { caller } => {
                check_responder(&caller)?;
                self.status()?;
                Ok(self.acknowledgement())
            }
            PostUpdate {
                caller,
                update_id,
                visibility,
                message,
            } => {
                check_responder(&caller)?;
                let status = self.open_status()?;
                Ok(vec![IncidentEvent::IncidentUpdatePosted {
                    update_id,
                    visibility,
                    message,
                    status,
                }])
            }
            RecordDueTargets { caller, at } => {
                if caller.actor.role != ActorRole::Service {
                    return Err(IncidentError::Forbidden);
                }
                self.status()?;
                Ok(self.missed_targets(at))
            }
            RevisePostMortem {
                caller,
                changes,
                complete,
            } => {
                check_responder(&caller)?;
                self.status()?;
                let changes = changes.against(&self.post_mortem);
                let mut events = Vec::new();
                if complete && !self.post_mortem_completed {
                    let mut written = self.post_mortem.clone();
                    changes.apply_to(&mut written);
                    let missing = written.missing();
                    if !missing.0.is_empty() {
                        return Err(IncidentError::PostMortemIncomplete { missing });
                    }
                }
                if !changes.is_empty() {
                    events.push(IncidentEvent::PostMortemRevised { changes });
                }
                if complete && !self.post_mortem_completed {
                    events.push(IncidentEvent::PostMortemCompleted {});
                }
                Ok(events)
            }
            AddActionItem { caller, item } => {
                check_responder(&caller)?;
                self.status()?;
                Ok(vec![IncidentEvent::ActionItemAdded { item }])
            }
            ReviseActionItem {
                caller,
                item_id,
                changes,
            } => {
                check_responder(&caller)?;
                self.status()?;
                let item = self
                    .action_items
                    .iter()
                    .find(|i| i.item_id == item_id)
                    .ok_or(IncidentError::ActionItemNotFound)?;
                let changes = changes.against(item);
                Ok(if changes.is_empty() {
                    Vec::new()
                } else {
                    vec![IncidentEvent::ActionItemRevised { item_id, changes }]
                })
            }
        }
    }

    /// When `target` falls due: its minutes from detection.
    fn due_at(&self, target: IncidentTarget) -> Option<DateTime<Utc>> {
        let targets = self.targets?;
        let minutes = match target {
            IncidentTarget::Response => targets.response_minutes,
            IncidentTarget::Resolution => targets.resolution_minutes,
        };
        Some(self.detected_at? + chrono::TimeDelta::minutes(i64::from(minutes)))
    }

    /// The targets whose deadline passed by `at` unmet and not recorded yet. The timer may wake
    /// twice, late, or for a deadline a change of severity moved: the incident decides on its own
    /// state with the true instant, so each records nothing wrong.
    fn missed_targets(&self, at: DateTime<Utc>) -> Vec<IncidentEvent> {
        [IncidentTarget::Response, IncidentTarget::Resolution]
            .into_iter()
            .filter(|target| {
                let met = match target {
                    IncidentTarget::Response => self.acknowledged,
                    IncidentTarget::Resolution => self.resolved,
                };
                !met && !self.missed.contains(target)
            })
            .filter_map(|target| {
                let due_at = self.due_at(target).filter(|due| *due <= at)?;
                Some(IncidentEvent::IncidentTargetMissed { target, due_at })
            })
            .collect()
    }

    fn status(&self) -> Result<IncidentStatus, IncidentError> {
        self.status.ok_or(IncidentError::NotFound)
    }

    /// The status of an incident that may still change: not closed.
    fn open_status(&self) -> Result<IncidentStatus, IncidentError> {
        match self.status()? {
            IncidentStatus::Closed => Err(IncidentError::Closed),
            status => Ok(status),
        }
    }

    fn acknowledgement(&self) -> Vec<IncidentEvent> {
        if self.acknowledged {
            Vec::new()
        } else {
            vec![IncidentEvent::IncidentAcknowledged {}]
        }
    }

    /// The fields first, then the move: a request that raises the severity and closes is judged
    /// by the new severity. All or none.
    fn update(&self, changes: IncidentChanges) -> Result<Vec<IncidentEvent>, IncidentError> {
        let status = self.open_status()?;
        let severity = self.severity.expect("a detected incident has a severity");
        let impact = self.impact.expect("a detected incident has an impact");
        let mut events = Vec::new();
        if let Some(to) = changes.severity.filter(|s| *s != severity) {
            events.push(IncidentEvent::IncidentSeverityChanged {
                from: severity,
                to,
                targets: to.targets(),
            });
        }
        if let Some(to) = changes.impact.filter(|i| *i != impact) {
            events.push(IncidentEvent::IncidentImpactChanged { from: impact, to });
        }
        if let Some(commander) = changes
            .incident_commander
            .filter(|c| self.incident_commander.as_ref() != Some(c))
        {
            events.push(IncidentEvent::IncidentCommanderChanged {
                commander,
                previous: self.incident_commander.clone(),
            });
        }
        if let Some(assigned_team) = changes.assigned_team.filter(|t| *t != self.assigned_team) {
            events.push(IncidentEvent::IncidentTeamChanged { assigned_team });
        }
        if let Some(affected_systems) = changes
            .affected_systems
            .filter(|s| *s != self.affected_systems)
        {
            events.push(IncidentEvent::IncidentAffectedSystemsChanged { affected_systems });
        }
        if let Some(affected_services) = changes
            .affected_services
            .filter(|s| *s != self.affected_services)
        {
            events.push(IncidentEvent::IncidentAffectedServicesChanged { affected_services });
        }
        let changed = |new: Option<IncidentText>, old: &Option<IncidentText>| {
            new.filter(|n| old.as_ref() != Some(n))
        };
        if let Some(root_cause) = changed(changes.root_cause, &self.root_cause) {
            events.push(IncidentEvent::IncidentRootCauseRecorded { root_cause });
        }
        if let Some(mitigation) = changed(changes.mitigation, &self.mitigation) {
            events.push(IncidentEvent::IncidentMitigationRecorded { mitigation });
        }
        if let Some(resolution) = changed(changes.resolution, &self.resolution) {
            events.push(IncidentEvent::IncidentResolutionRecorded { resolution });
        }
        if let Some(to) = changes.status.filter(|s| *s != status) {
            if !status.can_become(to) {
                return Err(IncidentError::IllegalTransition {
                    from: status,
                    to,
                    allowed: status.allowed_next(),
                });
            }
            let severity = changes.severity.unwrap_or(severity);
            if to == IncidentStatus::Closed
                && severity.requires_post_mortem()
                && !self.post_mortem_completed
            {
                return Err(IncidentError::PostMortemRequired { severity });
            }
            // Whoever moves an incident on has taken it on.
            events.extend(self.acknowledgement());
            events.push(IncidentEvent::IncidentStatusChanged { from: status, to });
        }
        Ok(events)
    }
}
