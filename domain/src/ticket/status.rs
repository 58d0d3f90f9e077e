//! The ticket status lifecycle: one table says which status may follow which.

use super::values::screaming_enum;
use serde::{Deserialize, Serialize};

screaming_enum!(
    TicketStatus {
        Open => "OPEN",
        Assigned => "ASSIGNED",
        InProgress => "IN_PROGRESS",
        WaitingCustomer => "WAITING_CUSTOMER",
        WaitingInternal => "WAITING_INTERNAL",
        Resolved => "RESOLVED",
        Closed => "CLOSED",
        Cancelled => "CANCELLED",
    }
);

/// Whether a status demands, forbids or ignores an assignee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeRule {
    Required,
    Forbidden,
    Either,
}

impl TicketStatus {
    /// The statuses a ticket in this status may move to next.
    pub fn allowed_next(self) -> &'static [TicketStatus] {
        use TicketStatus::*;
        match self {
            Open => &[
                Assigned,
                InProgress,
                WaitingCustomer,
                WaitingInternal,
                Resolved,
                Cancelled,
            ],
            Assigned => &[
                Open,
                InProgress,
                WaitingCustomer,
                WaitingInternal,
                Resolved,
                Cancelled,
            ],
            InProgress => &[Open, WaitingCustomer, WaitingInternal, Resolved, Cancelled],
            WaitingCustomer => &[Open, InProgress, WaitingInternal, Resolved, Cancelled],
            WaitingInternal => &[Open, InProgress, WaitingCustomer, Resolved, Cancelled],
            Resolved => &[Open, Assigned, InProgress, Closed],
            Closed | Cancelled => &[],
        }
    }

    pub fn can_become(self, next: TicketStatus) -> bool {
        self.allowed_next().contains(&next)
    }

    /// Closed and cancelled tickets accept no further change.
    pub fn is_final(self) -> bool {
        self.allowed_next().is_empty()
    }

    /// OPEN is the unassigned queue; the working statuses belong to someone.
    pub fn assignee_rule(self) -> AssigneeRule {
        use TicketStatus::*;
        match self {
            Open => AssigneeRule::Forbidden,
            Assigned | InProgress | WaitingCustomer | WaitingInternal => AssigneeRule::Required,
            Resolved | Closed | Cancelled => AssigneeRule::Either,
        }
    }
}
