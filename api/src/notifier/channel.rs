//! One trait for every way a notification leaves the desk (webhook, email, SMS, in-app): the
//! delivery worker claims due deliveries, hands each to its channel, and applies one retry rule to
//! whatever the channel answers.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use support_domain::notification::{NotificationChannel, NotificationKind};
use support_domain::RecordedEvent;
use uuid::Uuid;

/// A delivery as its channel sends it: the event that caused it (personal fields opened with the
/// aggregate's data key, or erased), rendered now rather than stored, so that delivery rows hold
/// no personal data and an erasure reaches what is still to be sent.
pub struct Notification {
    /// The delivery's id: the same on every attempt and resend, so receivers can drop repeats
    /// (`webhook-id`, the email's Message-ID).
    pub delivery_id: Uuid,
    pub kind: NotificationKind,
    /// Who it is for, as the planner named them: a webhook endpoint's id, a user's sub.
    pub recipient: String,
    pub event: RecordedEvent,
    /// When this attempt is made, by the service's clock (`webhook-timestamp`, an email's Date).
    pub attempted_at: DateTime<Utc>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The receiver took it.
    Delivered { status: Option<u16> },
    /// A passing failure (5xx, 429, a timeout, a refused connection): tried again with backoff,
    /// or not before `retry_after` when the receiver said so.
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// A lasting refusal (another 4xx, an address the desk may not reach): not tried again.
    Failed { status: Option<u16>, error: String },
    /// The receiver is gone for good (410): nothing more is sent to it.
    Gone { status: u16 },
}

#[async_trait]
pub trait Channel: Send + Sync {
    fn channel(&self) -> NotificationChannel;

    async fn send(&self, notification: &Notification) -> Outcome;
}
