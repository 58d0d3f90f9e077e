//! Given/when/then for the ticket's SLA clocks: every transition, with instants worked out by hand.

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::sla::{
    ApplicablePolicy, BusinessCalendar, CalendarFields, ClockKind, ClockMoment, ClockState,
    CustomerTier, PauseReason, PolicyName, SlaClock, SlaMatch, SlaTerms, TargetMinutes,
    WarningPercent,
};
use crate::{Actor, ActorRole, Caller};

pub(super) type TicketTest = TestFramework<Ticket>;

pub(super) const TICKET: Uuid = Uuid::from_u128(1);
const P1_POLICY: Uuid = Uuid::from_u128(11);
const P0_POLICY: Uuid = Uuid::from_u128(10);

pub(super) fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Monday 09:00 UTC.
pub(super) fn t0() -> DateTime<Utc> {
    at("2026-11-23T09:00:00Z")
}

pub(super) fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

pub(super) fn terms(
    policy_id: Uuid,
    response: i64,
    resolution: i64,
    calendar: BusinessCalendar,
) -> SlaTerms {
    SlaTerms {
        policy_id,
        policy_name: PolicyName::parse("Policy").unwrap(),
        response_time_target: TargetMinutes::parse(response).unwrap(),
        resolution_time_target: TargetMinutes::parse(resolution).unwrap(),
        response_time_warning_threshold: WarningPercent::parse(80).unwrap(),
        resolution_time_warning_threshold: WarningPercent::parse(80).unwrap(),
        calendar,
        auto_escalate_on_breach: false,
        notify_on_warning: true,
        notify_on_breach: true,
    }
}

pub(super) fn utc() -> BusinessCalendar {
    BusinessCalendar::around_the_clock(chrono_tz::UTC)
}

/// P1: respond within an hour, resolve within eight, around the clock.
fn p1() -> SlaTerms {
    terms(P1_POLICY, 60, 480, utc())
}

fn policy(
    priority: TicketPriority,
    tier: Option<CustomerTier>,
    terms: SlaTerms,
) -> ApplicablePolicy {
    ApplicablePolicy {
        priority,
        customer_tier: tier,
        created_at: at("2026-01-01T00:00:00Z"),
        terms,
    }
}

fn book() -> SlaPolicyBook {
    SlaPolicyBook::new(vec![
        policy(TicketPriority::High, None, p1()),
        policy(
            TicketPriority::Critical,
            None,
            terms(P0_POLICY, 15, 240, utc()),
        ),
    ])
}

pub(super) fn content() -> TicketContent {
    TicketContent {
        title: TicketTitle::parse("Dashboard down").unwrap(),
        description: TicketDescription::parse("500 on load").unwrap(),
        priority: TicketPriority::High,
        category: TicketCategory::Technical,
        channel: TicketChannel::WebForm,
        customer: Some(Customer::parse("customer-123", None, None).unwrap()),
        customer_tier: None,
        affected_systems: Labels::default(),
        tags: Labels::default(),
    }
}

pub(super) fn open_at(
    when: DateTime<Utc>,
    content: TicketContent,
    policies: SlaPolicyBook,
) -> TicketCommand {
    TicketCommand::Open(OpenTicket {
        ticket_id: TICKET,
        ticket_number: TicketNumber::parse("TKT-20261123-0001").unwrap(),
        content,
        suggested_articles_seen: Default::default(),
        created_by: "customer-123".into(),
        at: when,
        policies: policies.into(),
    })
}

pub(super) fn caller(role: ActorRole) -> Caller {
    Caller {
        actor: Actor {
            sub: format!("{}-1", role.as_str()),
            role,
        },
        customer_id: (role == ActorRole::Customer).then(|| "customer-123".to_owned()),
    }
}

/// Decides `command` on the ticket `given` leaves, expecting success.
pub(super) async fn decide(given: Vec<TicketEvent>, command: TicketCommand) -> Vec<TicketEvent> {
    TicketTest::with(())
        .given(given)
        .when_async(command)
        .await
        .inspect_result()
        .expect("the command succeeds")
}

/// The events of a P1 ticket opened at `t0`, assigned to agent-1 and in progress.
async fn opened() -> Vec<TicketEvent> {
    let mut events = decide(Vec::new(), open_at(t0(), content(), book())).await;
    events.push(TicketEvent::TicketAssigned {
        assignee: AgentId::parse("agent-1").unwrap(),
        previous_assignee: None,
    });
    events.push(TicketEvent::TicketStatusChanged {
        from: TicketStatus::Open,
        to: TicketStatus::InProgress,
        note: None,
    });
    events
}

fn status(when: DateTime<Utc>, to: TicketStatus) -> TicketCommand {
    let mut update = UpdateTicket::by(caller(ActorRole::Admin), when);
    update.status = Some(to);
    TicketCommand::Update(update)
}

fn reply(when: DateTime<Utc>, role: ActorRole) -> TicketCommand {
    TicketCommand::AddComment(AddComment {
        comment_id: Uuid::from_u128(99),
        caller: caller(role),
        at: when,
        body: CommentBody::parse("On it").unwrap(),
        visibility: CommentVisibility::Public,
        escalations: Default::default(),
    })
}

fn timer(when: DateTime<Utc>) -> TicketCommand {
    TicketCommand::RecordDue(RecordDue {
        caller: caller(ActorRole::Service),
        at: when,
        escalations: Default::default(),
    })
}

fn names(events: &[TicketEvent]) -> Vec<&'static str> {
    events.iter().map(TicketEvent::name).collect()
}

/// The clocks the last event of `events` carries.
fn clocks(events: &[TicketEvent]) -> SlaClocks {
    events
        .iter()
        .rev()
        .find_map(|event| match event {
            TicketEvent::TicketOpened { sla, .. } => sla.as_ref().map(|sla| sla.clocks()),
            TicketEvent::SlaPolicyApplied { clocks, .. }
            | TicketEvent::SlaClocksPaused { clocks, .. }
            | TicketEvent::SlaClocksResumed { clocks, .. }
            | TicketEvent::SlaClockCompleted { clocks, .. }
            | TicketEvent::SlaClockRestarted { clocks, .. }
            | TicketEvent::SlaClocksStopped { clocks }
            | TicketEvent::SlaWarningReached { clocks, .. }
            | TicketEvent::SlaBreached { clocks, .. } => Some(clocks.clone()),
            _ => None,
        })
        .expect("an SLA event")
}

fn concat(mut given: Vec<TicketEvent>, more: Vec<TicketEvent>) -> Vec<TicketEvent> {
    given.extend(more);
    given
}

#[tokio::test]
async fn opening_under_a_policy_starts_both_clocks_with_a_copy_of_its_terms() {
    let events = decide(Vec::new(), open_at(t0(), content(), book())).await;
    assert_eq!(names(&events), ["TicketOpened"]);
    let TicketEvent::TicketOpened { sla: Some(sla), .. } = &events[0] else {
        panic!("the opening carries the policy it applied: {events:?}")
    };
    let OpeningSla {
        terms,
        matched,
        started_at,
    } = sla.as_ref();
    assert_eq!(*terms, p1());
    assert_eq!(*started_at, t0());
    assert_eq!(
        *matched,
        SlaMatch {
            priority: TicketPriority::High,
            customer_tier: None,
            policy_tier: None,
        }
    );
    let clocks = sla.clocks();
    assert_eq!(clocks.response.state, ClockState::Running);
    assert_eq!(clocks.response.deadline, Some(t0() + minutes(60)));
    assert_eq!(clocks.response.warning_at, Some(t0() + minutes(48)));
    assert_eq!(clocks.resolution.deadline, Some(t0() + minutes(480)));
    assert_eq!(clocks.resolution.warning_at, Some(t0() + minutes(384)));
}

/// An object's field names, sorted.
fn keys(object: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

/// The opening is every ticket's one event: its SLA part carries the terms, why they matched and
/// when the clocks started, leaves the clocks (which follow) and empty fields out, and reads back
/// whole, as does a clock recorded with its empty fields spelled `null`.
#[tokio::test]
async fn the_opening_records_its_policy_without_clocks_or_empty_fields() {
    let events = decide(Vec::new(), open_at(t0(), content(), book())).await;
    let TicketEvent::TicketOpened { sla: Some(sla), .. } = &events[0] else {
        panic!("the opening carries the policy it applied: {events:?}")
    };
    let wire = serde_json::to_value(sla).unwrap();
    assert_eq!(keys(&wire), ["matched", "startedAt", "terms"]);
    assert_eq!(wire["startedAt"], "2026-11-23T09:00:00Z");
    assert_eq!(wire["matched"], serde_json::json!({"priority": "P1_HIGH"}));
    for empty in [
        "businessHoursStart",
        "businessHoursEnd",
        "businessDays",
        "holidays",
    ] {
        assert!(wire["terms"].get(empty).is_none(), "{empty} in {wire}");
    }
    let back: OpeningSla = serde_json::from_value(wire).unwrap();
    assert_eq!(&back, sla.as_ref());

    let running = serde_json::to_value(&sla.clocks().response).unwrap();
    assert_eq!(
        keys(&running),
        [
            "countedMicros",
            "countingSince",
            "deadline",
            "state",
            "target",
            "warningAt",
            "warningThreshold"
        ]
    );
    let mut spelled = running.clone();
    for empty in ["warnedAt", "breachedAt", "endedAt"] {
        spelled[empty] = serde_json::Value::Null;
    }
    let read: SlaClock = serde_json::from_value(spelled).unwrap();
    assert_eq!(read, sla.clocks().response);
}

#[tokio::test]
async fn a_ticket_no_policy_matches_has_no_clocks() {
    let mut low = content();
    low.priority = TicketPriority::Low;
    let events = decide(Vec::new(), open_at(t0(), low, book())).await;
    assert_eq!(names(&events), ["TicketOpened"]);
    assert!(matches!(
        &events[0],
        TicketEvent::TicketOpened { sla: None, .. }
    ));
    let later = decide(events, status(t0() + minutes(5), TicketStatus::Cancelled)).await;
    assert_eq!(names(&later), ["TicketStatusChanged"]);
}

#[test]
fn a_tier_policy_beats_one_for_every_tier_and_the_oldest_wins_a_tie() {
    let enterprise = terms(Uuid::from_u128(21), 10, 100, utc());
    let older = terms(Uuid::from_u128(23), 30, 300, utc());
    let newer = terms(Uuid::from_u128(22), 20, 200, utc());
    let book = SlaPolicyBook::new(vec![
        policy(TicketPriority::High, None, p1()),
        policy(
            TicketPriority::High,
            Some(CustomerTier::Enterprise),
            enterprise.clone(),
        ),
        ApplicablePolicy {
            created_at: at("2026-02-01T00:00:00Z"),
            ..policy(TicketPriority::Medium, None, newer)
        },
        policy(TicketPriority::Medium, None, older.clone()),
        policy(TicketPriority::Low, Some(CustomerTier::Free), p1()),
    ]);
    let (chosen, matched) = book
        .matching(TicketPriority::High, Some(CustomerTier::Enterprise))
        .unwrap();
    assert_eq!(*chosen, enterprise);
    assert_eq!(matched.policy_tier, Some(CustomerTier::Enterprise));
    let (chosen, _) = book
        .matching(TicketPriority::High, Some(CustomerTier::Standard))
        .unwrap();
    assert_eq!(*chosen, p1(), "another tier's policy never matches");
    assert_eq!(
        book.matching(TicketPriority::Medium, None).unwrap().0,
        &older
    );
    assert!(
        book.matching(TicketPriority::Low, None).is_none(),
        "a tier policy needs that tier"
    );

    // Same creation instant: the lowest id.
    let same = |id| ApplicablePolicy {
        created_at: t0(),
        ..policy(
            TicketPriority::Low,
            None,
            terms(Uuid::from_u128(id), 5, 50, utc()),
        )
    };
    let book = SlaPolicyBook::new(vec![same(32), same(31)]);
    assert_eq!(
        book.matching(TicketPriority::Low, None)
            .unwrap()
            .0
            .policy_id,
        Uuid::from_u128(31)
    );
}

#[tokio::test]
async fn the_first_public_staff_reply_meets_the_response_clock() {
    let given = opened().await;
    let events = decide(given.clone(), reply(t0() + minutes(30), ActorRole::Agent)).await;
    assert_eq!(
        names(&events),
        [
            "TicketCommentAdded",
            "TicketFirstResponseRecorded",
            "SlaClockCompleted"
        ]
    );
    let clocks = clocks(&events);
    assert_eq!(clocks.response.state, ClockState::Met);
    assert_eq!(
        clocks.response.counted_micros,
        minutes(30).num_microseconds().unwrap()
    );
    assert_eq!(clocks.response.ended_at, Some(t0() + minutes(30)));
    assert_eq!(clocks.response.warning_at, None, "no warning after the end");
    assert_eq!(clocks.resolution.state, ClockState::Running);

    let customer = decide(given, reply(t0() + minutes(30), ActorRole::Customer)).await;
    assert_eq!(
        names(&customer),
        ["TicketCommentAdded"],
        "a customer's reply answers nobody"
    );
}

#[tokio::test]
async fn waiting_for_the_customer_pauses_both_clocks_and_resuming_moves_the_deadlines() {
    let given = opened().await;
    let paused = decide(
        given.clone(),
        status(t0() + minutes(20), TicketStatus::WaitingCustomer),
    )
    .await;
    assert_eq!(names(&paused), ["TicketStatusChanged", "SlaClocksPaused"]);
    let at_pause = clocks(&paused);
    assert_eq!(at_pause.response.state, ClockState::Paused);
    assert_eq!(at_pause.response.deadline, None);
    assert_eq!(at_pause.response.counting_since, None);
    assert_eq!(at_pause.resolution.state, ClockState::Paused);

    // The customer answers two hours later: the ticket is back in progress and counts again.
    let given = concat(given, paused);
    let resumed = decide(given, reply(t0() + minutes(140), ActorRole::Customer)).await;
    assert_eq!(
        names(&resumed),
        [
            "TicketCommentAdded",
            "TicketStatusChanged",
            "SlaClocksResumed"
        ]
    );
    let after = clocks(&resumed);
    assert_eq!(after.response.state, ClockState::Running);
    assert_eq!(
        after.response.deadline,
        Some(t0() + minutes(60 + 120)),
        "moved by the two hours paused"
    );
    assert_eq!(after.response.warning_at, Some(t0() + minutes(48 + 120)));
    assert_eq!(after.resolution.deadline, Some(t0() + minutes(480 + 120)));
}

const INCIDENT: Uuid = Uuid::from_u128(500);

/// The timer telling the ticket which incidents are active at `when`.
fn follow(when: DateTime<Utc>, active: &[Uuid]) -> TicketCommand {
    TicketCommand::FollowIncidents(FollowIncidents {
        caller: caller(ActorRole::Service),
        at: when,
        active_incidents: active.to_vec(),
        escalations: Default::default(),
    })
}

/// `opened`, linked to `INCIDENT`.
async fn linked() -> Vec<TicketEvent> {
    concat(
        opened().await,
        vec![TicketEvent::TicketIncidentLinked {
            incident_id: INCIDENT,
        }],
    )
}

#[tokio::test]
async fn an_active_incident_holds_the_clocks_and_its_resolution_lets_them_count_again() {
    let given = linked().await;
    let held = decide(given.clone(), follow(t0() + minutes(20), &[INCIDENT])).await;
    assert_eq!(names(&held), ["TicketHeldByIncident", "SlaClocksPaused"]);
    assert!(matches!(
        &held[1],
        TicketEvent::SlaClocksPaused {
            reason: PauseReason::Incident,
            ..
        }
    ));
    let at_hold = clocks(&held);
    assert_eq!(at_hold.paused_for, [PauseReason::Incident]);
    assert_eq!(at_hold.response.state, ClockState::Paused);
    assert_eq!(at_hold.resolution.state, ClockState::Paused);

    // Told again while nothing changed: nothing happens.
    let given = concat(given, held);
    assert!(
        decide(given.clone(), follow(t0() + minutes(30), &[INCIDENT]))
            .await
            .is_empty()
    );
    // An active incident the ticket is not linked to holds nothing.
    assert!(decide(
        linked().await,
        follow(t0() + minutes(20), &[Uuid::from_u128(7)])
    )
    .await
    .is_empty());

    // The incident resolves 90 minutes later: the deadlines move by the held time.
    let released = decide(given, follow(t0() + minutes(110), &[])).await;
    assert_eq!(
        names(&released),
        ["TicketReleasedByIncident", "SlaClocksResumed"]
    );
    let after = clocks(&released);
    assert!(after.paused_for.is_empty());
    assert_eq!(after.response.state, ClockState::Running);
    assert_eq!(after.response.deadline, Some(t0() + minutes(60 + 90)));
    assert_eq!(after.resolution.deadline, Some(t0() + minutes(480 + 90)));
}

#[tokio::test]
async fn a_hold_and_a_wait_for_the_customer_each_keep_the_clocks_paused_until_both_are_over() {
    let given = linked().await;
    let waiting = decide(
        given.clone(),
        status(t0() + minutes(10), TicketStatus::WaitingCustomer),
    )
    .await;
    let given = concat(given, waiting);
    let held = decide(given.clone(), follow(t0() + minutes(20), &[INCIDENT])).await;
    assert_eq!(
        clocks(&held).paused_for,
        [PauseReason::WaitingCustomer, PauseReason::Incident]
    );
    // The customer answers: the ticket works again, but the incident still holds the clocks.
    let given = concat(given, held);
    let answered = decide(
        given.clone(),
        reply(t0() + minutes(40), ActorRole::Customer),
    )
    .await;
    let after_answer = clocks(&answered);
    assert_eq!(after_answer.paused_for, [PauseReason::Incident]);
    assert_eq!(after_answer.response.state, ClockState::Paused);
    assert_eq!(after_answer.response.deadline, None);
    // The incident resolves: the clocks count again, moved by everything paused (10 to 70).
    let given = concat(given, answered);
    let released = decide(given, follow(t0() + minutes(70), &[])).await;
    let after = clocks(&released);
    assert_eq!(after.response.state, ClockState::Running);
    assert_eq!(after.response.deadline, Some(t0() + minutes(60 + 60)));
}

#[tokio::test]
async fn a_ticket_reopened_while_its_incident_is_active_stays_held() {
    let given = linked().await;
    let held = decide(given.clone(), follow(t0() + minutes(20), &[INCIDENT])).await;
    let given = concat(given, held);
    let resolved = decide(
        given.clone(),
        status(t0() + minutes(30), TicketStatus::Resolved),
    )
    .await;
    let given = concat(given, resolved);
    let reopened = decide(given, status(t0() + minutes(50), TicketStatus::InProgress)).await;
    let after = clocks(&reopened);
    assert_eq!(after.paused_for, [PauseReason::Incident]);
    assert_eq!(after.resolution.state, ClockState::Paused);
    assert_eq!(after.resolution.ended_at, None);
}

#[tokio::test]
async fn only_the_service_follows_incidents_and_a_closed_ticket_follows_none() {
    let result = TicketTest::with(())
        .given(linked().await)
        .when_async(TicketCommand::FollowIncidents(FollowIncidents {
            caller: caller(ActorRole::Admin),
            at: t0(),
            active_incidents: vec![INCIDENT],
            escalations: Default::default(),
        }))
        .await
        .inspect_result();
    assert_eq!(result, Err(TicketError::TimerOnly));
    let given = linked().await;
    let cancelled = decide(
        given.clone(),
        status(t0() + minutes(5), TicketStatus::Cancelled),
    )
    .await;
    assert!(decide(
        concat(given, cancelled),
        follow(t0() + minutes(10), &[INCIDENT])
    )
    .await
    .is_empty());
}

#[tokio::test]
async fn resolving_completes_both_clocks_and_reopening_restarts_resolution_with_its_time() {
    let given = opened().await;
    let resolved = decide(
        given.clone(),
        status(t0() + minutes(40), TicketStatus::Resolved),
    )
    .await;
    assert_eq!(
        names(&resolved),
        [
            "TicketStatusChanged",
            "SlaClockCompleted",
            "SlaClockCompleted"
        ]
    );
    let done = clocks(&resolved);
    assert_eq!(done.response.state, ClockState::Met);
    assert_eq!(done.resolution.state, ClockState::Met);

    let given = concat(given, resolved);
    let reopened = decide(given, reply(t0() + minutes(120), ActorRole::Customer)).await;
    assert_eq!(
        names(&reopened),
        [
            "TicketCommentAdded",
            "TicketStatusChanged",
            "SlaClockRestarted"
        ]
    );
    let again = clocks(&reopened);
    assert_eq!(again.response.state, ClockState::Met, "answered already");
    assert_eq!(again.resolution.state, ClockState::Running);
    assert_eq!(
        again.resolution.deadline,
        Some(t0() + minutes(120 + 480 - 40)),
        "the 40 minutes counted before are kept"
    );
    assert_eq!(again.resolution.ended_at, None);
}

#[tokio::test]
async fn cancelling_stops_the_clocks_without_a_verdict() {
    let given = opened().await;
    let events = decide(given, status(t0() + minutes(10), TicketStatus::Cancelled)).await;
    assert_eq!(names(&events), ["TicketStatusChanged", "SlaClocksStopped"]);
    let stopped = clocks(&events);
    assert_eq!(stopped.response.state, ClockState::Stopped);
    assert_eq!(stopped.resolution.state, ClockState::Stopped);
    assert_eq!(stopped.response.deadline, None);
}

#[tokio::test]
async fn the_timer_records_a_breach_at_its_true_instant_once() {
    let given = opened().await;
    let early = decide(given.clone(), timer(t0() + minutes(59))).await;
    assert_eq!(
        names(&early),
        ["SlaWarningReached"],
        "the warning was due, the breach not yet"
    );

    // The timer was down over both instants: each is recorded as it happened.
    let late = decide(given.clone(), timer(t0() + minutes(75))).await;
    assert_eq!(names(&late), ["SlaWarningReached", "SlaBreached"]);
    let TicketEvent::SlaBreached {
        clock, at: when, ..
    } = &late[1]
    else {
        unreachable!()
    };
    assert_eq!((*clock, *when), (ClockKind::Response, t0() + minutes(60)));
    let breached = clocks(&late);
    assert_eq!(breached.response.state, ClockState::Breached);
    assert_eq!(breached.response.breached_at, Some(t0() + minutes(60)));
    assert!(breached.breached());
    assert_eq!(breached.resolution.state, ClockState::Running);

    let given = concat(given, late);
    let again = decide(given, timer(t0() + minutes(76))).await;
    assert!(again.is_empty(), "recorded once: {again:?}");
}

#[tokio::test]
async fn a_warning_is_recorded_at_its_threshold() {
    let given = opened().await;
    let events = decide(given, timer(t0() + minutes(50))).await;
    let [TicketEvent::SlaWarningReached {
        clock,
        at: when,
        clocks,
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(*clock, ClockKind::Response);
    assert_eq!(*when, t0() + minutes(48));
    assert_eq!(clocks.response.warned_at, Some(t0() + minutes(48)));
    assert_eq!(clocks.response.warning_at, None);
    assert_eq!(clocks.response.state, ClockState::Running);
}

#[tokio::test]
async fn a_paused_clock_does_not_breach_and_a_stale_timer_records_nothing() {
    let given = opened().await;
    let paused = decide(
        given.clone(),
        status(t0() + minutes(50), TicketStatus::WaitingCustomer),
    )
    .await;
    // The warning at 48 minutes fell due before the pause: recorded first, at its instant.
    assert_eq!(
        names(&paused),
        [
            "SlaWarningReached",
            "TicketStatusChanged",
            "SlaClocksPaused"
        ]
    );
    let given = concat(given, paused);
    let stale = decide(given, timer(t0() + minutes(61))).await;
    assert!(stale.is_empty(), "paused at 50 of 60 minutes: {stale:?}");
}

#[tokio::test]
async fn a_reply_after_an_unrecorded_deadline_records_the_breach_first() {
    let given = opened().await;
    let events = decide(given, reply(t0() + minutes(70), ActorRole::Agent)).await;
    assert_eq!(
        names(&events),
        [
            "SlaWarningReached",
            "SlaBreached",
            "TicketCommentAdded",
            "TicketFirstResponseRecorded",
            "SlaClockCompleted"
        ]
    );
    let done = clocks(&events);
    assert_eq!(
        done.response.state,
        ClockState::Breached,
        "met late is a breach"
    );
    assert_eq!(done.response.ended_at, Some(t0() + minutes(70)));
    assert_eq!(
        done.response.counted_micros,
        minutes(70).num_microseconds().unwrap()
    );
}

#[tokio::test]
async fn a_priority_change_matches_again_and_keeps_the_time_counted() {
    let given = opened().await;
    let mut update = UpdateTicket::by(caller(ActorRole::Admin), t0() + minutes(10));
    update.priority = Some(TicketPriority::Critical);
    update.policies = book().into();
    let events = decide(given.clone(), TicketCommand::Update(update)).await;
    assert_eq!(names(&events), ["TicketReprioritized", "SlaPolicyApplied"]);
    let TicketEvent::SlaPolicyApplied { terms, clocks, .. } = &events[1] else {
        unreachable!()
    };
    assert_eq!(terms.policy_id, P0_POLICY);
    assert_eq!(
        clocks.response.deadline,
        Some(t0() + minutes(15)),
        "10 of the new 15 minutes are gone"
    );
    assert_eq!(clocks.resolution.deadline, Some(t0() + minutes(240)));

    // Past the new target already: breached at the moment of the change.
    let mut update = UpdateTicket::by(caller(ActorRole::Admin), t0() + minutes(30));
    update.priority = Some(TicketPriority::Critical);
    update.policies = book().into();
    let events = decide(given, TicketCommand::Update(update)).await;
    assert_eq!(
        names(&events),
        ["TicketReprioritized", "SlaPolicyApplied", "SlaBreached"],
        "no warning when the breach is due at the same instant"
    );
    let TicketEvent::SlaBreached { at: when, .. } = &events[2] else {
        unreachable!()
    };
    assert_eq!(*when, t0() + minutes(30));
}

#[tokio::test]
async fn a_tier_change_matches_again() {
    let enterprise = terms(Uuid::from_u128(21), 10, 100, utc());
    let policies = SlaPolicyBook::new(vec![
        policy(TicketPriority::High, None, p1()),
        policy(
            TicketPriority::High,
            Some(CustomerTier::Enterprise),
            enterprise.clone(),
        ),
    ]);
    let given = opened().await;
    let mut update = UpdateTicket::by(caller(ActorRole::Admin), t0() + minutes(5));
    update.customer_tier = Some(Some(CustomerTier::Enterprise));
    update.policies = policies.into();
    let events = decide(given, TicketCommand::Update(update)).await;
    assert_eq!(
        names(&events),
        ["TicketCustomerTierChanged", "SlaPolicyApplied"]
    );
    let TicketEvent::SlaPolicyApplied { terms, matched, .. } = &events[1] else {
        unreachable!()
    };
    assert_eq!(*terms, enterprise);
    assert_eq!(matched.policy_tier, Some(CustomerTier::Enterprise));
}

#[tokio::test]
async fn only_the_timer_records_warnings_and_breaches() {
    let given = opened().await;
    let due = RecordDue {
        caller: caller(ActorRole::Agent),
        at: t0() + minutes(90),
        escalations: Default::default(),
    };
    TicketTest::with(())
        .given(given)
        .when_async(TicketCommand::RecordDue(due))
        .await
        .then_expect_error(TicketError::TimerOnly);
}

#[tokio::test]
async fn a_friday_evening_ticket_is_due_on_monday_morning_in_business_hours() {
    let berlin = BusinessCalendar::parse(&CalendarFields {
        apply_business_hours_only: true,
        business_hours_start: Some("09:00".into()),
        business_hours_end: Some("17:00".into()),
        business_days: Some(vec![1, 2, 3, 4, 5]),
        timezone: "Europe/Berlin".into(),
        holidays: Vec::new(),
    })
    .unwrap();
    let policies = SlaPolicyBook::new(vec![policy(
        TicketPriority::High,
        None,
        terms(P1_POLICY, 60, 480, berlin),
    )]);
    // Friday 18:30 in Berlin (UTC+1 in November).
    let events = decide(
        Vec::new(),
        open_at(at("2026-11-27T17:30:00Z"), content(), policies),
    )
    .await;
    let clocks = clocks(&events);
    assert_eq!(
        clocks.response.deadline,
        Some(at("2026-11-30T09:00:00Z")),
        "Monday 10:00 in Berlin"
    );
    assert_eq!(
        clocks.resolution.deadline,
        Some(at("2026-11-30T16:00:00Z")),
        "Monday 17:00 in Berlin: one business day"
    );
}

/// Runs `commands` on a P1 ticket opened at `t0`, and returns its events with the moments of
/// its life that move clocks, each at its command's instant.
async fn lived(
    commands: Vec<(DateTime<Utc>, TicketCommand)>,
) -> (Vec<TicketEvent>, Vec<(DateTime<Utc>, ClockMoment)>) {
    let mut events = opened().await;
    let mut moments: Vec<_> = events
        .iter()
        .filter_map(TicketEvent::clock_moment)
        .map(|m| (t0(), m))
        .collect();
    for (when, command) in commands {
        let more = decide(events.clone(), command).await;
        moments.extend(
            more.iter()
                .filter_map(TicketEvent::clock_moment)
                .map(|m| (when, m)),
        );
        events.extend(more);
    }
    (events, moments)
}

#[tokio::test]
async fn replaying_a_tickets_moments_gives_the_clocks_its_events_recorded() {
    use TicketStatus::*;
    let lives = [
        vec![
            (
                t0() + minutes(30),
                reply(t0() + minutes(30), ActorRole::Agent),
            ),
            (
                t0() + minutes(100),
                status(t0() + minutes(100), WaitingCustomer),
            ),
            (
                t0() + minutes(220),
                reply(t0() + minutes(220), ActorRole::Customer),
            ),
            (t0() + minutes(400), status(t0() + minutes(400), Resolved)),
        ],
        // Answered late, resolved, reopened by the customer, and breached after the reopening.
        vec![
            (
                t0() + minutes(70),
                reply(t0() + minutes(70), ActorRole::Agent),
            ),
            (t0() + minutes(90), status(t0() + minutes(90), Resolved)),
            (
                t0() + minutes(120),
                reply(t0() + minutes(120), ActorRole::Customer),
            ),
        ],
        // Paused past the deadline's instant, then cancelled.
        vec![
            (
                t0() + minutes(50),
                status(t0() + minutes(50), WaitingCustomer),
            ),
            (t0() + minutes(500), status(t0() + minutes(500), Cancelled)),
        ],
        // Nothing happens: the timer records both breaches.
        vec![],
    ];
    let until = t0() + minutes(2000);
    for (n, life) in lives.into_iter().enumerate() {
        let mut commands = life;
        // The timer, late, records what fell due on both clocks.
        commands.push((until, timer(until)));
        let (events, moments) = lived(commands).await;
        assert_eq!(
            SlaClocks::replayed(&p1(), t0(), moments, until),
            clocks(&events),
            "life {n}"
        );
    }
}

#[test]
fn a_what_if_counts_the_same_life_against_other_terms() {
    use TicketStatus::*;
    let history = [
        (t0() + minutes(30), ClockMoment::FirstResponse),
        (
            t0() + minutes(100),
            ClockMoment::StatusChanged {
                from: InProgress,
                to: WaitingCustomer,
            },
        ),
        (
            t0() + minutes(220),
            ClockMoment::StatusChanged {
                from: WaitingCustomer,
                to: InProgress,
            },
        ),
        (
            t0() + minutes(400),
            ClockMoment::StatusChanged {
                from: InProgress,
                to: Resolved,
            },
        ),
    ];
    let until = t0() + minutes(1000);
    let kept = SlaClocks::replayed(&p1(), t0(), history, until);
    assert_eq!(kept.response.state, ClockState::Met);
    assert_eq!(kept.resolution.state, ClockState::Met);
    assert_eq!(
        kept.resolution.counted_micros,
        minutes(100 + 180).num_microseconds().unwrap(),
        "the two hours waiting for the customer are not counted"
    );

    // Respond within 15 minutes and resolve within 4 hours: the same life breaches both.
    let strict = SlaClocks::replayed(&terms(P0_POLICY, 15, 240, utc()), t0(), history, until);
    assert_eq!(strict.response.state, ClockState::Breached);
    assert_eq!(strict.response.breached_at, Some(t0() + minutes(15)));
    assert_eq!(strict.response.ended_at, Some(t0() + minutes(30)));
    assert_eq!(strict.resolution.state, ClockState::Breached);
    assert_eq!(
        strict.resolution.breached_at,
        Some(t0() + minutes(220 + 140)),
        "100 minutes counted before the pause, 140 left after it"
    );
    assert_eq!(strict.resolution.warned_at, Some(t0() + minutes(220 + 92)));
    assert_eq!(
        strict.resolution.counted_micros,
        minutes(280).num_microseconds().unwrap()
    );
}

#[test]
fn a_replay_records_what_fell_due_up_to_its_end_on_clocks_still_running() {
    let clocks = SlaClocks::replayed(&p1(), t0(), [], t0() + minutes(70));
    assert_eq!(clocks.response.state, ClockState::Breached);
    assert_eq!(clocks.response.warned_at, Some(t0() + minutes(48)));
    assert_eq!(clocks.response.breached_at, Some(t0() + minutes(60)));
    assert_eq!(clocks.response.ended_at, None, "still counting its breach");
    assert_eq!(clocks.resolution.state, ClockState::Running);
    assert_eq!(clocks.resolution.warned_at, None);

    // Resolved, then reopened: the resolution clock counts on with its 40 minutes.
    let reopened = SlaClocks::replayed(
        &p1(),
        t0(),
        [
            (
                t0() + minutes(40),
                ClockMoment::StatusChanged {
                    from: TicketStatus::InProgress,
                    to: TicketStatus::Resolved,
                },
            ),
            (
                t0() + minutes(120),
                ClockMoment::StatusChanged {
                    from: TicketStatus::Resolved,
                    to: TicketStatus::Open,
                },
            ),
        ],
        t0() + minutes(600),
    );
    assert_eq!(reopened.response.state, ClockState::Met);
    assert_eq!(
        reopened.resolution.breached_at,
        Some(t0() + minutes(120 + 440))
    );
}
