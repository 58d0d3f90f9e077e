//! The policy's rules. Tests that build a definition need a real `BusinessCalendar`; the rest
//! (who may write, the target order, merging calendar changes, refusals, ids) need none.

use chrono::NaiveDate;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::actor::test_caller as caller;
use crate::PersonalData;

type PolicyTest = TestFramework<SlaPolicy>;

const POLICY: Uuid = Uuid::from_u128(7);

fn minutes(m: i64) -> TargetMinutes {
    TargetMinutes::parse(m).unwrap()
}

fn definition() -> SlaPolicyDefinition {
    SlaPolicyDefinition {
        name: PolicyName::parse("Enterprise P1").unwrap(),
        priority: TicketPriority::High,
        customer_tier: Some(CustomerTier::Enterprise),
        response_time_target: minutes(30),
        resolution_time_target: minutes(240),
        response_time_warning_threshold: WarningPercent::parse(75).unwrap(),
        resolution_time_warning_threshold: WarningPercent::parse(80).unwrap(),
        calendar: BusinessCalendar::around_the_clock(chrono_tz::UTC),
        auto_escalate_on_breach: true,
        notify_on_warning: true,
        notify_on_breach: true,
    }
}

fn created() -> SlaPolicyEvent {
    SlaPolicyEvent::SlaPolicyCreated {
        policy_id: POLICY,
        definition: definition(),
    }
}

fn create(role: ActorRole, definition: SlaPolicyDefinition) -> SlaPolicyCommand {
    SlaPolicyCommand::Create(CreateSlaPolicy {
        caller: caller(role),
        policy_id: POLICY,
        definition,
    })
}

fn update(change: impl FnOnce(&mut UpdateSlaPolicy)) -> SlaPolicyCommand {
    let mut update = UpdateSlaPolicy::by(caller(ActorRole::Admin));
    change(&mut update);
    SlaPolicyCommand::Update(update)
}

fn invalid(errors: &[(&str, &str)]) -> SlaPolicyError {
    SlaPolicyError::Invalid(errors.iter().copied().collect())
}

// Without a calendar.

#[tokio::test]
async fn only_admins_and_the_service_write_and_a_missing_policy_is_not_found() {
    for (role, refused) in [
        (ActorRole::Agent, SlaPolicyError::Forbidden),
        (ActorRole::Customer, SlaPolicyError::Forbidden),
        (ActorRole::Auditor, SlaPolicyError::ReadOnlyCaller),
        (ActorRole::Admin, SlaPolicyError::NotFound),
        (ActorRole::Service, SlaPolicyError::NotFound),
    ] {
        let mut deactivate = UpdateSlaPolicy::by(caller(role));
        deactivate.active = Some(false);
        PolicyTest::with(())
            .given_no_previous_events()
            .when_async(SlaPolicyCommand::Update(deactivate))
            .await
            .then_expect_error(refused);
    }
}

#[test]
fn the_resolution_target_is_never_below_the_response_target() {
    assert_eq!(check_target_order(minutes(60), minutes(60)), Ok(()));
    assert_eq!(check_target_order(minutes(60), minutes(480)), Ok(()));
    let refused = check_target_order(minutes(60), minutes(59)).unwrap_err();
    assert!(refused.starts_with("must not be below responseTimeTarget (60 min)"));
}

#[test]
fn calendar_changes_replace_only_the_fields_they_name() {
    let current = CalendarFields {
        apply_business_hours_only: true,
        business_hours_start: Some("09:00".into()),
        business_hours_end: Some("17:00".into()),
        business_days: Some(vec![1, 2, 3, 4, 5]),
        timezone: "Europe/Berlin".into(),
        holidays: vec![NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
    };
    assert!(CalendarChanges::default().is_empty());
    assert_eq!(
        CalendarChanges::default().apply_to(current.clone()),
        current
    );
    let changes = CalendarChanges {
        business_hours_end: Some(Some("18:00".into())),
        business_days: Some(None),
        holidays: Some(vec![]),
        ..Default::default()
    };
    assert!(!changes.is_empty());
    assert_eq!(
        changes.apply_to(current.clone()),
        CalendarFields {
            business_hours_end: Some("18:00".into()),
            business_days: None,
            holidays: vec![],
            ..current
        }
    );
}

#[test]
fn every_policy_error_has_a_refusal_kind() {
    assert_eq!(
        SlaPolicyError::NotFound.refusal(),
        Refusal::NotFound {
            resource: "SLA policy"
        }
    );
    assert_eq!(
        SlaPolicyError::AlreadyExists.refusal(),
        Refusal::Conflict {
            allowed_statuses: None
        }
    );
    assert_eq!(SlaPolicyError::Forbidden.refusal(), Refusal::Forbidden);
    assert_eq!(SlaPolicyError::ReadOnlyCaller.refusal(), Refusal::Forbidden);
    let invalid = invalid(&[("timezone", "unknown"), ("resolutionTimeTarget", "too low")]);
    let Refusal::InvalidFields(errors) = invalid.refusal() else {
        panic!("{invalid:?}");
    };
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["timezone", "resolutionTimeTarget"]);
    assert_eq!(
        invalid.to_string(),
        "the policy would be invalid: timezone: unknown; resolutionTimeTarget: too low"
    );
}

#[test]
fn default_ids_are_one_per_priority_and_the_same_everywhere() {
    let ids: Vec<Uuid> = TicketPriority::ALL
        .iter()
        .map(|p| default_policy_id(*p))
        .collect();
    for (n, id) in ids.iter().enumerate() {
        assert!(!ids[n + 1..].contains(id), "{id}");
        assert_eq!(id.get_version_num(), 5);
    }
    assert_eq!(
        default_policy_id(TicketPriority::High),
        Uuid::new_v5(&DEFAULT_POLICY_NAMESPACE, b"P1_HIGH")
    );
}

#[test]
fn state_changes_carry_no_personal_data_and_an_empty_payload() {
    for event in [
        SlaPolicyEvent::SlaPolicyDeactivated {},
        SlaPolicyEvent::SlaPolicyReactivated {},
    ] {
        assert!(event.personal_fields().is_empty());
        assert_eq!(event.data_subject(), None);
        assert!(!event.erases_personal_data());
        let stored = serde_json::to_value(&event).unwrap();
        let payload = &stored[event.name()];
        assert_eq!(payload, &serde_json::json!({}));
        assert_eq!(
            SlaPolicyEvent::from_parts(event.name(), payload).unwrap(),
            event
        );
    }
}

// With a calendar: these wait for `BusinessCalendar` (domain/src/sla/calendar.rs).

#[tokio::test]
async fn admins_and_the_service_create_a_policy_once() {
    for role in [ActorRole::Admin, ActorRole::Service] {
        PolicyTest::with(())
            .given_no_previous_events()
            .when_async(create(role, definition()))
            .await
            .then_expect_events(vec![created()]);
    }
    for (role, refused) in [
        (ActorRole::Agent, SlaPolicyError::Forbidden),
        (ActorRole::Customer, SlaPolicyError::Forbidden),
        (ActorRole::Auditor, SlaPolicyError::ReadOnlyCaller),
    ] {
        PolicyTest::with(())
            .given_no_previous_events()
            .when_async(create(role, definition()))
            .await
            .then_expect_error(refused);
    }
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(create(ActorRole::Service, definition()))
        .await
        .then_expect_error(SlaPolicyError::AlreadyExists);
}

#[tokio::test]
async fn a_policy_resolves_no_sooner_than_it_responds() {
    let backwards = SlaPolicyDefinition {
        resolution_time_target: minutes(29),
        ..definition()
    };
    PolicyTest::with(())
        .given_no_previous_events()
        .when_async(create(ActorRole::Admin, backwards))
        .await
        .then_expect_error(invalid(&[(
            "resolutionTimeTarget",
            "must not be below responseTimeTarget (30 min): a ticket is not due for resolution \
             before it is due for a response",
        )]));
    // The field the request changed takes the blame.
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(update(|u| u.response_time_target = Some(minutes(300))))
        .await
        .then_expect_error(invalid(&[(
            "responseTimeTarget",
            "must not be above resolutionTimeTarget (240 min): a ticket is not due for \
             resolution before it is due for a response",
        )]));
    for change in [
        update(|u| u.resolution_time_target = Some(minutes(20))),
        update(|u| {
            u.response_time_target = Some(minutes(300));
            u.resolution_time_target = Some(minutes(299));
        }),
    ] {
        let outcome = PolicyTest::with(())
            .given(vec![created()])
            .when_async(change)
            .await
            .inspect_result();
        let Err(SlaPolicyError::Invalid(errors)) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "resolutionTimeTarget");
    }
    // Equal targets are fine.
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(update(|u| u.resolution_time_target = Some(minutes(30))))
        .await
        .then_expect_events(vec![SlaPolicyEvent::SlaPolicyRevised {
            definition: SlaPolicyDefinition {
                resolution_time_target: minutes(30),
                ..definition()
            },
        }]);
}

#[tokio::test]
async fn a_revision_records_the_whole_definition_once_and_no_change_nothing() {
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(update(|u| {
            u.name = Some(PolicyName::parse("Enterprise P1, strict").unwrap());
            u.response_time_target = Some(minutes(20));
            u.customer_tier = Some(None);
            u.notify_on_warning = Some(false);
        }))
        .await
        .then_expect_events(vec![SlaPolicyEvent::SlaPolicyRevised {
            definition: SlaPolicyDefinition {
                name: PolicyName::parse("Enterprise P1, strict").unwrap(),
                response_time_target: minutes(20),
                customer_tier: None,
                notify_on_warning: false,
                ..definition()
            },
        }]);
    // Every field sent with the value it has: nothing to record.
    let current = definition();
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(update(|u| {
            u.name = Some(current.name.clone());
            u.priority = Some(current.priority);
            u.customer_tier = Some(current.customer_tier);
            u.response_time_target = Some(current.response_time_target);
            u.calendar.timezone = Some("UTC".into());
            u.calendar.apply_business_hours_only = Some(false);
            u.active = Some(true);
        }))
        .await
        .then_expect_events(vec![]);
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(update(|_| {}))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_policy_is_deactivated_and_reactivated_each_once() {
    let active = |active: bool| update(move |u| u.active = Some(active));
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(active(false))
        .await
        .then_expect_events(vec![SlaPolicyEvent::SlaPolicyDeactivated {}]);
    PolicyTest::with(())
        .given(vec![created(), SlaPolicyEvent::SlaPolicyDeactivated {}])
        .when_async(active(false))
        .await
        .then_expect_events(vec![]);
    PolicyTest::with(())
        .given(vec![created(), SlaPolicyEvent::SlaPolicyDeactivated {}])
        .when_async(active(true))
        .await
        .then_expect_events(vec![SlaPolicyEvent::SlaPolicyReactivated {}]);
    // A revision and a deactivation in one request: the revision first, both or neither.
    let revised = SlaPolicyDefinition {
        auto_escalate_on_breach: false,
        ..definition()
    };
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(update(|u| {
            u.auto_escalate_on_breach = Some(false);
            u.active = Some(false);
        }))
        .await
        .then_expect_events(vec![
            SlaPolicyEvent::SlaPolicyRevised {
                definition: revised,
            },
            SlaPolicyEvent::SlaPolicyDeactivated {},
        ]);
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(update(|u| {
            u.resolution_time_target = Some(minutes(1));
            u.active = Some(false);
        }))
        .await
        .then_expect_error(invalid(&[(
            "resolutionTimeTarget",
            "must not be below responseTimeTarget (30 min): a ticket is not due for resolution \
             before it is due for a response",
        )]));
}

#[tokio::test]
async fn calendar_changes_are_checked_with_the_fields_they_leave() {
    let berlin = CalendarFields {
        timezone: "Europe/Berlin".into(),
        ..definition().calendar.fields()
    };
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(update(|u| {
            u.calendar.timezone = Some("Europe/Berlin".into())
        }))
        .await
        .then_expect_events(vec![SlaPolicyEvent::SlaPolicyRevised {
            definition: SlaPolicyDefinition {
                calendar: BusinessCalendar::parse(&berlin).unwrap(),
                ..definition()
            },
        }]);
    // A bad calendar and a bad target order are reported together.
    let outcome = PolicyTest::with(())
        .given(vec![created()])
        .when_async(update(|u| {
            u.calendar.timezone = Some("Mars/Olympus_Mons".into());
            u.resolution_time_target = Some(minutes(1));
        }))
        .await
        .inspect_result();
    let Err(SlaPolicyError::Invalid(errors)) = outcome else {
        panic!("{outcome:?}");
    };
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["timezone", "resolutionTimeTarget"]);
}

#[test]
fn events_are_stored_with_the_spec_field_names_and_read_back() {
    let event = created();
    let stored = serde_json::to_value(&event).unwrap();
    let payload = &stored["SlaPolicyCreated"];
    assert_eq!(payload["policyId"], POLICY.to_string());
    assert_eq!(payload["priority"], "P1_HIGH");
    assert_eq!(payload["customerTier"], "ENTERPRISE");
    assert_eq!(payload["responseTimeTarget"], 30);
    assert_eq!(payload["responseTimeWarningThreshold"], 75);
    assert_eq!(
        payload["applyBusinessHoursOnly"], false,
        "the calendar's fields sit in the payload itself"
    );
    assert_eq!(payload["timezone"], "UTC");
    assert_eq!(payload.get("holidays"), None, "no holidays: left out");
    assert!(event.personal_fields().is_empty());
    assert_eq!(event.data_subject(), None);
    assert_eq!(
        SlaPolicyEvent::from_parts("SlaPolicyCreated", payload).unwrap(),
        event
    );
}

#[test]
fn a_policy_gives_its_terms_to_tickets() {
    let terms = definition().terms(POLICY);
    assert_eq!(terms.policy_id, POLICY);
    assert_eq!(terms.policy_name.as_str(), "Enterprise P1");
    assert_eq!(terms.response_time_target, minutes(30));
    assert_eq!(terms.resolution_time_target, minutes(240));
    assert_eq!(terms.response_time_warning_threshold.get(), 75);
    assert_eq!(terms.calendar, definition().calendar);
    assert!(terms.auto_escalate_on_breach);
}

#[test]
fn the_defaults_promise_the_spec_targets_around_the_clock() {
    let expected = [
        (TicketPriority::Critical, 15, 240),
        (TicketPriority::High, 60, 480),
        (TicketPriority::Medium, 240, 1_440),
        (TicketPriority::Low, 1_440, 4_320),
    ];
    for (priority, response, resolution) in expected {
        let policy = default_policy(priority);
        assert_eq!(policy.name.as_str(), format!("Default {priority}"));
        assert_eq!(policy.priority, priority);
        assert_eq!(policy.customer_tier, None);
        assert_eq!(policy.response_time_target, minutes(response));
        assert_eq!(policy.resolution_time_target, minutes(resolution));
        assert_eq!(policy.response_time_warning_threshold.get(), 80);
        assert_eq!(policy.resolution_time_warning_threshold.get(), 80);
        assert!(!policy.calendar.counts_business_hours());
        assert_eq!(policy.calendar.timezone(), chrono_tz::UTC);
        assert_eq!(policy.check(false), Ok(()));
    }
}
