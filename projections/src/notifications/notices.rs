//! The planning rules for people: who is told of what happens on a ticket, or to a knowledge base
//! article, over which channels, and when.
//!
//! - SLA warnings and breaches, when the ticket's SLA terms say `notifyOnWarning` /
//!   `notifyOnBreach`: the assignee, or, for a ticket in the queue, every admin.
//! - Escalations: the recipients of the level stepped onto (agents, everyone of a role, whole
//!   teams).
//! - Assignments: the new assignee.
//! - Public replies: by staff, the customer; by the customer, the assignee.
//! - Status changes a customer should know of (waiting on them, resolved, closed, cancelled,
//!   reopened): the customer.
//! - Low knowledge base ratings (`KbArticleRatedLow`, `KbLowRatingRule`): the article's author and
//!   every admin.
//! - Incidents (`IncidentNoticeRule`): a critical one, or a missed target, to its commander and
//!   teams; a public update to the customers of its linked tickets.
//! - Alerts (`AlertNoticeRule`): a firing of an alert rule, to the rule's recipients, at once.
//!
//! Nobody is told of what they did themselves. Each recipient gets the kind over the channels
//! their preferences choose (in-app only for someone who never chose); SMS only for urgent
//! alerts (P0 and P1 tickets, to staff). Staff notices about P2 and P3 tickets wait for the
//! recipient's working hours; P0 and P1 ones, and everything to customers, go at once.
//! Events recorded before the rule was deployed (`notice_start`) are history: nobody is told.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use sqlx::PgConnection;
use support_domain::alert::AlertRuleEvent;
use support_domain::incident::{IncidentEvent, IncidentSeverity, UpdateVisibility};
use support_domain::kb::KbArticleEvent;
use support_domain::notification::{NotificationChannel, NotificationKind, Preferences};
use support_domain::ticket::{CommentVisibility, TicketEvent, TicketPriority, TicketStatus};
use support_domain::{ActorRole, RecordedEvent};
use uuid::Uuid;

use super::planner::{PlannedDelivery, PlanningRule};
use crate::notification_preferences::{of_customers, recipients, RecipientPreferences};
use crate::{incidents, kb, tickets, ProjectionError, Redacted};

/// What the rule keeps of a ticket to decide by.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct NoticeTicket {
    ticket_id: Uuid,
    priority: String,
    assignee: Option<String>,
    customer_id: Option<String>,
    notify_on_warning: bool,
    notify_on_breach: bool,
}

impl NoticeTicket {
    /// P0 and P1: told at once, whatever the hour, and by SMS where chosen.
    fn urgent(&self) -> bool {
        self.priority == TicketPriority::Critical.as_str()
            || self.priority == TicketPriority::High.as_str()
    }

    /// Staff to tell of an SLA warning or breach: the assignee, else the admins.
    fn responsible(&self) -> Audience {
        match &self.assignee {
            Some(assignee) => Audience::staff(vec![assignee.clone()]),
            None => Audience {
                roles: vec![ActorRole::Admin],
                ..Audience::default()
            },
        }
    }
}

/// Who a notice is for, as an event names them.
#[derive(Debug, Clone, Default, PartialEq)]
struct Audience {
    subs: Vec<String>,
    roles: Vec<ActorRole>,
    teams: Vec<String>,
    customers: Vec<String>,
}

impl Audience {
    fn staff(subs: Vec<String>) -> Self {
        Self {
            subs,
            ..Self::default()
        }
    }

    fn customer(customer_id: &Option<String>) -> Self {
        Self {
            customers: customer_id.iter().cloned().collect(),
            ..Self::default()
        }
    }
}

/// One notice the batch gives: an event, its kind, who is to hear of it, whether staff hear of it
/// outside their working hours, and whether by SMS where they chose it.
struct Notice<'a> {
    event: &'a RecordedEvent,
    kind: NotificationKind,
    audience: Audience,
    at_once: bool,
    sms: bool,
}

pub struct TicketNoticeRule;

#[async_trait]
impl PlanningRule for TicketNoticeRule {
    async fn plan(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<Vec<PlannedDelivery>, ProjectionError> {
        let ticket_events: Vec<&RecordedEvent> = events
            .iter()
            .copied()
            .filter(|e| e.aggregate_type == tickets::AGGREGATE_TYPE)
            .collect();
        if ticket_events.is_empty() {
            return Ok(Vec::new());
        }
        let start: i64 = sqlx::query_scalar("SELECT position FROM notice_start")
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0);
        let mut ids: Vec<Uuid> = Vec::new();
        for event in &ticket_events {
            let id = Uuid::parse_str(&event.aggregate_id)
                .map_err(|e| ProjectionError::undecodable_event(event, e))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut known: HashMap<Uuid, NoticeTicket> = sqlx::query_as::<_, NoticeTicket>(
            "SELECT ticket_id, priority, assignee, customer_id, notify_on_warning, \
                 notify_on_breach \
             FROM notice_tickets WHERE ticket_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|t| (t.ticket_id, t))
        .collect();
        let mut notices = Vec::new();
        for event in ticket_events {
            let decoded = TicketEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
            let id = Uuid::parse_str(&event.aggregate_id)
                .map_err(|e| ProjectionError::undecodable_event(event, e))?;
            if let TicketEvent::TicketOpened { content, sla, .. } = &decoded {
                let terms = sla.as_ref().map(|s| &s.terms);
                known.insert(
                    id,
                    NoticeTicket {
                        ticket_id: id,
                        priority: content.priority.as_str().to_owned(),
                        assignee: None,
                        customer_id: content.customer.as_ref().map(|c| c.id.clone()),
                        notify_on_warning: terms.is_some_and(|t| t.notify_on_warning),
                        notify_on_breach: terms.is_some_and(|t| t.notify_on_breach),
                    },
                );
                continue;
            }
            // The framework hands a ticket's events over in order from its opening.
            let ticket = known
                .get_mut(&id)
                .ok_or_else(|| ProjectionError::missing_row(event))?;
            let notice = notice(ticket, &decoded);
            follow(ticket, decoded);
            if let Some((kind, audience)) = notice.filter(|_| event.global_position > start) {
                notices.push(Notice {
                    event,
                    kind,
                    audience,
                    at_once: ticket.urgent(),
                    sms: ticket.urgent(),
                });
            }
        }
        keep(conn, &ids, &known).await?;
        deliveries(conn, notices).await
    }
}

/// Tells the author of an article that readers rate it low, and the admins. Not urgent: it waits
/// for each one's working hours.
pub struct KbLowRatingRule;

#[async_trait]
impl PlanningRule for KbLowRatingRule {
    async fn plan(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<Vec<PlannedDelivery>, ProjectionError> {
        let mut notices = Vec::new();
        let alerts = events.iter().copied().filter(|e| {
            e.aggregate_type == kb::AGGREGATE_TYPE && e.event_type == "KbArticleRatedLow"
        });
        for event in alerts {
            let decoded = KbArticleEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
            if let KbArticleEvent::KbArticleRatedLow { author, .. } = decoded {
                notices.push(Notice {
                    event,
                    kind: NotificationKind::KbLowRating,
                    audience: Audience {
                        subs: vec![author.as_str().to_owned()],
                        roles: vec![ActorRole::Admin],
                        ..Audience::default()
                    },
                    at_once: false,
                    sms: false,
                });
            }
        }
        deliveries(conn, notices).await
    }
}

/// Tells an alert rule's recipients that it fired (`AlertFired` carries them), at once: an alert
/// is for now.
pub struct AlertNoticeRule;

#[async_trait]
impl PlanningRule for AlertNoticeRule {
    async fn plan(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<Vec<PlannedDelivery>, ProjectionError> {
        let mut notices = Vec::new();
        let firings = events.iter().copied().filter(|e| {
            e.aggregate_type == crate::alerts::AGGREGATE_TYPE && e.event_type == "AlertFired"
        });
        for event in firings {
            let decoded = AlertRuleEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
            if let AlertRuleEvent::AlertFired { recipients, .. } = decoded {
                notices.push(Notice {
                    event,
                    kind: NotificationKind::SupportAlert,
                    audience: Audience {
                        subs: recipients.agents,
                        roles: recipients.roles,
                        teams: recipients
                            .teams
                            .iter()
                            .map(|t| t.as_str().to_owned())
                            .collect(),
                        customers: Vec::new(),
                    },
                    at_once: true,
                    sms: false,
                });
            }
        }
        deliveries(conn, notices).await
    }
}

/// What the incident rule keeps of an incident to decide by.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct NoticeIncident {
    incident_id: Uuid,
    severity: String,
    commander: Option<String>,
    team: Vec<String>,
}

impl NoticeIncident {
    fn critical(&self) -> bool {
        self.severity == IncidentSeverity::Critical.as_str()
    }

    /// Its responders: the commander and the assigned teams, else every admin.
    fn responders(&self) -> Audience {
        if self.commander.is_none() && self.team.is_empty() {
            return Audience {
                roles: vec![ActorRole::Admin],
                ..Audience::default()
            };
        }
        Audience {
            subs: self.commander.iter().cloned().collect(),
            teams: self.team.clone(),
            ..Audience::default()
        }
    }
}

/// Tells an incident's responders (its commander and teams) when it is critical (reported so, or
/// raised to it) and when it misses a target, by SMS too where they chose it for a critical one;
/// and the customers of the tickets linked to it of each public update, once each. Critical and
/// high incidents' alerts go at once; others wait for each responder's working hours.
pub struct IncidentNoticeRule;

#[async_trait]
impl PlanningRule for IncidentNoticeRule {
    async fn plan(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<Vec<PlannedDelivery>, ProjectionError> {
        let relevant: Vec<&RecordedEvent> = events
            .iter()
            .copied()
            .filter(|e| {
                e.aggregate_type == incidents::AGGREGATE_TYPE
                    || (e.aggregate_type == tickets::AGGREGATE_TYPE
                        && matches!(
                            e.event_type.as_str(),
                            "TicketIncidentLinked" | "TicketIncidentUnlinked"
                        ))
            })
            .collect();
        if relevant.is_empty() {
            return Ok(Vec::new());
        }
        let start: i64 = sqlx::query_scalar("SELECT position FROM notice_start")
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0);
        let mut notices = Vec::new();
        for event in relevant {
            let id = Uuid::parse_str(&event.aggregate_id)
                .map_err(|e| ProjectionError::undecodable_event(event, e))?;
            if event.aggregate_type == tickets::AGGREGATE_TYPE {
                follow_link(conn, event, id).await?;
                continue;
            }
            let decoded = IncidentEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
            let incident = follow_incident(conn, event, id, &decoded).await?;
            if event.global_position <= start {
                continue;
            }
            let alert = |event| Notice {
                event,
                kind: NotificationKind::IncidentAlert,
                audience: incident.responders(),
                at_once: incident.critical()
                    || incident.severity == IncidentSeverity::High.as_str(),
                sms: incident.critical(),
            };
            match decoded {
                IncidentEvent::IncidentDetected { .. } if incident.critical() => {
                    notices.push(alert(event))
                }
                IncidentEvent::IncidentSeverityChanged { from, .. }
                    if incident.critical() && from != IncidentSeverity::Critical =>
                {
                    notices.push(alert(event))
                }
                IncidentEvent::IncidentTargetMissed { .. } => notices.push(alert(event)),
                IncidentEvent::IncidentUpdatePosted {
                    visibility: UpdateVisibility::Public,
                    ..
                } => {
                    let customers: Vec<String> = sqlx::query_scalar(
                        "SELECT DISTINCT t.customer_id FROM notice_incident_tickets l \
                         JOIN notice_tickets t USING (ticket_id) \
                         WHERE l.incident_id = $1 AND t.customer_id IS NOT NULL \
                         ORDER BY t.customer_id",
                    )
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?;
                    if !customers.is_empty() {
                        notices.push(Notice {
                            event,
                            kind: NotificationKind::IncidentUpdate,
                            audience: Audience {
                                customers,
                                ..Audience::default()
                            },
                            at_once: true,
                            sms: false,
                        });
                    }
                }
                _ => {}
            }
        }
        deliveries(conn, notices).await
    }
}

/// Keeps a ticket's link to an incident, or its removal.
async fn follow_link(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    ticket: Uuid,
) -> Result<(), ProjectionError> {
    let decoded = TicketEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let sql = match decoded {
        TicketEvent::TicketIncidentLinked { incident_id } => (
            "INSERT INTO notice_incident_tickets (incident_id, ticket_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
            incident_id,
        ),
        TicketEvent::TicketIncidentUnlinked { incident_id } => (
            "DELETE FROM notice_incident_tickets WHERE incident_id = $1 AND ticket_id = $2",
            incident_id,
        ),
        _ => return Ok(()),
    };
    sqlx::query(sql.0)
        .bind(sql.1)
        .bind(ticket)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Keeps what the rule decides by after `event`, and answers the incident as it stands then.
async fn follow_incident(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    id: Uuid,
    decoded: &IncidentEvent,
) -> Result<NoticeIncident, ProjectionError> {
    let change = match decoded {
        IncidentEvent::IncidentDetected { fields, .. } => Some(
            sqlx::query(
                "INSERT INTO notice_incidents (incident_id, severity, commander, team) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id) DO NOTHING",
            )
            .bind(id)
            .bind(fields.severity.as_str())
            .bind(fields.incident_commander.as_ref().map(|c| c.as_str()))
            .bind(fields.assigned_team.as_slice()),
        ),
        IncidentEvent::IncidentSeverityChanged { to, .. } => Some(
            sqlx::query("UPDATE notice_incidents SET severity = $2 WHERE incident_id = $1")
                .bind(id)
                .bind(to.as_str()),
        ),
        IncidentEvent::IncidentCommanderChanged { commander, .. } => Some(
            sqlx::query("UPDATE notice_incidents SET commander = $2 WHERE incident_id = $1")
                .bind(id)
                .bind(commander.as_str()),
        ),
        IncidentEvent::IncidentTeamChanged { assigned_team } => Some(
            sqlx::query("UPDATE notice_incidents SET team = $2 WHERE incident_id = $1")
                .bind(id)
                .bind(assigned_team.as_slice()),
        ),
        _ => None,
    };
    if let Some(change) = change {
        change.execute(&mut *conn).await?;
    }
    // The framework hands an incident's events over in order from its detection.
    sqlx::query_as(
        "SELECT incident_id, severity, commander, team FROM notice_incidents \
         WHERE incident_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ProjectionError::missing_row(event))
}

/// What `event` tells, and whom, on `ticket` as it stood before it.
fn notice(ticket: &NoticeTicket, event: &TicketEvent) -> Option<(NotificationKind, Audience)> {
    match event {
        TicketEvent::SlaWarningReached { .. } if ticket.notify_on_warning => {
            Some((NotificationKind::SlaWarning, ticket.responsible()))
        }
        TicketEvent::SlaBreached { .. } if ticket.notify_on_breach => {
            Some((NotificationKind::SlaBreach, ticket.responsible()))
        }
        TicketEvent::TicketEscalated { recipients, .. } if !recipients.is_empty() => Some((
            NotificationKind::Escalation,
            Audience {
                subs: recipients.agents.clone(),
                roles: recipients.roles.clone(),
                teams: recipients
                    .teams
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect(),
                customers: Vec::new(),
            },
        )),
        TicketEvent::TicketAssigned { assignee, .. } => Some((
            NotificationKind::Assignment,
            Audience::staff(vec![assignee.as_str().to_owned()]),
        )),
        TicketEvent::TicketCommentAdded {
            author,
            visibility: CommentVisibility::Public,
            ..
        } => {
            let audience = if author.role == ActorRole::Customer {
                Audience::staff(ticket.assignee.iter().cloned().collect())
            } else {
                Audience::customer(&ticket.customer_id)
            };
            Some((NotificationKind::PublicReply, audience))
        }
        TicketEvent::TicketStatusChanged { from, to, .. } if tells_customer(*from, *to) => Some((
            NotificationKind::StatusChange,
            Audience::customer(&ticket.customer_id),
        )),
        _ => None,
    }
}

/// A status change a customer should know of: the desk waits on them, is done, or took the
/// ticket up again.
fn tells_customer(from: TicketStatus, to: TicketStatus) -> bool {
    matches!(
        to,
        TicketStatus::WaitingCustomer
            | TicketStatus::Resolved
            | TicketStatus::Closed
            | TicketStatus::Cancelled
    ) || from == TicketStatus::Resolved
}

/// `ticket` after `event`.
fn follow(ticket: &mut NoticeTicket, event: TicketEvent) {
    match event {
        TicketEvent::TicketReprioritized { to, .. } => ticket.priority = to.as_str().to_owned(),
        TicketEvent::TicketAssigned { assignee, .. } => {
            ticket.assignee = Some(assignee.as_str().to_owned())
        }
        TicketEvent::TicketUnassigned { .. } => ticket.assignee = None,
        TicketEvent::SlaPolicyApplied { terms, .. } => {
            ticket.notify_on_warning = terms.notify_on_warning;
            ticket.notify_on_breach = terms.notify_on_breach;
        }
        _ => {}
    }
}

/// Stores what the batch left of its tickets.
async fn keep(
    conn: &mut PgConnection,
    ids: &[Uuid],
    known: &HashMap<Uuid, NoticeTicket>,
) -> Result<(), ProjectionError> {
    let rows: Vec<&NoticeTicket> = ids.iter().filter_map(|id| known.get(id)).collect();
    sqlx::query(
        "INSERT INTO notice_tickets (ticket_id, priority, assignee, customer_id, \
             notify_on_warning, notify_on_breach) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], \
             $6::bool[]) \
         ON CONFLICT (ticket_id) DO UPDATE SET priority = excluded.priority, \
             assignee = excluded.assignee, customer_id = excluded.customer_id, \
             notify_on_warning = excluded.notify_on_warning, \
             notify_on_breach = excluded.notify_on_breach",
    )
    .bind(rows.iter().map(|t| t.ticket_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.priority.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|t| t.assignee.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|t| t.customer_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|t| t.notify_on_warning).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.notify_on_breach).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The deliveries of `notices`: each audience found among the users (in one query for the whole
/// batch), each user over the channels they chose for the kind, at the time that suits them.
async fn deliveries(
    conn: &mut PgConnection,
    notices: Vec<Notice<'_>>,
) -> Result<Vec<PlannedDelivery>, ProjectionError> {
    if notices.is_empty() {
        return Ok(Vec::new());
    }
    let mut subs = BTreeSet::new();
    let mut roles = BTreeSet::new();
    let mut teams = BTreeSet::new();
    let mut customers = BTreeSet::new();
    for notice in &notices {
        subs.extend(notice.audience.subs.iter().cloned());
        roles.extend(notice.audience.roles.iter().map(|r| r.as_str()));
        teams.extend(notice.audience.teams.iter().cloned());
        customers.extend(notice.audience.customers.iter().cloned());
    }
    let roles: Vec<ActorRole> = roles.into_iter().filter_map(|r| r.parse().ok()).collect();
    let subs: Vec<String> = subs.into_iter().collect();
    let teams: Vec<String> = teams.into_iter().collect();
    let customers: Vec<String> = customers.into_iter().collect();
    let mut directory = recipients(&mut *conn, &subs, &roles, &teams).await?;
    if !customers.is_empty() {
        directory.extend(of_customers(&mut *conn, &customers).await?);
    }
    let mut planned = Vec::new();
    for notice in notices {
        let actor = notice.event.metadata.actor_sub.as_str();
        for (user, preferences) in audience_members(&notice.audience, &directory) {
            if user == actor {
                continue;
            }
            let staff = notice.audience.customers.is_empty();
            let at = notice.event.occurred_at;
            let not_before = if staff && !notice.at_once {
                preferences.working_time.next_working_instant(at)
            } else {
                at
            };
            for &channel in preferences.channels.for_kind(notice.kind) {
                if channel == NotificationChannel::Sms && !(staff && notice.sms) {
                    continue;
                }
                let mut delivery =
                    PlannedDelivery::of(notice.event, user.to_owned(), channel, notice.kind);
                delivery.not_before = not_before;
                planned.push(delivery);
            }
        }
    }
    Ok(planned)
}

/// The users `audience` names, each once, with their preferences: those found in the directory,
/// and agents or customer accounts named directly who never saved any (with the defaults).
fn audience_members<'a>(
    audience: &'a Audience,
    directory: &'a [RecipientPreferences],
) -> Vec<(&'a str, std::borrow::Cow<'a, Preferences>)> {
    let mut members: Vec<(&str, std::borrow::Cow<Preferences>)> = directory
        .iter()
        .filter(|user| {
            audience.subs.contains(&user.sub)
                || audience.roles.contains(&user.role)
                || user.teams.iter().any(|t| audience.teams.contains(t))
                || user
                    .customer_id
                    .as_ref()
                    .is_some_and(|c| audience.customers.contains(c))
        })
        .map(|user| {
            (
                user.sub.as_str(),
                std::borrow::Cow::Borrowed(&user.preferences),
            )
        })
        .collect();
    // A customer account's own id is the sub of a customer signed in without a separate user id.
    for named in audience.subs.iter().chain(&audience.customers) {
        if !members.iter().any(|(sub, _)| sub == named) {
            members.push((
                named.as_str(),
                std::borrow::Cow::Owned(Preferences::defaults()),
            ));
        }
    }
    members.sort_by(|a, b| a.0.cmp(b.0));
    members.dedup_by(|a, b| a.0 == b.0);
    members
}
