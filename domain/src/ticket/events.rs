use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::commands::TicketContent;
use super::status::TicketStatus;
use super::values::{
    AgentId, CommentBody, CommentVisibility, ErasureReason, Labels, Reason, TicketCategory,
    TicketDescription, TicketNumber, TicketPriority, TicketTitle,
};
use crate::{Actor, PersonalData};

/// Everything that can happen to a ticket. Each variant is one fact; a request that changes
/// several fields records several facts. The catalogue with payloads is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum TicketEvent {
    TicketOpened {
        ticket_id: Uuid,
        ticket_number: TicketNumber,
        #[serde(flatten)]
        content: TicketContent,
        created_by: String,
    },
    TicketRetitled {
        title: TicketTitle,
    },
    TicketDescriptionChanged {
        description: TicketDescription,
    },
    TicketReprioritized {
        from: TicketPriority,
        to: TicketPriority,
    },
    TicketRecategorized {
        from: TicketCategory,
        to: TicketCategory,
    },
    TicketTagsChanged {
        tags: Labels,
    },
    TicketAffectedSystemsChanged {
        affected_systems: Labels,
    },
    TicketAssigned {
        assignee: AgentId,
        previous_assignee: Option<AgentId>,
    },
    TicketUnassigned {
        previous_assignee: AgentId,
    },
    TicketStatusChanged {
        from: TicketStatus,
        to: TicketStatus,
        /// The resolution note when resolving; why, when the system moved it (a customer reply).
        note: Option<Reason>,
    },
    TicketCommentAdded {
        comment_id: Uuid,
        author: Actor,
        body: CommentBody,
        visibility: CommentVisibility,
    },
    /// The first public reply by staff: the moment the response SLA measures.
    TicketFirstResponseRecorded {
        comment_id: Uuid,
        responder: String,
    },
    TicketEscalated {
        level: u32,
        reason: Reason,
    },
    TicketRelatedTicketLinked {
        related_ticket_id: Uuid,
    },
    TicketRelatedTicketUnlinked {
        related_ticket_id: Uuid,
    },
    TicketIncidentLinked {
        incident_id: Uuid,
    },
    TicketIncidentUnlinked {
        incident_id: Uuid,
    },
    /// The ticket's data key was destroyed: its personal fields, in this ticket's every event,
    /// can no longer be read. Carries no personal data itself.
    PersonalDataErased {
        reason: ErasureReason,
        /// The erasure receipt that covers this ticket.
        receipt_id: Uuid,
    },
}

impl TicketEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            TicketEvent::TicketOpened { .. } => "TicketOpened",
            TicketEvent::TicketRetitled { .. } => "TicketRetitled",
            TicketEvent::TicketDescriptionChanged { .. } => "TicketDescriptionChanged",
            TicketEvent::TicketReprioritized { .. } => "TicketReprioritized",
            TicketEvent::TicketRecategorized { .. } => "TicketRecategorized",
            TicketEvent::TicketTagsChanged { .. } => "TicketTagsChanged",
            TicketEvent::TicketAffectedSystemsChanged { .. } => "TicketAffectedSystemsChanged",
            TicketEvent::TicketAssigned { .. } => "TicketAssigned",
            TicketEvent::TicketUnassigned { .. } => "TicketUnassigned",
            TicketEvent::TicketStatusChanged { .. } => "TicketStatusChanged",
            TicketEvent::TicketCommentAdded { .. } => "TicketCommentAdded",
            TicketEvent::TicketFirstResponseRecorded { .. } => "TicketFirstResponseRecorded",
            TicketEvent::TicketEscalated { .. } => "TicketEscalated",
            TicketEvent::TicketRelatedTicketLinked { .. } => "TicketRelatedTicketLinked",
            TicketEvent::TicketRelatedTicketUnlinked { .. } => "TicketRelatedTicketUnlinked",
            TicketEvent::TicketIncidentLinked { .. } => "TicketIncidentLinked",
            TicketEvent::TicketIncidentUnlinked { .. } => "TicketIncidentUnlinked",
            TicketEvent::PersonalDataErased { .. } => "PersonalDataErased",
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

/// The customer's name and email, and the text the ticket carries: title, description, comment
/// bodies, and the notes and reasons written about it (which may name the customer).
impl PersonalData for TicketEvent {
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            TicketEvent::TicketOpened { .. } => &[
                "/title",
                "/description",
                "/customer/name",
                "/customer/email",
            ],
            TicketEvent::TicketRetitled { .. } => &["/title"],
            TicketEvent::TicketDescriptionChanged { .. } => &["/description"],
            TicketEvent::TicketStatusChanged { .. } => &["/note"],
            TicketEvent::TicketCommentAdded { .. } => &["/body"],
            TicketEvent::TicketEscalated { .. } => &["/reason"],
            TicketEvent::TicketReprioritized { .. }
            | TicketEvent::TicketRecategorized { .. }
            | TicketEvent::TicketTagsChanged { .. }
            | TicketEvent::TicketAffectedSystemsChanged { .. }
            | TicketEvent::TicketAssigned { .. }
            | TicketEvent::TicketUnassigned { .. }
            | TicketEvent::TicketFirstResponseRecorded { .. }
            | TicketEvent::TicketRelatedTicketLinked { .. }
            | TicketEvent::TicketRelatedTicketUnlinked { .. }
            | TicketEvent::TicketIncidentLinked { .. }
            | TicketEvent::TicketIncidentUnlinked { .. }
            | TicketEvent::PersonalDataErased { .. } => &[],
        }
    }

    fn data_subject(&self) -> Option<&str> {
        match self {
            TicketEvent::TicketOpened { content, .. } => {
                content.customer.as_ref().map(|c| c.id.as_str())
            }
            _ => None,
        }
    }

    fn erases_personal_data(&self) -> bool {
        matches!(self, TicketEvent::PersonalDataErased { .. })
    }
}

impl DomainEvent for TicketEvent {
    fn event_type(&self) -> String {
        self.name().to_owned()
    }

    fn event_version(&self) -> String {
        Self::VERSION.to_owned()
    }
}
