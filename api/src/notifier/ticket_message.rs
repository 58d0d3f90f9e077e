//! What a notification about a ticket says, whichever channel carries it: the ticket's number,
//! title, priority and status from the tickets read model, and what happened from the event. It
//! is rendered when the notification is sent, from the event as opened then: an erased ticket's
//! title reads `[erased]`.

use sqlx::PgPool;
use support_domain::kb::KbArticleEvent;
use support_domain::notification::Preferences;
use support_domain::sla::ClockKind;
use support_domain::ticket::TicketEvent;
use support_domain::RecordedEvent;
use support_projections::kb;
use support_projections::notification_preferences::recipients;
use support_projections::tickets::{self, TicketKey, TicketScope};
use support_projections::Redacted;
use uuid::Uuid;

use super::channel::{Notification, Outcome};

/// A notification about a ticket, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketMessage {
    pub ticket_number: String,
    pub title: String,
    pub priority: String,
    pub status: String,
    /// What happened, in a few words: `SLA breached: first response overdue`.
    pub headline: String,
    /// The text of a public reply; `None` for everything else.
    pub reply: Option<String>,
}

impl TicketMessage {
    /// The message about the ticket `notification`'s event belongs to. A ticket the read model
    /// does not show yet is a passing failure; an event of another aggregate is not a ticket's.
    pub async fn of(pool: &PgPool, notification: &Notification) -> Result<Self, Outcome> {
        let event = &notification.event;
        let not_a_ticket = || Outcome::Failed {
            status: None,
            error: format!(
                "a {} event is not about a ticket: it has no ticket message",
                event.aggregate_type
            ),
        };
        if event.aggregate_type != tickets::AGGREGATE_TYPE {
            return Err(not_a_ticket());
        }
        let id = Uuid::parse_str(&event.aggregate_id).map_err(|_| not_a_ticket())?;
        let ticket = tickets::find(pool, &TicketKey::Id(id), &TicketScope::Everything)
            .await
            .map_err(|e| retry(format!("the ticket cannot be read: {}", Redacted(&e))))?
            .ok_or_else(|| retry("the ticket is not in the read model yet".to_owned()))?;
        let decoded = TicketEvent::from_parts(&event.event_type, &event.payload).ok();
        Ok(Self {
            ticket_number: ticket.ticket_number,
            title: ticket.title,
            priority: ticket.priority,
            status: ticket.status,
            headline: headline(event),
            reply: match decoded {
                Some(TicketEvent::TicketCommentAdded { body, .. }) => {
                    Some(body.as_str().to_owned())
                }
                _ => None,
            },
        })
    }
}

/// What a channel needs to send a notification: the recipient's preferences (their address) and
/// the message.
pub struct Addressed {
    pub preferences: Preferences,
    pub ticket: TicketMessage,
}

impl Addressed {
    /// Or the outcome of an attempt that cannot be made.
    pub async fn read(pool: &PgPool, notification: &Notification) -> Result<Self, Outcome> {
        Ok(Self {
            preferences: recipient_preferences(pool, notification).await?,
            ticket: TicketMessage::of(pool, notification).await?,
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
    match TicketEvent::from_parts(&event.event_type, &event.payload) {
        Ok(decoded) => ticket_headline(&decoded),
        Err(_) => event.event_type.clone(),
    }
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
        TicketEvent::TicketStatusChanged { from, to, .. } => {
            format!("Status changed from {from} to {to}")
        }
        TicketEvent::TicketOpened { .. } => "New ticket".to_owned(),
        other => other.name().to_owned(),
    }
}
