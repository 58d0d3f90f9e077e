//! The body of `PUT /notification-preferences` and how it parses into a user's preferences. Every
//! field is read on its own first, so that every problem is reported by field name at once; the
//! channels are then checked against the addresses sent.

use serde::Deserialize;
use serde_json::json;
use support_domain::notification::{
    check_contacts, ChannelChoices, EmailAddress, NotificationChannel, NotificationKind,
    PhoneNumber, Preferences, WorkingHoursFields, WorkingTime, WorkingTimeFields,
};
use support_domain::ticket::Customer;
use support_domain::FieldErrors;
use support_projections::schema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::ToSchema;

use crate::extract::{parsed, required};

/// The time zone of preferences that name none.
const DEFAULT_TIME_ZONE: &str = "UTC";

fn email() -> Object {
    schema::email(Customer::EMAIL_MAX_CHARS)
        .examples([json!("alice@desk.example")])
        .build()
}

fn phone() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^\\+[1-9][0-9]{7,14}$"))
        .examples([json!("+4930123456789")])
        .build()
}

fn time_zone() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .examples([json!("Europe/Berlin")])
        .build()
}

fn channel_choices() -> Object {
    schema::channel_choices().build()
}

fn working_hours() -> Object {
    schema::working_hours().build()
}

/// The body of `PUT /notification-preferences`: the whole preferences, replacing the ones saved.
/// Fields left out take the defaults their descriptions name.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PutNotificationPreferencesRequest {
    /// Channels per kind of notification; a kind left out keeps its default (IN_APP, plus EMAIL
    /// for SLA_BREACH, ESCALATION, INCIDENT_ALERT, INCIDENT_UPDATE and SUPPORT_ALERT when `email` is sent). Each list names `EMAIL`, `SMS` or
    /// `IN_APP` at most once (`KB_LOW_RATING`: `IN_APP` only); `[]`: not notified of that kind.
    #[schema(schema_with = channel_choices)]
    pub channels: Option<ChannelChoicesRequest>,
    /// Where email notifications go; none when not sent. Required when a kind chooses EMAIL.
    #[schema(schema_with = email)]
    pub email: Option<String>,
    /// Where SMS notifications go, in E.164 (`+` and 8 to 15 digits); none when not sent.
    /// Required when a kind chooses SMS.
    #[schema(schema_with = phone)]
    pub phone: Option<String>,
    /// An IANA time zone (`Europe/Berlin`), which working hours are in; `UTC` when not sent.
    #[schema(schema_with = time_zone)]
    pub time_zone: Option<String>,
    /// When non-urgent notifications may reach you: on `days` (ISO weekdays, 1 = Monday), from
    /// `start` to `end` (`HH:MM`, local; `end` after `start`, `24:00` for midnight). Any time
    /// when not sent.
    #[schema(schema_with = working_hours)]
    pub working_hours: Option<WorkingHoursRequest>,
}

/// The channels of each kind of notification, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct ChannelChoicesRequest {
    #[serde(rename = "SLA_WARNING")]
    pub sla_warning: Option<Vec<String>>,
    #[serde(rename = "SLA_BREACH")]
    pub sla_breach: Option<Vec<String>>,
    #[serde(rename = "ESCALATION")]
    pub escalation: Option<Vec<String>>,
    #[serde(rename = "ASSIGNMENT")]
    pub assignment: Option<Vec<String>>,
    #[serde(rename = "PUBLIC_REPLY")]
    pub public_reply: Option<Vec<String>>,
    #[serde(rename = "STATUS_CHANGE")]
    pub status_change: Option<Vec<String>>,
    #[serde(rename = "KB_LOW_RATING")]
    pub kb_low_rating: Option<Vec<String>>,
    #[serde(rename = "INCIDENT_ALERT")]
    pub incident_alert: Option<Vec<String>>,
    #[serde(rename = "INCIDENT_UPDATE")]
    pub incident_update: Option<Vec<String>>,
    #[serde(rename = "SUPPORT_ALERT")]
    pub support_alert: Option<Vec<String>>,
}

impl ChannelChoicesRequest {
    /// The kinds sent, each with its channels as sent.
    fn sent(&self) -> impl Iterator<Item = (NotificationKind, &[String])> {
        [
            (NotificationKind::SlaWarning, &self.sla_warning),
            (NotificationKind::SlaBreach, &self.sla_breach),
            (NotificationKind::Escalation, &self.escalation),
            (NotificationKind::Assignment, &self.assignment),
            (NotificationKind::PublicReply, &self.public_reply),
            (NotificationKind::StatusChange, &self.status_change),
            (NotificationKind::KbLowRating, &self.kb_low_rating),
            (NotificationKind::IncidentAlert, &self.incident_alert),
            (NotificationKind::IncidentUpdate, &self.incident_update),
            (NotificationKind::SupportAlert, &self.support_alert),
        ]
        .into_iter()
        .filter_map(|(kind, channels)| channels.as_deref().map(|c| (kind, c)))
    }
}

/// Working hours as sent: all three fields are required.
#[derive(Debug, Default, Deserialize)]
pub struct WorkingHoursRequest {
    pub days: Option<Vec<u8>>,
    pub start: Option<String>,
    pub end: Option<String>,
}

impl PutNotificationPreferencesRequest {
    pub fn parse(&self) -> Result<Preferences, FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = parsed(
            &mut errors,
            "email",
            self.email.as_deref(),
            EmailAddress::parse,
        );
        let phone = parsed(
            &mut errors,
            "phone",
            self.phone.as_deref(),
            PhoneNumber::parse,
        );
        let working_time = self.working_time(&mut errors);
        let mut channels = ChannelChoices::defaults(self.email.is_some());
        for (kind, sent) in self.channels.iter().flat_map(ChannelChoicesRequest::sent) {
            let mut chosen = Vec::with_capacity(sent.len());
            for (index, channel) in sent.iter().enumerate() {
                let field = format!("channels.{kind}[{index}]");
                chosen.extend(errors.take(&field, NotificationChannel::parse(channel)));
            }
            if chosen.len() == sent.len() {
                channels.set(kind, chosen);
            }
        }
        channels.check(&mut errors);
        // An address sent counts as given, so a bad one is reported once: as bad.
        check_contacts(
            &channels,
            self.email.is_some(),
            self.phone.is_some(),
            &mut errors,
        );
        errors.into_result()?;
        Ok(Preferences {
            channels,
            email,
            phone,
            working_time: working_time.expect("checked"),
        })
    }

    fn working_time(&self, errors: &mut FieldErrors) -> Option<WorkingTime> {
        let hours = self.working_hours.as_ref().map(|hours| {
            let days = required(errors, "workingHours.days", hours.days.clone());
            let start = required(errors, "workingHours.start", hours.start.clone());
            let end = required(errors, "workingHours.end", hours.end.clone());
            Some(WorkingHoursFields {
                days: days?,
                start: start?,
                end: end?,
            })
        });
        let fields = WorkingTimeFields {
            time_zone: (self.time_zone.as_deref())
                .unwrap_or(DEFAULT_TIME_ZONE)
                .to_owned(),
            // Hours missing a field are reported as missing; the time zone is still checked.
            working_hours: hours.flatten(),
        };
        match WorkingTime::parse(&fields) {
            Ok(working_time) => Some(working_time),
            Err(refused) => {
                errors.0.extend(refused.0);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: serde_json::Value) -> Vec<String> {
        let request: PutNotificationPreferencesRequest = serde_json::from_value(body).unwrap();
        let errors = request.parse().unwrap_err();
        errors.fields().into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn nothing_sent_is_the_defaults() {
        let request = PutNotificationPreferencesRequest::default();
        assert_eq!(request.parse().unwrap(), Preferences::defaults());
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let fields = refused(json!({
            "channels": {"SLA_BREACH": ["SMS", "PIGEON"], "ESCALATION": ["EMAIL", "EMAIL"]},
            "email": "not-an-address",
            "timeZone": "Mars/Olympus",
            "workingHours": {"days": [0], "start": "9", "end": "17:00"},
        }));
        assert_eq!(
            fields,
            [
                "email",
                "timeZone",
                "workingHours.start",
                "workingHours.days[0]",
                "channels.SLA_BREACH[1]",
                "channels.ESCALATION[1]",
            ]
        );
        // A kind with a bad channel is refused as a whole: its SMS asks for no phone. Once the
        // kind is right, it does.
        let fields = refused(json!({"channels": {"SLA_BREACH": ["SMS"]}}));
        assert_eq!(fields, ["phone"]);
    }

    #[test]
    fn incomplete_working_hours_name_what_is_missing() {
        let fields = refused(json!({"workingHours": {"start": "09:00"}}));
        assert_eq!(fields, ["workingHours.days", "workingHours.end"]);
    }
}
