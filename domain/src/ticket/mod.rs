//! The ticket aggregate: a support request from opening to closing.

mod commands;
mod events;
mod status;
mod values;

#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use commands::{AddComment, EscalateTicket, OpenTicket, TicketCommand, UpdateTicket};
pub use events::TicketEvent;
pub use status::{AssigneeRule, TicketStatus};
pub use values::{
    AgentId, CommentBody, CommentVisibility, Customer, Labels, Reason, RelatedIds, TicketCategory,
    TicketChannel, TicketDescription, TicketNumber, TicketPriority, TicketTitle,
};

use crate::ActorRole;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket does not exist")]
    NotFound,
    #[error("the ticket already exists")]
    AlreadyOpened,
    #[error("the ticket is {0} and accepts no further changes")]
    Final(TicketStatus),
    #[error("a ticket cannot move from {from} to {to}")]
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
    #[error("a ticket cannot be related to itself")]
    RelatedToItself,
    #[error("a {0} ticket cannot be escalated")]
    NotEscalatable(TicketStatus),
    #[error("customers can only post public comments")]
    CustomerInternalComment,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    id: Option<Uuid>,
    status: Option<TicketStatus>,
    title: Option<TicketTitle>,
    description: Option<TicketDescription>,
    priority: Option<TicketPriority>,
    category: Option<TicketCategory>,
    tags: Labels,
    affected_systems: Labels,
    assignee: Option<AgentId>,
    responded: bool,
    escalation_level: u32,
    related_tickets: Vec<Uuid>,
    related_incidents: Vec<Uuid>,
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
            TicketCommand::Update(update) => self.update(update)?,
            TicketCommand::AddComment(comment) => self.add_comment(comment)?,
            TicketCommand::Escalate(escalate) => self.escalate(escalate)?,
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
                title,
                description,
                priority,
                category,
                affected_systems,
                tags,
                ..
            } => {
                self.id = Some(ticket_id);
                self.status = Some(TicketStatus::Open);
                self.title = Some(title);
                self.description = Some(description);
                self.priority = Some(priority);
                self.category = Some(category);
                self.affected_systems = affected_systems;
                self.tags = tags;
            }
            TicketEvent::TicketRetitled { title } => self.title = Some(title),
            TicketEvent::TicketDescriptionChanged { description } => {
                self.description = Some(description)
            }
            TicketEvent::TicketReprioritized { to, .. } => self.priority = Some(to),
            TicketEvent::TicketRecategorized { to, .. } => self.category = Some(to),
            TicketEvent::TicketTagsChanged { tags } => self.tags = tags,
            TicketEvent::TicketAffectedSystemsChanged { affected_systems } => {
                self.affected_systems = affected_systems
            }
            TicketEvent::TicketAssigned { assignee, .. } => self.assignee = Some(assignee),
            TicketEvent::TicketUnassigned { .. } => self.assignee = None,
            TicketEvent::TicketStatusChanged { to, .. } => self.status = Some(to),
            TicketEvent::TicketCommentAdded { .. } => {}
            TicketEvent::TicketFirstResponseRecorded { .. } => self.responded = true,
            TicketEvent::TicketEscalated { level, .. } => self.escalation_level = level,
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
        }
    }
}

impl Ticket {
    /// The status of an opened ticket; commands on a ticket that was never opened fail here.
    fn current_status(&self) -> Result<TicketStatus, TicketError> {
        self.status.ok_or(TicketError::NotFound)
    }

    /// The status of a ticket that may still change.
    fn changeable_status(&self) -> Result<TicketStatus, TicketError> {
        let status = self.current_status()?;
        if status.is_final() {
            return Err(TicketError::Final(status));
        }
        Ok(status)
    }

    fn open(&self, open: OpenTicket) -> Result<Vec<TicketEvent>, TicketError> {
        if self.status.is_some() {
            return Err(TicketError::AlreadyOpened);
        }
        Ok(vec![TicketEvent::TicketOpened {
            ticket_id: open.ticket_id,
            ticket_number: open.ticket_number,
            title: open.title,
            description: open.description,
            priority: open.priority,
            category: open.category,
            channel: open.channel,
            customer: open.customer,
            affected_systems: open.affected_systems,
            tags: open.tags,
            created_by: open.created_by,
        }])
    }

    fn update(&self, update: UpdateTicket) -> Result<Vec<TicketEvent>, TicketError> {
        let status = self.changeable_status()?;
        let mut events = Vec::new();

        if let Some(title) = update.title.filter(|t| Some(t) != self.title.as_ref()) {
            events.push(TicketEvent::TicketRetitled { title });
        }
        if let Some(description) = update
            .description
            .filter(|d| Some(d) != self.description.as_ref())
        {
            events.push(TicketEvent::TicketDescriptionChanged { description });
        }
        if let (Some(to), Some(from)) = (update.priority, self.priority) {
            if to != from {
                events.push(TicketEvent::TicketReprioritized { from, to });
            }
        }
        if let (Some(to), Some(from)) = (update.category, self.category) {
            if to != from {
                events.push(TicketEvent::TicketRecategorized { from, to });
            }
        }
        if let Some(tags) = update.tags.filter(|t| *t != self.tags) {
            events.push(TicketEvent::TicketTagsChanged { tags });
        }
        if let Some(affected_systems) = update
            .affected_systems
            .filter(|s| *s != self.affected_systems)
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
        if update.resolution_note.is_some()
            && !(target == TicketStatus::Resolved && status != TicketStatus::Resolved)
        {
            return Err(TicketError::NoteWithoutResolution);
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
        let status = self.changeable_status()?;
        let is_customer = comment.author.role == ActorRole::Customer;
        let is_public = comment.visibility == CommentVisibility::Public;
        if is_customer && !is_public {
            return Err(TicketError::CustomerInternalComment);
        }
        let mut events = vec![TicketEvent::TicketCommentAdded {
            comment_id: comment.comment_id,
            author: comment.author.clone(),
            body: comment.body,
            visibility: comment.visibility,
        }];
        if is_public && comment.author.role.is_staff() && !self.responded {
            events.push(TicketEvent::TicketFirstResponseRecorded {
                comment_id: comment.comment_id,
                responder: comment.author.sub,
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

    fn escalate(&self, escalate: EscalateTicket) -> Result<Vec<TicketEvent>, TicketError> {
        let status = self.changeable_status()?;
        if status == TicketStatus::Resolved {
            return Err(TicketError::NotEscalatable(status));
        }
        Ok(vec![TicketEvent::TicketEscalated {
            level: self.escalation_level + 1,
            reason: escalate.reason,
        }])
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
