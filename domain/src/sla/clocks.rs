//! The two SLA clocks of a ticket: response (opening to the first public reply by staff) and
//! resolution (opening to `RESOLVED`). Each counts time in its policy's calendar, pauses while
//! the ticket waits for the customer, and records a warning and a breach at their true instants.
//! The ticket, the preview and the what-if all move clocks through these methods only.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{BusinessCalendar, SlaTerms, TargetMinutes, WarningPercent};
use crate::ticket::values::screaming_enum;

screaming_enum!(
    /// Which promise a clock measures.
    ClockKind {
        Response => "RESPONSE",
        Resolution => "RESOLUTION",
    }
);

screaming_enum!(
    /// Where a clock stands. `BREACHED` is final as a verdict even while the clock keeps counting
    /// the breach's length; `STOPPED` is a clock ended without a verdict (a cancelled ticket).
    ClockState {
        Running => "RUNNING",
        Paused => "PAUSED",
        Met => "MET",
        Breached => "BREACHED",
        Stopped => "STOPPED",
    }
);

screaming_enum!(
    /// Why a ticket's clocks are paused: the ticket waits for the customer, or an active incident
    /// linked to it holds them. They count again once no reason is left.
    PauseReason {
        WaitingCustomer => "WAITING_CUSTOMER",
        Incident => "INCIDENT",
    }
);

impl Default for PauseReason {
    /// Pauses recorded before incidents held clocks were all for the customer.
    fn default() -> Self {
        Self::WaitingCustomer
    }
}

screaming_enum!(
    /// What a timer records when its instant comes.
    DueKind {
        Warning => "WARNING",
        Breach => "BREACH",
    }
);

/// One clock, as the ticket's events carry it after each change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaClock {
    pub state: ClockState,
    pub target: TargetMinutes,
    pub warning_threshold: WarningPercent,
    /// Counted time before `counting_since` (all of it once the clock no longer counts), in
    /// microseconds: exact, as instants are.
    pub counted_micros: i64,
    /// Since when the clock counts; `None` while paused or ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counting_since: Option<DateTime<Utc>>,
    /// When the target runs out; unknown while paused (it moves by the paused time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    /// When the warning is due, while it is still to come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warned_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached_at: Option<DateTime<Utc>>,
    /// When the clock ended: met, completed after its breach, or stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
}

/// A warning or breach whose instant has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub clock: ClockKind,
    pub kind: DueKind,
    /// The true instant: the warning or deadline instant, however late it is recorded.
    pub at: DateTime<Utc>,
}

/// A clock's figures at one instant, as an agent reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockReading {
    pub counted: TimeDelta,
    pub remaining: TimeDelta,
    /// How far past its target the clock is; zero if it is not.
    pub breach: TimeDelta,
}

impl SlaClock {
    fn started(target: TargetMinutes, warning_threshold: WarningPercent) -> Self {
        Self {
            state: ClockState::Running,
            target,
            warning_threshold,
            counted_micros: 0,
            counting_since: None,
            deadline: None,
            warning_at: None,
            warned_at: None,
            breached_at: None,
            ended_at: None,
        }
    }

    fn counted(&self) -> TimeDelta {
        TimeDelta::microseconds(self.counted_micros)
    }

    fn warning_amount(&self) -> TimeDelta {
        self.target.duration() * i32::from(self.warning_threshold.get()) / 100
    }

    pub fn is_ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// The clock's verdict and its instant: `BREACHED` from its deadline on, whether it still
    /// counts, completed late or was stopped after it; `MET` once it completed without a breach.
    /// `None` while it has none (running, paused) or never will (stopped before its deadline).
    pub fn verdict(&self) -> Option<(ClockState, DateTime<Utc>)> {
        match (self.breached_at, self.state, self.ended_at) {
            (Some(at), _, _) => Some((ClockState::Breached, at)),
            (None, ClockState::Met, Some(at)) => Some((ClockState::Met, at)),
            _ => None,
        }
    }

    /// The time counted up to `at`, and what is left or overdue.
    pub fn reading(&self, calendar: &BusinessCalendar, at: DateTime<Utc>) -> ClockReading {
        let running = self.counting_since.map_or(TimeDelta::zero(), |since| {
            calendar.counted_between(since, at)
        });
        let counted = self.counted() + running;
        let target = self.target.duration();
        ClockReading {
            counted,
            remaining: (target - counted).max(TimeDelta::zero()),
            breach: (counted - target).max(TimeDelta::zero()),
        }
    }

    /// Folds the time counted since `counting_since` into `counted_micros` and stops counting.
    fn settle(&mut self, calendar: &BusinessCalendar, at: DateTime<Utc>) {
        if let Some(since) = self.counting_since.take() {
            let counted = self.counted() + calendar.counted_between(since, at);
            self.counted_micros = counted.num_microseconds().unwrap_or(i64::MAX);
        }
    }

    /// Counts again from `at`: the deadline and warning are what is left of the target and of
    /// the warning amount, added in the calendar. Past its target already, the deadline is `at`.
    fn count_from(&mut self, calendar: &BusinessCalendar, at: DateTime<Utc>) {
        let counted = self.counted();
        self.counting_since = Some(at);
        if self.breached_at.is_none() {
            let left = (self.target.duration() - counted).max(TimeDelta::zero());
            self.deadline = Some(calendar.add(at, left));
            self.state = ClockState::Running;
        }
        self.warning_at = match (self.warned_at, self.breached_at) {
            (None, None) => {
                let left = (self.warning_amount() - counted).max(TimeDelta::zero());
                Some(calendar.add(at, left))
            }
            _ => None,
        };
    }

    fn pause(&mut self, calendar: &BusinessCalendar, at: DateTime<Utc>) {
        if self.is_ended() || self.counting_since.is_none() {
            return;
        }
        self.settle(calendar, at);
        self.warning_at = None;
        if self.breached_at.is_none() {
            self.deadline = None;
            self.state = ClockState::Paused;
        }
    }

    fn resume(&mut self, calendar: &BusinessCalendar, at: DateTime<Utc>) {
        if self.is_ended() || self.counting_since.is_some() {
            return;
        }
        self.count_from(calendar, at);
    }

    /// The clock's promise is kept or, past its breach, at least fulfilled late.
    fn complete(&mut self, calendar: &BusinessCalendar, at: DateTime<Utc>) {
        if self.is_ended() {
            return;
        }
        self.settle(calendar, at);
        self.warning_at = None;
        self.ended_at = Some(at);
        if self.breached_at.is_none() {
            self.state = ClockState::Met;
        }
    }

    /// Ends the clock without a verdict; a breach already recorded stays a breach.
    fn stop(&mut self, calendar: &BusinessCalendar, at: DateTime<Utc>) {
        if self.is_ended() {
            return;
        }
        self.settle(calendar, at);
        self.warning_at = None;
        self.ended_at = Some(at);
        if self.breached_at.is_none() {
            self.deadline = None;
            self.state = ClockState::Stopped;
        }
    }

    /// Counts on after an end, with the time already counted kept.
    fn restart(&mut self, calendar: &BusinessCalendar, at: DateTime<Utc>) {
        if !self.is_ended() {
            return;
        }
        self.ended_at = None;
        self.count_from(calendar, at);
    }

    /// Takes a new policy's target and threshold, keeping the time counted so far.
    fn adopt(
        &mut self,
        old: &BusinessCalendar,
        new: &BusinessCalendar,
        target: TargetMinutes,
        warning_threshold: WarningPercent,
        at: DateTime<Utc>,
    ) {
        if self.is_ended() {
            return;
        }
        let counting = self.counting_since.is_some();
        self.settle(old, at);
        self.target = target;
        self.warning_threshold = warning_threshold;
        if counting {
            self.count_from(new, at);
        }
    }

    fn due(&self, clock: ClockKind, at: DateTime<Utc>) -> Vec<Due> {
        let breach = self
            .deadline
            .filter(|d| self.breached_at.is_none() && self.counting_since.is_some() && *d <= at);
        // A warning whose breach is due at once would say nothing the breach does not.
        let warning = self
            .warning_at
            .filter(|w| *w <= at && breach.is_none_or(|b| *w < b));
        let mut due = Vec::new();
        if let Some(at) = warning {
            due.push(Due {
                clock,
                kind: DueKind::Warning,
                at,
            });
        }
        if let Some(at) = breach {
            due.push(Due {
                clock,
                kind: DueKind::Breach,
                at,
            });
        }
        due
    }

    fn record(&mut self, due: &Due) {
        match due.kind {
            DueKind::Warning => {
                self.warned_at = Some(due.at);
                self.warning_at = None;
            }
            DueKind::Breach => {
                self.breached_at = Some(due.at);
                self.warning_at = None;
                self.state = ClockState::Breached;
            }
        }
    }
}

/// Both clocks of a ticket, and why they are paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaClocks {
    pub response: SlaClock,
    pub resolution: SlaClock,
    /// Every reason that holds the clocks now; empty while they may count. (Absent from events
    /// recorded before reasons were kept: their pauses were the customer's.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paused_for: Vec<PauseReason>,
}

impl SlaClocks {
    /// Both clocks counting from `at` under `terms`.
    pub fn start(terms: &SlaTerms, at: DateTime<Utc>) -> Self {
        let mut clocks = Self {
            paused_for: Vec::new(),
            response: SlaClock::started(
                terms.response_time_target,
                terms.response_time_warning_threshold,
            ),
            resolution: SlaClock::started(
                terms.resolution_time_target,
                terms.resolution_time_warning_threshold,
            ),
        };
        clocks.each(|clock| clock.count_from(&terms.calendar, at));
        clocks
    }

    pub fn clock(&self, kind: ClockKind) -> &SlaClock {
        match kind {
            ClockKind::Response => &self.response,
            ClockKind::Resolution => &self.resolution,
        }
    }

    fn clock_mut(&mut self, kind: ClockKind) -> &mut SlaClock {
        match kind {
            ClockKind::Response => &mut self.response,
            ClockKind::Resolution => &mut self.resolution,
        }
    }

    fn each(&mut self, mut change: impl FnMut(&mut SlaClock)) {
        change(&mut self.response);
        change(&mut self.resolution);
    }

    /// Held for `reason` too: the clocks stop counting, if they counted.
    pub fn paused(
        mut self,
        reason: PauseReason,
        calendar: &BusinessCalendar,
        at: DateTime<Utc>,
    ) -> Self {
        if !self.paused_for.contains(&reason) {
            self.paused_for.push(reason);
        }
        self.each(|c| c.pause(calendar, at));
        self
    }

    /// No longer held for `reason`: the clocks count again once no other reason holds them.
    pub fn resumed(
        mut self,
        reason: PauseReason,
        calendar: &BusinessCalendar,
        at: DateTime<Utc>,
    ) -> Self {
        self.paused_for.retain(|r| *r != reason);
        if self.paused_for.is_empty() {
            self.each(|c| c.resume(calendar, at));
        }
        self
    }

    pub fn completed(
        mut self,
        kind: ClockKind,
        calendar: &BusinessCalendar,
        at: DateTime<Utc>,
    ) -> Self {
        self.clock_mut(kind).complete(calendar, at);
        self
    }

    pub fn stopped(mut self, calendar: &BusinessCalendar, at: DateTime<Utc>) -> Self {
        self.each(|c| c.stop(calendar, at));
        self
    }

    /// Counts `kind` on after its end: a reopened ticket, which waits for the customer no more
    /// (a ticket reopens to a working status), and stays held by an incident still active.
    pub fn restarted(
        mut self,
        kind: ClockKind,
        calendar: &BusinessCalendar,
        at: DateTime<Utc>,
    ) -> Self {
        self.paused_for
            .retain(|r| *r != PauseReason::WaitingCustomer);
        let clock = self.clock_mut(kind);
        clock.restart(calendar, at);
        if !self.paused_for.is_empty() {
            self.clock_mut(kind).pause(calendar, at);
        }
        self
    }

    /// The clocks under `new` terms from `at`, with the time counted under `old` kept.
    pub fn adopted(mut self, old: &SlaTerms, new: &SlaTerms, at: DateTime<Utc>) -> Self {
        self.response.adopt(
            &old.calendar,
            &new.calendar,
            new.response_time_target,
            new.response_time_warning_threshold,
            at,
        );
        self.resolution.adopt(
            &old.calendar,
            &new.calendar,
            new.resolution_time_target,
            new.resolution_time_warning_threshold,
            at,
        );
        self
    }

    /// The warnings and breaches whose instants are at or before `at`, earliest first.
    pub fn due(&self, at: DateTime<Utc>) -> Vec<Due> {
        let mut due = self.response.due(ClockKind::Response, at);
        due.extend(self.resolution.due(ClockKind::Resolution, at));
        due.sort_by_key(|d| d.at);
        due
    }

    pub fn recorded(mut self, due: &Due) -> Self {
        self.clock_mut(due.clock).record(due);
        self
    }

    /// Whether either clock has breached.
    pub fn breached(&self) -> bool {
        self.response.breached_at.is_some() || self.resolution.breached_at.is_some()
    }

    /// The most pressing state of the two, for lists: `BREACHED`, then `RUNNING`, `PAUSED`,
    /// `MET` and `STOPPED`.
    pub fn summary(&self) -> ClockState {
        let rank = |s: ClockState| match s {
            ClockState::Breached => 0,
            ClockState::Running => 1,
            ClockState::Paused => 2,
            ClockState::Met => 3,
            ClockState::Stopped => 4,
        };
        [self.response.state, self.resolution.state]
            .into_iter()
            .min_by_key(|s| rank(*s))
            .expect("two clocks")
    }
}
