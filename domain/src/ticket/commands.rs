use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::status::TicketStatus;
use super::values::{
    AgentId, CommentBody, CommentVisibility, Customer, ErasureReason, Labels, Reason,
    SatisfactionComment, SeenArticles, TicketCategory, TicketChannel, TicketDescription,
    TicketNumber, TicketPriority, TicketTitle,
};
use crate::escalation::EscalationBook;
use crate::kb::Stars;
use crate::sla::{CustomerTier, SlaPolicyBook};
use crate::Caller;

#[derive(Debug, Clone, PartialEq)]
pub enum TicketCommand {
    Open(OpenTicket),
    Update(UpdateTicket),
    AddComment(AddComment),
    Escalate(EscalateTicket),
    ErasePersonalData(ErasePersonalData),
    /// The timer: an SLA warning, a deadline or the next level of an escalation has come.
    RecordDue(RecordDue),
    /// Links the ticket to an incident (`linked`) or unlinks it, from the incident's side.
    LinkIncident {
        caller: Caller,
        incident_id: Uuid,
        linked: bool,
    },
    FollowIncidents(FollowIncidents),
    RateSatisfaction(RateSatisfaction),
}

/// The ticket's customer rates its latest resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSatisfaction {
    pub caller: Caller,
    pub score: Stars,
    pub comment: Option<SatisfactionComment>,
}

/// The incidents active now, sent by the service: a ticket linked to one is held by it (its
/// clocks pause), and one linked to none is released.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowIncidents {
    pub caller: Caller,
    pub at: DateTime<Utc>,
    pub active_incidents: Vec<Uuid>,
    pub escalations: Arc<EscalationBook>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpenTicket {
    pub ticket_id: Uuid,
    pub ticket_number: TicketNumber,
    pub content: TicketContent,
    /// The knowledge-base articles the customer saw first: recorded for analytics, which the
    /// ticket itself never decides on, so not part of its content.
    pub suggested_articles_seen: SeenArticles,
    pub created_by: String,
    pub at: DateTime<Utc>,
    /// The active SLA policies, one of which the ticket may run under; shared, as the API keeps
    /// them, rather than copied into every command.
    pub policies: Arc<SlaPolicyBook>,
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
    /// The customer's plan, which can pick the SLA policy; absent on tickets opened before tiers.
    #[serde(default)]
    pub customer_tier: Option<CustomerTier>,
    pub affected_systems: Labels,
    pub tags: Labels,
}

/// A partial update: `None` leaves a field as it is. `assignee: Some(None)` unassigns.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateTicket {
    pub caller: Caller,
    pub at: DateTime<Utc>,
    /// The active SLA policies, for a change of priority or tier to match again.
    pub policies: Arc<SlaPolicyBook>,
    /// The active escalation policies, for a breach the command records to start a climb.
    pub escalations: Arc<EscalationBook>,
    pub title: Option<TicketTitle>,
    pub description: Option<TicketDescription>,
    pub priority: Option<TicketPriority>,
    pub category: Option<TicketCategory>,
    /// `Some(None)` clears the tier.
    pub customer_tier: Option<Option<CustomerTier>>,
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
    pub at: DateTime<Utc>,
    pub body: CommentBody,
    pub visibility: CommentVisibility,
    /// The active escalation policies, for a breach the command records to start a climb.
    pub escalations: Arc<EscalationBook>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EscalateTicket {
    pub caller: Caller,
    pub at: DateTime<Utc>,
    pub reason: Reason,
    /// The active escalation policies: a ticket not yet climbing starts the ladder of the rule
    /// for manual escalation.
    pub escalations: Arc<EscalationBook>,
}

/// Destroys the ticket's data key; `receipt_id` names the erasure receipt that covers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasePersonalData {
    pub caller: Caller,
    pub reason: ErasureReason,
    pub receipt_id: Uuid,
}

/// A timer's command: records whatever fell due by `at` (SLA warnings and breaches each with its
/// true instant, the next level of a climb), and nothing that was recorded already or is not due
/// (the deadline moved, the clock was met).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDue {
    pub caller: Caller,
    pub at: DateTime<Utc>,
    /// The active escalation policies, for a breach recorded now to start a climb.
    pub escalations: Arc<EscalationBook>,
}

impl UpdateTicket {
    /// An update by `caller` at `at` that changes nothing yet.
    pub fn by(caller: Caller, at: DateTime<Utc>) -> Self {
        Self {
            caller,
            at,
            policies: Arc::default(),
            escalations: Arc::default(),
            title: None,
            description: None,
            priority: None,
            category: None,
            customer_tier: None,
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
