//! When a policy's clocks would warn and run out for a ticket opened at `start` and paused over
//! the given spans: what an admin checks a calendar with before using it. The clocks move as a
//! ticket's do, through the same methods.

use chrono::{DateTime, Utc};

use super::{ClockKind, ClockMoment, SlaClocks, SlaTerms};

/// A span a ticket waited for its customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The warning and deadline instants of both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPreview {
    pub response_warning_at: DateTime<Utc>,
    pub response_deadline: DateTime<Utc>,
    pub resolution_warning_at: DateTime<Utc>,
    pub resolution_deadline: DateTime<Utc>,
}

impl SlaTerms {
    /// The clocks' instants for a ticket opened at `start`, paused over `pauses` (in order, not
    /// overlapping, none before `start`) and never answered nor resolved.
    pub fn preview(&self, start: DateTime<Utc>, pauses: &[Pause]) -> SlaPreview {
        use crate::ticket::TicketStatus::{InProgress, WaitingCustomer};
        // The pauses as the ticket's life: waiting for the customer, then working on it again.
        let history = pauses.iter().flat_map(|pause| {
            [
                (
                    pause.from,
                    ClockMoment::StatusChanged {
                        from: InProgress,
                        to: WaitingCustomer,
                    },
                ),
                (
                    pause.to,
                    ClockMoment::StatusChanged {
                        from: WaitingCustomer,
                        to: InProgress,
                    },
                ),
            ]
        });
        let until = pauses.last().map_or(start, |pause| pause.to);
        let clocks = SlaClocks::replayed(self, start, history, until);
        // A clock that is never met has a deadline, recorded as its breach once passed; its
        // warning falls due before it, or with it when the two coincide (the breach says all).
        let instants = |clock: ClockKind| {
            let c = clocks.clock(clock);
            let deadline = c
                .breached_at
                .or(c.deadline)
                .expect("a clock that is never met has a deadline");
            (c.warned_at.or(c.warning_at).unwrap_or(deadline), deadline)
        };
        let (response_warning_at, response_deadline) = instants(ClockKind::Response);
        let (resolution_warning_at, resolution_deadline) = instants(ClockKind::Resolution);
        SlaPreview {
            response_warning_at,
            response_deadline,
            resolution_warning_at,
            resolution_deadline,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use uuid::Uuid;

    use super::*;
    use crate::sla::{BusinessCalendar, PolicyName, TargetMinutes, WarningPercent};

    fn terms(calendar: BusinessCalendar) -> SlaTerms {
        SlaTerms {
            policy_id: Uuid::nil(),
            policy_name: PolicyName::parse("P1").unwrap(),
            response_time_target: TargetMinutes::parse(60).unwrap(),
            resolution_time_target: TargetMinutes::parse(480).unwrap(),
            response_time_warning_threshold: WarningPercent::parse(80).unwrap(),
            resolution_time_warning_threshold: WarningPercent::parse(75).unwrap(),
            calendar,
            auto_escalate_on_breach: false,
            notify_on_warning: true,
            notify_on_breach: true,
        }
    }

    fn t0() -> DateTime<Utc> {
        "2026-11-23T09:00:00Z".parse().unwrap()
    }

    fn after(minutes: i64) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(minutes)
    }

    #[test]
    fn without_pauses_the_instants_are_the_targets_from_the_start() {
        let utc = terms(BusinessCalendar::around_the_clock(chrono_tz::UTC));
        assert_eq!(
            utc.preview(t0(), &[]),
            SlaPreview {
                response_warning_at: after(48),
                response_deadline: after(60),
                resolution_warning_at: after(360),
                resolution_deadline: after(480),
            }
        );
    }

    #[test]
    fn a_pause_moves_what_is_still_to_come_and_nothing_that_has_passed() {
        let utc = terms(BusinessCalendar::around_the_clock(chrono_tz::UTC));
        let early = Pause {
            from: after(20),
            to: after(140),
        };
        let preview = utc.preview(t0(), &[early]);
        assert_eq!(preview.response_warning_at, after(48 + 120));
        assert_eq!(preview.response_deadline, after(60 + 120));
        assert_eq!(preview.resolution_deadline, after(480 + 120));

        // Paused after the response deadline: that deadline stands, the resolution one moves.
        let late = Pause {
            from: after(70),
            to: after(100),
        };
        let preview = utc.preview(t0(), &[late]);
        assert_eq!(preview.response_warning_at, after(48));
        assert_eq!(preview.response_deadline, after(60));
        assert_eq!(preview.resolution_warning_at, after(360 + 30));
        assert_eq!(preview.resolution_deadline, after(480 + 30));
    }
}
