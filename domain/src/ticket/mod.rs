//! The ticket aggregate: a support request from opening to closing.

mod commands;
mod events;
mod status;
pub(crate) mod values;

#[cfg(test)]
mod escalation_tests;
#[cfg(test)]
mod sla_tests;
#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use commands::{
    AddComment, ErasePersonalData, EscalateTicket, FollowIncidents, OpenTicket, RateSatisfaction,
    RecordDue, TicketCommand, TicketContent, UpdateTicket,
};
pub use events::TicketEvent;
pub use status::{AssigneeRule, TicketStatus};
pub use values::{
    AgentId, CommentBody, CommentVisibility, Customer, ErasureReason, Labels, Reason, RelatedIds,
    SatisfactionComment, SeenArticles, TicketCategory, TicketChannel, TicketDescription,
    TicketNumber, TicketPriority, TicketTitle,
};

use crate::escalation::{EscalationBook, EscalationRun, EscalationTrigger};
use crate::kb::Stars;
use crate::sla::{
    AppliedSla, ClockChange, ClockKind, Due, DueKind, OpeningSla, SlaClocks, SlaPolicyBook,
};
use crate::{ActorRole, Caller, DomainError, Refusal};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket does not exist")]
    NotFound,
    #[error("the ticket already exists")]
    AlreadyOpened,
    #[error("the ticket is {0} and accepts no further changes")]
    Final(TicketStatus),
    #[error("a ticket cannot move from {from} to {to}; {}", allowed_next(allowed))]
    IllegalTransition {
        from: TicketStatus,
        to: TicketStatus,
        allowed: Vec<TicketStatus>,
    },
    #[error("a {0} ticket must have an assignee: set assignedTo")]
    AssigneeRequired(TicketStatus),
    #[error("an OPEN ticket has no assignee: set assignedTo to null, or choose another status")]
    AssigneeForbidden,
    #[error("resolutionNote is only recorded when the ticket becomes RESOLVED")]
    NoteWithoutResolution,
    #[error("the ticket is RESOLVED already; its resolutionNote was recorded when it became so")]
    NoteOnResolved,
    #[error("a ticket cannot be related to itself")]
    RelatedToItself,
    #[error("a {0} ticket cannot be escalated")]
    NotEscalatable(TicketStatus),
    #[error(
        "the ticket is on the last level of its escalation ladder ({level}), which repeats no more"
    )]
    TopOfLadder { level: u32 },
    #[error("customers can only post public comments")]
    CustomerInternalComment,
    #[error("the ticket's personal data was erased; it accepts no further changes")]
    Erased,
    #[error("only admins and the retention worker erase personal data")]
    ErasureForbidden,
    #[error("the auditor role reads tickets and changes none")]
    ReadOnlyCaller,
    #[error("only the SLA timer records warnings and breaches")]
    TimerOnly,
    #[error("the ticket is not linked to this incident")]
    IncidentNotLinked,
    #[error("a {0} ticket has no resolution to rate: it is rated once RESOLVED or CLOSED")]
    NotResolved(TicketStatus),
    #[error("only the ticket's customer rates its resolution")]
    RatedByCustomerOnly,
}

fn allowed_next(allowed: &[TicketStatus]) -> String {
    if allowed.is_empty() {
        return "it accepts no status change".to_owned();
    }
    let names: Vec<_> = allowed.iter().map(|s| s.as_str()).collect();
    format!("allowed next statuses: {}", names.join(", "))
}

impl DomainError for TicketError {
    fn refusal(&self) -> Refusal {
        let conflict = |allowed: Option<&[TicketStatus]>| Refusal::Conflict {
            allowed_statuses: allowed.map(|a| a.iter().map(|s| s.as_str()).collect()),
        };
        match self {
            TicketError::NotFound => Refusal::NotFound { resource: "ticket" },
            TicketError::IncidentNotLinked => Refusal::NotFound {
                resource: "link of the ticket to the incident",
            },
            TicketError::IllegalTransition { allowed, .. } => conflict(Some(allowed)),
            TicketError::Final(_) | TicketError::Erased => conflict(Some(&[])),
            TicketError::NotResolved(_) => conflict(None),
            TicketError::AlreadyOpened
            | TicketError::NoteOnResolved
            | TicketError::AssigneeRequired(_)
            | TicketError::AssigneeForbidden
            | TicketError::NotEscalatable(_)
            | TicketError::TopOfLadder { .. } => conflict(None),
            TicketError::NoteWithoutResolution => Refusal::InvalidField {
                field: "resolutionNote",
            },
            TicketError::RelatedToItself => Refusal::InvalidField {
                field: "relatedTickets",
            },
            TicketError::CustomerInternalComment
            | TicketError::ErasureForbidden
            | TicketError::ReadOnlyCaller
            | TicketError::RatedByCustomerOnly
            | TicketError::TimerOnly => Refusal::Forbidden,
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    id: Option<Uuid>,
    status: Option<TicketStatus>,
    content: Option<TicketContent>,
    assignee: Option<AgentId>,
    responded: bool,
    escalation_level: u32,
    /// The climb under way, until its clock is met or its ladder ends.
    escalation: Option<EscalationRun>,
    related_tickets: Vec<Uuid>,
    related_incidents: Vec<Uuid>,
    /// Whether active incidents linked to it hold it (and its clocks).
    held_by_incident: bool,
    erased: bool,
    sla: Option<AppliedSla>,
    /// How many times it was resolved.
    #[serde(default)]
    resolutions: u32,
    /// The customer's rating of the resolution it names, with its comment.
    #[serde(default)]
    satisfaction: Option<(u32, Stars, Option<SatisfactionComment>)>,
}

impl Aggregate for Ticket {
    const TYPE: &'static str = "ticket";
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = TicketError;
    type Services = ();

    async fn handle(
        &mut self,
        command: TicketCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), TicketError> {
        let events = match command {
            TicketCommand::Open(open) => self.open(open)?,
            TicketCommand::Update(mut update) => {
                let (at, policies) = (update.at, std::mem::take(&mut update.policies));
                let escalations = std::mem::take(&mut update.escalations);
                let decided = self.update(update)?;
                self.with_sla(at, &policies, &escalations, decided)
            }
            TicketCommand::AddComment(mut comment) => {
                let (at, escalations) = (comment.at, std::mem::take(&mut comment.escalations));
                let decided = self.add_comment(comment)?;
                self.with_sla(at, &SlaPolicyBook::default(), &escalations, decided)
            }
            TicketCommand::Escalate(escalate) => self.escalate(escalate)?,
            TicketCommand::ErasePersonalData(erase) => self.erase(erase)?,
            TicketCommand::RecordDue(due) => self.record_due(due)?,
            TicketCommand::LinkIncident {
                caller,
                incident_id,
                linked,
            } => self.link_incident(&caller, incident_id, linked)?,
            TicketCommand::RateSatisfaction(rating) => self.rate_satisfaction(rating)?,
            TicketCommand::FollowIncidents(mut follow) => {
                let (at, escalations) = (follow.at, std::mem::take(&mut follow.escalations));
                let decided = self.follow_incidents(follow)?;
                self.with_sla(at, &SlaPolicyBook::default(), &escalations, decided)
            }
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: TicketEvent) {
        match event {
            TicketEvent::TicketOpened {
                ticket_id,
                content,
                sla,
                ..
            } => {
                self.id = Some(ticket_id);
                self.status = Some(TicketStatus::Open);
                self.content = Some(content);
                self.sla = sla.map(|sla| AppliedSla {
                    clocks: sla.clocks(),
                    terms: sla.terms,
                });
            }
            TicketEvent::TicketRetitled { title } => self.content_mut().title = title,
            TicketEvent::TicketDescriptionChanged { description } => {
                self.content_mut().description = description
            }
            TicketEvent::TicketReprioritized { to, .. } => self.content_mut().priority = to,
            TicketEvent::TicketRecategorized { to, .. } => self.content_mut().category = to,
            TicketEvent::TicketCustomerTierChanged { to, .. } => {
                self.content_mut().customer_tier = to
            }
            TicketEvent::TicketTagsChanged { tags } => self.content_mut().tags = tags,
            TicketEvent::TicketAffectedSystemsChanged { affected_systems } => {
                self.content_mut().affected_systems = affected_systems
            }
            TicketEvent::TicketAssigned { assignee, .. } => self.assignee = Some(assignee),
            TicketEvent::TicketUnassigned { .. } => self.assignee = None,
            TicketEvent::TicketStatusChanged { to, .. } => {
                self.status = Some(to);
                if to == TicketStatus::Resolved {
                    self.resolutions += 1;
                }
                if to == TicketStatus::Resolved || to.is_final() {
                    self.escalation = None;
                }
            }
            TicketEvent::TicketCommentAdded { .. } => {}
            TicketEvent::TicketFirstResponseRecorded { .. } => {
                self.responded = true;
                if self
                    .escalation
                    .as_ref()
                    .is_some_and(|run| run.ladder.until == ClockKind::Response)
                {
                    self.escalation = None;
                }
            }
            TicketEvent::TicketEscalated {
                level,
                trigger,
                ladder,
                round,
                next_level_at,
                ..
            } => {
                self.escalation_level = level;
                match (ladder, self.escalation.as_mut()) {
                    (Some(ladder), _) => {
                        self.escalation = Some(EscalationRun {
                            ladder: *ladder,
                            trigger,
                            level,
                            round,
                            next_level_at,
                        })
                    }
                    (None, Some(run)) => {
                        (run.level, run.round, run.next_level_at) = (level, round, next_level_at)
                    }
                    (None, None) => {}
                }
            }
            TicketEvent::TicketRelatedTicketLinked { related_ticket_id } => {
                self.related_tickets.push(related_ticket_id)
            }
            TicketEvent::TicketRelatedTicketUnlinked { related_ticket_id } => {
                self.related_tickets.retain(|id| *id != related_ticket_id)
            }
            TicketEvent::TicketIncidentLinked { incident_id } => {
                self.related_incidents.push(incident_id)
            }
            TicketEvent::TicketIncidentUnlinked { incident_id } => {
                self.related_incidents.retain(|id| *id != incident_id)
            }
            TicketEvent::TicketHeldByIncident { .. } => self.held_by_incident = true,
            TicketEvent::TicketReleasedByIncident {} => self.held_by_incident = false,
            TicketEvent::TicketSatisfactionRated {
                resolution,
                score,
                comment,
            } => self.satisfaction = Some((resolution, score, comment)),
            TicketEvent::PersonalDataErased { .. } => self.erased = true,
            TicketEvent::SlaPolicyApplied { terms, clocks, .. } => {
                self.sla = Some(AppliedSla { terms, clocks })
            }
            TicketEvent::SlaClocksPaused { clocks, .. }
            | TicketEvent::SlaClocksResumed { clocks, .. }
            | TicketEvent::SlaClockCompleted { clocks, .. }
            | TicketEvent::SlaClockRestarted { clocks, .. }
            | TicketEvent::SlaClocksStopped { clocks }
            | TicketEvent::SlaWarningReached { clocks, .. }
            | TicketEvent::SlaBreached { clocks, .. } => {
                if let Some(sla) = self.sla.as_mut() {
                    sla.clocks = clocks;
                }
            }
        }
    }
}

impl Ticket {
    /// Every event after the opening changes an opened ticket.
    fn content_mut(&mut self) -> &mut TicketContent {
        self.content
            .as_mut()
            .expect("a ticket's events follow its opening")
    }

    /// The status of an opened ticket; commands on a ticket that was never opened fail here.
    fn current_status(&self) -> Result<TicketStatus, TicketError> {
        self.status.ok_or(TicketError::NotFound)
    }

    /// Customers reach their own tickets, agents theirs and the unassigned queue; to anyone else
    /// the ticket does not exist. Decided here, on the write model, so that a ticket just opened
    /// can be worked at once and an agent unassigned a moment ago cannot act on it. Auditors see
    /// every ticket but may change none.
    fn check_access(&self, caller: &Caller) -> Result<(), TicketError> {
        let visible = match caller.actor.role {
            ActorRole::Admin | ActorRole::Service => true,
            ActorRole::Auditor => return Err(TicketError::ReadOnlyCaller),
            ActorRole::Agent => self
                .assignee
                .as_ref()
                .is_none_or(|a| a.as_str() == caller.actor.sub),
            ActorRole::Customer => {
                let customer = self.content.as_ref().and_then(|c| c.customer.as_ref());
                caller.customer_id.is_some()
                    && customer.map(|c| &c.id) == caller.customer_id.as_ref()
            }
        };
        if visible {
            Ok(())
        } else {
            Err(TicketError::NotFound)
        }
    }

    /// The status of a ticket that `caller` may change.
    fn changeable_status(&self, caller: &Caller) -> Result<TicketStatus, TicketError> {
        let status = self.current_status()?;
        self.check_access(caller)?;
        if status.is_final() {
            return Err(TicketError::Final(status));
        }
        // Nothing new may be written under a key that no longer exists.
        if self.erased {
            return Err(TicketError::Erased);
        }
        Ok(status)
    }

    /// Held while an active incident linked to it holds it, released when none does. A closed,
    /// cancelled or erased ticket follows no incident: its clocks are over.
    fn follow_incidents(&self, follow: FollowIncidents) -> Result<Vec<TicketEvent>, TicketError> {
        let status = self.current_status()?;
        if !matches!(follow.caller.actor.role, ActorRole::Service) {
            return Err(TicketError::TimerOnly);
        }
        if status.is_final() || self.erased {
            return Ok(Vec::new());
        }
        let holding: Vec<Uuid> = self
            .related_incidents
            .iter()
            .copied()
            .filter(|id| follow.active_incidents.contains(id))
            .collect();
        Ok(match (holding.is_empty(), self.held_by_incident) {
            (false, false) => vec![TicketEvent::TicketHeldByIncident { incidents: holding }],
            (true, true) => vec![TicketEvent::TicketReleasedByIncident {}],
            _ => Vec::new(),
        })
    }

    /// A link made twice is made once; removing one that does not exist is refused, as a
    /// missing resource.
    fn link_incident(
        &self,
        caller: &Caller,
        incident_id: Uuid,
        linked: bool,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        self.changeable_status(caller)?;
        let is_linked = self.related_incidents.contains(&incident_id);
        match (linked, is_linked) {
            (true, true) => Ok(Vec::new()),
            (true, false) => Ok(vec![TicketEvent::TicketIncidentLinked { incident_id }]),
            (false, true) => Ok(vec![TicketEvent::TicketIncidentUnlinked { incident_id }]),
            (false, false) => Err(TicketError::IncidentNotLinked),
        }
    }

    fn open(&self, open: OpenTicket) -> Result<Vec<TicketEvent>, TicketError> {
        if self.status.is_some() {
            return Err(TicketError::AlreadyOpened);
        }
        let sla = open
            .policies
            .matching(open.content.priority, open.content.customer_tier)
            .map(|(terms, matched)| {
                Box::new(OpeningSla {
                    terms: terms.clone(),
                    matched,
                    started_at: open.at,
                })
            });
        Ok(vec![TicketEvent::TicketOpened {
            ticket_id: open.ticket_id,
            ticket_number: open.ticket_number,
            content: open.content,
            suggested_articles_seen: open.suggested_articles_seen,
            created_by: open.created_by,
            sla,
        }])
    }

    fn update(&self, update: UpdateTicket) -> Result<Vec<TicketEvent>, TicketError> {
        let status = self.changeable_status(&update.caller)?;
        let content = self.content.as_ref().ok_or(TicketError::NotFound)?;
        let mut events = Vec::new();

        if let Some(title) = update.title.filter(|t| *t != content.title) {
            events.push(TicketEvent::TicketRetitled { title });
        }
        if let Some(description) = update.description.filter(|d| *d != content.description) {
            events.push(TicketEvent::TicketDescriptionChanged { description });
        }
        if let Some(to) = update.priority.filter(|p| *p != content.priority) {
            events.push(TicketEvent::TicketReprioritized {
                from: content.priority,
                to,
            });
        }
        if let Some(to) = update.category.filter(|c| *c != content.category) {
            events.push(TicketEvent::TicketRecategorized {
                from: content.category,
                to,
            });
        }
        if let Some(to) = update.customer_tier.filter(|t| *t != content.customer_tier) {
            events.push(TicketEvent::TicketCustomerTierChanged {
                from: content.customer_tier,
                to,
            });
        }
        if let Some(tags) = update.tags.filter(|t| *t != content.tags) {
            events.push(TicketEvent::TicketTagsChanged { tags });
        }
        if let Some(affected_systems) = update
            .affected_systems
            .filter(|s| *s != content.affected_systems)
        {
            events.push(TicketEvent::TicketAffectedSystemsChanged { affected_systems });
        }
        if let Some(related) = update.related_tickets {
            if self.id.is_some_and(|id| related.contains(&id)) {
                return Err(TicketError::RelatedToItself);
            }
            let (linked, unlinked) = set_difference(&self.related_tickets, &related);
            events.extend(unlinked.map(|related_ticket_id| {
                TicketEvent::TicketRelatedTicketUnlinked { related_ticket_id }
            }));
            events.extend(
                linked.map(|related_ticket_id| TicketEvent::TicketRelatedTicketLinked {
                    related_ticket_id,
                }),
            );
        }
        if let Some(related) = update.related_incidents {
            let (linked, unlinked) = set_difference(&self.related_incidents, &related);
            events.extend(
                unlinked.map(|incident_id| TicketEvent::TicketIncidentUnlinked { incident_id }),
            );
            events.extend(
                linked.map(|incident_id| TicketEvent::TicketIncidentLinked { incident_id }),
            );
        }

        let assignee = match &update.assignee {
            Some(requested) => requested.clone(),
            None => self.assignee.clone(),
        };
        match (&self.assignee, &assignee) {
            (previous, Some(next)) if previous.as_ref() != Some(next) => {
                events.push(TicketEvent::TicketAssigned {
                    assignee: next.clone(),
                    previous_assignee: previous.clone(),
                })
            }
            (Some(previous), None) => events.push(TicketEvent::TicketUnassigned {
                previous_assignee: previous.clone(),
            }),
            _ => {}
        }

        // Assigning takes a ticket out of the queue and unassigning puts it back, unless the
        // request names the status itself.
        let implied = match (status.assignee_rule(), &assignee) {
            (AssigneeRule::Forbidden, Some(_)) => TicketStatus::Assigned,
            (AssigneeRule::Required, None) => TicketStatus::Open,
            _ => status,
        };
        let target = update.status.unwrap_or(implied);
        if target != status && !status.can_become(target) {
            return Err(TicketError::IllegalTransition {
                from: status,
                to: target,
                allowed: status.allowed_next().to_vec(),
            });
        }
        // Checked even when the status stays: the request may change only the assignee.
        match (target.assignee_rule(), &assignee) {
            (AssigneeRule::Required, None) => return Err(TicketError::AssigneeRequired(target)),
            (AssigneeRule::Forbidden, Some(_)) => return Err(TicketError::AssigneeForbidden),
            _ => {}
        }
        // Without a move to RESOLVED the request is wrong whatever the ticket; on a resolved
        // ticket the same request would have been right a moment earlier.
        if update.resolution_note.is_some() {
            if target != TicketStatus::Resolved {
                return Err(TicketError::NoteWithoutResolution);
            }
            if status == TicketStatus::Resolved {
                return Err(TicketError::NoteOnResolved);
            }
        }
        if target != status {
            events.push(TicketEvent::TicketStatusChanged {
                from: status,
                to: target,
                note: update.resolution_note,
            });
        }
        Ok(events)
    }

    fn add_comment(&self, comment: AddComment) -> Result<Vec<TicketEvent>, TicketError> {
        let status = self.changeable_status(&comment.caller)?;
        let author = comment.caller.actor;
        let is_customer = author.role == ActorRole::Customer;
        let is_public = comment.visibility == CommentVisibility::Public;
        if is_customer && !is_public {
            return Err(TicketError::CustomerInternalComment);
        }
        let mut events = vec![TicketEvent::TicketCommentAdded {
            comment_id: comment.comment_id,
            author: author.clone(),
            body: comment.body,
            visibility: comment.visibility,
        }];
        if is_public && author.role.is_staff() && !self.responded {
            events.push(TicketEvent::TicketFirstResponseRecorded {
                comment_id: comment.comment_id,
                responder: author.sub,
            });
        }
        // A customer's reply puts the ticket back in front of the support team.
        let back_to = match status {
            TicketStatus::Resolved if self.assignee.is_some() => Some(TicketStatus::Assigned),
            TicketStatus::Resolved => Some(TicketStatus::Open),
            TicketStatus::WaitingCustomer => Some(TicketStatus::InProgress),
            _ => None,
        };
        if let (true, Some(to)) = (is_customer, back_to) {
            events.push(TicketEvent::TicketStatusChanged {
                from: status,
                to,
                note: Reason::parse("the customer replied").ok(),
            });
        }
        Ok(events)
    }

    /// The customer rates the ticket's latest resolution, while it stands (RESOLVED or CLOSED).
    /// Rating it again replaces the rating; the same rating again records nothing.
    fn rate_satisfaction(&self, rating: RateSatisfaction) -> Result<Vec<TicketEvent>, TicketError> {
        let status = self.current_status()?;
        self.check_access(&rating.caller)?;
        if rating.caller.actor.role != ActorRole::Customer {
            return Err(TicketError::RatedByCustomerOnly);
        }
        if self.erased {
            return Err(TicketError::Erased);
        }
        if !matches!(status, TicketStatus::Resolved | TicketStatus::Closed) || self.resolutions == 0
        {
            return Err(TicketError::NotResolved(status));
        }
        let rated = (self.resolutions, rating.score, rating.comment);
        if self.satisfaction.as_ref() == Some(&rated) {
            return Ok(Vec::new());
        }
        let (resolution, score, comment) = rated;
        Ok(vec![TicketEvent::TicketSatisfactionRated {
            resolution,
            score,
            comment,
        }])
    }

    /// One level up by hand: the next level of the climb under way, else the first of the ladder
    /// for manual escalation, else (no ladder applies) one level up with nobody called.
    fn escalate(&self, escalate: EscalateTicket) -> Result<Vec<TicketEvent>, TicketError> {
        let status = self.changeable_status(&escalate.caller)?;
        if status == TicketStatus::Resolved {
            return Err(TicketError::NotEscalatable(status));
        }
        let content = self.content.as_ref().ok_or(TicketError::NotFound)?;
        let trigger = EscalationTrigger::Manual;
        let event = if let Some(run) = &self.escalation {
            let step = run
                .ladder
                .step_after(run.level, run.round, escalate.at)
                .ok_or(TicketError::TopOfLadder { level: run.level })?;
            TicketEvent::escalated(&run.ladder, step, trigger, escalate.reason, false)
        } else if let Some(ladder) =
            escalate
                .escalations
                .matching(content.priority, content.category, trigger, None)
        {
            let step = ladder.first_step(escalate.at);
            TicketEvent::escalated(&ladder, step, trigger, escalate.reason, true)
        } else {
            TicketEvent::TicketEscalated {
                level: self.escalation_level + 1,
                reason: escalate.reason,
                trigger,
                recipients: Default::default(),
                ladder: None,
                round: 1,
                next_level_at: None,
            }
        };
        Ok(vec![event])
    }
}

impl Ticket {
    /// Erasure reaches tickets in any status, closed ones above all; erasing twice changes
    /// nothing.
    fn erase(&self, erase: ErasePersonalData) -> Result<Vec<TicketEvent>, TicketError> {
        self.current_status()?;
        if !matches!(
            erase.caller.actor.role,
            ActorRole::Admin | ActorRole::Service
        ) {
            return Err(TicketError::ErasureForbidden);
        }
        if self.erased {
            return Ok(Vec::new());
        }
        Ok(vec![TicketEvent::PersonalDataErased {
            reason: erase.reason,
            receipt_id: erase.receipt_id,
        }])
    }
}

impl Ticket {
    /// The SLA events that a command's decided events cause at `at`, around them: first what
    /// fell due before `at` (with its true instant), then the policy matched again if the
    /// priority or tier changed, then the clocks' pauses, resumes, completions, restarts and
    /// stops, and last what a new policy made due at once.
    fn with_sla(
        &self,
        at: chrono::DateTime<chrono::Utc>,
        policies: &SlaPolicyBook,
        escalations: &EscalationBook,
        decided: Vec<TicketEvent>,
    ) -> Vec<TicketEvent> {
        let (Some(applied), Some(content)) = (&self.sla, &self.content) else {
            return decided;
        };
        if decided.is_empty() {
            return decided;
        }
        let mut terms = applied.terms.clone();
        let mut clocks = applied.clocks.clone();
        let mut events = record_all_due(&mut clocks, at);
        let (mut priority, mut tier, mut rematch) =
            (content.priority, content.customer_tier, false);
        let mut category = content.category;
        // Whether the climb a breach could start would end at once.
        let (mut responded, mut settled) = (self.responded, false);
        for event in &decided {
            match event {
                TicketEvent::TicketReprioritized { to, .. } => (priority, rematch) = (*to, true),
                TicketEvent::TicketCustomerTierChanged { to, .. } => (tier, rematch) = (*to, true),
                TicketEvent::TicketRecategorized { to, .. } => category = *to,
                TicketEvent::TicketFirstResponseRecorded { .. } => responded = true,
                TicketEvent::TicketStatusChanged { to, .. } => {
                    settled = *to == TicketStatus::Resolved || to.is_final()
                }
                _ => {}
            }
        }
        let mut after = Vec::new();
        if let Some((new, matched)) = policies.matching(priority, tier).filter(|_| rematch) {
            if *new != terms {
                clocks = clocks.adopted(&terms, new, at);
                terms = new.clone();
                after.push(TicketEvent::SlaPolicyApplied {
                    terms: new.clone(),
                    matched,
                    clocks: clocks.clone(),
                });
            }
        }
        let calendar = &terms.calendar;
        for moment in decided.iter().filter_map(TicketEvent::clock_moment) {
            let moved = clocks.move_by(moment, calendar, at);
            after.extend(moved.into_iter().map(|(change, c)| clock_event(change, c)));
        }
        after.extend(record_all_due(&mut clocks, at));
        events.extend(decided);
        events.extend(after);
        let climb = self
            .climb_start(&events, &terms, priority, category, escalations, at)
            .filter(|start| match start.until() {
                Some(ClockKind::Response) => !responded && !settled,
                _ => !settled,
            });
        events.extend(climb);
        events
    }

    /// The timer's command: records what fell due by `at`, on either clock, earliest first, and
    /// the climb a breach or warning starts, or else the next level of the climb under way.
    /// Idempotent: what was recorded already, or moved (a pause, a new policy, a met clock), is
    /// not due.
    fn record_due(&self, due: RecordDue) -> Result<Vec<TicketEvent>, TicketError> {
        let status = self.current_status()?;
        if !matches!(due.caller.actor.role, ActorRole::Service) {
            return Err(TicketError::TimerOnly);
        }
        // An erased ticket records nothing more: its erasure stays its last event.
        if self.erased {
            return Ok(Vec::new());
        }
        // Whatever fell due, on either clock, in the order it happened.
        let mut events = match &self.sla {
            Some(applied) => record_all_due(&mut applied.clocks.clone(), due.at),
            None => Vec::new(),
        };
        let content = self.content.as_ref().ok_or(TicketError::NotFound)?;
        let started = self.sla.as_ref().and_then(|applied| {
            self.climb_start(
                &events,
                &applied.terms,
                content.priority,
                content.category,
                &due.escalations,
                due.at,
            )
        });
        if let Some(start) = started {
            events.push(start);
        } else if let Some(run) = &self.escalation {
            let step = run
                .next_level_at
                .filter(|next| *next <= due.at && !status.is_final())
                .and_then(|_| run.ladder.step_after(run.level, run.round, due.at));
            if let Some(step) = step {
                let waited = run.ladder.level(run.level).delay_minutes.get();
                let reason = Reason::parse(&format!(
                    "level {} went unanswered for {waited} min",
                    run.level
                ))
                .expect("the reason is short");
                events.push(TicketEvent::escalated(
                    &run.ladder,
                    step,
                    run.trigger,
                    reason,
                    false,
                ));
            }
        }
        Ok(events)
    }

    /// The climb that the first breach or warning among `events` starts, if the ticket is not
    /// climbing already and a rule applies: breaches only under terms that escalate on breach;
    /// warnings wherever a rule names them.
    fn climb_start(
        &self,
        events: &[TicketEvent],
        terms: &crate::sla::SlaTerms,
        priority: TicketPriority,
        category: TicketCategory,
        escalations: &EscalationBook,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<TicketEvent> {
        if self.escalation.is_some() {
            return None;
        }
        events.iter().find_map(|event| {
            let (trigger, clock) = match event {
                TicketEvent::SlaBreached { clock, .. } if terms.auto_escalate_on_breach => {
                    let trigger = match clock {
                        ClockKind::Response => EscalationTrigger::ResponseBreach,
                        ClockKind::Resolution => EscalationTrigger::ResolutionBreach,
                    };
                    (trigger, *clock)
                }
                TicketEvent::SlaWarningReached { clock, .. } => {
                    (EscalationTrigger::Warning, *clock)
                }
                _ => return None,
            };
            let ladder = escalations.matching(priority, category, trigger, Some(clock))?;
            let reason = match trigger {
                EscalationTrigger::Warning => format!(
                    "the {} SLA clock passed its warning",
                    clock.as_str().to_lowercase()
                ),
                _ => format!("the {} SLA was breached", clock.as_str().to_lowercase()),
            };
            let reason = Reason::parse(&format!("{reason} ({})", ladder.policy_name.as_str()))
                .expect("the reason is short");
            Some(TicketEvent::escalated(
                &ladder,
                ladder.first_step(at),
                trigger,
                reason,
                true,
            ))
        })
    }
}

/// The event that records a change of the clocks.
fn clock_event(change: ClockChange, clocks: SlaClocks) -> TicketEvent {
    match change {
        ClockChange::Paused(reason) => TicketEvent::SlaClocksPaused { clocks, reason },
        ClockChange::Resumed(reason) => TicketEvent::SlaClocksResumed { clocks, reason },
        ClockChange::Completed(clock) => TicketEvent::SlaClockCompleted { clock, clocks },
        ClockChange::Restarted(clock) => TicketEvent::SlaClockRestarted { clock, clocks },
        ClockChange::Stopped => TicketEvent::SlaClocksStopped { clocks },
    }
}

/// Records every warning and breach due by `at` on `clocks`, earliest first.
fn record_all_due(clocks: &mut SlaClocks, at: chrono::DateTime<chrono::Utc>) -> Vec<TicketEvent> {
    let recorded = clocks.record_all_due(at);
    recorded
        .into_iter()
        .map(|(due, c)| due_event(&due, c))
        .collect()
}

fn due_event(due: &Due, clocks: SlaClocks) -> TicketEvent {
    match due.kind {
        DueKind::Warning => TicketEvent::SlaWarningReached {
            clock: due.clock,
            at: due.at,
            clocks,
        },
        DueKind::Breach => TicketEvent::SlaBreached {
            clock: due.clock,
            at: due.at,
            clocks,
        },
    }
}

/// What `wanted` adds to and removes from `current`, in the order each list gives.
fn set_difference<'a>(
    current: &'a [Uuid],
    wanted: &'a [Uuid],
) -> (
    impl Iterator<Item = Uuid> + 'a,
    impl Iterator<Item = Uuid> + 'a,
) {
    let mut seen = Vec::with_capacity(wanted.len());
    let added = wanted.iter().copied().filter(move |id| {
        let first = !seen.contains(id);
        seen.push(*id);
        first && !current.contains(id)
    });
    let removed = current.iter().copied().filter(|id| !wanted.contains(id));
    (added, removed)
}
