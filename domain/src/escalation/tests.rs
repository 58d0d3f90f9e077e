//! Given/when/then for the escalation policy aggregate.

use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::sla::PolicyName;
use crate::{Actor, ActorRole, Caller, FieldError};

type PolicyTest = TestFramework<EscalationPolicy>;

const ID: Uuid = Uuid::from_u128(7);

fn caller(role: ActorRole) -> Caller {
    Caller {
        actor: Actor {
            sub: "someone".to_owned(),
            role,
        },
        customer_id: None,
    }
}

fn definition() -> EscalationPolicyDefinition {
    EscalationPolicyDefinition {
        name: PolicyName::parse("Breaches").unwrap(),
        rules: vec![EscalationRule {
            priorities: Vec::new(),
            categories: Vec::new(),
            triggers: vec![EscalationTrigger::ResponseBreach],
            levels: vec![EscalationLevel {
                recipients: Recipients {
                    roles: vec![ActorRole::Admin],
                    ..Recipients::default()
                },
                delay_minutes: DelayMinutes::parse(15).unwrap(),
            }],
            repeat: 0,
        }],
    }
}

fn created() -> EscalationPolicyEvent {
    EscalationPolicyEvent::EscalationPolicyCreated {
        policy_id: ID,
        definition: definition(),
    }
}

fn update(role: ActorRole) -> UpdateEscalationPolicy {
    UpdateEscalationPolicy {
        caller: caller(role),
        name: None,
        rules: None,
        active: None,
    }
}

#[tokio::test]
async fn admins_create_a_policy_once() {
    let create = || {
        EscalationPolicyCommand::Create(CreateEscalationPolicy {
            caller: caller(ActorRole::Admin),
            policy_id: ID,
            definition: definition(),
        })
    };
    PolicyTest::with(())
        .given_no_previous_events()
        .when_async(create())
        .await
        .then_expect_events(vec![created()]);
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(create())
        .await
        .then_expect_error(EscalationPolicyError::AlreadyExists);
}

#[tokio::test]
async fn agents_customers_and_auditors_change_no_policy() {
    for (role, error) in [
        (ActorRole::Agent, EscalationPolicyError::Forbidden),
        (ActorRole::Customer, EscalationPolicyError::Forbidden),
        (ActorRole::Auditor, EscalationPolicyError::ReadOnlyCaller),
    ] {
        PolicyTest::with(())
            .given(vec![created()])
            .when_async(EscalationPolicyCommand::Update(update(role)))
            .await
            .then_expect_error(error);
    }
}

#[tokio::test]
async fn every_broken_rule_is_reported_at_once() {
    let mut broken = definition().rules[0].clone();
    broken.triggers.clear();
    broken.levels[0].recipients = Recipients::default();
    broken.repeat = 10;
    let mut change = update(ActorRole::Admin);
    change.rules = Some(vec![definition().rules[0].clone(), broken]);
    let error = |field: &str, message: &str| FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    };
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(EscalationPolicyCommand::Update(change))
        .await
        .then_expect_error(EscalationPolicyError::Invalid(FieldErrors(vec![
            error("rules[1].triggers", "must name at least one trigger"),
            error("rules[1].repeat", "must be from 0 to 9"),
            error(
                "rules[1].levels[0].recipients",
                "must name at least one agent, role or team",
            ),
        ])));
}

#[tokio::test]
async fn a_change_is_one_revision_and_deactivation_is_its_own_event() {
    let mut change = update(ActorRole::Admin);
    change.name = Some(PolicyName::parse("Renamed").unwrap());
    change.active = Some(false);
    let mut renamed = definition();
    renamed.name = PolicyName::parse("Renamed").unwrap();
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(EscalationPolicyCommand::Update(change))
        .await
        .then_expect_events(vec![
            EscalationPolicyEvent::EscalationPolicyRevised {
                definition: renamed,
            },
            EscalationPolicyEvent::EscalationPolicyDeactivated {},
        ]);
    PolicyTest::with(())
        .given(vec![created()])
        .when_async(EscalationPolicyCommand::Update(update(ActorRole::Admin)))
        .await
        .then_expect_events(Vec::new());
}
