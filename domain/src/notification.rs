//! What the desk tells people, and how: the kinds of notification a recipient can choose channels
//! for, and the channels that carry them.

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
