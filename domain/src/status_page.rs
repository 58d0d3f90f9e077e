//! The public status page's own decisions: an admin's override of a component's state, and
//! scheduled maintenance windows. Component states otherwise follow the active incidents' impact
//! (see `ComponentStatus::of_impact`), which the status page read model derives from the incident
//! events.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::incident::IncidentImpact;
use crate::ticket::values::{bounded_text_type, screaming_enum};
use crate::ticket::Labels;
use crate::{Caller, DomainError, FieldErrors, Refusal};

screaming_enum!(
    /// A component's state, as Atlassian Statuspage names them.
    ComponentStatus {
        Operational => "OPERATIONAL",
        DegradedPerformance => "DEGRADED_PERFORMANCE",
        PartialOutage => "PARTIAL_OUTAGE",
        MajorOutage => "MAJOR_OUTAGE",
        UnderMaintenance => "UNDER_MAINTENANCE",
    }
);

impl ComponentStatus {
    /// What an active incident of `impact` makes of the components it affects.
    pub fn of_impact(impact: IncidentImpact) -> Self {
        match impact {
            IncidentImpact::Widespread => Self::MajorOutage,
            IncidentImpact::Major => Self::PartialOutage,
            IncidentImpact::Minor => Self::DegradedPerformance,
            IncidentImpact::Minimal => Self::Operational,
        }
    }

    /// How bad it is, for the worst of several: outages over degradation over maintenance over
    /// normal service.
    pub fn rank(self) -> u8 {
        match self {
            Self::Operational => 0,
            Self::UnderMaintenance => 1,
            Self::DegradedPerformance => 2,
            Self::PartialOutage => 3,
            Self::MajorOutage => 4,
        }
    }

    /// Whether the component is down: its time counts against its uptime.
    pub fn is_outage(self) -> bool {
        matches!(self, Self::PartialOutage | Self::MajorOutage)
    }

    /// In words, for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
            Self::UnderMaintenance => "Under maintenance",
        }
    }
}

bounded_text_type!(
    /// A component: an affected system, as incidents name it.
    ComponentName,
    100
);
bounded_text_type!(MaintenanceTitle, 200);
bounded_text_type!(MaintenanceDescription, 5_000);

/// A maintenance window as scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    pub maintenance_id: Uuid,
    pub title: MaintenanceTitle,
    pub description: Option<MaintenanceDescription>,
    pub components: Labels,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl MaintenanceWindow {
    /// A window ends after it starts, and names at least one component; errors by field.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.components.as_slice().is_empty() {
            errors.push("components", "must name at least one component");
        }
        if self.ends_at <= self.starts_at {
            errors.push("endsAt", "must be after startsAt");
        }
        errors.into_result()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatusPageCommand {
    /// Shows `component` as `status` whatever its incidents say, or (`None`) as they say again.
    OverrideComponent {
        caller: Caller,
        component: ComponentName,
        status: Option<ComponentStatus>,
    },
    ScheduleMaintenance {
        caller: Caller,
        window: MaintenanceWindow,
    },
    CancelMaintenance {
        caller: Caller,
        maintenance_id: Uuid,
    },
}

/// Everything that can happen to the status page. The catalogue with payloads is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum StatusPageEvent {
    ComponentStatusOverridden {
        component: ComponentName,
        status: ComponentStatus,
    },
    ComponentOverrideCleared {
        component: ComponentName,
    },
    MaintenanceScheduled {
        #[serde(flatten)]
        window: MaintenanceWindow,
    },
    MaintenanceCancelled {
        maintenance_id: Uuid,
    },
}

impl StatusPageEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            Self::ComponentStatusOverridden { .. } => "ComponentStatusOverridden",
            Self::ComponentOverrideCleared { .. } => "ComponentOverrideCleared",
            Self::MaintenanceScheduled { .. } => "MaintenanceScheduled",
            Self::MaintenanceCancelled { .. } => "MaintenanceCancelled",
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

// The status page is public by design: it holds no personal data.
crate::recorded::without_personal_data!(StatusPageEvent);

crate::recorded::domain_event!(StatusPageEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatusPageError {
    #[error("only admins change the status page")]
    Forbidden,
    #[error("the maintenance window is invalid: {0}")]
    InvalidWindow(FieldErrors),
    #[error("no maintenance window has this id")]
    MaintenanceNotFound,
    #[error("a maintenance window with this id exists already")]
    MaintenanceExists,
}

impl DomainError for StatusPageError {
    fn refusal(&self) -> Refusal {
        match self {
            Self::Forbidden => Refusal::Forbidden,
            Self::InvalidWindow(errors) => Refusal::InvalidFields(errors.clone()),
            Self::MaintenanceNotFound => Refusal::NotFound {
                resource: "maintenance window",
            },
            Self::MaintenanceExists => Refusal::Conflict {
                allowed_statuses: None,
            },
        }
    }
}

/// The desk's one status page: its overrides and its maintenance windows still scheduled.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusPage {
    overrides: Vec<(ComponentName, ComponentStatus)>,
    maintenances: Vec<Uuid>,
}

impl StatusPage {
    /// The id of the one status page aggregate.
    pub fn id() -> Uuid {
        Uuid::new_v5(&Uuid::NAMESPACE_OID, b"supportd:status-page")
    }

    fn decide(&self, command: StatusPageCommand) -> Result<Vec<StatusPageEvent>, StatusPageError> {
        let caller = match &command {
            StatusPageCommand::OverrideComponent { caller, .. }
            | StatusPageCommand::ScheduleMaintenance { caller, .. }
            | StatusPageCommand::CancelMaintenance { caller, .. } => caller,
        };
        if caller.actor.role != crate::ActorRole::Admin {
            return Err(StatusPageError::Forbidden);
        }
        let current = |component: &ComponentName| {
            self.overrides
                .iter()
                .find(|(c, _)| c == component)
                .map(|(_, s)| *s)
        };
        Ok(match command {
            StatusPageCommand::OverrideComponent {
                component, status, ..
            } => match (status, current(&component)) {
                (Some(status), now) if now != Some(status) => {
                    vec![StatusPageEvent::ComponentStatusOverridden { component, status }]
                }
                (None, Some(_)) => vec![StatusPageEvent::ComponentOverrideCleared { component }],
                _ => Vec::new(),
            },
            StatusPageCommand::ScheduleMaintenance { window, .. } => {
                window.check().map_err(StatusPageError::InvalidWindow)?;
                if self.maintenances.contains(&window.maintenance_id) {
                    return Err(StatusPageError::MaintenanceExists);
                }
                vec![StatusPageEvent::MaintenanceScheduled { window }]
            }
            StatusPageCommand::CancelMaintenance { maintenance_id, .. } => {
                if !self.maintenances.contains(&maintenance_id) {
                    return Err(StatusPageError::MaintenanceNotFound);
                }
                vec![StatusPageEvent::MaintenanceCancelled { maintenance_id }]
            }
        })
    }
}

impl Aggregate for StatusPage {
    const TYPE: &'static str = "status_page";
    type Command = StatusPageCommand;
    type Event = StatusPageEvent;
    type Error = StatusPageError;
    type Services = ();

    async fn handle(
        &mut self,
        command: StatusPageCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), StatusPageError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: StatusPageEvent) {
        match event {
            StatusPageEvent::ComponentStatusOverridden { component, status } => {
                self.overrides.retain(|(c, _)| *c != component);
                self.overrides.push((component, status));
            }
            StatusPageEvent::ComponentOverrideCleared { component } => {
                self.overrides.retain(|(c, _)| *c != component)
            }
            StatusPageEvent::MaintenanceScheduled { window } => {
                self.maintenances.push(window.maintenance_id)
            }
            StatusPageEvent::MaintenanceCancelled { maintenance_id } => {
                self.maintenances.retain(|id| *id != maintenance_id)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::actor::test_caller;
    use crate::ActorRole;

    type StatusPageTest = TestFramework<StatusPage>;

    fn api() -> ComponentName {
        ComponentName::parse("api-service").unwrap()
    }

    fn window(minutes: i64) -> MaintenanceWindow {
        let starts_at = "2026-12-01T02:00:00Z".parse().unwrap();
        MaintenanceWindow {
            maintenance_id: Uuid::from_u128(1),
            title: MaintenanceTitle::parse("Database upgrade").unwrap(),
            description: None,
            components: Labels::parse(&["api-service".to_owned()]).unwrap(),
            starts_at,
            ends_at: starts_at + TimeDelta::minutes(minutes),
        }
    }

    #[test]
    fn impact_maps_to_statuspage_states_and_outages_rank_worst() {
        use ComponentStatus::*;
        assert_eq!(
            ComponentStatus::of_impact(IncidentImpact::Widespread),
            MajorOutage
        );
        assert_eq!(
            ComponentStatus::of_impact(IncidentImpact::Major),
            PartialOutage
        );
        assert_eq!(
            ComponentStatus::of_impact(IncidentImpact::Minor),
            DegradedPerformance
        );
        assert_eq!(
            ComponentStatus::of_impact(IncidentImpact::Minimal),
            Operational
        );
        let mut all = ComponentStatus::ALL.to_vec();
        all.sort_by_key(|s| s.rank());
        assert_eq!(
            all,
            [
                Operational,
                UnderMaintenance,
                DegradedPerformance,
                PartialOutage,
                MajorOutage
            ]
        );
        assert!(PartialOutage.is_outage() && !DegradedPerformance.is_outage());
    }

    #[test]
    fn an_admin_overrides_a_component_once_and_clears_it() {
        let overridden = StatusPageEvent::ComponentStatusOverridden {
            component: api(),
            status: ComponentStatus::MajorOutage,
        };
        let command = |status| StatusPageCommand::OverrideComponent {
            caller: test_caller(ActorRole::Admin),
            component: api(),
            status,
        };
        StatusPageTest::with(())
            .given_no_previous_events()
            .when(command(Some(ComponentStatus::MajorOutage)))
            .then_expect_events(vec![overridden.clone()]);
        StatusPageTest::with(())
            .given(vec![overridden.clone()])
            .when(command(Some(ComponentStatus::MajorOutage)))
            .then_expect_events(vec![]);
        StatusPageTest::with(())
            .given(vec![overridden])
            .when(command(None))
            .then_expect_events(vec![StatusPageEvent::ComponentOverrideCleared {
                component: api(),
            }]);
        StatusPageTest::with(())
            .given_no_previous_events()
            .when(command(None))
            .then_expect_events(vec![]);
        StatusPageTest::with(())
            .given_no_previous_events()
            .when(StatusPageCommand::OverrideComponent {
                caller: test_caller(ActorRole::Agent),
                component: api(),
                status: None,
            })
            .then_expect_error(StatusPageError::Forbidden);
    }

    #[test]
    fn a_maintenance_window_ends_after_it_starts_and_is_cancelled_once() {
        let schedule = |window| StatusPageCommand::ScheduleMaintenance {
            caller: test_caller(ActorRole::Admin),
            window,
        };
        StatusPageTest::with(())
            .given_no_previous_events()
            .when(schedule(window(0)))
            .then_expect_error(StatusPageError::InvalidWindow(
                [("endsAt", "must be after startsAt")].into_iter().collect(),
            ));
        let scheduled = StatusPageEvent::MaintenanceScheduled { window: window(60) };
        StatusPageTest::with(())
            .given_no_previous_events()
            .when(schedule(window(60)))
            .then_expect_events(vec![scheduled.clone()]);
        let cancel = StatusPageCommand::CancelMaintenance {
            caller: test_caller(ActorRole::Admin),
            maintenance_id: Uuid::from_u128(1),
        };
        StatusPageTest::with(())
            .given(vec![scheduled.clone()])
            .when(cancel.clone())
            .then_expect_events(vec![StatusPageEvent::MaintenanceCancelled {
                maintenance_id: Uuid::from_u128(1),
            }]);
        StatusPageTest::with(())
            .given(vec![
                scheduled,
                StatusPageEvent::MaintenanceCancelled {
                    maintenance_id: Uuid::from_u128(1),
                },
            ])
            .when(cancel)
            .then_expect_error(StatusPageError::MaintenanceNotFound);
    }
}
