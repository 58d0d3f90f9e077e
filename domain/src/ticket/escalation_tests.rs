//! Given/when/then for a ticket's escalation ladders: a breach starts a climb, the timer climbs a
//! level when its delay passes unanswered, an answer ends the climb, and an agent climbs the same
//! ladder by hand.

use std::sync::Arc;

use uuid::Uuid;

use super::sla_tests::{at, caller, content, decide, minutes, open_at, t0, terms, utc, TicketTest};
use super::*;
use crate::escalation::{
    ActiveEscalationPolicy, DelayMinutes, EscalationLadder, EscalationLevel,
    EscalationPolicyDefinition, EscalationRule, Recipients,
};
use crate::sla::{ApplicablePolicy, PolicyName};
use crate::ActorRole;
use chrono::TimeDelta;

const SLA_POLICY: Uuid = Uuid::from_u128(21);
const LADDER_POLICY: Uuid = Uuid::from_u128(31);

fn level(agent: &str, delay: i64) -> EscalationLevel {
    EscalationLevel {
        recipients: Recipients {
            agents: vec![agent.to_owned()],
            ..Recipients::default()
        },
        delay_minutes: DelayMinutes::parse(delay).unwrap(),
    }
}

fn rule(triggers: &[EscalationTrigger], repeat: u8) -> EscalationRule {
    EscalationRule {
        priorities: vec![TicketPriority::High],
        categories: Vec::new(),
        triggers: triggers.to_vec(),
        levels: vec![level("team-lead", 5), level("head-of-support", 10)],
        repeat,
    }
}

fn escalations(rules: Vec<EscalationRule>) -> Arc<EscalationBook> {
    Arc::new(EscalationBook::new(vec![ActiveEscalationPolicy {
        policy_id: LADDER_POLICY,
        created_at: at("2026-01-01T00:00:00Z"),
        definition: EscalationPolicyDefinition {
            name: PolicyName::parse("Ladder").unwrap(),
            rules,
        },
    }]))
}

fn breach_ladder() -> Arc<EscalationBook> {
    escalations(vec![rule(
        &[EscalationTrigger::ResponseBreach, EscalationTrigger::Manual],
        0,
    )])
}

/// A P1 ticket opened at `t0` under a one-minute response promise that escalates on breach.
async fn opened(auto_escalate: bool) -> Vec<TicketEvent> {
    let mut sla = terms(SLA_POLICY, 1, 480, utc());
    sla.auto_escalate_on_breach = auto_escalate;
    let book = SlaPolicyBook::new(vec![ApplicablePolicy {
        priority: TicketPriority::High,
        customer_tier: None,
        created_at: at("2026-01-01T00:00:00Z"),
        terms: sla,
    }]);
    decide(Vec::new(), open_at(t0(), content(), book)).await
}

fn timer(when: chrono::DateTime<chrono::Utc>, book: &Arc<EscalationBook>) -> TicketCommand {
    TicketCommand::RecordDue(RecordDue {
        caller: caller(ActorRole::Service),
        at: when,
        escalations: book.clone(),
    })
}

fn escalate_by_hand(
    when: chrono::DateTime<chrono::Utc>,
    book: &Arc<EscalationBook>,
) -> TicketCommand {
    TicketCommand::Escalate(EscalateTicket {
        caller: caller(ActorRole::Agent),
        at: when,
        reason: Reason::parse("The customer is losing orders").unwrap(),
        escalations: book.clone(),
    })
}

fn reply(when: chrono::DateTime<chrono::Utc>, book: &Arc<EscalationBook>) -> TicketCommand {
    TicketCommand::AddComment(AddComment {
        comment_id: Uuid::from_u128(99),
        caller: caller(ActorRole::Agent),
        at: when,
        body: CommentBody::parse("Looking now").unwrap(),
        visibility: CommentVisibility::Public,
        escalations: book.clone(),
    })
}

/// The level, round, recipients and next instant of an escalation step.
fn step(event: &TicketEvent) -> (u32, u32, Vec<String>, Option<chrono::DateTime<chrono::Utc>>) {
    match event {
        TicketEvent::TicketEscalated {
            level,
            round,
            recipients,
            next_level_at,
            ..
        } => (*level, *round, recipients.agents.clone(), *next_level_at),
        other => panic!("not an escalation: {other:?}"),
    }
}

fn names(events: &[TicketEvent]) -> Vec<&'static str> {
    events.iter().map(TicketEvent::name).collect()
}

#[tokio::test]
async fn a_breach_climbs_the_ladder_level_by_level_until_the_ticket_is_answered() {
    let book = breach_ladder();
    let mut history = opened(true).await;
    // The deadline is t0 + 1 min; the timer comes a moment later.
    let breach = decide(history.clone(), timer(t0() + minutes(1), &book)).await;
    assert_eq!(
        names(&breach),
        ["SlaWarningReached", "SlaBreached", "TicketEscalated"]
    );
    let first = &breach[2];
    assert_eq!(
        step(first),
        (1, 1, vec!["team-lead".to_owned()], Some(t0() + minutes(6)))
    );
    let TicketEvent::TicketEscalated {
        trigger, ladder, ..
    } = first
    else {
        unreachable!()
    };
    assert_eq!(*trigger, EscalationTrigger::ResponseBreach);
    let ladder = ladder.as_ref().expect("the first step copies the ladder");
    assert_eq!(
        (ladder.policy_id, ladder.until),
        (LADDER_POLICY, ClockKind::Response)
    );
    history.extend(breach);

    // Before the level's delay has passed, nothing climbs.
    assert!(decide(history.clone(), timer(t0() + minutes(5), &book))
        .await
        .is_empty());
    let second = decide(history.clone(), timer(t0() + minutes(6), &book)).await;
    assert_eq!(
        step(&second[0]),
        (2, 1, vec!["head-of-support".to_owned()], None),
        "the last level of a ladder without repeats is the end of the climb"
    );
    history.extend(second);
    assert!(decide(history.clone(), timer(t0() + minutes(60), &book))
        .await
        .is_empty());
}

#[tokio::test]
async fn an_answer_ends_the_climb_of_a_response_breach() {
    let book = breach_ladder();
    let mut history = opened(true).await;
    history.extend(decide(history.clone(), timer(t0() + minutes(1), &book)).await);
    history.extend(decide(history.clone(), reply(t0() + minutes(3), &book)).await);
    assert!(
        decide(history.clone(), timer(t0() + minutes(6), &book))
            .await
            .is_empty(),
        "the answered ticket climbs no further"
    );
}

#[tokio::test]
async fn a_ladder_repeats_as_often_as_its_rule_says() {
    let book = escalations(vec![rule(&[EscalationTrigger::ResponseBreach], 1)]);
    let mut history = opened(true).await;
    history.extend(decide(history.clone(), timer(t0() + minutes(1), &book)).await);
    let mut steps = Vec::new();
    let mut when = t0() + minutes(1);
    for delay in [5, 10, 5] {
        when += minutes(delay);
        let climbed = decide(history.clone(), timer(when, &book)).await;
        steps.push((step(&climbed[0]).0, step(&climbed[0]).1));
        history.extend(climbed);
    }
    assert_eq!(steps, [(2, 1), (1, 2), (2, 2)]);
    assert!(decide(history, timer(when + minutes(60), &book))
        .await
        .is_empty());
}

#[tokio::test]
async fn a_breach_escalates_only_under_terms_that_say_so() {
    let book = breach_ladder();
    let history = opened(false).await;
    let events = decide(history, timer(t0() + minutes(1), &book)).await;
    assert_eq!(names(&events), ["SlaWarningReached", "SlaBreached"]);
}

#[tokio::test]
async fn a_warning_rule_climbs_without_a_breach() {
    let book = escalations(vec![rule(&[EscalationTrigger::Warning], 0)]);
    let history = opened(false).await;
    // The response warning comes at 80% of the minute.
    let events = decide(history, timer(t0() + TimeDelta::seconds(50), &book)).await;
    assert_eq!(names(&events), ["SlaWarningReached", "TicketEscalated"]);
}

#[tokio::test]
async fn a_manual_escalation_climbs_the_same_ladder() {
    let book = breach_ladder();
    let mut history = opened(true).await;
    // Not climbing yet: the ladder of the rule for manual escalation, from its first level.
    let first = decide(history.clone(), escalate_by_hand(t0(), &book)).await;
    assert_eq!(
        step(&first[0]),
        (1, 1, vec!["team-lead".to_owned()], Some(t0() + minutes(5)))
    );
    history.extend(first);
    // The breach does not start a second climb, and the climb goes on from where it stands.
    let breach = decide(history.clone(), timer(t0() + minutes(1), &book)).await;
    assert_eq!(names(&breach), ["SlaWarningReached", "SlaBreached"]);
    history.extend(breach);
    let second = decide(history.clone(), escalate_by_hand(t0() + minutes(2), &book)).await;
    assert_eq!(step(&second[0]).0, 2);
    history.extend(second);
    TicketTest::with(())
        .given(history)
        .when_async(escalate_by_hand(t0() + minutes(3), &book))
        .await
        .then_expect_error(TicketError::TopOfLadder { level: 2 });
}

#[tokio::test]
async fn a_breach_recorded_by_another_command_starts_the_climb_too() {
    let book = breach_ladder();
    let history = opened(true).await;
    // An internal note after the deadline, before the timer came: the breach is recorded with it.
    let note = TicketCommand::AddComment(AddComment {
        comment_id: Uuid::from_u128(98),
        caller: caller(ActorRole::Agent),
        at: t0() + minutes(2),
        body: CommentBody::parse("Checking logs").unwrap(),
        visibility: CommentVisibility::Internal,
        escalations: book,
    });
    let events = decide(history, note).await;
    assert_eq!(
        names(&events),
        [
            "SlaWarningReached",
            "SlaBreached",
            "TicketCommentAdded",
            "TicketEscalated"
        ]
    );
}

#[tokio::test]
async fn the_first_policy_created_and_its_first_rule_that_applies_win() {
    let mut general = rule(&[EscalationTrigger::Manual], 0);
    general.priorities.clear();
    let mut technical = rule(&[EscalationTrigger::Manual], 0);
    technical.categories = vec![TicketCategory::Technical];
    technical.levels = vec![level("tech-lead", 5)];
    let policy = |id: u128, created: &str, rules| ActiveEscalationPolicy {
        policy_id: Uuid::from_u128(id),
        created_at: at(created),
        definition: EscalationPolicyDefinition {
            name: PolicyName::parse("P").unwrap(),
            rules,
        },
    };
    let book = EscalationBook::new(vec![
        policy(2, "2026-02-01T00:00:00Z", vec![general.clone()]),
        policy(1, "2026-01-01T00:00:00Z", vec![technical, general]),
    ]);
    let matched = |category| {
        book.matching(
            TicketPriority::High,
            category,
            EscalationTrigger::Manual,
            None,
        )
        .map(|l: EscalationLadder| (l.policy_id, l.levels[0].recipients.agents[0].clone()))
    };
    assert_eq!(
        matched(TicketCategory::Technical),
        Some((Uuid::from_u128(1), "tech-lead".to_owned()))
    );
    assert_eq!(
        matched(TicketCategory::Billing),
        Some((Uuid::from_u128(1), "team-lead".to_owned()))
    );
    assert_eq!(
        book.matching(
            TicketPriority::High,
            TicketCategory::Billing,
            EscalationTrigger::Warning,
            None
        ),
        None
    );
}

#[test]
fn escalations_before_ladders_read_as_manual_steps() {
    let event = TicketEvent::from_parts(
        "TicketEscalated",
        &serde_json::json!({"level": 3, "reason": "old"}),
    )
    .unwrap();
    assert_eq!(
        event,
        TicketEvent::TicketEscalated {
            level: 3,
            reason: Reason::parse("old").unwrap(),
            trigger: EscalationTrigger::Manual,
            recipients: Recipients::default(),
            ladder: None,
            round: 1,
            next_level_at: None,
        }
    );
    assert_eq!(
        serde_json::to_value(&event).unwrap()["TicketEscalated"],
        serde_json::json!({"level": 3, "reason": "old", "trigger": "MANUAL"})
    );
}
