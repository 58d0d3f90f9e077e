//! Escalation: the ladders a ticket climbs when a promise is about to break, breaks, or an agent
//! asks for help. Admins keep ladders in escalation policies (`policy`); a ticket copies the
//! ladder it starts to climb (`EscalationLadder`), so that editing a policy never changes a climb
//! under way, and climbs it one level at a time (`EscalationRun`), by hand or when a level's
//! delay has passed while its clock is still unmet.

mod policy;
#[cfg(test)]
mod tests;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use policy::{
    CreateEscalationPolicy, EscalationPolicy, EscalationPolicyCommand, EscalationPolicyDefinition,
    EscalationPolicyError, EscalationPolicyEvent, UpdateEscalationPolicy,
};

use crate::sla::{ClockKind, PolicyName};
use crate::ticket::values::{bounded_text_type, screaming_enum};
use crate::ticket::{TicketCategory, TicketPriority};
use crate::{ActorRole, FieldErrors};

screaming_enum!(
    /// What starts a climb: an agent's request, a breach of either SLA clock, or a warning.
    EscalationTrigger {
        Manual => "MANUAL",
        ResponseBreach => "RESPONSE_BREACH",
        ResolutionBreach => "RESOLUTION_BREACH",
        Warning => "WARNING",
    }
);

impl EscalationTrigger {
    /// The clock whose promise ends a climb started by this trigger: a breach of the response
    /// clock climbs until someone answers; everything else until the ticket is resolved.
    pub fn until(self, warned: Option<ClockKind>) -> ClockKind {
        match self {
            EscalationTrigger::ResponseBreach => ClockKind::Response,
            EscalationTrigger::Warning => warned.unwrap_or(ClockKind::Resolution),
            EscalationTrigger::Manual | EscalationTrigger::ResolutionBreach => {
                ClockKind::Resolution
            }
        }
    }
}

bounded_text_type!(
    /// A team of the desk, as escalation levels name it and tokens carry it.
    TeamName,
    100
);

/// Who a level of a ladder calls on: agents by id, everyone holding a role, whole teams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recipients {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ActorRole>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamName>,
}

impl Recipients {
    pub const MAX_EACH: usize = 50;

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty() && self.roles.is_empty() && self.teams.is_empty()
    }
}

/// A delay between levels in whole minutes: one minute to a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DelayMinutes(u32);

impl DelayMinutes {
    pub const MAX: u32 = 10_080;

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

    pub fn duration(self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.0))
    }
}

/// One rung: who is called, and how long the ticket waits on them before the next level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationLevel {
    pub recipients: Recipients,
    pub delay_minutes: DelayMinutes,
}

/// A ladder as a ticket copies it when it starts to climb: the levels in order, how many times
/// the whole ladder is climbed again after its last level, the policy it came from, and the clock
/// whose promise ends the climb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationLadder {
    pub policy_id: Uuid,
    pub policy_name: PolicyName,
    pub levels: Vec<EscalationLevel>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeat: u8,
    pub until: ClockKind,
}

fn is_zero(value: &u8) -> bool {
    *value == 0
}

/// What a ticket must be for a rule to apply, and the ladder it then climbs. An empty list of
/// priorities or categories matches every one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<TicketPriority>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<TicketCategory>,
    pub triggers: Vec<EscalationTrigger>,
    pub levels: Vec<EscalationLevel>,
    #[serde(default)]
    pub repeat: u8,
}

impl EscalationRule {
    pub const MAX_LEVELS: usize = 10;
    pub const MAX_REPEAT: u8 = 9;

    fn applies(
        &self,
        priority: TicketPriority,
        category: TicketCategory,
        trigger: EscalationTrigger,
    ) -> bool {
        (self.priorities.is_empty() || self.priorities.contains(&priority))
            && (self.categories.is_empty() || self.categories.contains(&category))
            && self.triggers.contains(&trigger)
    }

    /// What a rule must hold beyond its fields' own ranges, as the request's paths name them
    /// (`rules[2].levels`).
    pub fn check(&self, path: &str, errors: &mut FieldErrors) {
        if self.triggers.is_empty() {
            errors.push(format!("{path}.triggers"), "must name at least one trigger");
        }
        if self.levels.is_empty() || self.levels.len() > Self::MAX_LEVELS {
            errors.push(
                format!("{path}.levels"),
                format!("must have 1 to {} levels", Self::MAX_LEVELS),
            );
        }
        if self.repeat > Self::MAX_REPEAT {
            errors.push(
                format!("{path}.repeat"),
                format!("must be from 0 to {}", Self::MAX_REPEAT),
            );
        }
        for (index, level) in self.levels.iter().enumerate() {
            if level.recipients.is_empty() {
                errors.push(
                    format!("{path}.levels[{index}].recipients"),
                    "must name at least one agent, role or team",
                );
            }
        }
    }
}

/// An active policy as matching sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveEscalationPolicy {
    pub policy_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub definition: EscalationPolicyDefinition,
}

/// The active escalation policies when a command runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EscalationBook(Vec<ActiveEscalationPolicy>);

impl EscalationBook {
    pub fn new(mut policies: Vec<ActiveEscalationPolicy>) -> Self {
        policies.sort_by_key(|p| (p.created_at, p.policy_id));
        Self(policies)
    }

    /// The ladder of the first rule that applies, in the order policies were created and rules
    /// are written; `warned` is the clock a warning came from.
    pub fn matching(
        &self,
        priority: TicketPriority,
        category: TicketCategory,
        trigger: EscalationTrigger,
        warned: Option<ClockKind>,
    ) -> Option<EscalationLadder> {
        self.0.iter().find_map(|policy| {
            let rule = policy
                .definition
                .rules
                .iter()
                .find(|rule| rule.applies(priority, category, trigger))?;
            Some(EscalationLadder {
                policy_id: policy.policy_id,
                policy_name: policy.definition.name.clone(),
                levels: rule.levels.clone(),
                repeat: rule.repeat,
                until: trigger.until(warned),
            })
        })
    }
}

/// A climb under way: the ladder, where the ticket stands on it, and when it climbs on by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationRun {
    pub ladder: EscalationLadder,
    pub trigger: EscalationTrigger,
    /// 1-based, on the ladder.
    pub level: u32,
    /// 1 for the first climb of the ladder, then one more for each repeat.
    pub round: u32,
    pub next_level_at: Option<DateTime<Utc>>,
}

/// A step onto a level: which, in which round, and when the one after it is due (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscalationStep {
    pub level: u32,
    pub round: u32,
    pub next_level_at: Option<DateTime<Utc>>,
}

impl EscalationLadder {
    /// The level `level` (1-based).
    pub fn level(&self, level: u32) -> &EscalationLevel {
        &self.levels[(level - 1) as usize]
    }

    /// The step after (`level`, `round`) taken at `at`, if the ladder has one: the next level,
    /// or the first again while repeats remain.
    pub fn step_after(&self, level: u32, round: u32, at: DateTime<Utc>) -> Option<EscalationStep> {
        let (level, round) = if (level as usize) < self.levels.len() {
            (level + 1, round)
        } else if round <= u32::from(self.repeat) {
            (1, round + 1)
        } else {
            return None;
        };
        Some(self.step(level, round, at))
    }

    /// The first step, taken at `at`.
    pub fn first_step(&self, at: DateTime<Utc>) -> EscalationStep {
        self.step(1, 1, at)
    }

    fn step(&self, level: u32, round: u32, at: DateTime<Utc>) -> EscalationStep {
        let last = level as usize == self.levels.len() && round > u32::from(self.repeat);
        EscalationStep {
            level,
            round,
            next_level_at: (!last).then(|| at + self.level(level).delay_minutes.duration()),
        }
    }
}
