//! A ticket's SLA clocks as an agent reads them at the moment of the request: the read model keeps
//! the clocks as their last event left them, and the time counted since then is added here, in
//! the policy's calendar.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use support_domain::sla::{SlaClock, SlaClocks, SlaTerms};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::schema;

/// Both clocks of a ticket under its policy.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaClocksView {
    pub policy_id: Uuid,
    pub policy_name: String,
    /// Whether the minutes below are business minutes of the policy's calendar.
    pub business_hours_only: bool,
    /// The IANA time zone the policy's calendar counts in.
    pub timezone: String,
    pub response: SlaClockView,
    pub resolution: SlaClockView,
}

/// One clock at the moment of the request.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaClockView {
    #[schema(schema_with = schema::clock_state)]
    pub state: String,
    pub target_minutes: u32,
    /// When the target runs out; null while paused, as the pause moves it.
    pub deadline: Option<DateTime<Utc>>,
    /// When the warning is due, while it is still to come.
    pub warning_at: Option<DateTime<Utc>>,
    pub warned_at: Option<DateTime<Utc>>,
    pub breached_at: Option<DateTime<Utc>>,
    /// When the clock ended: met, completed after its breach, or stopped.
    pub ended_at: Option<DateTime<Utc>>,
    /// Counted minutes so far, whole ones.
    pub elapsed_minutes: i64,
    /// Minutes left to the target, rounded up: zero only when none is left.
    pub remaining_minutes: i64,
    /// Minutes past the target, whole ones; zero if not past it.
    pub breach_minutes: i64,
}

impl SlaClocksView {
    /// `clocks` (under `terms`) read at `at`, with what fell due by then recorded
    /// (`caught_up`).
    pub(super) fn read(terms: &SlaTerms, clocks: &SlaClocks, at: DateTime<Utc>) -> Self {
        let calendar = &terms.calendar;
        let clock = |clock: &SlaClock| {
            let reading = clock.reading(calendar, at);
            SlaClockView {
                state: clock.state.as_str().to_owned(),
                target_minutes: clock.target.get(),
                deadline: clock.deadline,
                warning_at: clock.warning_at,
                warned_at: clock.warned_at,
                breached_at: clock.breached_at,
                ended_at: clock.ended_at,
                elapsed_minutes: reading.counted.num_minutes(),
                remaining_minutes: minutes_rounded_up(reading.remaining),
                breach_minutes: reading.breach.num_minutes(),
            }
        };
        Self {
            policy_id: terms.policy_id,
            policy_name: terms.policy_name.as_str().to_owned(),
            business_hours_only: calendar.counts_business_hours(),
            timezone: calendar.timezone().name().to_owned(),
            response: clock(&clocks.response),
            resolution: clock(&clocks.resolution),
        }
    }
}

/// The clocks with every warning and breach due by `at` recorded, whether or not the timer has
/// recorded them yet (it records the same instants), so that a reading never contradicts itself.
pub(super) fn caught_up(clocks: &SlaClocks, at: DateTime<Utc>) -> SlaClocks {
    let mut clocks = clocks.clone();
    clocks.record_all_due(at);
    clocks
}

fn minutes_rounded_up(time: TimeDelta) -> i64 {
    let minute = TimeDelta::minutes(1);
    let whole = time.num_minutes();
    if time > minute * whole as i32 {
        whole + 1
    } else {
        whole
    }
}
