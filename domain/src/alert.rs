//! Alert rules: the spec's alert conditions as rules an admin configures. Each rule watches one
//! condition (`AlertKind`) against its threshold; the service evaluates the active rules and
//! tells a rule what it observed (`Fire`), and the rule records `AlertFired` (which the notifier
//! carries to its recipients) unless the same subject fired within its cool-down.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::escalation::Recipients;
use crate::sla::PolicyName;
use crate::ticket::values::screaming_enum;
use crate::{ActorRole, Caller, DomainError, Refusal};

screaming_enum!(
    /// What a rule watches.
    AlertKind {
        SlaBreach => "SLA_BREACH",
        HighVolume => "HIGH_VOLUME",
        CriticalIncident => "CRITICAL_INCIDENT",
        AgentOverload => "AGENT_OVERLOAD",
        LowKbRating => "LOW_KB_RATING",
    }
);

impl AlertKind {
    /// The threshold a rule of this kind has when none is given.
    pub fn default_threshold(self) -> f64 {
        match self {
            AlertKind::SlaBreach | AlertKind::CriticalIncident => 1.0,
            AlertKind::HighVolume => 2.0,
            AlertKind::AgentOverload => 20.0,
            AlertKind::LowKbRating => 2.5,
        }
    }

    /// What a threshold of this kind means, and its bounds: the one place that rule lives.
    pub fn check_threshold(self, threshold: f64) -> Result<f64, String> {
        let whole = |min: f64, max: f64, what: &str| {
            if threshold.fract() == 0.0 && (min..=max).contains(&threshold) {
                Ok(threshold)
            } else {
                Err(format!(
                    "must be a whole number from {min} to {max}: {what}"
                ))
            }
        };
        match self {
            AlertKind::SlaBreach => whole(1.0, 10_000.0, "breaches since the last alert"),
            AlertKind::CriticalIncident => {
                whole(1.0, 1_000.0, "critical incidents since the last alert")
            }
            AlertKind::AgentOverload => whole(1.0, 10_000.0, "an agent's open tickets allowed"),
            AlertKind::HighVolume if threshold > 1.0 && threshold <= 100.0 => Ok(threshold),
            AlertKind::HighVolume => Err(
                "must be more than 1 and at most 100: the multiple of the usual hour's volume"
                    .to_owned(),
            ),
            AlertKind::LowKbRating if threshold > 1.0 && threshold <= 5.0 => Ok(threshold),
            AlertKind::LowKbRating => {
                Err("must be more than 1 and at most 5: the mean rating below which".to_owned())
            }
        }
    }
}

/// How long after a subject fired a rule stays silent about it: 0 to 10,080 minutes (a week).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CooldownMinutes(u32);

impl CooldownMinutes {
    pub const MAX: u32 = 10_080;
    pub const DEFAULT: CooldownMinutes = CooldownMinutes(60);

    /// A whole number of minutes (`60.0` is 60).
    pub fn parse(value: f64) -> Result<Self, String> {
        if value.fract() == 0.0 && (0.0..=f64::from(Self::MAX)).contains(&value) {
            Ok(Self(value as u32))
        } else {
            Err(format!("must be a whole number from 0 to {}", Self::MAX))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    fn duration(self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.0))
    }
}

/// A rule as an admin writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRuleFields {
    pub name: PolicyName,
    pub kind: AlertKind,
    pub threshold: f64,
    pub recipients: Recipients,
    pub cooldown_minutes: CooldownMinutes,
    pub active: bool,
}

/// A partial update: `None` keeps a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertRuleChanges {
    pub name: Option<PolicyName>,
    pub kind: Option<AlertKind>,
    pub threshold: Option<f64>,
    pub recipients: Option<Recipients>,
    pub cooldown_minutes: Option<CooldownMinutes>,
    pub active: Option<bool>,
}

impl AlertRuleFields {
    /// The fields with `changes` made; a new kind keeps the threshold only if it means
    /// something to it.
    fn changed(&self, changes: AlertRuleChanges) -> Result<Self, AlertRuleError> {
        let kind = changes.kind.unwrap_or(self.kind);
        let threshold = changes.threshold.unwrap_or(self.threshold);
        Ok(AlertRuleFields {
            name: changes.name.unwrap_or_else(|| self.name.clone()),
            kind,
            threshold: kind
                .check_threshold(threshold)
                .map_err(AlertRuleError::InvalidThreshold)?,
            recipients: changes
                .recipients
                .unwrap_or_else(|| self.recipients.clone()),
            cooldown_minutes: changes.cooldown_minutes.unwrap_or(self.cooldown_minutes),
            active: changes.active.unwrap_or(self.active),
        })
    }
}

/// What the service observed for a rule: `observed` against the threshold, about `subject` (an
/// agent, an article, or `desk`), because of `trigger` (what it saw, the same when re-sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub subject: String,
    pub observed: f64,
    pub trigger: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlertRuleCommand {
    Create {
        caller: Caller,
        rule_id: Uuid,
        fields: AlertRuleFields,
    },
    /// Any of the rule's fields; the same fields again record nothing.
    Update {
        caller: Caller,
        changes: AlertRuleChanges,
    },
    /// The service's evaluation at `at`.
    Fire {
        caller: Caller,
        at: DateTime<Utc>,
        observation: Observation,
    },
}

/// Everything that can happen to a rule. The catalogue is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum AlertRuleEvent {
    AlertRuleCreated {
        rule_id: Uuid,
        #[serde(flatten)]
        fields: AlertRuleFields,
    },
    AlertRuleUpdated {
        #[serde(flatten)]
        fields: AlertRuleFields,
    },
    /// The condition held: the recipients are told, once.
    AlertFired {
        kind: AlertKind,
        subject: String,
        observed: f64,
        threshold: f64,
        trigger: String,
        /// What was observed, in words.
        detail: String,
        recipients: Recipients,
        fired_at: DateTime<Utc>,
    },
}

impl AlertRuleEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            Self::AlertRuleCreated { .. } => "AlertRuleCreated",
            Self::AlertRuleUpdated { .. } => "AlertRuleUpdated",
            Self::AlertFired { .. } => "AlertFired",
        }
    }

    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

crate::recorded::without_personal_data!(AlertRuleEvent);
crate::recorded::domain_event!(AlertRuleEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertRuleError {
    #[error("the alert rule does not exist")]
    NotFound,
    #[error("the alert rule already exists")]
    AlreadyExists,
    #[error("admins keep alert rules")]
    Forbidden,
    #[error("only the service fires alerts")]
    ServiceOnly,
    #[error("threshold {0}")]
    InvalidThreshold(String),
}

impl DomainError for AlertRuleError {
    fn refusal(&self) -> Refusal {
        match self {
            Self::NotFound => Refusal::NotFound {
                resource: "alert rule",
            },
            Self::AlreadyExists => Refusal::Conflict {
                allowed_statuses: None,
            },
            Self::Forbidden | Self::ServiceOnly => Refusal::Forbidden,
            Self::InvalidThreshold(_) => Refusal::InvalidField { field: "threshold" },
        }
    }
}

/// A rule as its events leave it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    fields: Option<AlertRuleFields>,
    /// Per subject, when it last fired and on what trigger.
    last_fired: BTreeMap<String, (DateTime<Utc>, String)>,
}

impl Aggregate for AlertRule {
    const TYPE: &'static str = "alert_rule";
    type Command = AlertRuleCommand;
    type Event = AlertRuleEvent;
    type Error = AlertRuleError;
    type Services = ();

    async fn handle(
        &mut self,
        command: AlertRuleCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AlertRuleError> {
        let events = match command {
            AlertRuleCommand::Create {
                caller,
                rule_id,
                fields,
            } => {
                admin(&caller)?;
                if self.fields.is_some() {
                    return Err(AlertRuleError::AlreadyExists);
                }
                vec![AlertRuleEvent::AlertRuleCreated { rule_id, fields }]
            }
            AlertRuleCommand::Update { caller, changes } => {
                admin(&caller)?;
                let current = self.fields.as_ref().ok_or(AlertRuleError::NotFound)?;
                let fields = current.changed(changes)?;
                if fields == *current {
                    Vec::new()
                } else {
                    vec![AlertRuleEvent::AlertRuleUpdated { fields }]
                }
            }
            AlertRuleCommand::Fire {
                caller,
                at,
                observation,
            } => self.fire(&caller, at, observation)?,
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AlertRuleEvent) {
        match event {
            AlertRuleEvent::AlertRuleCreated { fields, .. }
            | AlertRuleEvent::AlertRuleUpdated { fields } => self.fields = Some(fields),
            AlertRuleEvent::AlertFired {
                subject,
                trigger,
                fired_at,
                ..
            } => {
                self.last_fired.insert(subject, (fired_at, trigger));
            }
        }
    }
}

fn admin(caller: &Caller) -> Result<(), AlertRuleError> {
    match caller.actor.role {
        ActorRole::Admin => Ok(()),
        _ => Err(AlertRuleError::Forbidden),
    }
}

impl AlertRule {
    /// Fires unless the rule is inactive, the observation does not pass the threshold, or the
    /// subject fired within the cool-down or on this very trigger (a pass sent again).
    fn fire(
        &self,
        caller: &Caller,
        at: DateTime<Utc>,
        observation: Observation,
    ) -> Result<Vec<AlertRuleEvent>, AlertRuleError> {
        if caller.actor.role != ActorRole::Service {
            return Err(AlertRuleError::ServiceOnly);
        }
        let fields = self.fields.as_ref().ok_or(AlertRuleError::NotFound)?;
        if !fields.active || !passes(fields.kind, observation.observed, fields.threshold) {
            return Ok(Vec::new());
        }
        if let Some((fired_at, trigger)) = self.last_fired.get(&observation.subject) {
            if *trigger == observation.trigger
                || at < *fired_at + fields.cooldown_minutes.duration()
            {
                return Ok(Vec::new());
            }
        }
        Ok(vec![AlertRuleEvent::AlertFired {
            kind: fields.kind,
            subject: observation.subject,
            observed: observation.observed,
            threshold: fields.threshold,
            trigger: observation.trigger,
            detail: observation.detail,
            recipients: fields.recipients.clone(),
            fired_at: at,
        }])
    }
}

/// Whether `observed` passes a rule's `threshold`: at least it for counts of what happened, more
/// than it for a volume's multiple and an agent's load, below it for a rating.
pub fn passes(kind: AlertKind, observed: f64, threshold: f64) -> bool {
    match kind {
        AlertKind::SlaBreach | AlertKind::CriticalIncident => observed >= threshold,
        AlertKind::HighVolume | AlertKind::AgentOverload => observed > threshold,
        AlertKind::LowKbRating => observed < threshold,
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::actor::test_caller_as as caller;

    type RuleTest = TestFramework<AlertRule>;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn fields(cooldown: u32) -> AlertRuleFields {
        AlertRuleFields {
            name: PolicyName::parse("Volume spike").unwrap(),
            kind: AlertKind::HighVolume,
            threshold: 2.0,
            recipients: Recipients {
                roles: vec![ActorRole::Admin],
                ..Recipients::default()
            },
            cooldown_minutes: CooldownMinutes::parse(f64::from(cooldown)).unwrap(),
            active: true,
        }
    }

    fn created(cooldown: u32) -> AlertRuleEvent {
        AlertRuleEvent::AlertRuleCreated {
            rule_id: Uuid::nil(),
            fields: fields(cooldown),
        }
    }

    fn fire(when: &str, observed: f64, trigger: &str) -> AlertRuleCommand {
        AlertRuleCommand::Fire {
            caller: caller(ActorRole::Service, "sla-timer"),
            at: at(when),
            observation: Observation {
                subject: "desk".to_owned(),
                observed,
                trigger: trigger.to_owned(),
                detail: "tickets".to_owned(),
            },
        }
    }

    fn fired(when: &str, observed: f64, trigger: &str) -> AlertRuleEvent {
        AlertRuleEvent::AlertFired {
            kind: AlertKind::HighVolume,
            subject: "desk".to_owned(),
            observed,
            threshold: 2.0,
            trigger: trigger.to_owned(),
            detail: "tickets".to_owned(),
            recipients: fields(60).recipients,
            fired_at: at(when),
        }
    }

    #[test]
    fn a_rule_fires_once_per_cool_down_and_once_per_trigger() {
        RuleTest::with(())
            .given(vec![created(60)])
            .when(fire("2026-11-24T10:00:00Z", 3.0, "10:00"))
            .then_expect_events(vec![fired("2026-11-24T10:00:00Z", 3.0, "10:00")]);
        RuleTest::with(())
            .given(vec![
                created(60),
                fired("2026-11-24T10:00:00Z", 3.0, "10:00"),
            ])
            .when(fire("2026-11-24T10:59:59Z", 5.0, "10:59"))
            .then_expect_events(vec![]);
        RuleTest::with(())
            .given(vec![
                created(60),
                fired("2026-11-24T10:00:00Z", 3.0, "10:00"),
            ])
            .when(fire("2026-11-24T11:00:00Z", 5.0, "11:00"))
            .then_expect_events(vec![fired("2026-11-24T11:00:00Z", 5.0, "11:00")]);
        // Without a cool-down, a pass sent again still fires once.
        RuleTest::with(())
            .given(vec![
                created(0),
                fired("2026-11-24T10:00:00Z", 3.0, "10:00"),
            ])
            .when(fire("2026-11-24T10:00:00Z", 3.0, "10:00"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_observation_below_the_threshold_or_an_inactive_rule_fires_nothing() {
        RuleTest::with(())
            .given(vec![created(60)])
            .when(fire("2026-11-24T10:00:00Z", 2.0, "10:00"))
            .then_expect_events(vec![]);
        let mut inactive = fields(60);
        inactive.active = false;
        RuleTest::with(())
            .given(vec![created(60)])
            .when(AlertRuleCommand::Update {
                caller: caller(ActorRole::Admin, "admin-1"),
                changes: AlertRuleChanges {
                    active: Some(false),
                    ..AlertRuleChanges::default()
                },
            })
            .then_expect_events(vec![AlertRuleEvent::AlertRuleUpdated {
                fields: inactive.clone(),
            }]);
        RuleTest::with(())
            .given(vec![
                created(60),
                AlertRuleEvent::AlertRuleUpdated { fields: inactive },
            ])
            .when(fire("2026-11-24T10:00:00Z", 9.0, "10:00"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn admins_keep_rules_and_only_the_service_fires_them() {
        RuleTest::with(())
            .given_no_previous_events()
            .when(AlertRuleCommand::Create {
                caller: caller(ActorRole::Agent, "agent-1"),
                rule_id: Uuid::nil(),
                fields: fields(60),
            })
            .then_expect_error(AlertRuleError::Forbidden);
        RuleTest::with(())
            .given(vec![created(60)])
            .when(AlertRuleCommand::Fire {
                caller: caller(ActorRole::Admin, "admin-1"),
                at: at("2026-11-24T10:00:00Z"),
                observation: Observation {
                    subject: "desk".to_owned(),
                    observed: 9.0,
                    trigger: "x".to_owned(),
                    detail: String::new(),
                },
            })
            .then_expect_error(AlertRuleError::ServiceOnly);
    }

    #[test]
    fn a_new_kind_keeps_a_threshold_only_if_it_means_something_to_it() {
        RuleTest::with(())
            .given(vec![created(60)])
            .when(AlertRuleCommand::Update {
                caller: caller(ActorRole::Admin, "admin-1"),
                changes: AlertRuleChanges {
                    kind: Some(AlertKind::AgentOverload),
                    threshold: Some(1.5),
                    ..AlertRuleChanges::default()
                },
            })
            .then_expect_error(AlertRuleError::InvalidThreshold(
                AlertKind::AgentOverload.check_threshold(1.5).unwrap_err(),
            ));
    }

    #[test]
    fn thresholds_mean_what_their_kind_says() {
        assert!(AlertKind::HighVolume.check_threshold(1.0).is_err());
        assert!(AlertKind::HighVolume.check_threshold(1.5).is_ok());
        assert!(AlertKind::AgentOverload.check_threshold(2.5).is_err());
        assert!(AlertKind::LowKbRating.check_threshold(3.0).is_ok());
        assert!(AlertKind::SlaBreach.check_threshold(0.0).is_err());
        assert!(passes(AlertKind::LowKbRating, 2.0, 2.5));
        assert!(!passes(AlertKind::AgentOverload, 20.0, 20.0));
        assert!(passes(AlertKind::SlaBreach, 1.0, 1.0));
    }
}
