use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::{Actor, ActorRole, Caller, PersonalData};
use TicketStatus::*;

type TicketTest = TestFramework<Ticket>;

const TICKET: Uuid = Uuid::from_u128(1);

fn opened() -> TicketEvent {
    TicketEvent::TicketOpened {
        ticket_id: TICKET,
        ticket_number: TicketNumber::parse("TKT-20261126-0001").unwrap(),
        content: content(),
        suggested_articles_seen: SeenArticles::default(),
        created_by: "customer-123".into(),
        sla: None,
    }
}

fn content() -> TicketContent {
    TicketContent {
        title: TicketTitle::parse("Unable to access lead dashboard").unwrap(),
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

/// The instant commands happen at; no SLA policy applies in these tests, so any will do.
fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-26T10:00:00Z".parse().unwrap()
}

fn agent(id: &str) -> AgentId {
    AgentId::parse(id).unwrap()
}

fn assigned(to: &str) -> TicketEvent {
    TicketEvent::TicketAssigned {
        assignee: agent(to),
        previous_assignee: None,
    }
}

fn moved(from: TicketStatus, to: TicketStatus) -> TicketEvent {
    TicketEvent::TicketStatusChanged {
        from,
        to,
        note: None,
    }
}

/// The events that bring a ticket to `status`, assigned to agent-1 wherever a status allows it.
fn history_to(status: TicketStatus) -> Vec<TicketEvent> {
    match status {
        Open => vec![opened()],
        Cancelled => vec![opened(), moved(Open, Cancelled)],
        other => vec![opened(), assigned("agent-1"), moved(Open, other)],
    }
}

/// A caller in `role` who may reach the test ticket: agent-1 is its assignee, customer-123 its customer.
fn caller(role: ActorRole) -> Caller {
    Caller {
        actor: Actor {
            sub: format!("{}-1", role.as_str()),
            role,
        },
        customer_id: (role == ActorRole::Customer).then(|| "customer-123".to_owned()),
    }
}

fn update(change: impl FnOnce(&mut UpdateTicket)) -> TicketCommand {
    let mut update = UpdateTicket::by(caller(ActorRole::Admin), now());
    change(&mut update);
    TicketCommand::Update(update)
}

fn comment(role: ActorRole, visibility: CommentVisibility) -> (TicketCommand, Uuid) {
    let comment_id = Uuid::from_u128(99);
    let command = TicketCommand::AddComment(AddComment {
        comment_id,
        caller: caller(role),
        at: now(),
        body: CommentBody::parse("Any news?").unwrap(),
        visibility,
        escalations: Default::default(),
    });
    (command, comment_id)
}

/// The lifecycle as the product defines it, written out independently of `allowed_next`.
const LEGAL: &[(TicketStatus, TicketStatus)] = &[
    (Open, Assigned),
    (Open, InProgress),
    (Open, WaitingCustomer),
    (Open, WaitingInternal),
    (Open, Resolved),
    (Open, Cancelled),
    (Assigned, Open),
    (Assigned, InProgress),
    (Assigned, WaitingCustomer),
    (Assigned, WaitingInternal),
    (Assigned, Resolved),
    (Assigned, Cancelled),
    (InProgress, Open),
    (InProgress, WaitingCustomer),
    (InProgress, WaitingInternal),
    (InProgress, Resolved),
    (InProgress, Cancelled),
    (WaitingCustomer, Open),
    (WaitingCustomer, InProgress),
    (WaitingCustomer, WaitingInternal),
    (WaitingCustomer, Resolved),
    (WaitingCustomer, Cancelled),
    (WaitingInternal, Open),
    (WaitingInternal, InProgress),
    (WaitingInternal, WaitingCustomer),
    (WaitingInternal, Resolved),
    (WaitingInternal, Cancelled),
    (Resolved, Open),
    (Resolved, Assigned),
    (Resolved, InProgress),
    (Resolved, Closed),
];

#[tokio::test]
async fn every_status_change_is_legal_or_refused_as_the_lifecycle_says() {
    for &from in TicketStatus::ALL {
        for &to in TicketStatus::ALL {
            let outcome = TicketTest::with(())
                .given(history_to(from))
                .when_async(update(|u| u.status = Some(to)))
                .await
                .inspect_result();
            let has_assignee = !matches!(from, Open | Cancelled);
            let expected = if from == Closed || from == Cancelled {
                Err(TicketError::Final(from))
            } else if from == to {
                Ok(vec![])
            } else if !LEGAL.contains(&(from, to)) {
                Err(TicketError::IllegalTransition {
                    from,
                    to,
                    allowed: LEGAL
                        .iter()
                        .filter(|(f, _)| *f == from)
                        .map(|(_, t)| *t)
                        .collect(),
                })
            } else if !has_assignee
                && matches!(
                    to,
                    Assigned | InProgress | WaitingCustomer | WaitingInternal
                )
            {
                Err(TicketError::AssigneeRequired(to))
            } else if has_assignee && to == Open {
                Err(TicketError::AssigneeForbidden)
            } else {
                Ok(vec![moved(from, to)])
            };
            assert_eq!(outcome, expected, "{from} -> {to}");
        }
    }
}

#[tokio::test]
async fn assigning_an_open_ticket_moves_it_to_assigned() {
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(update(|u| u.assignee = Some(Some(agent("agent-7")))))
        .await
        .then_expect_events(vec![assigned("agent-7"), moved(Open, Assigned)]);
}

#[tokio::test]
async fn assigning_and_starting_work_in_one_request() {
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(update(|u| {
            u.assignee = Some(Some(agent("agent-7")));
            u.status = Some(InProgress);
        }))
        .await
        .then_expect_events(vec![assigned("agent-7"), moved(Open, InProgress)]);
}

#[tokio::test]
async fn reassigning_keeps_the_status_and_names_the_previous_agent() {
    TicketTest::with(())
        .given(history_to(InProgress))
        .when_async(update(|u| u.assignee = Some(Some(agent("agent-2")))))
        .await
        .then_expect_events(vec![TicketEvent::TicketAssigned {
            assignee: agent("agent-2"),
            previous_assignee: Some(agent("agent-1")),
        }]);
}

#[tokio::test]
async fn unassigning_a_worked_ticket_returns_it_to_the_queue() {
    TicketTest::with(())
        .given(history_to(WaitingInternal))
        .when_async(update(|u| u.assignee = Some(None)))
        .await
        .then_expect_events(vec![
            TicketEvent::TicketUnassigned {
                previous_assignee: agent("agent-1"),
            },
            moved(WaitingInternal, Open),
        ]);
}

#[tokio::test]
async fn the_assignee_rule_holds_when_the_status_stays() {
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(update(|u| {
            u.status = Some(Open);
            u.assignee = Some(Some(agent("bob")));
        }))
        .await
        .then_expect_error(TicketError::AssigneeForbidden);
    TicketTest::with(())
        .given(history_to(InProgress))
        .when_async(update(|u| {
            u.status = Some(InProgress);
            u.assignee = Some(None);
        }))
        .await
        .then_expect_error(TicketError::AssigneeRequired(InProgress));
}

#[tokio::test]
async fn resolving_records_the_resolution_note() {
    let note = Reason::parse("Restarted the dashboard service").unwrap();
    TicketTest::with(())
        .given(history_to(InProgress))
        .when_async(update(|u| {
            u.status = Some(Resolved);
            u.resolution_note = Some(note.clone());
        }))
        .await
        .then_expect_events(vec![TicketEvent::TicketStatusChanged {
            from: InProgress,
            to: Resolved,
            note: Some(note),
        }]);
}

#[tokio::test]
async fn a_resolution_note_without_resolving_is_refused() {
    TicketTest::with(())
        .given(history_to(InProgress))
        .when_async(update(|u| u.resolution_note = Reason::parse("done").ok()))
        .await
        .then_expect_error(TicketError::NoteWithoutResolution);
}

#[tokio::test]
async fn a_resolution_note_for_a_resolved_ticket_conflicts_with_it() {
    TicketTest::with(())
        .given(history_to(Resolved))
        .when_async(update(|u| {
            u.status = Some(Resolved);
            u.resolution_note = Reason::parse("again").ok();
        }))
        .await
        .then_expect_error(TicketError::NoteOnResolved);
}

#[tokio::test]
async fn each_changed_field_is_its_own_event_and_unchanged_fields_none() {
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(update(|u| {
            u.title = TicketTitle::parse("Dashboard down for all users").ok();
            u.priority = Some(TicketPriority::Critical);
            u.category = Some(TicketCategory::Technical);
            u.tags = Labels::parse(&["dashboard".into()]).ok();
        }))
        .await
        .then_expect_events(vec![
            TicketEvent::TicketRetitled {
                title: TicketTitle::parse("Dashboard down for all users").unwrap(),
            },
            TicketEvent::TicketReprioritized {
                from: TicketPriority::High,
                to: TicketPriority::Critical,
            },
            TicketEvent::TicketTagsChanged {
                tags: Labels::parse(&["dashboard".into()]).unwrap(),
            },
        ]);
}

#[tokio::test]
async fn a_refused_status_change_records_none_of_the_other_changes() {
    let result = TicketTest::with(())
        .given(vec![opened()])
        .when_async(update(|u| {
            u.title = TicketTitle::parse("New title").ok();
            u.status = Some(Closed);
        }))
        .await
        .inspect_result();
    assert!(matches!(result, Err(TicketError::IllegalTransition { .. })));
}

#[tokio::test]
async fn related_tickets_and_incidents_are_linked_and_unlinked_as_sets() {
    let (a, b, incident) = (
        Uuid::from_u128(10),
        Uuid::from_u128(11),
        Uuid::from_u128(20),
    );
    TicketTest::with(())
        .given(vec![
            opened(),
            TicketEvent::TicketRelatedTicketLinked {
                related_ticket_id: a,
            },
        ])
        .when_async(update(|u| {
            u.related_tickets = Some(vec![b, b]);
            u.related_incidents = Some(vec![incident]);
        }))
        .await
        .then_expect_events(vec![
            TicketEvent::TicketRelatedTicketUnlinked {
                related_ticket_id: a,
            },
            TicketEvent::TicketRelatedTicketLinked {
                related_ticket_id: b,
            },
            TicketEvent::TicketIncidentLinked {
                incident_id: incident,
            },
        ]);
}

#[tokio::test]
async fn an_incident_links_once_and_only_a_link_that_exists_is_removed() {
    let incident = Uuid::from_u128(20);
    let link = |linked| TicketCommand::LinkIncident {
        caller: caller(ActorRole::Agent),
        incident_id: incident,
        linked,
    };
    let linked = TicketEvent::TicketIncidentLinked {
        incident_id: incident,
    };
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(link(true))
        .await
        .then_expect_events(vec![linked.clone()]);
    TicketTest::with(())
        .given(vec![opened(), linked.clone()])
        .when_async(link(true))
        .await
        .then_expect_events(vec![]);
    TicketTest::with(())
        .given(vec![opened(), linked])
        .when_async(link(false))
        .await
        .then_expect_events(vec![TicketEvent::TicketIncidentUnlinked {
            incident_id: incident,
        }]);
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(link(false))
        .await
        .then_expect_error(TicketError::IncidentNotLinked);
}

#[tokio::test]
async fn a_ticket_cannot_be_related_to_itself() {
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(update(|u| u.related_tickets = Some(vec![TICKET])))
        .await
        .then_expect_error(TicketError::RelatedToItself);
}

#[tokio::test]
async fn the_first_public_staff_reply_is_the_first_response() {
    let (command, comment_id) = comment(ActorRole::Agent, CommentVisibility::Public);
    let events = TicketTest::with(())
        .given(history_to(Assigned))
        .when_async(command)
        .await
        .inspect_result()
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1],
        TicketEvent::TicketFirstResponseRecorded {
            comment_id,
            responder: "agent-1".into()
        }
    );
}

#[tokio::test]
async fn internal_notes_and_later_replies_are_not_first_responses() {
    let (internal, _) = comment(ActorRole::Agent, CommentVisibility::Internal);
    let events = TicketTest::with(())
        .given(history_to(Assigned))
        .when_async(internal)
        .await
        .inspect_result()
        .unwrap();
    assert_eq!(events.len(), 1);

    let (reply, _) = comment(ActorRole::Admin, CommentVisibility::Public);
    let mut history = history_to(Assigned);
    history.push(TicketEvent::TicketFirstResponseRecorded {
        comment_id: Uuid::nil(),
        responder: "agent-1".into(),
    });
    let events = TicketTest::with(())
        .given(history)
        .when_async(reply)
        .await
        .inspect_result()
        .unwrap();
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn a_customer_reply_puts_the_ticket_back_in_front_of_the_team() {
    for (history, from, to) in [
        (history_to(Resolved), Resolved, Assigned),
        (vec![opened(), moved(Open, Resolved)], Resolved, Open),
        (history_to(WaitingCustomer), WaitingCustomer, InProgress),
    ] {
        let (command, _) = comment(ActorRole::Customer, CommentVisibility::Public);
        let events = TicketTest::with(())
            .given(history)
            .when_async(command)
            .await
            .inspect_result()
            .unwrap();
        let reopened = TicketEvent::TicketStatusChanged {
            from,
            to,
            note: Reason::parse("the customer replied").ok(),
        };
        assert_eq!(events.last(), Some(&reopened), "{from}");
    }
}

#[tokio::test]
async fn customers_cannot_post_internal_comments() {
    let (command, _) = comment(ActorRole::Customer, CommentVisibility::Internal);
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(command)
        .await
        .then_expect_error(TicketError::CustomerInternalComment);
}

#[tokio::test]
async fn closed_and_cancelled_tickets_take_no_comments() {
    for status in [Closed, Cancelled] {
        let mut history = history_to(Resolved);
        if status == Closed {
            history.push(moved(Resolved, Closed));
        } else {
            history = history_to(Cancelled);
        }
        let (command, _) = comment(ActorRole::Agent, CommentVisibility::Public);
        TicketTest::with(())
            .given(history)
            .when_async(command)
            .await
            .then_expect_error(TicketError::Final(status));
    }
}

#[tokio::test]
async fn escalation_raises_the_level_one_step_at_a_time() {
    let reason = Reason::parse("Customer is losing revenue").unwrap();
    TicketTest::with(())
        .given(vec![opened(), escalated_by_hand(1, reason.clone())])
        .when_async(TicketCommand::Escalate(EscalateTicket {
            caller: caller(ActorRole::Agent),
            at: now(),
            reason: reason.clone(),
            escalations: Default::default(),
        }))
        .await
        .then_expect_events(vec![escalated_by_hand(2, reason)]);
}

#[tokio::test]
async fn resolved_and_final_tickets_cannot_be_escalated() {
    let reason = Reason::parse("why").unwrap();
    let escalate = || {
        TicketCommand::Escalate(EscalateTicket {
            caller: caller(ActorRole::Agent),
            at: now(),
            reason: reason.clone(),
            escalations: Default::default(),
        })
    };
    TicketTest::with(())
        .given(history_to(Resolved))
        .when_async(escalate())
        .await
        .then_expect_error(TicketError::NotEscalatable(Resolved));
    TicketTest::with(())
        .given(history_to(Cancelled))
        .when_async(escalate())
        .await
        .then_expect_error(TicketError::Final(Cancelled));
}

#[tokio::test]
async fn a_ticket_is_opened_once_and_changed_only_once_opened() {
    let open = TicketCommand::Open(OpenTicket {
        ticket_id: TICKET,
        ticket_number: TicketNumber::parse("TKT-20261126-0001").unwrap(),
        content: content(),
        suggested_articles_seen: SeenArticles::default(),
        created_by: "customer-123".into(),
        at: now(),
        policies: Default::default(),
    });
    TicketTest::with(())
        .given_no_previous_events()
        .when_async(open.clone())
        .await
        .then_expect_events(vec![opened()]);
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(open)
        .await
        .then_expect_error(TicketError::AlreadyOpened);
    TicketTest::with(())
        .given_no_previous_events()
        .when_async(update(|u| u.status = Some(Resolved)))
        .await
        .then_expect_error(TicketError::NotFound);
}

#[tokio::test]
async fn the_opening_records_the_articles_the_customer_saw_and_old_openings_read_without() {
    let seen = SeenArticles::parse(&[Uuid::from_u128(7).to_string()]).unwrap();
    let open = TicketCommand::Open(OpenTicket {
        ticket_id: TICKET,
        ticket_number: TicketNumber::parse("TKT-20261126-0001").unwrap(),
        content: content(),
        suggested_articles_seen: seen.clone(),
        created_by: "customer-123".into(),
        at: now(),
        policies: Default::default(),
    });
    let with_seen = TicketEvent::TicketOpened {
        ticket_id: TICKET,
        ticket_number: TicketNumber::parse("TKT-20261126-0001").unwrap(),
        content: content(),
        suggested_articles_seen: seen,
        created_by: "customer-123".into(),
        sla: None,
    };
    TicketTest::with(())
        .given_no_previous_events()
        .when_async(open)
        .await
        .then_expect_events(vec![with_seen.clone()]);

    let stored = serde_json::to_value(&with_seen).unwrap();
    assert_eq!(
        stored["TicketOpened"]["suggestedArticlesSeen"],
        serde_json::json!([Uuid::from_u128(7)])
    );
    assert!(!with_seen
        .personal_fields()
        .contains(&"/suggestedArticlesSeen"));
    // Without any, the key is left out, as in openings recorded before it, which read as none.
    let stored = serde_json::to_value(opened()).unwrap();
    assert!(stored["TicketOpened"]
        .get("suggestedArticlesSeen")
        .is_none());
    let read = TicketEvent::from_parts("TicketOpened", &stored["TicketOpened"]).unwrap();
    assert_eq!(read, opened());
}

#[test]
fn events_round_trip_through_their_stored_form() {
    let event = opened();
    let stored = serde_json::to_value(&event).unwrap();
    let payload = &stored["TicketOpened"];
    assert_eq!(payload["ticketNumber"], "TKT-20261126-0001");
    assert_eq!(payload["priority"], "P1_HIGH");
    assert_eq!(
        payload["customer"]["id"], "customer-123",
        "the content's fields sit in the payload itself, as before it had a type of its own"
    );
    assert_eq!(
        TicketEvent::from_parts("TicketOpened", payload).unwrap(),
        event
    );
}

#[tokio::test]
async fn access_is_decided_on_the_write_model() {
    let stranger = |role: ActorRole, sub: &str, customer: Option<&str>| Caller {
        actor: Actor {
            sub: sub.to_owned(),
            role,
        },
        customer_id: customer.map(str::to_owned),
    };
    let retitle = |caller: Caller| {
        let mut update = UpdateTicket::by(caller, now());
        update.title = Some(TicketTitle::parse("Renamed").unwrap());
        TicketCommand::Update(update)
    };
    // Another customer, and an agent on a colleague's ticket, are told it does not exist.
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(retitle(stranger(
            ActorRole::Customer,
            "customer-9",
            Some("customer-9"),
        )))
        .await
        .then_expect_error(TicketError::NotFound);
    TicketTest::with(())
        .given(history_to(InProgress))
        .when_async(retitle(stranger(ActorRole::Agent, "agent-2", None)))
        .await
        .then_expect_error(TicketError::NotFound);
    // An agent reaches the unassigned queue; once the ticket is handed to a colleague, no more.
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(retitle(stranger(ActorRole::Agent, "agent-2", None)))
        .await
        .then_expect_events(vec![TicketEvent::TicketRetitled {
            title: TicketTitle::parse("Renamed").unwrap(),
        }]);
    TicketTest::with(())
        .given(vec![opened(), assigned("agent-2"), assigned("agent-3")])
        .when_async(retitle(stranger(ActorRole::Agent, "agent-2", None)))
        .await
        .then_expect_error(TicketError::NotFound);
    // The ticket's own customer may comment.
    let (command, _) = comment(ActorRole::Customer, CommentVisibility::Public);
    TicketTest::with(())
        .given(vec![opened()])
        .when_async(command)
        .await
        .then_expect_events(vec![TicketEvent::TicketCommentAdded {
            comment_id: Uuid::from_u128(99),
            author: caller(ActorRole::Customer).actor,
            body: CommentBody::parse("Any news?").unwrap(),
            visibility: CommentVisibility::Public,
        }]);
}

#[tokio::test]
async fn an_auditor_changes_no_ticket() {
    let auditor = caller(ActorRole::Auditor);
    let mut retitle = UpdateTicket::by(auditor.clone(), now());
    retitle.title = Some(TicketTitle::parse("Renamed").unwrap());
    let commands = [
        TicketCommand::Update(retitle),
        TicketCommand::AddComment(AddComment {
            comment_id: Uuid::from_u128(99),
            caller: auditor.clone(),
            at: now(),
            body: CommentBody::parse("Noted").unwrap(),
            visibility: CommentVisibility::Internal,
            escalations: Default::default(),
        }),
        TicketCommand::Escalate(EscalateTicket {
            caller: auditor,
            at: now(),
            reason: Reason::parse("Audit").unwrap(),
            escalations: Default::default(),
        }),
    ];
    for command in commands {
        TicketTest::with(())
            .given(vec![opened()])
            .when_async(command)
            .await
            .then_expect_error(TicketError::ReadOnlyCaller);
    }
    assert_eq!(TicketError::ReadOnlyCaller.refusal(), Refusal::Forbidden);
}

#[test]
fn every_ticket_error_has_a_refusal_kind() {
    assert_eq!(
        TicketError::NotFound.refusal(),
        Refusal::NotFound { resource: "ticket" }
    );
    let illegal = TicketError::IllegalTransition {
        from: Open,
        to: Closed,
        allowed: vec![Assigned, Cancelled],
    };
    assert_eq!(
        illegal.refusal(),
        Refusal::Conflict {
            allowed_statuses: Some(vec!["ASSIGNED", "CANCELLED"])
        }
    );
    assert!(illegal
        .to_string()
        .ends_with("allowed next statuses: ASSIGNED, CANCELLED"));
    assert_eq!(
        TicketError::NoteWithoutResolution.refusal(),
        Refusal::InvalidField {
            field: "resolutionNote"
        }
    );
}

fn erase(role: ActorRole) -> TicketCommand {
    TicketCommand::ErasePersonalData(ErasePersonalData {
        caller: caller(role),
        reason: ErasureReason::CustomerRequest,
        receipt_id: Uuid::from_u128(7),
    })
}

fn erased() -> TicketEvent {
    TicketEvent::PersonalDataErased {
        reason: ErasureReason::CustomerRequest,
        receipt_id: Uuid::from_u128(7),
    }
}

#[tokio::test]
async fn erasure_reaches_any_status_once_and_leaves_the_ticket_unchangeable() {
    for status in TicketStatus::ALL {
        TicketTest::with(())
            .given(history_to(*status))
            .when_async(erase(ActorRole::Admin))
            .await
            .then_expect_events(vec![erased()]);
    }
    TicketTest::with(())
        .given(vec![opened(), erased()])
        .when_async(erase(ActorRole::Service))
        .await
        .then_expect_events(vec![]);
    TicketTest::with(())
        .given(vec![opened(), erased()])
        .when_async(update(|u| u.priority = Some(TicketPriority::Low)))
        .await
        .then_expect_error(TicketError::Erased);
    let (command, _) = comment(ActorRole::Customer, CommentVisibility::Public);
    TicketTest::with(())
        .given(vec![opened(), erased()])
        .when_async(command)
        .await
        .then_expect_error(TicketError::Erased);
    for role in [ActorRole::Agent, ActorRole::Customer] {
        TicketTest::with(())
            .given(vec![opened()])
            .when_async(erase(role))
            .await
            .then_expect_error(TicketError::ErasureForbidden);
    }
    TicketTest::with(())
        .given_no_previous_events()
        .when_async(erase(ActorRole::Admin))
        .await
        .then_expect_error(TicketError::NotFound);
}

/// Sealing finds personal fields by their pointers: each must point at text in the stored form,
/// or a rename of a field would leave it in clear.
#[test]
fn every_personal_field_points_at_text_in_the_stored_payload() {
    let with_customer = TicketEvent::TicketOpened {
        ticket_id: TICKET,
        ticket_number: TicketNumber::parse("TKT-20261126-0001").unwrap(),
        content: TicketContent {
            customer: Some(
                Customer::parse("customer-123", Some("Jo Doe"), Some("jo@example.com")).unwrap(),
            ),
            ..content()
        },
        suggested_articles_seen: SeenArticles::default(),
        created_by: "customer-123".into(),
        sla: None,
    };
    let events = [
        with_customer,
        TicketEvent::TicketRetitled {
            title: TicketTitle::parse("Renamed").unwrap(),
        },
        TicketEvent::TicketDescriptionChanged {
            description: TicketDescription::parse("More").unwrap(),
        },
        TicketEvent::TicketStatusChanged {
            from: InProgress,
            to: Resolved,
            note: Some(Reason::parse("Fixed for Jo").unwrap()),
        },
        TicketEvent::TicketCommentAdded {
            comment_id: Uuid::from_u128(99),
            author: caller(ActorRole::Customer).actor,
            body: CommentBody::parse("Any news?").unwrap(),
            visibility: CommentVisibility::Public,
        },
        escalated_by_hand(1, Reason::parse("Jo is waiting").unwrap()),
    ];
    for event in events {
        let stored = serde_json::to_value(&event).unwrap();
        let payload = &stored[event.name()];
        assert!(!event.personal_fields().is_empty(), "{}", event.name());
        for pointer in event.personal_fields() {
            assert!(
                payload.pointer(pointer).is_some_and(|v| v.is_string()),
                "{} {pointer}",
                event.name()
            );
        }
    }
    assert_eq!(opened().data_subject(), Some("customer-123"));
    assert!(erased().erases_personal_data());
    assert!(erased().personal_fields().is_empty());
}

/// A step up by hand with no ladder, as tickets escalated before ladders existed.
fn escalated_by_hand(level: u32, reason: Reason) -> TicketEvent {
    TicketEvent::TicketEscalated {
        level,
        reason,
        trigger: EscalationTrigger::Manual,
        recipients: Default::default(),
        ladder: None,
        round: 1,
        next_level_at: None,
    }
}
