//! What a notification says, whichever channel carries it: for a ticket, its number, title,
//! priority and status from the tickets read model; for an incident, its number, title, severity
//! and status from the incidents read model; and what happened, from the event. It is rendered
//! when the notification is sent, from the event as opened then: an erased ticket's title reads
//! `[erased]`.

use sqlx::PgPool;
use support_domain::alert::AlertRuleEvent;
use support_domain::incident::{IncidentEvent, IncidentTarget};
use support_domain::kb::KbArticleEvent;
use support_domain::notification::Preferences;
use support_domain::sla::ClockKind;
use support_domain::ticket::{TicketEvent, TicketStatus};
use support_domain::RecordedEvent;
use support_projections::notification_preferences::recipients;
use support_projections::tickets::{self, TicketKey, TicketScope};
use support_projections::{alerts, incidents, kb, Redacted};
use uuid::Uuid;

use super::channel::{Notification, Outcome};

/// A notification in words: what it is about and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeMessage {
    /// What it is about, by number: `TKT-20261129-0001`, `INC-20261129-0001`.
    pub reference: String,
    pub title: String,
    /// `Priority` for a ticket, `Severity` for an incident.
    pub urgency_label: &'static str,
    /// A ticket's priority, an incident's severity.
    pub urgency: String,
    pub status: String,
    /// What happened, in a few words: `SLA breached: first response overdue`.
    pub headline: String,
    /// The text of a public reply, or of an incident's public update; `None` for everything else.
    pub text: Option<String>,
    /// Whether a reply to the email reaches it (tickets).
    pub answerable: bool,
}

impl NoticeMessage {
    /// The message about what `notification`'s event belongs to. One the read model does not
    /// show yet is a passing failure; an event of an aggregate without words is a failure.
    pub async fn of(pool: &PgPool, notification: &Notification) -> Result<Self, Outcome> {
        let event = &notification.event;
        let without_words = || Outcome::Failed {
            status: None,
            error: format!(
                "a {} event is neither a ticket's nor an incident's: it has no message",
                event.aggregate_type
            ),
        };
        let id = Uuid::parse_str(&event.aggregate_id).map_err(|_| without_words())?;
        match event.aggregate_type.as_str() {
            tickets::AGGREGATE_TYPE => {
                let ticket = tickets::find(pool, &TicketKey::Id(id), &TicketScope::Everything)
                    .await
                    .map_err(|e| retry(format!("the ticket cannot be read: {}", Redacted(&e))))?
                    .ok_or_else(|| retry("the ticket is not in the read model yet".to_owned()))?;
                Ok(Self {
                    reference: ticket.ticket_number,
                    title: ticket.title,
                    urgency_label: "Priority",
                    urgency: ticket.priority,
                    status: ticket.status,
                    headline: headline(event),
                    text: match TicketEvent::from_parts(&event.event_type, &event.payload) {
                        Ok(TicketEvent::TicketCommentAdded { body, .. }) => {
                            Some(body.as_str().to_owned())
                        }
                        Ok(TicketEvent::TicketStatusChanged {
                            to: TicketStatus::Resolved,
                            ..
                        }) => Some(survey(id)),
                        _ => None,
                    },
                    answerable: true,
                })
            }
            incidents::AGGREGATE_TYPE => {
                let incident = incidents::find(pool, id)
                    .await
                    .map_err(|e| retry(format!("the incident cannot be read: {}", Redacted(&e))))?
                    .ok_or_else(|| retry("the incident is not in the read model yet".to_owned()))?;
                Ok(Self {
                    reference: incident.incident_number,
                    title: incident.title,
                    urgency_label: "Severity",
                    urgency: incident.severity,
                    status: incident.status,
                    headline: headline(event),
                    text: match IncidentEvent::from_parts(&event.event_type, &event.payload) {
                        Ok(IncidentEvent::IncidentUpdatePosted { message, .. }) => {
                            Some(message.as_str().to_owned())
                        }
                        _ => None,
                    },
                    answerable: false,
                })
            }
            alerts::AGGREGATE_TYPE => {
                let rule = alerts::find(pool, id)
                    .await
                    .map_err(|e| retry(format!("the alert rule cannot be read: {}", Redacted(&e))))?
                    .ok_or_else(|| {
                        retry("the alert rule is not in the read model yet".to_owned())
                    })?;
                let fired = AlertRuleEvent::from_parts(&event.event_type, &event.payload).ok();
                let (observed, threshold) = match &fired {
                    Some(AlertRuleEvent::AlertFired {
                        observed,
                        threshold,
                        ..
                    }) => (*observed, *threshold),
                    _ => (f64::NAN, rule.threshold),
                };
                Ok(Self {
                    reference: format!("Alert rule {}", rule.name),
                    title: rule.name,
                    urgency_label: "Kind",
                    urgency: rule.kind,
                    status: format!("observed {observed:.2} against threshold {threshold}"),
                    headline: headline(event),
                    text: None,
                    answerable: false,
                })
            }
            _ => Err(without_words()),
        }
    }
}

/// What a channel needs to send a notification: the recipient's preferences (their address) and
/// the message.
pub struct Addressed {
    pub preferences: Preferences,
    pub message: NoticeMessage,
}

impl Addressed {
    /// Or the outcome of an attempt that cannot be made.
    pub async fn read(pool: &PgPool, notification: &Notification) -> Result<Self, Outcome> {
        Ok(Self {
            preferences: recipient_preferences(pool, notification).await?,
            message: NoticeMessage::of(pool, notification).await?,
        })
    }
}

/// The recipient's preferences, or why there are none to send by: a user who never saved any
/// has no address.
async fn recipient_preferences(
    pool: &PgPool,
    notification: &Notification,
) -> Result<Preferences, Outcome> {
    let found = recipients(
        pool,
        std::slice::from_ref(&notification.recipient),
        &[],
        &[],
    )
    .await
    .map_err(|e| retry(format!("the preferences cannot be read: {}", Redacted(&e))))?;
    found
        .into_iter()
        .next()
        .map(|recipient| recipient.preferences)
        .ok_or_else(|| Outcome::Failed {
            status: None,
            error: "the recipient has saved no notification preferences, so no address".to_owned(),
        })
}

fn retry(error: String) -> Outcome {
    Outcome::Retry {
        status: None,
        error,
        retry_after: None,
    }
}

fn clock_name(clock: &ClockKind) -> &'static str {
    match clock {
        ClockKind::Response => "first response",
        ClockKind::Resolution => "resolution",
    }
}

/// What the event says happened, in the same words on every channel (the in-app inbox too);
/// events without words of their own, and other aggregates' events, are named by their type.
pub fn headline(event: &RecordedEvent) -> String {
    if event.aggregate_type == alerts::AGGREGATE_TYPE {
        return match AlertRuleEvent::from_parts(&event.event_type, &event.payload) {
            Ok(AlertRuleEvent::AlertFired { kind, detail, .. }) => {
                format!("Alert {kind}: {detail}")
            }
            _ => event.event_type.clone(),
        };
    }
    if event.aggregate_type == kb::AGGREGATE_TYPE {
        return match KbArticleEvent::from_parts(&event.event_type, &event.payload) {
            // The inbox shows a ticket's title beside the headline; an article's is in it.
            Ok(KbArticleEvent::KbArticleRatedLow {
                rating,
                rating_count,
                title,
                ..
            }) => format!(
                "Rated low: {} ({rating:.1} of 5 from {rating_count} ratings)",
                title.as_str()
            ),
            _ => event.event_type.clone(),
        };
    }
    if event.aggregate_type == incidents::AGGREGATE_TYPE {
        return match IncidentEvent::from_parts(&event.event_type, &event.payload) {
            Ok(decoded) => incident_headline(&decoded),
            Err(_) => event.event_type.clone(),
        };
    }
    match TicketEvent::from_parts(&event.event_type, &event.payload) {
        Ok(decoded) => ticket_headline(&decoded),
        Err(_) => event.event_type.clone(),
    }
}

fn incident_headline(event: &IncidentEvent) -> String {
    match event {
        IncidentEvent::IncidentDetected { fields, .. } => {
            format!("{} incident reported", fields.severity.as_str())
        }
        IncidentEvent::IncidentSeverityChanged { from, to, .. } => {
            format!("Severity changed from {from} to {to}")
        }
        IncidentEvent::IncidentTargetMissed { target, .. } => match target {
            IncidentTarget::Response => "Target missed: acknowledgement overdue".to_owned(),
            IncidentTarget::Resolution => "Target missed: resolution overdue".to_owned(),
        },
        IncidentEvent::IncidentUpdatePosted { status, .. } => format!("Status update ({status})"),
        other => other.name().to_owned(),
    }
}

/// The satisfaction survey a resolution's notice carries to the ticket's customer.
fn survey(ticket: Uuid) -> String {
    format!(
        "How satisfied are you with this resolution? Rate it from 1 (very unsatisfied) to 5 \
         (very satisfied), with a comment if you like: POST \
         /api/v1/support/tickets/{ticket}/satisfaction {{\"score\": 5, \"comment\": \"...\"}}"
    )
}

fn ticket_headline(event: &TicketEvent) -> String {
    match event {
        TicketEvent::SlaWarningReached { clock, .. } => {
            format!("SLA warning: {} due soon", clock_name(clock))
        }
        TicketEvent::SlaBreached { clock, .. } => {
            format!("SLA breached: {} overdue", clock_name(clock))
        }
        TicketEvent::TicketEscalated { level, .. } => format!("Escalated to level {level}"),
        TicketEvent::TicketAssigned { .. } => "Assigned to you".to_owned(),
        TicketEvent::TicketCommentAdded { .. } => "New reply".to_owned(),
        TicketEvent::TicketStatusChanged {
            to: TicketStatus::Resolved,
            ..
        } => "Resolved: how did we do? Rate the resolution from 1 to 5".to_owned(),
        TicketEvent::TicketStatusChanged { from, to, .. } => {
            format!("Status changed from {from} to {to}")
        }
        TicketEvent::TicketOpened { .. } => "New ticket".to_owned(),
        other => other.name().to_owned(),
    }
}
