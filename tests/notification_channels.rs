//! The email and SMS channels against real receivers: an SMTP server (aiosmtpd, tests/smtp) and an
//! HTTP server in the test, each on a free port of 127.0.0.1. Each notification is about a ticket
//! the test opened through the API, with the event the store recorded.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{TimeDelta, Utc};
use common::receivers::{SmsReceiver, SmtpServer};
use common::{data_keys, ok_json, spawn_app, spawn_app_without_sla_timer, wait_until_applied};
use common::{ticket_body, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::notification::NotificationKind;
use support_domain::{ActorRole, RecordedEvent};
use support_projections::event_log::opened_history;
use supportd::notifier::channel::{Channel, Notification, Outcome};
use supportd::notifier::email::{EmailChannel, EmailSettings};
use supportd::notifier::sms::{SmsChannel, SmsSettings};
use supportd::sla_timer::record_due;
use uuid::Uuid;

const PREFERENCES: &str = "/api/v1/support/notification-preferences";
fn email_channel(app: &TestApp, port: u16) -> EmailChannel {
    let settings = EmailSettings::from_vars(|name| match name {
        "SUPPORTD_SMTP_URL" => Some(format!("smtp://127.0.0.1:{port}")),
        "SUPPORTD_SMTP_FROM" => Some("Support Desk <support@desk.example>".to_owned()),
        _ => None,
    })
    .unwrap()
    .unwrap();
    EmailChannel::new(app.pool.clone(), &settings).unwrap()
}

/// The ticket's event of type `event_type`, opened, as the notifier hands it to a channel.
async fn recorded(app: &TestApp, ticket: &str, event_type: &str) -> RecordedEvent {
    opened_history(&app.pool, &data_keys(), "ticket", ticket)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == event_type)
        .unwrap_or_else(|| panic!("the ticket has a {event_type}"))
}

fn notification(kind: NotificationKind, recipient: &str, event: &RecordedEvent) -> Notification {
    Notification {
        delivery_id: Uuid::new_v4(),
        kind,
        recipient: recipient.to_owned(),
        event: event.clone(),
        attempted_at: event.occurred_at,
    }
}

async fn save_preferences(app: &TestApp, sub: &str, body: Value) {
    let token = app.token(ActorRole::Agent, sub);
    ok_json(app.put(PREFERENCES, &token, body).await, 200).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn an_escalation_email_carries_the_ticket_number_and_escapes_the_title(pool: PgPool) {
    let app = spawn_app(pool).await;
    let smtp = SmtpServer::start().await;
    let admin = app.admin();
    let title = "<script>alert('x')</script> & dashboard down";
    let ticket = app
        .open_ticket(&admin, ticket_body(title, "customer-1"))
        .await;
    let id = ticket["id"].as_str().unwrap();
    let number = ticket["ticketNumber"].as_str().unwrap();
    let escalate = format!("/api/v1/support/tickets/{id}/escalate");
    let reason = json!({"reason": "Revenue impact"});
    ok_json(app.post(&escalate, &admin, reason).await, 200).await;
    let escalated = recorded(&app, id, "TicketEscalated").await;
    save_preferences(&app, "alice", json!({"email": "alice@desk.example"})).await;

    let email = email_channel(&app, smtp.port);
    let sent = notification(NotificationKind::Escalation, "alice", &escalated);
    assert_eq!(
        email.send(&sent).await,
        Outcome::Delivered { status: Some(250) }
    );

    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["rcptTos"], json!(["alice@desk.example"]));
    let headers = &message["headers"];
    assert_eq!(
        headers["Subject"],
        format!("[{number}] Escalated to level 1: {title}")
    );
    assert_eq!(
        headers["Reply-To"],
        format!("Support Desk <support+{number}@desk.example>")
    );
    assert_eq!(
        headers["Message-ID"],
        format!("<{}@desk.example>", sent.delivery_id)
    );
    assert_eq!(message["contentType"], "multipart/alternative");
    let plain = message["parts"]["text/plain"].as_str().unwrap();
    assert!(plain.contains(&format!("{number}: {title}")), "{plain}");
    assert!(plain.contains("Escalated to level 1"), "{plain}");
    let html = message["parts"]["text/html"].as_str().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; dashboard down"),
        "{html}"
    );
    assert!(
        html.contains(&format!("<strong>{number}</strong>")),
        "{html}"
    );

    // A resend of the same delivery is recognisably the same message.
    email.send(&sent).await;
    let resent = &smtp.messages()[1];
    assert_eq!(resent["headers"]["Message-ID"], headers["Message-ID"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn smtp_refusals_and_missing_addresses_are_retried_or_failed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let smtp = SmtpServer::start().await;
    let ticket = app
        .open_ticket(&app.admin(), ticket_body("Invoices late", "customer-1"))
        .await;
    let opened = recorded(&app, ticket["id"].as_str().unwrap(), "TicketOpened").await;
    save_preferences(&app, "bob", json!({"email": "full-bob@desk.example"})).await;
    save_preferences(
        &app,
        "carol",
        json!({"email": "unknown-carol@desk.example"}),
    )
    .await;
    save_preferences(&app, "dave", json!({})).await;
    let email = email_channel(&app, smtp.port);
    let send = |recipient: &'static str| {
        let (email, opened) = (&email, &opened);
        async move {
            let assigned = notification(NotificationKind::Assignment, recipient, opened);
            email.send(&assigned).await
        }
    };

    let full = send("bob").await;
    assert!(
        matches!(
            full,
            Outcome::Retry {
                status: Some(452),
                ..
            }
        ),
        "{full:?}"
    );
    let unknown = send("carol").await;
    assert!(
        matches!(
            unknown,
            Outcome::Failed {
                status: Some(550),
                ..
            }
        ),
        "{unknown:?}"
    );
    for (recipient, why) in [
        ("dave", "hold no email address"),
        ("nobody", "saved no notification preferences"),
    ] {
        match send(recipient).await {
            Outcome::Failed {
                status: None,
                error,
            } => assert!(error.contains(why), "{error}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(smtp.messages().is_empty());

    // A server that is not there is a passing failure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = email_channel(&app, port)
        .send(&notification(NotificationKind::Assignment, "bob", &opened))
        .await;
    assert!(
        matches!(unreachable, Outcome::Retry { status: None, .. }),
        "{unreachable:?}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_p0_breach_reaches_the_sms_provider_in_the_twilio_form(pool: PgPool) {
    let app = spawn_app_without_sla_timer(pool, |_| {}).await;
    let mut body = ticket_body("Checkout down", "customer-1");
    body["priority"] = json!("P0_CRITICAL");
    let ticket = app.open_ticket(&app.admin(), body).await;
    let id = ticket["id"].as_str().unwrap();
    let number = ticket["ticketNumber"].as_str().unwrap();
    // An hour later the 15-minute response target is long breached: the timer records it.
    wait_until_applied(&app.pool, "sla_timers", "ticket").await;
    let late = Utc::now() + TimeDelta::hours(1);
    assert_eq!(record_due(&app.context, late).await.unwrap(), 1);
    let breach = recorded(&app, id, "SlaBreached").await;
    let oncall = json!({"phone": "+4930123456789", "channels": {"SLA_BREACH": ["SMS"]}});
    save_preferences(&app, "oncall", oncall).await;

    let receiver = SmsReceiver::default();
    receiver.answers.lock().unwrap().extend([
        (StatusCode::CREATED, None),
        (StatusCode::SERVICE_UNAVAILABLE, Some("30")),
        (StatusCode::BAD_REQUEST, None),
    ]);
    let url = receiver.serve().await;
    let settings = SmsSettings::from_vars(|name| match name {
        "SUPPORTD_SMS_URL" => Some(url.clone()),
        "SUPPORTD_SMS_ACCOUNT" => Some("AC123".to_owned()),
        "SUPPORTD_SMS_TOKEN" => Some("sms-token".to_owned()),
        "SUPPORTD_SMS_FROM" => Some("+15005550006".to_owned()),
        _ => None,
    })
    .unwrap()
    .unwrap();
    let sms = SmsChannel::new(app.pool.clone(), settings).unwrap();
    let sent = notification(NotificationKind::SlaBreach, "oncall", &breach);

    assert_eq!(
        sms.send(&sent).await,
        Outcome::Delivered { status: Some(201) }
    );
    let received = receiver.received.lock().unwrap()[0].clone();
    assert_eq!(received.path, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(
        received.authorization.as_deref(),
        Some(format!("Basic {}", BASE64.encode("AC123:sms-token")).as_str())
    );
    assert_eq!(
        received.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(received.form["To"], "+4930123456789");
    assert_eq!(received.form["From"], "+15005550006");
    let text = &received.form["Body"];
    assert_eq!(
        text,
        &format!("{number} P0_CRITICAL: SLA breached: first response overdue. Checkout down")
    );
    assert!(text.chars().count() <= 160);

    assert_eq!(
        sms.send(&sent).await,
        Outcome::Retry {
            status: Some(503),
            error: "the SMS provider answered 503 Service Unavailable".to_owned(),
            retry_after: Some(Duration::from_secs(30)),
        }
    );
    assert!(matches!(
        sms.send(&sent).await,
        Outcome::Failed {
            status: Some(400),
            ..
        }
    ));
    assert_eq!(receiver.received.lock().unwrap().len(), 3);
}
