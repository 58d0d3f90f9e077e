use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::status::TicketStatus;
use super::values::{
    AgentId, CommentBody, CommentVisibility, Customer, ErasureReason, Labels, Reason,
    TicketCategory, TicketChannel, TicketDescription, TicketNumber, TicketPriority, TicketTitle,
};
use crate::Caller;

#[derive(Debug, Clone, PartialEq)]
pub enum TicketCommand {
    Open(OpenTicket),
    Update(UpdateTicket),
    AddComment(AddComment),
    Escalate(EscalateTicket),
    ErasePersonalData(ErasePersonalData),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpenTicket {
    pub ticket_id: Uuid,
    pub ticket_number: TicketNumber,
    pub content: TicketContent,
    pub created_by: String,
}

/// What a requester writes when opening a ticket: the one list of a ticket's own fields, which the
/// request, the command, the `TicketOpened` event and the aggregate all carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketContent {
    pub title: TicketTitle,
    pub description: TicketDescription,
    pub priority: TicketPriority,
    pub category: TicketCategory,
    pub channel: TicketChannel,
    pub customer: Option<Customer>,
    pub affected_systems: Labels,
    pub tags: Labels,
}

/// A partial update: `None` leaves a field as it is. `assignee: Some(None)` unassigns.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateTicket {
    pub caller: Caller,
    pub title: Option<TicketTitle>,
    pub description: Option<TicketDescription>,
    pub priority: Option<TicketPriority>,
    pub category: Option<TicketCategory>,
    pub tags: Option<Labels>,
    pub affected_systems: Option<Labels>,
    pub related_tickets: Option<Vec<Uuid>>,
    pub related_incidents: Option<Vec<Uuid>>,
    pub assignee: Option<Option<AgentId>>,
    pub status: Option<TicketStatus>,
    pub resolution_note: Option<Reason>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AddComment {
    pub comment_id: Uuid,
    /// The author.
    pub caller: Caller,
    pub body: CommentBody,
    pub visibility: CommentVisibility,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EscalateTicket {
    pub caller: Caller,
    pub reason: Reason,
}

/// Destroys the ticket's data key; `receipt_id` names the erasure receipt that covers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasePersonalData {
    pub caller: Caller,
    pub reason: ErasureReason,
    pub receipt_id: Uuid,
}

impl UpdateTicket {
    /// An update by `caller` that changes nothing yet.
    pub fn by(caller: Caller) -> Self {
        Self {
            caller,
            title: None,
            description: None,
            priority: None,
            category: None,
            tags: None,
            affected_systems: None,
            related_tickets: None,
            related_incidents: None,
            assignee: None,
            status: None,
            resolution_note: None,
        }
    }
}
