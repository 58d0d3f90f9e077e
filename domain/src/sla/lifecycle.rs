//! How a ticket's life moves its SLA clocks. The ticket applies this rule as it decides a command,
//! and the what-if replays a ticket's recorded history through it under other terms: one rule, so
//! that a what-if answer is what the ticket would have recorded under those terms.

use chrono::{DateTime, Utc};

use super::{BusinessCalendar, ClockKind, Due, PauseReason, SlaClocks, SlaTerms};
use crate::ticket::TicketStatus;

/// A moment of a ticket's life that its clocks react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMoment {
    StatusChanged {
        from: TicketStatus,
        to: TicketStatus,
    },
    /// The first public reply by staff.
    FirstResponse,
    /// An active incident linked to the ticket holds its clocks (`held`), or the last such
    /// incident let them go.
    IncidentHold { held: bool },
}

/// How a moment moves the clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockChange {
    Paused(PauseReason),
    Resumed(PauseReason),
    Completed(ClockKind),
    Restarted(ClockKind),
    Stopped,
}

impl ClockMoment {
    /// The lifecycle's effect on the clocks: waiting for the customer pauses them, resolving
    /// completes both (a resolution answers the customer too), reopening restarts resolution,
    /// cancelling stops them, and the first reply meets the response clock. An active incident
    /// linked to the ticket pauses them too, until it resolves or the ticket is unlinked.
    pub fn changes(self) -> &'static [ClockChange] {
        use TicketStatus::*;
        let (from, to) = match self {
            ClockMoment::FirstResponse => return &[ClockChange::Completed(ClockKind::Response)],
            ClockMoment::IncidentHold { held: true } => {
                return &[ClockChange::Paused(PauseReason::Incident)]
            }
            ClockMoment::IncidentHold { held: false } => {
                return &[ClockChange::Resumed(PauseReason::Incident)]
            }
            ClockMoment::StatusChanged { from, to } => (from, to),
        };
        match (from, to) {
            (_, WaitingCustomer) => &[ClockChange::Paused(PauseReason::WaitingCustomer)],
            (_, Resolved) => &[
                ClockChange::Completed(ClockKind::Response),
                ClockChange::Completed(ClockKind::Resolution),
            ],
            (_, Cancelled) => &[ClockChange::Stopped],
            (Resolved, Closed) => &[],
            (Resolved, _) => &[ClockChange::Restarted(ClockKind::Resolution)],
            (WaitingCustomer, _) => &[ClockChange::Resumed(PauseReason::WaitingCustomer)],
            _ => &[],
        }
    }
}

impl SlaClocks {
    /// The clocks after `change` at `at`.
    pub fn changed(
        self,
        change: ClockChange,
        calendar: &BusinessCalendar,
        at: DateTime<Utc>,
    ) -> Self {
        match change {
            ClockChange::Paused(reason) => self.paused(reason, calendar, at),
            ClockChange::Resumed(reason) => self.resumed(reason, calendar, at),
            ClockChange::Completed(kind) => self.completed(kind, calendar, at),
            ClockChange::Restarted(kind) => self.restarted(kind, calendar, at),
            ClockChange::Stopped => self.stopped(calendar, at),
        }
    }

    /// Moves the clocks by `moment` at `at`, and returns each change that moved them, with the
    /// clocks after it: a change that finds nothing to move (pausing a paused clock) is none.
    pub fn move_by(
        &mut self,
        moment: ClockMoment,
        calendar: &BusinessCalendar,
        at: DateTime<Utc>,
    ) -> Vec<(ClockChange, SlaClocks)> {
        let mut moved = Vec::new();
        for change in moment.changes() {
            let after = self.clone().changed(*change, calendar, at);
            if after != *self {
                *self = after;
                moved.push((*change, self.clone()));
            }
        }
        moved
    }

    /// Records every warning and breach due by `at`, earliest first, and returns each with the
    /// clocks after it.
    pub fn record_all_due(&mut self, at: DateTime<Utc>) -> Vec<(Due, SlaClocks)> {
        let mut recorded = Vec::new();
        for due in self.due(at) {
            *self = self.clone().recorded(&due);
            recorded.push((due, self.clone()));
        }
        recorded
    }

    /// The clocks a ticket opened at `opened_at` would have under `terms` after `history`, its
    /// moments in order with their instants, with every warning and breach due by `until`
    /// recorded. As the ticket does within one command, what fell due is recorded before the
    /// moments of a new instant move the clocks; moments of one instant move them together.
    pub fn replayed(
        terms: &SlaTerms,
        opened_at: DateTime<Utc>,
        history: impl IntoIterator<Item = (DateTime<Utc>, ClockMoment)>,
        until: DateTime<Utc>,
    ) -> Self {
        let calendar = &terms.calendar;
        let mut clocks = Self::start(terms, opened_at);
        let mut last = opened_at;
        for (at, moment) in history {
            if at != last {
                clocks.record_all_due(at);
                last = at;
            }
            clocks.move_by(moment, calendar, at);
        }
        clocks.record_all_due(until);
        clocks
    }
}
