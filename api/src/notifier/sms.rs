//! The SMS channel: a short text about a ticket or an incident, sent through a
//! Twilio-compatible HTTP API to the phone number in the recipient's preferences:
//! `POST {URL}/2010-04-01/Accounts/{ACCOUNT}/Messages.json` with HTTP basic auth (account,
//! token) and the form fields `To`, `From` and `Body`.

use std::time::Duration;

use anyhow::bail;
use async_trait::async_trait;
use reqwest::header::RETRY_AFTER;
use reqwest::{StatusCode, Url};
use sqlx::PgPool;
use support_domain::notification::NotificationChannel;

use super::channel::{Channel, Notification, Outcome};
use super::message::{Addressed, NoticeMessage};

/// One SMS segment of 7-bit characters: longer texts are cut to it.
pub const MAX_BODY_CHARS: usize = 160;
/// How long the provider may take to answer before the attempt counts as a passing failure.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `SUPPORTD_SMS_URL`, `SUPPORTD_SMS_ACCOUNT`, `SUPPORTD_SMS_TOKEN` and `SUPPORTD_SMS_FROM`. No
/// `Debug`: the token is a secret.
#[derive(Clone)]
pub struct SmsSettings {
    /// The API's base, `https://api.twilio.com` for Twilio.
    url: Url,
    account: String,
    token: String,
    /// The sender: a number in E.164 or a messaging service the provider knows.
    from: String,
}

const VARIABLES: [&str; 4] = [
    "SUPPORTD_SMS_URL",
    "SUPPORTD_SMS_ACCOUNT",
    "SUPPORTD_SMS_TOKEN",
    "SUPPORTD_SMS_FROM",
];

impl SmsSettings {
    /// Read with `var`; `None` when none of the four is set (no SMS channel). Some but not all:
    /// an error naming the missing ones.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let values = VARIABLES.map(|name| var(name).filter(|value| !value.is_empty()));
        let missing: Vec<&str> = VARIABLES
            .iter()
            .zip(&values)
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| *name)
            .collect();
        if missing.len() == VARIABLES.len() {
            return Ok(None);
        }
        if !missing.is_empty() {
            bail!(
                "SMS needs all of {}: {} missing",
                VARIABLES.join(", "),
                missing.join(", ")
            );
        }
        let [Some(url), Some(account), Some(token), Some(from)] = values else {
            unreachable!("none is missing");
        };
        let url: Url = url
            .parse()
            .ok()
            .filter(|u: &Url| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                anyhow::anyhow!("SUPPORTD_SMS_URL={url:?} is not an http:// or https:// URL")
            })?;
        // The account names a path segment: one that could leave it is refused.
        if !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
            bail!("SUPPORTD_SMS_ACCOUNT must be letters and digits (a Twilio account SID)");
        }
        Ok(Some(Self {
            url,
            account,
            token,
            from,
        }))
    }

    /// Where messages are posted.
    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.url.as_str().trim_end_matches('/'),
            self.account
        )
    }
}

/// Sends notifications by SMS.
pub struct SmsChannel {
    pool: PgPool,
    http: reqwest::Client,
    settings: SmsSettings,
}

impl SmsChannel {
    pub fn new(pool: PgPool, settings: SmsSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(TIMEOUT).build()?;
        Ok(Self {
            pool,
            http,
            settings,
        })
    }
}

#[async_trait]
impl Channel for SmsChannel {
    fn channel(&self) -> NotificationChannel {
        NotificationChannel::Sms
    }

    async fn send(&self, notification: &Notification) -> Outcome {
        let (preferences, notice) = match Addressed::read(&self.pool, notification).await {
            Ok(addressed) => (addressed.preferences, addressed.message),
            Err(outcome) => return outcome,
        };
        let Some(phone) = preferences.phone else {
            return Outcome::Failed {
                status: None,
                error: "the recipient's notification preferences hold no phone number".to_owned(),
            };
        };
        let body = text(&notice);
        let form = [
            ("To", phone.as_str()),
            ("From", self.settings.from.as_str()),
            ("Body", body.as_str()),
        ];
        let sent = self
            .http
            .post(self.settings.messages_url())
            .basic_auth(&self.settings.account, Some(&self.settings.token))
            .form(&form)
            .send()
            .await;
        // Errors name the status, never the provider's words, which may quote the number.
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                return Outcome::Retry {
                    status: None,
                    error: if error.is_timeout() {
                        "the SMS provider did not answer in time".to_owned()
                    } else {
                        "the SMS provider could not be reached".to_owned()
                    },
                    retry_after: None,
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            Outcome::Delivered {
                status: Some(status.as_u16()),
            }
        } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Outcome::Retry {
                status: Some(status.as_u16()),
                error: format!("the SMS provider answered {status}"),
                retry_after: retry_after(&response),
            }
        } else {
            Outcome::Failed {
                status: Some(status.as_u16()),
                error: format!("the SMS provider refused the message: {status}"),
            }
        }
    }
}

/// `Retry-After` in seconds, as SMS providers send it.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// `TKT-20261129-0001 P0_CRITICAL: SLA breached: first response overdue. Dashboard down`, cut
/// to `MAX_BODY_CHARS` with `...` (not `…`, which is no GSM-7 character and would cut a segment
/// to 70).
fn text(notice: &NoticeMessage) -> String {
    let text = format!(
        "{} {}: {}. {}",
        notice.reference, notice.urgency, notice.headline, notice.title
    );
    if text.chars().count() <= MAX_BODY_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_BODY_CHARS - 3).collect();
    cut.push_str("...");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<Option<SmsSettings>> {
        SmsSettings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    const ALL: [(&str, &str); 4] = [
        ("SUPPORTD_SMS_URL", "https://api.twilio.com/"),
        ("SUPPORTD_SMS_ACCOUNT", "AC123"),
        ("SUPPORTD_SMS_TOKEN", "secret"),
        ("SUPPORTD_SMS_FROM", "+15005550006"),
    ];

    #[test]
    fn sms_is_off_without_settings_and_needs_all_four() {
        assert!(settings(&[]).unwrap().is_none());
        let Err(some) = settings(&ALL[..2]) else {
            panic!("some settings without the others are accepted");
        };
        let some = some.to_string();
        assert!(
            some.contains("SUPPORTD_SMS_TOKEN, SUPPORTD_SMS_FROM missing"),
            "{some}"
        );
        let all = settings(&ALL).unwrap().unwrap();
        assert_eq!(
            all.messages_url(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
        let mut escaping = ALL;
        escaping[1] = ("SUPPORTD_SMS_ACCOUNT", "../admin");
        assert!(settings(&escaping).is_err());
        let mut not_http = ALL;
        not_http[0] = ("SUPPORTD_SMS_URL", "ftp://sms");
        assert!(settings(&not_http).is_err());
    }

    #[test]
    fn a_long_text_is_cut_to_one_segment() {
        let notice = NoticeMessage {
            reference: "TKT-20261129-0001".to_owned(),
            title: "x".repeat(300),
            urgency_label: "Priority",
            urgency: "P0_CRITICAL".to_owned(),
            status: "OPEN".to_owned(),
            headline: "SLA breached: first response overdue".to_owned(),
            text: None,
            answerable: true,
        };
        let body = text(&notice);
        assert_eq!(body.chars().count(), MAX_BODY_CHARS);
        assert!(body.starts_with("TKT-20261129-0001 P0_CRITICAL: SLA breached"));
        assert!(body.ends_with("..."));
    }
}
