use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::commands::TicketContent;
use super::status::TicketStatus;
use super::values::{
    AgentId, CommentBody, CommentVisibility, ErasureReason, Labels, Reason, SatisfactionComment,
    SeenArticles, TicketCategory, TicketDescription, TicketNumber, TicketPriority, TicketTitle,
};
use crate::escalation::{EscalationLadder, EscalationStep, EscalationTrigger, Recipients};
use crate::kb::Stars;
use crate::sla::{
    ClockKind, ClockMoment, CustomerTier, OpeningSla, PauseReason, SlaClocks, SlaMatch, SlaTerms,
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
        /// Absent when empty, as in openings recorded before it.
        #[serde(default, skip_serializing_if = "SeenArticles::is_empty")]
        suggested_articles_seen: SeenArticles,
        created_by: String,
        /// The policy the ticket opened under, if one matched: in the opening itself rather than
        /// a second event, which would double what every ticket costs the store, the bus and
        /// each read model.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sla: Option<Box<OpeningSla>>,
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
    TicketCustomerTierChanged {
        from: Option<CustomerTier>,
        to: Option<CustomerTier>,
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
    /// A step onto a level of an escalation ladder (or, without a ladder, one level up).
    TicketEscalated {
        level: u32,
        reason: Reason,
        /// Events before ladders are manual escalations.
        #[serde(default = "manual")]
        trigger: EscalationTrigger,
        /// Who the level calls on.
        #[serde(default, skip_serializing_if = "Recipients::is_empty")]
        recipients: Recipients,
        /// The ladder, copied when a climb starts (on its first step only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ladder: Option<Box<EscalationLadder>>,
        /// Which climb of the ladder this is: 1, then one more for each repeat.
        #[serde(default = "first_round", skip_serializing_if = "is_first_round")]
        round: u32,
        /// When the ticket climbs on by itself if its clock is still unmet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_level_at: Option<chrono::DateTime<chrono::Utc>>,
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
    /// Active incidents linked to the ticket (`incidents`) hold it: its SLA clocks pause with the
    /// reason `INCIDENT` while the customer waits on the incident, not on the desk.
    TicketHeldByIncident {
        incidents: Vec<Uuid>,
    },
    /// No active incident linked to the ticket holds it any more: resolved, or unlinked.
    TicketReleasedByIncident {},
    /// The ticket runs under another policy from now, matched again after a change of priority
    /// or tier (the clocks keep the time they counted). The policy of its opening comes with
    /// `TicketOpened`. The terms are a copy, so a later
    /// edit of the policy never rewrites the ticket's past.
    SlaPolicyApplied {
        terms: SlaTerms,
        matched: SlaMatch,
        clocks: SlaClocks,
    },
    /// Both clocks stop counting, for `reason`: the ticket waits for the customer, or an active
    /// incident linked to it holds them (`clocks.pausedFor` lists every reason now).
    SlaClocksPaused {
        clocks: SlaClocks,
        #[serde(default)]
        reason: PauseReason,
    },
    /// `reason` is over: the clocks count again, their deadlines moved by the paused time counted
    /// in the calendar, unless another reason still holds them (`clocks.pausedFor`).
    SlaClocksResumed {
        clocks: SlaClocks,
        #[serde(default)]
        reason: PauseReason,
    },
    /// A clock's promise was kept, or fulfilled after its breach (its state says which).
    SlaClockCompleted {
        clock: ClockKind,
        clocks: SlaClocks,
    },
    /// A reopened ticket's resolution clock counts on from the time it had counted.
    SlaClockRestarted {
        clock: ClockKind,
        clocks: SlaClocks,
    },
    /// The ticket was cancelled: the clocks end without a verdict.
    SlaClocksStopped {
        clocks: SlaClocks,
    },
    /// A clock passed its warning threshold at `at`.
    SlaWarningReached {
        clock: ClockKind,
        at: chrono::DateTime<chrono::Utc>,
        clocks: SlaClocks,
    },
    /// A clock passed its deadline at `at`, the true instant however late it was recorded.
    SlaBreached {
        clock: ClockKind,
        at: chrono::DateTime<chrono::Utc>,
        clocks: SlaClocks,
    },
    /// The ticket's customer rated its `resolution`-th resolution (1 for the first), 1 to 5 as
    /// readers rate articles; a later rating of the same resolution replaces this one.
    TicketSatisfactionRated {
        resolution: u32,
        score: Stars,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<SatisfactionComment>,
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
            TicketEvent::TicketSatisfactionRated { .. } => "TicketSatisfactionRated",
            TicketEvent::PersonalDataErased { .. } => "PersonalDataErased",
            TicketEvent::TicketCustomerTierChanged { .. } => "TicketCustomerTierChanged",
            TicketEvent::SlaPolicyApplied { .. } => "SlaPolicyApplied",
            TicketEvent::TicketHeldByIncident { .. } => "TicketHeldByIncident",
            TicketEvent::TicketReleasedByIncident {} => "TicketReleasedByIncident",
            TicketEvent::SlaClocksPaused { .. } => "SlaClocksPaused",
            TicketEvent::SlaClocksResumed { .. } => "SlaClocksResumed",
            TicketEvent::SlaClockCompleted { .. } => "SlaClockCompleted",
            TicketEvent::SlaClockRestarted { .. } => "SlaClockRestarted",
            TicketEvent::SlaClocksStopped { .. } => "SlaClocksStopped",
            TicketEvent::SlaWarningReached { .. } => "SlaWarningReached",
            TicketEvent::SlaBreached { .. } => "SlaBreached",
        }
    }

    /// The moment of the ticket's life this event is to its SLA clocks, if it moves them.
    pub fn clock_moment(&self) -> Option<ClockMoment> {
        match self {
            TicketEvent::TicketStatusChanged { from, to, .. } => Some(ClockMoment::StatusChanged {
                from: *from,
                to: *to,
            }),
            TicketEvent::TicketFirstResponseRecorded { .. } => Some(ClockMoment::FirstResponse),
            TicketEvent::TicketHeldByIncident { .. } => {
                Some(ClockMoment::IncidentHold { held: true })
            }
            TicketEvent::TicketReleasedByIncident {} => {
                Some(ClockMoment::IncidentHold { held: false })
            }
            _ => None,
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }

    /// The step onto `step`'s level of `ladder`; the ladder itself is copied on a climb's first
    /// step (`starts`) only.
    pub(crate) fn escalated(
        ladder: &EscalationLadder,
        step: EscalationStep,
        trigger: EscalationTrigger,
        reason: Reason,
        starts: bool,
    ) -> Self {
        TicketEvent::TicketEscalated {
            level: step.level,
            reason,
            trigger,
            recipients: ladder.level(step.level).recipients.clone(),
            ladder: starts.then(|| Box::new(ladder.clone())),
            round: step.round,
            next_level_at: step.next_level_at,
        }
    }

    /// The clock whose promise ends the climb this event starts, if it starts one.
    pub(crate) fn until(&self) -> Option<ClockKind> {
        match self {
            TicketEvent::TicketEscalated {
                ladder: Some(ladder),
                ..
            } => Some(ladder.until),
            _ => None,
        }
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
            TicketEvent::TicketSatisfactionRated { .. } => &["/comment"],
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
            | TicketEvent::TicketHeldByIncident { .. }
            | TicketEvent::TicketReleasedByIncident {}
            | TicketEvent::PersonalDataErased { .. }
            | TicketEvent::TicketCustomerTierChanged { .. }
            | TicketEvent::SlaPolicyApplied { .. }
            | TicketEvent::SlaClocksPaused { .. }
            | TicketEvent::SlaClocksResumed { .. }
            | TicketEvent::SlaClockCompleted { .. }
            | TicketEvent::SlaClockRestarted { .. }
            | TicketEvent::SlaClocksStopped { .. }
            | TicketEvent::SlaWarningReached { .. }
            | TicketEvent::SlaBreached { .. } => &[],
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

crate::recorded::domain_event!(TicketEvent);

fn manual() -> EscalationTrigger {
    EscalationTrigger::Manual
}

fn first_round() -> u32 {
    1
}

fn is_first_round(round: &u32) -> bool {
    *round == 1
}
