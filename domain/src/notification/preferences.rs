//! The notification preferences aggregate: one per user (the token's `sub`), saying which
//! channels carry which kind of notification, where to reach them (email, phone) and when they
//! work. Each save records the user's role and teams as their token stated them, so that
//! escalation recipients named by role or team resolve to users.

#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{NotificationChannel, NotificationKind, WorkingTime};
use crate::ticket::values::parse_email;
use crate::ticket::{ErasureReason, Labels};
use crate::{ActorRole, Caller, DomainError, FieldErrors, PersonalData, Refusal};

/// The namespace of preferences ids: each user's is the UUID v5 of their `sub` in it, so that
/// every process finds a user's preferences without a lookup.
pub const PREFERENCES_NAMESPACE: Uuid = Uuid::from_u128(0x3f1e_52b0_7c4d_4a8e_9b61_0d2c_8e7f_a415);

/// The id of the preferences of the user `sub`.
pub fn preferences_id(sub: &str) -> Uuid {
    Uuid::new_v5(&PREFERENCES_NAMESPACE, sub.as_bytes())
}

/// An address email notifications go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(value: &str) -> Result<Self, String> {
        parse_email(value).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number SMS notifications go to, in E.164: `+`, then 8 to 15 digits, the first not 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(value: &str) -> Result<Self, String> {
        let digits = value.strip_prefix('+').unwrap_or_default();
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(
                "must be a phone number in E.164 form: + and 8 to 15 digits, such as \
                 +4930123456789"
                    .to_owned(),
            )
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which channels carry each kind of notification a user can be sent (every kind but `EVENT`,
/// which is for webhooks). An empty list: that kind is not sent to the user at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelChoices {
    #[serde(rename = "SLA_WARNING")]
    pub sla_warning: Vec<NotificationChannel>,
    #[serde(rename = "SLA_BREACH")]
    pub sla_breach: Vec<NotificationChannel>,
    #[serde(rename = "ESCALATION")]
    pub escalation: Vec<NotificationChannel>,
    #[serde(rename = "ASSIGNMENT")]
    pub assignment: Vec<NotificationChannel>,
    #[serde(rename = "PUBLIC_REPLY")]
    pub public_reply: Vec<NotificationChannel>,
    #[serde(rename = "STATUS_CHANGE")]
    pub status_change: Vec<NotificationChannel>,
    /// Preferences saved before the kind existed have the default.
    #[serde(rename = "KB_LOW_RATING", default = "in_app")]
    pub kb_low_rating: Vec<NotificationChannel>,
    /// A critical incident, or an incident that missed a target, for its responders.
    #[serde(rename = "INCIDENT_ALERT", default = "in_app")]
    pub incident_alert: Vec<NotificationChannel>,
    /// A public update of an incident, for the customers whose tickets are linked to it.
    #[serde(rename = "INCIDENT_UPDATE", default = "in_app")]
    pub incident_update: Vec<NotificationChannel>,
    /// An alert rule fired, for its recipients.
    #[serde(rename = "SUPPORT_ALERT", default = "in_app")]
    pub support_alert: Vec<NotificationChannel>,
}

fn in_app() -> Vec<NotificationChannel> {
    vec![NotificationChannel::InApp]
}

impl ChannelChoices {
    /// The kinds a user chooses channels for.
    pub const KINDS: &'static [NotificationKind] = &[
        NotificationKind::SlaWarning,
        NotificationKind::SlaBreach,
        NotificationKind::Escalation,
        NotificationKind::Assignment,
        NotificationKind::PublicReply,
        NotificationKind::StatusChange,
        NotificationKind::KbLowRating,
        NotificationKind::IncidentAlert,
        NotificationKind::IncidentUpdate,
        NotificationKind::SupportAlert,
    ];
    /// The channels a user can choose; webhooks are endpoints admins register, not users'.
    pub const CHANNELS: &'static [NotificationChannel] = &[
        NotificationChannel::Email,
        NotificationChannel::Sms,
        NotificationChannel::InApp,
    ];

    /// The channels that can carry `kind`: email and SMS word a ticket or an incident, so a
    /// knowledge base alert is in-app only; an alert rule's firing goes in-app and by email
    /// (SMS is for incidents and urgent tickets).
    pub fn channels_of(kind: NotificationKind) -> &'static [NotificationChannel] {
        match kind {
            NotificationKind::KbLowRating => &[NotificationChannel::InApp],
            NotificationKind::SupportAlert => {
                &[NotificationChannel::Email, NotificationChannel::InApp]
            }
            NotificationKind::Event => &[],
            _ => Self::CHANNELS,
        }
    }

    /// A user's channels until they choose: in-app for everything, and email too for SLA
    /// breaches, escalations, incidents and alerts when they gave an address.
    pub fn defaults(has_email: bool) -> Self {
        let in_app = in_app();
        let urgent = if has_email {
            vec![NotificationChannel::InApp, NotificationChannel::Email]
        } else {
            in_app.clone()
        };
        Self {
            sla_warning: in_app.clone(),
            sla_breach: urgent.clone(),
            escalation: urgent.clone(),
            assignment: in_app.clone(),
            public_reply: in_app.clone(),
            status_change: in_app.clone(),
            kb_low_rating: in_app,
            incident_alert: urgent.clone(),
            incident_update: urgent.clone(),
            support_alert: urgent,
        }
    }

    /// The channels of `kind`; none for `EVENT`.
    pub fn for_kind(&self, kind: NotificationKind) -> &[NotificationChannel] {
        match kind {
            NotificationKind::SlaWarning => &self.sla_warning,
            NotificationKind::SlaBreach => &self.sla_breach,
            NotificationKind::Escalation => &self.escalation,
            NotificationKind::Assignment => &self.assignment,
            NotificationKind::PublicReply => &self.public_reply,
            NotificationKind::StatusChange => &self.status_change,
            NotificationKind::KbLowRating => &self.kb_low_rating,
            NotificationKind::IncidentAlert => &self.incident_alert,
            NotificationKind::IncidentUpdate => &self.incident_update,
            NotificationKind::SupportAlert => &self.support_alert,
            NotificationKind::Event => &[],
        }
    }

    /// Sets the channels of `kind`; `EVENT` has none to set.
    pub fn set(&mut self, kind: NotificationKind, channels: Vec<NotificationChannel>) {
        let slot = match kind {
            NotificationKind::SlaWarning => &mut self.sla_warning,
            NotificationKind::SlaBreach => &mut self.sla_breach,
            NotificationKind::Escalation => &mut self.escalation,
            NotificationKind::Assignment => &mut self.assignment,
            NotificationKind::PublicReply => &mut self.public_reply,
            NotificationKind::StatusChange => &mut self.status_change,
            NotificationKind::KbLowRating => &mut self.kb_low_rating,
            NotificationKind::IncidentAlert => &mut self.incident_alert,
            NotificationKind::IncidentUpdate => &mut self.incident_update,
            NotificationKind::SupportAlert => &mut self.support_alert,
            NotificationKind::Event => return,
        };
        *slot = channels;
    }

    /// The kinds that `channel` carries, in `KINDS` order.
    pub fn kinds_using(&self, channel: NotificationChannel) -> Vec<NotificationKind> {
        Self::KINDS
            .iter()
            .copied()
            .filter(|kind| self.for_kind(*kind).contains(&channel))
            .collect()
    }

    /// Each kind's list names only the channels that can carry it (`channels_of`), each at most
    /// once; errors name the item (`channels.SLA_BREACH[1]`).
    pub fn check(&self, errors: &mut FieldErrors) {
        for &kind in Self::KINDS {
            let channels = self.for_kind(kind);
            let allowed = Self::channels_of(kind);
            for (index, channel) in channels.iter().enumerate() {
                let field = format!("channels.{kind}[{index}]");
                if !allowed.contains(channel) {
                    errors.push(field, format!("must be {}", one_of(allowed)));
                } else if channels[..index].contains(channel) {
                    errors.push(field, "repeats a channel named before");
                }
            }
        }
    }
}

/// `EMAIL, SMS or IN_APP`; `IN_APP`.
fn one_of(channels: &[NotificationChannel]) -> String {
    let names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
    match names.split_last() {
        Some((last, init)) if !init.is_empty() => format!("{} or {last}", init.join(", ")),
        _ => names.concat(),
    }
}

/// Everything a user prefers, as requests, events and the read model spell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    pub channels: ChannelChoices,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
    #[serde(flatten)]
    pub working_time: WorkingTime,
}

impl Preferences {
    /// What a user who never saved preferences gets: in-app only, any time, in UTC.
    pub fn defaults() -> Self {
        Self {
            channels: ChannelChoices::defaults(false),
            email: None,
            phone: None,
            working_time: WorkingTime::any_time(chrono_tz::UTC),
        }
    }

    /// The rules across fields: every channel chosen must have somewhere to go.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        self.channels.check(&mut errors);
        check_contacts(
            &self.channels,
            self.email.is_some(),
            self.phone.is_some(),
            &mut errors,
        );
        errors.into_result()
    }
}

/// EMAIL needs an email address and SMS a phone number; the missing one is blamed, naming the
/// kinds that chose its channel. A request checks this with what it was sent (`has_email`: an
/// address was sent, valid or not, so a bad one is reported once, as bad).
pub fn check_contacts(
    channels: &ChannelChoices,
    has_email: bool,
    has_phone: bool,
    errors: &mut FieldErrors,
) {
    for (channel, field, what, given) in [
        (
            NotificationChannel::Email,
            "email",
            "an email address",
            has_email,
        ),
        (
            NotificationChannel::Sms,
            "phone",
            "a phone number",
            has_phone,
        ),
    ] {
        let kinds = channels.kinds_using(channel);
        if !given && !kinds.is_empty() {
            let named: Vec<_> = kinds.iter().map(|k| k.as_str()).collect();
            errors.push(
                field,
                format!(
                    "is required: {channel} is chosen for {} and needs {what}",
                    named.join(", ")
                ),
            );
        }
    }
}

/// Who the preferences belong to, as their token said when they last saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub sub: String,
    pub role: ActorRole,
    /// The teams the token named (`teams` claim); escalation levels name recipients by team.
    pub teams: Labels,
    /// The customer account a customer acts for; their data key is filed under it, so that the
    /// account's export and erasure reach the preferences. `None` for staff.
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotificationPreferencesCommand {
    Set(Box<SetNotificationPreferences>),
    Erase(EraseNotificationPreferences),
}

/// Replaces the caller's preferences with these, and their role and teams with the token's.
#[derive(Debug, Clone, PartialEq)]
pub struct SetNotificationPreferences {
    pub caller: Caller,
    pub teams: Labels,
    pub preferences: Preferences,
}

/// Destroys the preferences' data key: their email address and phone number can no longer be
/// read anywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct EraseNotificationPreferences {
    pub caller: Caller,
    pub reason: ErasureReason,
    /// The erasure receipt that covers these preferences.
    pub receipt_id: Uuid,
}

/// Everything that can happen to a user's preferences. The catalogue is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum NotificationPreferencesEvent {
    /// The whole preferences after a save, with who saved them.
    NotificationPreferencesSet {
        #[serde(flatten)]
        recipient: Recipient,
        #[serde(flatten)]
        preferences: Box<Preferences>,
    },
    /// The data key was destroyed: the email and phone of every earlier event read as erased.
    NotificationPreferencesErased {
        reason: ErasureReason,
        receipt_id: Uuid,
    },
}

impl NotificationPreferencesEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            Self::NotificationPreferencesSet { .. } => "NotificationPreferencesSet",
            Self::NotificationPreferencesErased { .. } => "NotificationPreferencesErased",
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

/// The email address and phone number are a person's data; a customer's are filed under their
/// account.
impl PersonalData for NotificationPreferencesEvent {
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            Self::NotificationPreferencesSet { .. } => &["/email", "/phone"],
            Self::NotificationPreferencesErased { .. } => &[],
        }
    }

    fn data_subject(&self) -> Option<&str> {
        match self {
            Self::NotificationPreferencesSet { recipient, .. } => recipient.customer_id.as_deref(),
            Self::NotificationPreferencesErased { .. } => None,
        }
    }

    fn erases_personal_data(&self) -> bool {
        matches!(self, Self::NotificationPreferencesErased { .. })
    }
}

crate::recorded::domain_event!(NotificationPreferencesEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotificationPreferencesError {
    #[error("these preferences belong to another user")]
    NotOwner,
    #[error("the auditor role reads its preferences and changes none")]
    ReadOnlyCaller,
    #[error("only admins and the retention worker erase personal data")]
    ErasureForbidden,
    #[error("the preferences' personal data was erased; they accept no further changes")]
    Erased,
    #[error("the preferences would be invalid: {0}")]
    Invalid(FieldErrors),
}

impl DomainError for NotificationPreferencesError {
    fn refusal(&self) -> Refusal {
        match self {
            Self::NotOwner | Self::ReadOnlyCaller | Self::ErasureForbidden => Refusal::Forbidden,
            Self::Erased => Refusal::Conflict {
                allowed_statuses: None,
            },
            Self::Invalid(errors) => Refusal::InvalidFields(errors.clone()),
        }
    }
}

/// A user's preferences as their events leave them.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationPreferences {
    /// `None` until first saved.
    saved: Option<(Recipient, Preferences)>,
    erased: bool,
}

impl Aggregate for NotificationPreferences {
    const TYPE: &'static str = "notification_preferences";
    type Command = NotificationPreferencesCommand;
    type Event = NotificationPreferencesEvent;
    type Error = NotificationPreferencesError;
    type Services = ();

    async fn handle(
        &mut self,
        command: NotificationPreferencesCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), NotificationPreferencesError> {
        let events = match command {
            NotificationPreferencesCommand::Set(set) => self.set(*set)?,
            NotificationPreferencesCommand::Erase(erase) => self.erase(erase)?,
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: NotificationPreferencesEvent) {
        match event {
            NotificationPreferencesEvent::NotificationPreferencesSet {
                recipient,
                preferences,
            } => self.saved = Some((recipient, *preferences)),
            NotificationPreferencesEvent::NotificationPreferencesErased { .. } => {
                self.erased = true
            }
        }
    }
}

impl NotificationPreferences {
    /// A save that changes nothing (the same preferences, role and teams) records nothing.
    fn set(
        &self,
        set: SetNotificationPreferences,
    ) -> Result<Vec<NotificationPreferencesEvent>, NotificationPreferencesError> {
        let actor = &set.caller.actor;
        if !actor.role.may_write() {
            return Err(NotificationPreferencesError::ReadOnlyCaller);
        }
        if self
            .saved
            .as_ref()
            .is_some_and(|(owner, _)| owner.sub != actor.sub)
        {
            return Err(NotificationPreferencesError::NotOwner);
        }
        if self.erased {
            return Err(NotificationPreferencesError::Erased);
        }
        set.preferences
            .check()
            .map_err(NotificationPreferencesError::Invalid)?;
        let recipient = Recipient {
            sub: actor.sub.clone(),
            role: actor.role,
            teams: set.teams,
            customer_id: (actor.role == ActorRole::Customer)
                .then_some(set.caller.customer_id)
                .flatten(),
        };
        let saved = (recipient, set.preferences);
        if self.saved.as_ref() == Some(&saved) {
            return Ok(Vec::new());
        }
        let (recipient, preferences) = saved;
        Ok(vec![
            NotificationPreferencesEvent::NotificationPreferencesSet {
                recipient,
                preferences: Box::new(preferences),
            },
        ])
    }

    /// Preferences never saved, or erased already, have nothing to erase.
    fn erase(
        &self,
        erase: EraseNotificationPreferences,
    ) -> Result<Vec<NotificationPreferencesEvent>, NotificationPreferencesError> {
        if !matches!(
            erase.caller.actor.role,
            ActorRole::Admin | ActorRole::Service
        ) {
            return Err(NotificationPreferencesError::ErasureForbidden);
        }
        if self.saved.is_none() || self.erased {
            return Ok(Vec::new());
        }
        Ok(vec![
            NotificationPreferencesEvent::NotificationPreferencesErased {
                reason: erase.reason,
                receipt_id: erase.receipt_id,
            },
        ])
    }
}
