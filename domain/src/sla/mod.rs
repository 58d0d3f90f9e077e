//! Service level agreements: the policies, the business calendar their clocks count in, and the
//! clocks a ticket runs under a policy's terms.

mod calendar;
mod clocks;
mod lifecycle;
mod matching;
mod policy;
mod preview;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use calendar::{BusinessCalendar, CalendarFields};
pub use clocks::{
    ClockKind, ClockReading, ClockState, Due, DueKind, PauseReason, SlaClock, SlaClocks,
};
pub use lifecycle::{ClockChange, ClockMoment};
pub use matching::{ApplicablePolicy, SlaMatch, SlaPolicyBook};
pub use policy::{
    check_target_order, default_policy, default_policy_id, CalendarChanges, CreateSlaPolicy,
    SlaPolicy, SlaPolicyCommand, SlaPolicyDefinition, SlaPolicyError, SlaPolicyEvent,
    UpdateSlaPolicy, DEFAULT_POLICY_NAMESPACE,
};
pub use preview::{Pause, SlaPreview};

use crate::ticket::values::{bounded_text_type, screaming_enum};

screaming_enum!(
    /// The customer's plan: it can pick a stricter (or looser) policy than the priority alone.
    CustomerTier {
        Enterprise => "ENTERPRISE",
        Professional => "PROFESSIONAL",
        Standard => "STANDARD",
        Free => "FREE",
    }
);

bounded_text_type!(
    /// What admins call a policy.
    PolicyName,
    200
);

/// A target in whole minutes: at least one, at most a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TargetMinutes(u32);

impl TargetMinutes {
    pub const MAX: u32 = 525_600;

    pub fn parse(minutes: i64) -> Result<Self, String> {
        if (1..=i64::from(Self::MAX)).contains(&minutes) {
            Ok(Self(minutes as u32))
        } else {
            Err(format!(
                "must be a whole number of minutes from 1 to {}",
                Self::MAX
            ))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    pub fn duration(self) -> chrono::TimeDelta {
        chrono::TimeDelta::minutes(i64::from(self.0))
    }
}

/// How far into its target a clock warns, in percent: 1 to 99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WarningPercent(u8);

impl WarningPercent {
    pub fn parse(percent: i64) -> Result<Self, String> {
        if (1..=99).contains(&percent) {
            Ok(Self(percent as u8))
        } else {
            Err("must be a whole percentage from 1 to 99".to_owned())
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for TargetMinutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} min", self.0)
    }
}

/// What a policy promises, as the ticket's events copy it when the policy is applied: editing
/// the policy later never rewrites a ticket's past.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaTerms {
    pub policy_id: Uuid,
    pub policy_name: PolicyName,
    pub response_time_target: TargetMinutes,
    pub resolution_time_target: TargetMinutes,
    pub response_time_warning_threshold: WarningPercent,
    pub resolution_time_warning_threshold: WarningPercent,
    #[serde(flatten)]
    pub calendar: BusinessCalendar,
    pub auto_escalate_on_breach: bool,
    pub notify_on_warning: bool,
    pub notify_on_breach: bool,
}

/// A policy as a ticket's opening applies it: its terms, why it matched, and when its clocks
/// started. The clocks themselves follow from those (`clocks`), so the opening, the one event
/// every ticket has, does not carry them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpeningSla {
    pub terms: SlaTerms,
    pub matched: SlaMatch,
    pub started_at: DateTime<Utc>,
}

impl OpeningSla {
    /// The clocks the opening started.
    pub fn clocks(&self) -> SlaClocks {
        SlaClocks::start(&self.terms, self.started_at)
    }
}

/// The policy a ticket runs under and its clocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedSla {
    pub terms: SlaTerms,
    pub clocks: SlaClocks,
}
