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
//!
//! Nobody is told of what they did themselves. Each recipient gets the kind over the channels
//! their preferences choose (in-app only for someone who never chose); SMS only for urgent
//! alerts (P0 and P1 tickets, to staff). Staff notices about P2 and P3 tickets wait for the
//! recipient's working hours; P0 and P1 ones, and everything to customers, go at once.
//! Events recorded before the rule was deployed (`notice_start`) are history: nobody is told.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use sqlx::PgConnection;
use support_domain::kb::KbArticleEvent;
use support_domain::notification::{NotificationChannel, NotificationKind, Preferences};
use support_domain::ticket::{CommentVisibility, TicketEvent, TicketPriority, TicketStatus};
use support_domain::{ActorRole, RecordedEvent};
use uuid::Uuid;

use super::planner::{PlannedDelivery, PlanningRule};
use crate::notification_preferences::{of_customers, recipients, RecipientPreferences};
use crate::{kb, tickets, ProjectionError, Redacted};

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

/// One notice the batch gives: an event, its kind, who is to hear of it.
struct Notice<'a> {
    event: &'a RecordedEvent,
    kind: NotificationKind,
    audience: Audience,
    urgent: bool,
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
                    urgent: ticket.urgent(),
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
                    urgent: false,
                });
            }
        }
        deliveries(conn, notices).await
    }
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
            let not_before = if staff && !notice.urgent {
                preferences.working_time.next_working_instant(at)
            } else {
                at
            };
            for &channel in preferences.channels.for_kind(notice.kind) {
                if channel == NotificationChannel::Sms && !(staff && notice.urgent) {
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
