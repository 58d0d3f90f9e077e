//! The email channel: a notification about a ticket, sent over SMTP (lettre) to the address in
//! the recipient's preferences, as a plain-text and an HTML body. The subject and the Reply-To
//! carry the ticket number (`[TKT-20261129-0001] ...`, `support+TKT-20261129-0001@desk.example`),
//! so a reply names its ticket; the Message-ID is the delivery's, so a resend is recognisably the
//! same message.

use anyhow::{bail, Context};
use async_trait::async_trait;
use html_escape::encode_text;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;
use support_domain::notification::NotificationChannel;

use super::channel::{Channel, Notification, Outcome};
use super::message::{Addressed, NoticeMessage};

/// `SUPPORTD_SMTP_URL` and `SUPPORTD_SMTP_FROM`. No `Debug`: the URL may hold the SMTP password.
#[derive(Clone)]
pub struct EmailSettings {
    /// `smtp://host:port`, `smtps://user:password@host:465`, `smtp://host:587?tls=required`.
    url: String,
    from: Mailbox,
}

impl EmailSettings {
    /// Read with `var`; `None` when `SUPPORTD_SMTP_URL` is unset or empty (no email channel).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let Some(url) = var("SUPPORTD_SMTP_URL") else {
            if var("SUPPORTD_SMTP_FROM").is_some() {
                bail!("SUPPORTD_SMTP_FROM has no effect without SUPPORTD_SMTP_URL");
            }
            return Ok(None);
        };
        // The URL is checked now, so a typo stops the process at start; its text is never
        // repeated, since it may hold a password.
        AsyncSmtpTransport::<Tokio1Executor>::from_url(&url).map_err(|_| {
            anyhow::anyhow!(
                "SUPPORTD_SMTP_URL must be smtp://host:port or smtps://host:port, optionally with \
                 user:password@ before the host"
            )
        })?;
        let from = var("SUPPORTD_SMTP_FROM")
            .context("SUPPORTD_SMTP_URL needs SUPPORTD_SMTP_FROM, the address emails come from")?;
        let from: Mailbox = from.parse().map_err(|e| {
            anyhow::anyhow!("SUPPORTD_SMTP_FROM={from:?} is not an email address: {e}")
        })?;
        Ok(Some(Self { url, from }))
    }
}

/// Sends notifications by email.
pub struct EmailChannel {
    pool: PgPool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailChannel {
    pub fn new(pool: PgPool, settings: &EmailSettings) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|_| anyhow::anyhow!("SUPPORTD_SMTP_URL is not an SMTP URL"))?
            .build();
        Ok(Self {
            pool,
            transport,
            from: settings.from.clone(),
        })
    }

    /// `notice` to `to`, as `delivery` sends it every time.
    fn message(
        &self,
        notification: &Notification,
        notice: &NoticeMessage,
        to: Mailbox,
    ) -> Result<Message, String> {
        let domain = self.from.email.domain();
        let mut builder = Message::builder().from(self.from.clone());
        if notice.answerable {
            let reply_to = Address::new(
                format!("{}+{}", self.from.email.user(), notice.reference),
                domain,
            )
            .map_err(|e| format!("the Reply-To address cannot be made: {e}"))?;
            builder = builder.reply_to(Mailbox::new(self.from.name.clone(), reply_to));
        }
        builder
            .to(to)
            .subject(subject(notice))
            .message_id(Some(format!("<{}@{domain}>", notification.delivery_id)))
            .multipart(MultiPart::alternative_plain_html(
                plain_text(notice),
                html(notice),
            ))
            .map_err(|e| format!("the message cannot be built: {e}"))
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn channel(&self) -> NotificationChannel {
        NotificationChannel::Email
    }

    async fn send(&self, notification: &Notification) -> Outcome {
        let (preferences, notice) = match Addressed::read(&self.pool, notification).await {
            Ok(addressed) => (addressed.preferences, addressed.message),
            Err(outcome) => return outcome,
        };
        let Some(email) = preferences.email else {
            return failed("the recipient's notification preferences hold no email address");
        };
        // The address is personal data: errors name what is wrong, never the address.
        let Ok(to) = email.as_str().parse::<Mailbox>() else {
            return failed("the recipient's email address is not one SMTP can send to");
        };
        let message = match self.message(notification, &notice, to) {
            Ok(message) => message,
            Err(error) => return failed(&error),
        };
        match self.transport.send(message).await {
            Ok(response) => Outcome::Delivered {
                status: Some(response.code().into()),
            },
            // The server's own words may quote the address: only its code is kept.
            Err(error) if error.is_permanent() => Outcome::Failed {
                status: error.status().map(Into::into),
                error: "the SMTP server refused the message for good (5xx)".to_owned(),
            },
            Err(error) => Outcome::Retry {
                status: error.status().map(Into::into),
                error: if error.is_transient() {
                    "the SMTP server deferred the message (4xx)".to_owned()
                } else {
                    "the SMTP server could not be reached".to_owned()
                },
                retry_after: None,
            },
        }
    }
}

fn failed(error: &str) -> Outcome {
    Outcome::Failed {
        status: None,
        error: error.to_owned(),
    }
}

/// `[TKT-20261129-0001] SLA breached: first response overdue: Dashboard down`, on one line.
fn subject(notice: &NoticeMessage) -> String {
    let subject = format!(
        "[{}] {}: {}",
        notice.reference, notice.headline, notice.title
    );
    subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn plain_text(notice: &NoticeMessage) -> String {
    let mut text = format!(
        "{headline}\n\n{number}: {title}\n{label}: {urgency}\nStatus: {status}\n",
        headline = notice.headline,
        number = notice.reference,
        title = notice.title,
        label = notice.urgency_label,
        urgency = notice.urgency,
        status = notice.status,
    );
    if let Some(said) = &notice.text {
        text.push_str(&format!("\n{said}\n"));
    }
    if notice.answerable {
        text.push_str(&format!(
            "\nReplies to this email keep {} in their address.\n",
            notice.reference
        ));
    }
    text
}

/// The HTML body: every text from the ticket, the incident or the event is escaped.
fn html(notice: &NoticeMessage) -> String {
    let said = notice.text.as_deref().map_or_else(String::new, |said| {
        format!(
            "<blockquote style=\"white-space: pre-wrap\">{}</blockquote>\n",
            encode_text(said)
        )
    });
    let replies = if notice.answerable {
        format!(
            "<p>Replies to this email keep {} in their address.</p>\n",
            encode_text(&notice.reference)
        )
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html><body>\n<h1>{headline}</h1>\n\
         <p><strong>{number}</strong>: {title}</p>\n\
         <p>{label}: {urgency}<br>Status: {status}</p>\n{said}{replies}</body></html>\n",
        headline = encode_text(&notice.headline),
        number = encode_text(&notice.reference),
        title = encode_text(&notice.title),
        label = notice.urgency_label,
        urgency = encode_text(&notice.urgency),
        status = encode_text(&notice.status),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<Option<EmailSettings>> {
        EmailSettings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// Why the settings were refused (they have no `Debug`, which could print the password).
    fn refusal(vars: &[(&str, &str)]) -> String {
        match settings(vars) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("the settings are accepted"),
        }
    }

    #[test]
    fn email_is_off_without_a_url_and_needs_a_from_address_with_one() {
        assert!(settings(&[]).unwrap().is_none());
        let stray = refusal(&[("SUPPORTD_SMTP_FROM", "support@desk.example")]);
        assert!(stray.contains("SUPPORTD_SMTP_URL"), "{stray}");
        let url = ("SUPPORTD_SMTP_URL", "smtp://mail:secret@127.0.0.1:2525");
        let no_from = refusal(&[url]);
        assert!(no_from.contains("SUPPORTD_SMTP_FROM"), "{no_from}");
        let bad_url = refusal(&[
            ("SUPPORTD_SMTP_URL", "http://mail:secret@host"),
            ("SUPPORTD_SMTP_FROM", "support@desk.example"),
        ]);
        assert!(bad_url.contains("smtp://host:port"), "{bad_url}");
        assert!(!bad_url.contains("secret"), "never repeats the password");
        let ok = settings(&[url, ("SUPPORTD_SMTP_FROM", "Desk <support@desk.example>")]);
        assert_eq!(
            ok.unwrap().unwrap().from.email.to_string(),
            "support@desk.example"
        );
    }

    #[test]
    fn control_characters_do_not_break_the_subject_line() {
        let notice = NoticeMessage {
            reference: "TKT-20261129-0001".to_owned(),
            title: "Down\r\nBcc: everyone@example.com".to_owned(),
            urgency_label: "Priority",
            urgency: "P1_HIGH".to_owned(),
            status: "OPEN".to_owned(),
            headline: "New ticket".to_owned(),
            text: None,
            answerable: true,
        };
        assert_eq!(
            subject(&notice),
            "[TKT-20261129-0001] New ticket: Down  Bcc: everyone@example.com"
        );
    }
}
