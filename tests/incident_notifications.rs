//! Incident notifications end to end: a critical incident alerts its commander (by SMS where
//! chosen) and its team (by email), a missed target alerts them without SMS for a high one, and a
//! public update reaches each customer of the linked tickets once; over a real SMTP server, a
//! real SMS receiver and the in-app inbox, at instants the test chooses. Nothing sleeps.

mod common;

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use common::receivers::{SmsReceiver, SmtpServer};
use common::{ok_json, spawn_notifying_app, wait_until_applied, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::notifier::deliver_due;
use supportd::sla_timer::record_due;

const INCIDENTS: &str = "/api/v1/support/incidents";
const PREFERENCES: &str = "/api/v1/support/notification-preferences";

/// Monday 23 November 2026, 01:45 UTC: before anyone's working day.
fn t0() -> DateTime<Utc> {
    "2026-11-23T01:45:00Z".parse().unwrap()
}

/// Saves `sub`'s preferences, their token naming `teams`.
async fn save_preferences(app: &TestApp, role: ActorRole, sub: &str, teams: &[&str], body: Value) {
    let token = app
        .keys
        .sign(role, sub, None, None, teams, chrono::Duration::hours(1));
    ok_json(app.put(PREFERENCES, &token, body).await, 200).await;
}

fn incident(severity: &str) -> Value {
    json!({
        "title": "API Service Outage",
        "description": "Main API service is returning 503 errors",
        "severity": severity,
        "category": "OUTAGE",
        "impact": "WIDESPREAD",
        "affectedSystems": ["api-service"],
        "incidentCommander": "oncall-1",
        "assignedTeam": ["team-sre"],
        "reportedBy": "monitoring-system"
    })
}

async fn report(app: &TestApp, severity: &str) -> Value {
    let monitoring = app.token(ActorRole::Service, "monitoring-system");
    ok_json(
        app.post(INCIDENTS, &monitoring, incident(severity)).await,
        201,
    )
    .await
}

async fn planned(app: &TestApp) {
    wait_until_applied(&app.pool, "notification_planner", "incident").await;
    wait_until_applied(&app.pool, "notification_planner", "ticket").await;
}

/// The deliveries to `recipient`: kind, channel, when due, in the order of their events.
async fn deliveries_to(app: &TestApp, recipient: &str) -> Vec<(String, String, DateTime<Utc>)> {
    sqlx::query_as(
        "SELECT kind, channel, next_attempt_at FROM notification_deliveries \
         WHERE recipient = $1 ORDER BY global_position, channel",
    )
    .bind(recipient)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

fn kinds_and_channels(rows: &[(String, String, DateTime<Utc>)]) -> Vec<(&str, &str)> {
    rows.iter()
        .map(|(kind, channel, _)| (kind.as_str(), channel.as_str()))
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_critical_incident_alerts_its_commander_by_sms_and_its_team_by_email(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let receiver = SmsReceiver::default();
    receiver
        .answers
        .lock()
        .unwrap()
        .push_back((StatusCode::CREATED, None));
    let url = receiver.serve().await;
    let (app, _clock) = spawn_notifying_app(pool, t0(), Some(smtp.port), Some(url)).await;
    let on_call = json!({"phone": "+4930123456789",
                         "channels": {"INCIDENT_ALERT": ["IN_APP", "SMS"]}});
    save_preferences(&app, ActorRole::Agent, "oncall-1", &[], on_call).await;
    // Working hours do not hold back a critical alert.
    let sre = json!({"email": "sre-a@desk.example", "timeZone": "Europe/Berlin",
                     "workingHours": {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}});
    save_preferences(&app, ActorRole::Agent, "sre-a", &["team-sre"], sre).await;
    save_preferences(&app, ActorRole::Agent, "billing-b", &["billing"], json!({})).await;

    let critical = report(&app, "CRITICAL").await;
    let number = critical["incidentNumber"].as_str().unwrap().to_owned();
    planned(&app).await;
    assert_eq!(
        kinds_and_channels(&deliveries_to(&app, "oncall-1").await),
        [("INCIDENT_ALERT", "IN_APP"), ("INCIDENT_ALERT", "SMS")]
    );
    let sre_told = deliveries_to(&app, "sre-a").await;
    assert_eq!(
        kinds_and_channels(&sre_told),
        [("INCIDENT_ALERT", "EMAIL"), ("INCIDENT_ALERT", "IN_APP")]
    );
    assert!(sre_told.iter().all(|(.., due)| *due == t0()), "at once");
    assert!(deliveries_to(&app, "billing-b").await.is_empty());

    deliver_due(&app.context, t0()).await.unwrap();
    let texts = receiver.received.lock().unwrap().clone();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].form["To"], "+4930123456789");
    assert_eq!(
        texts[0].form["Body"],
        format!("{number} CRITICAL: CRITICAL incident reported. API Service Outage")
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["rcptTos"], json!(["sre-a@desk.example"]));
    assert_eq!(
        mails[0]["headers"]["Subject"],
        format!("[{number}] CRITICAL incident reported: API Service Outage")
    );
    assert!(
        mails[0]["headers"]["Reply-To"].is_null(),
        "replies do not reach an incident"
    );
    let plain = mails[0]["parts"]["text/plain"].as_str().unwrap();
    assert!(plain.contains("Severity: CRITICAL"), "{plain}");

    let inbox = ok_json(
        app.get(
            "/api/v1/support/notifications",
            &app.token(ActorRole::Agent, "sre-a"),
        )
        .await,
        200,
    )
    .await;
    let item = &inbox["items"][0];
    assert_eq!(item["kind"], "INCIDENT_ALERT");
    assert_eq!(item["incidentId"], critical["id"]);
    assert_eq!(item["incidentNumber"], number);
    assert_eq!(item["title"], "API Service Outage");
    assert_eq!(item["headline"], "CRITICAL incident reported");
    assert!(item["ticketId"].is_null());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_missed_target_alerts_at_once_for_a_high_incident_without_sms(pool: PgPool) {
    let (app, _clock) = spawn_notifying_app(pool, t0(), None, None).await;
    let on_call = json!({"phone": "+4930123456789",
                         "channels": {"INCIDENT_ALERT": ["IN_APP", "SMS"]}});
    save_preferences(&app, ActorRole::Agent, "oncall-1", &[], on_call).await;
    let high = report(&app, "HIGH").await;
    planned(&app).await;
    assert!(
        deliveries_to(&app, "oncall-1").await.is_empty(),
        "a high incident alerts nobody until it misses a target"
    );
    // An hour to acknowledge: missed.
    wait_until_applied(&app.pool, "incidents", "incident").await;
    let late = t0() + TimeDelta::minutes(61);
    assert_eq!(record_due(&app.context, late).await.unwrap(), 1);
    planned(&app).await;
    let told = deliveries_to(&app, "oncall-1").await;
    assert_eq!(kinds_and_channels(&told), [("INCIDENT_ALERT", "IN_APP")]);
    assert_eq!(told[0].2, late, "at once, outside working hours too");
    deliver_due(&app.context, late).await.unwrap();
    let inbox = ok_json(
        app.get(
            "/api/v1/support/notifications",
            &app.token(ActorRole::Agent, "oncall-1"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        inbox["items"][0]["headline"],
        "Target missed: acknowledgement overdue"
    );
    assert_eq!(inbox["items"][0]["incidentId"], high["id"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn each_customer_of_the_linked_tickets_hears_of_a_public_update_once(pool: PgPool) {
    let (app, _clock) = spawn_notifying_app(pool, t0(), None, None).await;
    let incident = report(&app, "MEDIUM").await;
    let path = format!("{INCIDENTS}/{}", incident["id"].as_str().unwrap());
    let agent = app.token(ActorRole::Agent, "engineer-456");
    // Two tickets of customer-1, one of customer-2, all linked; one of customer-3, not linked.
    for customer in ["customer-1", "customer-1", "customer-2", "customer-3"] {
        let ticket = app
            .open_ticket(
                &app.admin(),
                common::ticket_body("Leads do not route", customer),
            )
            .await;
        if customer != "customer-3" {
            let linked = app
                .post(
                    &format!("{path}/tickets"),
                    &agent,
                    json!({"ticketId": ticket["id"]}),
                )
                .await;
            ok_json(linked, 200).await;
        }
    }
    let post = |message: &str, visibility: &str| {
        let body = json!({"message": message, "visibility": visibility});
        let (app, path, agent) = (&app, &path, &agent);
        async move {
            ok_json(app.post(&format!("{path}/updates"), agent, body).await, 201).await;
        }
    };
    post("Restarting the pool", "INTERNAL").await;
    post("We are investigating elevated errors", "PUBLIC").await;
    post("A fix is rolling out", "PUBLIC").await;
    planned(&app).await;

    for (customer, expected) in [("customer-1", 2), ("customer-2", 2), ("customer-3", 0)] {
        let told = deliveries_to(&app, customer).await;
        assert_eq!(told.len(), expected, "{customer}: {told:?}");
        assert!(told
            .iter()
            .all(|(kind, channel, _)| kind == "INCIDENT_UPDATE" && channel == "IN_APP"));
    }
    assert!(
        deliveries_to(&app, "engineer-456").await.is_empty(),
        "nobody is told of what they did"
    );

    deliver_due(&app.context, t0()).await.unwrap();
    let inbox = ok_json(
        app.get(
            "/api/v1/support/notifications",
            &app.token(ActorRole::Customer, "customer-2"),
        )
        .await,
        200,
    )
    .await;
    let headlines: Vec<&str> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["headline"].as_str().unwrap())
        .collect();
    assert_eq!(
        headlines,
        ["Status update (DETECTED)", "Status update (DETECTED)"]
    );
    assert_eq!(
        inbox["items"][0]["incidentNumber"],
        incident["incidentNumber"]
    );
}
