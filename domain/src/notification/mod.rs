//! What the desk tells people, and how: the kinds of notification a recipient can choose channels
//! for, the channels that carry them, and each recipient's preferences (which channels for which
//! kind, where to reach them, and when they work).

use serde::{Deserialize, Serialize};

use crate::ticket::values::screaming_enum;

screaming_enum!(
    /// Why a recipient is told something; each recipient chooses channels per kind. `EVENT` is an
    /// event as a webhook endpoint subscribed to it.
    NotificationKind {
        SlaWarning => "SLA_WARNING",
        SlaBreach => "SLA_BREACH",
        Escalation => "ESCALATION",
        Assignment => "ASSIGNMENT",
        PublicReply => "PUBLIC_REPLY",
        StatusChange => "STATUS_CHANGE",
        KbLowRating => "KB_LOW_RATING",
        IncidentAlert => "INCIDENT_ALERT",
        IncidentUpdate => "INCIDENT_UPDATE",
        SupportAlert => "SUPPORT_ALERT",
        Event => "EVENT",
    }
);

screaming_enum!(
    /// What carries a notification to its recipient.
    NotificationChannel {
        Webhook => "WEBHOOK",
        Email => "EMAIL",
        Sms => "SMS",
        InApp => "IN_APP",
    }
);

mod preferences;
mod working_time;

pub use preferences::{
    check_contacts, preferences_id, ChannelChoices, EmailAddress, EraseNotificationPreferences,
    NotificationPreferences, NotificationPreferencesCommand, NotificationPreferencesError,
    NotificationPreferencesEvent, PhoneNumber, Preferences, Recipient, SetNotificationPreferences,
    PREFERENCES_NAMESPACE,
};
pub use working_time::{WorkingHoursFields, WorkingTime, WorkingTimeFields};
