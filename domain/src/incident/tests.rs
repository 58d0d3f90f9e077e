//! Given/when/then for the incident aggregate, and its lifecycle table against an independent
//! copy.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::actor::test_caller;
use crate::ticket::{AgentId, Labels};
use crate::ActorRole;

type IncidentTest = TestFramework<Incident>;

const ID: Uuid = Uuid::from_u128(10);

fn labels(values: &[&str]) -> Labels {
    Labels::parse(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>()).unwrap()
}

fn text(value: &str) -> IncidentText {
    IncidentText::parse(value).unwrap()
}

fn fields(severity: IncidentSeverity) -> IncidentFields {
    IncidentFields {
        title: IncidentTitle::parse("API Service Outage").unwrap(),
        description: text("Main API service is returning 503 errors"),
        severity,
        category: IncidentCategory::Outage,
        impact: IncidentImpact::Widespread,
        affected_systems: labels(&["api-service", "data-service"]),
        affected_services: labels(&["lead-routing"]),
        affected_customers: AffectedCustomers::parse(150.0).unwrap(),
        incident_commander: Some(AgentId::parse("oncall-engineer-id").unwrap()),
        assigned_team: labels(&["team-sre"]),
        reported_by: AgentId::parse("monitoring-system").unwrap(),
    }
}

/// Sunday 29 November 2026, 10:00 UTC: when the incidents of these tests are detected.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap()
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(n)
}

fn detected(severity: IncidentSeverity) -> IncidentEvent {
    IncidentEvent::IncidentDetected {
        incident_id: ID,
        incident_number: IncidentNumber::parse("INC-20261129-0001").unwrap(),
        fields: fields(severity),
        detected_at: t0(),
        targets: severity.targets(),
    }
}

fn moved(from: IncidentStatus, to: IncidentStatus) -> IncidentEvent {
    IncidentEvent::IncidentStatusChanged { from, to }
}

fn to_status(status: IncidentStatus) -> IncidentCommand {
    IncidentCommand::Update {
        caller: test_caller(ActorRole::Agent),
        changes: IncidentChanges {
            status: Some(status),
            ..IncidentChanges::default()
        },
    }
}

fn complete_post_mortem() -> PostMortemFields {
    PostMortemFields {
        summary: Some(text("The API was down for 40 minutes")),
        root_cause: Some(text("Connection pool exhaustion")),
        impact: Some(text("150 customers could not route leads")),
        what_went_well: Some(text("Paged within a minute")),
        what_went_wrong: Some(text("No alert on pool saturation")),
        lessons_learned: Some(text("Alert on saturation, not on errors")),
    }
}

/// The events that bring an acknowledged incident to `status` along the forward path.
fn history_to(severity: IncidentSeverity, status: IncidentStatus) -> Vec<IncidentEvent> {
    let mut events = vec![detected(severity)];
    if status != IncidentStatus::Detected {
        events.push(IncidentEvent::IncidentAcknowledged {});
        events.push(moved(IncidentStatus::Detected, status));
    }
    events
}

#[test]
fn the_lifecycle_table_matches_an_independent_copy() {
    use IncidentStatus::*;
    // Written out by hand from the issue: forward steps may skip, MONITORING falls back to
    // INVESTIGATING, RESOLVED reopens to INVESTIGATING, CLOSED is final.
    let order = [
        Detected,
        Investigating,
        Identified,
        Monitoring,
        Resolved,
        Closed,
    ];
    let backward = [(Monitoring, Investigating), (Resolved, Investigating)];
    for (i, from) in order.iter().enumerate() {
        for (j, to) in order.iter().enumerate() {
            let allowed = j > i || backward.contains(&(*from, *to));
            assert_eq!(from.can_become(*to), allowed, "{from} -> {to}");
        }
    }
    assert!(Closed.allowed_next().is_empty());
    assert_eq!(
        IncidentStatus::ALL.iter().filter(|s| s.is_active()).count(),
        4
    );
}

#[test]
fn every_legal_step_is_one_event_and_every_illegal_one_names_the_allowed() {
    for from in IncidentStatus::ALL.iter().copied() {
        for to in IncidentStatus::ALL.iter().copied().filter(|to| *to != from) {
            // MEDIUM closes freely, so the table alone decides.
            let given = history_to(IncidentSeverity::Medium, from);
            let test = IncidentTest::with(()).given(given).when(to_status(to));
            if from == IncidentStatus::Closed {
                test.then_expect_error(IncidentError::Closed);
            } else if from.can_become(to) {
                let mut expected = Vec::new();
                if from == IncidentStatus::Detected {
                    expected.push(IncidentEvent::IncidentAcknowledged {});
                }
                expected.push(moved(from, to));
                test.then_expect_events(expected);
            } else {
                test.then_expect_error(IncidentError::IllegalTransition {
                    from,
                    to,
                    allowed: from.allowed_next(),
                });
            }
        }
    }
}

#[test]
fn detection_sets_the_targets_of_the_severity_and_services_may_report() {
    IncidentTest::with(())
        .given_no_previous_events()
        .when(IncidentCommand::Detect {
            caller: test_caller(ActorRole::Service),
            incident_id: ID,
            number: IncidentNumber::parse("INC-20261129-0001").unwrap(),
            fields: fields(IncidentSeverity::Critical),
            detected_at: t0(),
        })
        .then_expect_events(vec![detected(IncidentSeverity::Critical)]);
    IncidentTest::with(())
        .given_no_previous_events()
        .when(IncidentCommand::Detect {
            caller: test_caller(ActorRole::Customer),
            incident_id: ID,
            number: IncidentNumber::parse("INC-20261129-0001").unwrap(),
            fields: fields(IncidentSeverity::Critical),
            detected_at: t0(),
        })
        .then_expect_error(IncidentError::Forbidden);
}

#[test]
fn services_report_incidents_but_do_not_run_them() {
    IncidentTest::with(())
        .given(vec![detected(IncidentSeverity::Low)])
        .when(IncidentCommand::Acknowledge {
            caller: test_caller(ActorRole::Service),
        })
        .then_expect_error(IncidentError::Forbidden);
}

#[test]
fn moving_out_of_detected_acknowledges_once() {
    IncidentTest::with(())
        .given(vec![detected(IncidentSeverity::High)])
        .when(to_status(IncidentStatus::Investigating))
        .then_expect_events(vec![
            IncidentEvent::IncidentAcknowledged {},
            moved(IncidentStatus::Detected, IncidentStatus::Investigating),
        ]);
    IncidentTest::with(())
        .given(vec![detected(IncidentSeverity::High)])
        .when(IncidentCommand::Acknowledge {
            caller: test_caller(ActorRole::Agent),
        })
        .then_expect_events(vec![IncidentEvent::IncidentAcknowledged {}]);
    IncidentTest::with(())
        .given(vec![
            detected(IncidentSeverity::High),
            IncidentEvent::IncidentAcknowledged {},
        ])
        .when(IncidentCommand::Acknowledge {
            caller: test_caller(ActorRole::Admin),
        })
        .then_expect_events(vec![]);
}

#[test]
fn each_changed_field_is_its_own_event_and_the_move_comes_last() {
    let changes = IncidentChanges {
        status: Some(IncidentStatus::Identified),
        severity: Some(IncidentSeverity::High),
        impact: Some(IncidentImpact::Major),
        incident_commander: Some(AgentId::parse("engineer-456").unwrap()),
        // Unchanged: no event.
        assigned_team: Some(labels(&["team-sre"])),
        affected_systems: Some(labels(&["api-service"])),
        affected_services: None,
        root_cause: Some(text("Database connection pool exhaustion")),
        mitigation: Some(text("Raised the pool size")),
        resolution: None,
    };
    IncidentTest::with(())
        .given(history_to(
            IncidentSeverity::Critical,
            IncidentStatus::Investigating,
        ))
        .when(IncidentCommand::Update {
            caller: test_caller(ActorRole::Agent),
            changes,
        })
        .then_expect_events(vec![
            IncidentEvent::IncidentSeverityChanged {
                from: IncidentSeverity::Critical,
                to: IncidentSeverity::High,
                targets: IncidentSeverity::High.targets(),
            },
            IncidentEvent::IncidentImpactChanged {
                from: IncidentImpact::Widespread,
                to: IncidentImpact::Major,
            },
            IncidentEvent::IncidentCommanderChanged {
                commander: AgentId::parse("engineer-456").unwrap(),
                previous: Some(AgentId::parse("oncall-engineer-id").unwrap()),
            },
            IncidentEvent::IncidentAffectedSystemsChanged {
                affected_systems: labels(&["api-service"]),
            },
            IncidentEvent::IncidentRootCauseRecorded {
                root_cause: text("Database connection pool exhaustion"),
            },
            IncidentEvent::IncidentMitigationRecorded {
                mitigation: text("Raised the pool size"),
            },
            moved(IncidentStatus::Investigating, IncidentStatus::Identified),
        ]);
}

#[test]
fn an_illegal_move_refuses_the_field_changes_of_the_same_request_too() {
    IncidentTest::with(())
        .given(history_to(
            IncidentSeverity::Low,
            IncidentStatus::Identified,
        ))
        .when(IncidentCommand::Update {
            caller: test_caller(ActorRole::Agent),
            changes: IncidentChanges {
                status: Some(IncidentStatus::Investigating),
                root_cause: Some(text("DNS")),
                ..IncidentChanges::default()
            },
        })
        .then_expect_error(IncidentError::IllegalTransition {
            from: IncidentStatus::Identified,
            to: IncidentStatus::Investigating,
            allowed: IncidentStatus::Identified.allowed_next(),
        });
}

#[test]
fn critical_and_high_close_only_after_a_completed_post_mortem() {
    for severity in [IncidentSeverity::Critical, IncidentSeverity::High] {
        IncidentTest::with(())
            .given(history_to(severity, IncidentStatus::Resolved))
            .when(to_status(IncidentStatus::Closed))
            .then_expect_error(IncidentError::PostMortemRequired { severity });
        let mut given = history_to(severity, IncidentStatus::Resolved);
        given.push(IncidentEvent::PostMortemRevised {
            changes: complete_post_mortem(),
        });
        given.push(IncidentEvent::PostMortemCompleted {});
        IncidentTest::with(())
            .given(given)
            .when(to_status(IncidentStatus::Closed))
            .then_expect_events(vec![moved(
                IncidentStatus::Resolved,
                IncidentStatus::Closed,
            )]);
    }
    for severity in [IncidentSeverity::Medium, IncidentSeverity::Low] {
        IncidentTest::with(())
            .given(history_to(severity, IncidentStatus::Resolved))
            .when(to_status(IncidentStatus::Closed))
            .then_expect_events(vec![moved(
                IncidentStatus::Resolved,
                IncidentStatus::Closed,
            )]);
    }
}

#[test]
fn lowering_the_severity_in_the_closing_request_lets_it_close() {
    IncidentTest::with(())
        .given(history_to(IncidentSeverity::High, IncidentStatus::Resolved))
        .when(IncidentCommand::Update {
            caller: test_caller(ActorRole::Admin),
            changes: IncidentChanges {
                status: Some(IncidentStatus::Closed),
                severity: Some(IncidentSeverity::Medium),
                ..IncidentChanges::default()
            },
        })
        .then_expect_events(vec![
            IncidentEvent::IncidentSeverityChanged {
                from: IncidentSeverity::High,
                to: IncidentSeverity::Medium,
                targets: IncidentSeverity::Medium.targets(),
            },
            moved(IncidentStatus::Resolved, IncidentStatus::Closed),
        ]);
}

#[test]
fn a_post_mortem_completes_only_with_every_text_written() {
    let partial = PostMortemFields {
        summary: Some(text("Down 40 minutes")),
        ..PostMortemFields::default()
    };
    IncidentTest::with(())
        .given(history_to(
            IncidentSeverity::Critical,
            IncidentStatus::Resolved,
        ))
        .when(IncidentCommand::RevisePostMortem {
            caller: test_caller(ActorRole::Agent),
            changes: partial.clone(),
            complete: true,
        })
        .then_expect_error(IncidentError::PostMortemIncomplete {
            missing: [
                "rootCause",
                "impact",
                "whatWentWell",
                "whatWentWrong",
                "lessonsLearned",
            ]
            .iter()
            .map(|f| (*f, "must be written before the post-mortem is completed"))
            .collect(),
        });
    let mut given = history_to(IncidentSeverity::Critical, IncidentStatus::Resolved);
    given.push(IncidentEvent::PostMortemRevised { changes: partial });
    let rest = PostMortemFields {
        summary: None,
        ..complete_post_mortem()
    };
    IncidentTest::with(())
        .given(given)
        .when(IncidentCommand::RevisePostMortem {
            caller: test_caller(ActorRole::Agent),
            // The summary sent again unchanged is no change.
            changes: PostMortemFields {
                summary: Some(text("Down 40 minutes")),
                ..rest.clone()
            },
            complete: true,
        })
        .then_expect_events(vec![
            IncidentEvent::PostMortemRevised { changes: rest },
            IncidentEvent::PostMortemCompleted {},
        ]);
}

#[test]
fn a_closed_incident_takes_no_update_but_its_post_mortem_still_changes() {
    let mut given = history_to(IncidentSeverity::Low, IncidentStatus::Resolved);
    given.push(moved(IncidentStatus::Resolved, IncidentStatus::Closed));
    IncidentTest::with(())
        .given(given.clone())
        .when(IncidentCommand::PostUpdate {
            caller: test_caller(ActorRole::Agent),
            update_id: Uuid::from_u128(1),
            visibility: UpdateVisibility::Public,
            message: UpdateMessage::parse("All good").unwrap(),
        })
        .then_expect_error(IncidentError::Closed);
    let item = ActionItem {
        item_id: Uuid::from_u128(2),
        title: ActionItemTitle::parse("Alert on pool saturation").unwrap(),
        owner: Some(AgentId::parse("engineer-456").unwrap()),
        due_date: None,
        status: ActionItemStatus::Open,
    };
    IncidentTest::with(())
        .given(given.clone())
        .when(IncidentCommand::AddActionItem {
            caller: test_caller(ActorRole::Agent),
            item: item.clone(),
        })
        .then_expect_events(vec![IncidentEvent::ActionItemAdded { item: item.clone() }]);
    given.push(IncidentEvent::ActionItemAdded { item });
    IncidentTest::with(())
        .given(given.clone())
        .when(IncidentCommand::ReviseActionItem {
            caller: test_caller(ActorRole::Agent),
            item_id: Uuid::from_u128(2),
            changes: ActionItemChanges {
                status: Some(ActionItemStatus::Done),
                owner: Some(AgentId::parse("engineer-456").unwrap()),
                ..ActionItemChanges::default()
            },
        })
        .then_expect_events(vec![IncidentEvent::ActionItemRevised {
            item_id: Uuid::from_u128(2),
            changes: ActionItemChanges {
                status: Some(ActionItemStatus::Done),
                ..ActionItemChanges::default()
            },
        }]);
    IncidentTest::with(())
        .given(given)
        .when(IncidentCommand::ReviseActionItem {
            caller: test_caller(ActorRole::Agent),
            item_id: Uuid::from_u128(3),
            changes: ActionItemChanges::default(),
        })
        .then_expect_error(IncidentError::ActionItemNotFound);
}

#[test]
fn a_public_update_carries_the_status_it_was_posted_in() {
    IncidentTest::with(())
        .given(history_to(
            IncidentSeverity::Medium,
            IncidentStatus::Identified,
        ))
        .when(IncidentCommand::PostUpdate {
            caller: test_caller(ActorRole::Agent),
            update_id: Uuid::from_u128(1),
            visibility: UpdateVisibility::Public,
            message: UpdateMessage::parse("We found the cause").unwrap(),
        })
        .then_expect_events(vec![IncidentEvent::IncidentUpdatePosted {
            update_id: Uuid::from_u128(1),
            visibility: UpdateVisibility::Public,
            message: UpdateMessage::parse("We found the cause").unwrap(),
            status: IncidentStatus::Identified,
        }]);
}

fn due(at: DateTime<Utc>) -> IncidentCommand {
    IncidentCommand::RecordDueTargets {
        caller: test_caller(ActorRole::Service),
        at,
    }
}

fn missed(target: IncidentTarget, due_at: DateTime<Utc>) -> IncidentEvent {
    IncidentEvent::IncidentTargetMissed { target, due_at }
}

#[test]
fn a_target_is_missed_at_its_deadline_from_detection_and_recorded_once() {
    // CRITICAL: acknowledge within 15 minutes, resolve within 4 hours.
    let critical = || vec![detected(IncidentSeverity::Critical)];
    IncidentTest::with(())
        .given(critical())
        .when(due(minutes(14)))
        .then_expect_events(vec![]);
    IncidentTest::with(())
        .given(critical())
        .when(due(minutes(15)))
        .then_expect_events(vec![missed(IncidentTarget::Response, minutes(15))]);
    // A timer that was down over both deadlines records both, at their deadlines.
    IncidentTest::with(())
        .given(critical())
        .when(due(minutes(300)))
        .then_expect_events(vec![
            missed(IncidentTarget::Response, minutes(15)),
            missed(IncidentTarget::Resolution, minutes(240)),
        ]);
    let mut given = critical();
    given.push(missed(IncidentTarget::Response, minutes(15)));
    IncidentTest::with(())
        .given(given)
        .when(due(minutes(16)))
        .then_expect_events(vec![]);
    IncidentTest::with(())
        .given(critical())
        .when(IncidentCommand::RecordDueTargets {
            caller: test_caller(ActorRole::Agent),
            at: minutes(15),
        })
        .then_expect_error(IncidentError::Forbidden);
}

#[test]
fn a_met_target_is_never_missed_and_a_lowered_severity_moves_the_deadline() {
    IncidentTest::with(())
        .given(history_to(
            IncidentSeverity::Critical,
            IncidentStatus::Investigating,
        ))
        .when(due(minutes(60)))
        .then_expect_events(vec![]);
    IncidentTest::with(())
        .given(history_to(
            IncidentSeverity::Critical,
            IncidentStatus::Resolved,
        ))
        .when(due(minutes(600)))
        .then_expect_events(vec![]);
    // Lowered to LOW before the critical deadline: 24 hours to acknowledge now.
    IncidentTest::with(())
        .given(vec![
            detected(IncidentSeverity::Critical),
            IncidentEvent::IncidentSeverityChanged {
                from: IncidentSeverity::Critical,
                to: IncidentSeverity::Low,
                targets: IncidentSeverity::Low.targets(),
            },
        ])
        .when(due(minutes(15)))
        .then_expect_events(vec![]);
}

#[test]
fn a_reopened_incident_can_miss_its_resolution_target_after_all() {
    let mut given = history_to(IncidentSeverity::Critical, IncidentStatus::Resolved);
    given.push(moved(
        IncidentStatus::Resolved,
        IncidentStatus::Investigating,
    ));
    IncidentTest::with(())
        .given(given)
        .when(due(minutes(241)))
        .then_expect_events(vec![missed(IncidentTarget::Resolution, minutes(240))]);
}

#[test]
fn events_read_back_from_their_type_and_payload() {
    let event = detected(IncidentSeverity::Critical);
    let tagged = serde_json::to_value(&event).unwrap();
    let payload = &tagged["IncidentDetected"];
    assert_eq!(payload["incidentNumber"], "INC-20261129-0001");
    assert_eq!(payload["severity"], "CRITICAL");
    assert_eq!(payload["targets"]["responseMinutes"], 15);
    assert_eq!(
        IncidentEvent::from_parts("IncidentDetected", payload).unwrap(),
        event
    );
}
