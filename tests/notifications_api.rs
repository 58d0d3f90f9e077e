//! Notifications to people end to end: events planned into deliveries by the planner's rule for
//! people, sent by the delivery worker at instants the test chooses (the injected clock), over a
//! real SMTP server, a real SMS receiver in the Twilio form, and the in-app inbox. Nothing sleeps.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use common::receivers::{SmsReceiver, SmtpServer};
use common::{ok_json, spawn_notifying_app, wait_until_applied, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::event_log::aggregate_history;
use supportd::clock::ManualClock;
use supportd::notifier::deliver_due;
use supportd::sla_timer::record_due;

const TICKETS: &str = "/api/v1/support/tickets";
const PREFERENCES: &str = "/api/v1/support/notification-preferences";
const NOTIFICATIONS: &str = "/api/v1/support/notifications";

/// Monday 23 November 2026, 01:45 UTC: 02:45 in Berlin, before anyone's working day.
fn t0() -> DateTime<Utc> {
    "2026-11-23T01:45:00Z".parse().unwrap()
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

/// The app at `t0`, its timer and notifier run by the test; email and SMS go to `smtp` and `sms`
/// when given.
async fn app(pool: PgPool, smtp: Option<u16>, sms: Option<String>) -> (TestApp, Arc<ManualClock>) {
    spawn_notifying_app(pool, t0(), smtp, sms).await
}

async fn save_preferences(app: &TestApp, role: ActorRole, sub: &str, body: Value) {
    let token = app.token(role, sub);
    ok_json(app.put(PREFERENCES, &token, body).await, 200).await;
}

/// A ticket of `priority` for customer-1, assigned to `assignee` when given.
async fn open(app: &TestApp, priority: &str, assignee: Option<&str>) -> Value {
    let body = json!({
        "title": "Checkout fails",
        "description": "Card payments time out",
        "priority": priority,
        "category": "TECHNICAL",
        "customerId": "customer-1"
    });
    let ticket = app.open_ticket(&app.admin(), body).await;
    match assignee {
        Some(assignee) => assign(app, &ticket, assignee).await,
        None => ticket,
    }
}

/// `ticket` assigned to `assignee` by an admin.
async fn assign(app: &TestApp, ticket: &Value, assignee: &str) -> Value {
    let id = ticket["id"].as_str().unwrap();
    let assigned = app
        .put(
            &format!("{TICKETS}/{id}"),
            &app.admin(),
            json!({"assignedTo": assignee}),
        )
        .await;
    ok_json(assigned, 200).await
}

async fn planned(app: &TestApp) {
    wait_until_applied(&app.pool, "notification_planner", "ticket").await;
}

/// A delivery as the tests read it: kind, channel, state, when due, when delivered.
type Delivery = (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

/// The deliveries to `recipient`, in the order of their events.
async fn deliveries_to(app: &TestApp, recipient: &str) -> Vec<Delivery> {
    sqlx::query_as(
        "SELECT kind, channel, state, next_attempt_at, delivered_at \
         FROM notification_deliveries WHERE recipient = $1 ORDER BY global_position, channel",
    )
    .bind(recipient)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_customer_is_told_of_a_public_reply_and_not_of_an_internal_note(pool: PgPool) {
    let (app, _clock) = app(pool, None, None).await;
    let ticket = open(&app, "P2_MEDIUM", None).await;
    let id = ticket["id"].as_str().unwrap();
    let agent = app.token(ActorRole::Agent, "agent-1");
    // The agent takes the ticket themselves: nobody is told of what they did.
    let taken = app
        .put(
            &format!("{TICKETS}/{id}"),
            &agent,
            json!({"assignedTo": "agent-1"}),
        )
        .await;
    assert_eq!(taken.status(), 200);
    for (body, visibility) in [
        ("Checking the gateway logs", "INTERNAL"),
        ("We are on it", "PUBLIC"),
    ] {
        let comment = app
            .post(
                &format!("{TICKETS}/{id}/comments"),
                &agent,
                json!({"body": body, "visibility": visibility}),
            )
            .await;
        assert_eq!(comment.status(), 201);
    }
    planned(&app).await;
    deliver_due(&app.context, t0()).await.unwrap();

    let told = deliveries_to(&app, "customer-1").await;
    assert_eq!(
        told.iter()
            .map(|(kind, channel, state, ..)| (kind.as_str(), channel.as_str(), state.as_str()))
            .collect::<Vec<_>>(),
        [("PUBLIC_REPLY", "IN_APP", "DELIVERED")],
        "one notice, of the public reply"
    );
    assert!(deliveries_to(&app, "agent-1").await.is_empty());
    // In the customer's inbox: the reply, unread, then read.
    let customer = app.token(ActorRole::Customer, "customer-1");
    let inbox: Value = app.get_json(NOTIFICATIONS, &customer).await;
    assert_eq!(inbox["unreadCount"], 1, "{inbox}");
    let item = &inbox["items"][0];
    assert_eq!(
        (
            item["kind"].as_str(),
            item["read"].as_bool(),
            item["ticketId"].as_str()
        ),
        (Some("PUBLIC_REPLY"), Some(false), Some(id))
    );
    let read = app
        .post(
            &format!("{NOTIFICATIONS}/{}/read", item["id"].as_str().unwrap()),
            &customer,
            json!({}),
        )
        .await;
    let read = ok_json(read, 200).await;
    assert_eq!(read["read"], true);
    let inbox: Value = app.get_json(NOTIFICATIONS, &customer).await;
    assert_eq!(inbox["unreadCount"], 0);
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);

    // The customer's reply goes to the assignee; resolving goes to the customer.
    let reply = app
        .post(
            &format!("{TICKETS}/{id}/comments"),
            &customer,
            json!({"body": "Still failing", "visibility": "PUBLIC"}),
        )
        .await;
    assert_eq!(reply.status(), 201);
    let resolved = app
        .put(
            &format!("{TICKETS}/{id}"),
            &agent,
            json!({"status": "RESOLVED", "resolutionNote": "Gateway timeout raised"}),
        )
        .await;
    assert_eq!(resolved.status(), 200, "{}", resolved.text().await.unwrap());
    planned(&app).await;
    let agent_told: Vec<String> = deliveries_to(&app, "agent-1")
        .await
        .into_iter()
        .map(|(kind, ..)| kind)
        .collect();
    assert_eq!(agent_told, ["PUBLIC_REPLY"]);
    let customer_told: Vec<String> = deliveries_to(&app, "customer-1")
        .await
        .into_iter()
        .map(|(kind, ..)| kind)
        .collect();
    assert_eq!(customer_told, ["PUBLIC_REPLY", "STATUS_CHANGE"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_p3_warning_at_three_in_the_morning_waits_for_working_hours_and_a_p0_breach_does_not(
    pool: PgPool,
) {
    let (app, _clock) = app(pool, None, None).await;
    // Berlin, 09:00 to 17:00 on weekdays.
    let working = json!({
        "timeZone": "Europe/Berlin",
        "workingHours": {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"},
        "channels": {"SLA_WARNING": ["IN_APP"], "SLA_BREACH": ["IN_APP"]}
    });
    save_preferences(&app, ActorRole::Agent, "agent-1", working).await;
    // A P3 policy answering within 20 minutes warns at 75%: 15 minutes in, 02:00 UTC, 03:00 in
    // Berlin. The default P0 policy's 15-minute response is breached at the same instant.
    let policy = app
        .post(
            "/api/v1/support/sla-policies",
            &app.admin(),
            json!({"name": "P3 enterprise", "priority": "P3_LOW", "customerTier": "ENTERPRISE",
                   "responseTimeTarget": 20, "resolutionTimeTarget": 600,
                   "responseTimeWarningThreshold": 75}),
        )
        .await;
    assert_eq!(policy.status(), 201, "{}", policy.text().await.unwrap());
    let p3 = json!({
        "title": "Export is slow", "description": "Takes an hour", "priority": "P3_LOW",
        "category": "PERFORMANCE", "customerId": "customer-1", "customerTier": "ENTERPRISE"
    });
    let low = app.open_ticket(&app.admin(), p3).await;
    let low = assign(&app, &low, "agent-1").await;
    let critical = open(&app, "P0_CRITICAL", Some("agent-1")).await;
    let three_in_berlin: DateTime<Utc> = "2026-11-23T02:00:00Z".parse().unwrap();
    assert_eq!(
        low["responseDeadline"]
            .as_str()
            .map(|d| d.parse::<DateTime<Utc>>().unwrap()),
        Some(t0() + minutes(20))
    );
    wait_until_applied(&app.pool, "sla_timers", "ticket").await;
    record_due(&app.context, three_in_berlin).await.unwrap();
    planned(&app).await;

    let nine_in_berlin: DateTime<Utc> = "2026-11-23T08:00:00Z".parse().unwrap();
    deliver_due(&app.context, three_in_berlin).await.unwrap();
    let told = deliveries_to(&app, "agent-1").await;
    let of = |kind: &str| {
        told.iter()
            .find(|(k, ..)| k == kind)
            .cloned()
            .unwrap_or_else(|| panic!("a {kind} notice: {told:?}"))
    };
    let (_, _, state, due, delivered) = of("SLA_BREACH");
    assert_eq!(
        (state.as_str(), due, delivered),
        ("DELIVERED", three_in_berlin, Some(three_in_berlin)),
        "the P0 breach at once"
    );
    let warnings: Vec<_> = told.iter().filter(|(k, ..)| k == "SLA_WARNING").collect();
    // The P0 ticket warns too (at 12 of its 15 minutes), at once; the P3 warning waits.
    let waiting: Vec<_> = warnings
        .iter()
        .filter(|(_, _, state, ..)| state == "PENDING")
        .collect();
    assert_eq!(waiting.len(), 1, "{told:?}");
    assert_eq!(waiting[0].3, nine_in_berlin);

    // Nothing is sent before nine; at nine, the P3 warning.
    deliver_due(&app.context, nine_in_berlin - TimeDelta::seconds(1))
        .await
        .unwrap();
    assert!(deliveries_to(&app, "agent-1")
        .await
        .iter()
        .any(|(_, _, state, ..)| state == "PENDING"));
    deliver_due(&app.context, nine_in_berlin).await.unwrap();
    let all_delivered = deliveries_to(&app, "agent-1")
        .await
        .iter()
        .all(|(_, _, state, ..)| state == "DELIVERED");
    assert!(all_delivered);
    let _ = critical;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_p0_breach_reaches_the_assignees_phone_in_the_twilio_form(pool: PgPool) {
    let receiver = SmsReceiver::default();
    receiver
        .answers
        .lock()
        .unwrap()
        .extend([(StatusCode::CREATED, None), (StatusCode::CREATED, None)]);
    let url = receiver.serve().await;
    let (app, _clock) = app(pool, None, Some(url)).await;
    let phone = json!({"phone": "+4930123456789",
                       "channels": {"SLA_BREACH": ["SMS", "IN_APP"], "SLA_WARNING": ["SMS"]}});
    save_preferences(&app, ActorRole::Agent, "on-call", phone).await;
    let ticket = open(&app, "P0_CRITICAL", Some("on-call")).await;
    let number = ticket["ticketNumber"].as_str().unwrap().to_owned();
    wait_until_applied(&app.pool, "sla_timers", "ticket").await;
    record_due(&app.context, t0() + minutes(15)).await.unwrap();
    planned(&app).await;
    deliver_due(&app.context, t0() + minutes(15)).await.unwrap();

    let received = receiver.received.lock().unwrap().clone();
    // The warning (12 minutes in) and the breach, recorded in one pass, each once.
    assert_eq!(received.len(), 2, "{received:?}");
    let breach = received
        .iter()
        .find(|r| r.form["Body"].contains("breached"))
        .expect("the breach went by SMS");
    assert_eq!(breach.path, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(breach.form["To"], "+4930123456789");
    assert!(breach.form["Body"].starts_with(&format!("{number} P0_CRITICAL")));
    receiver
        .answers
        .lock()
        .unwrap()
        .extend([(StatusCode::CREATED, None)]);
    // A later pass sends nothing again.
    deliver_due(&app.context, t0() + minutes(60)).await.unwrap();
    assert_eq!(receiver.received.lock().unwrap().len(), 2);

    // The breach comes again: the planner forgets it applied it, and the bus carries it again
    // under a new message id (as after a lost acknowledgement outside JetStream's window).
    let id = ticket["id"].as_str().unwrap();
    let breach = aggregate_history(&app.pool, "ticket", id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == "SlaBreached")
        .expect("the breach is recorded");
    sqlx::query(
        "UPDATE projection_positions SET sequence = $2 \
         WHERE projection = 'notification_planner' AND aggregate_id = $1",
    )
    .bind(id)
    .bind(breach.sequence - 1)
    .execute(&app.pool)
    .await
    .unwrap();
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(common::NATS_URL).await.unwrap());
    js.publish(
        app.test_bus.bus.subject("ticket", "SlaBreached"),
        serde_json::to_vec(&breach).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    planned(&app).await;
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        after, deliveries,
        "the redelivered breach plans nothing new"
    );
    deliver_due(&app.context, t0() + minutes(90)).await.unwrap();
    assert_eq!(receiver.received.lock().unwrap().len(), 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_escalation_email_carries_the_ticket_number_in_subject_and_reply_to(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let (app, _clock) = app(pool, Some(smtp.port), None).await;
    let lead = json!({"email": "lead@desk.example",
                      "channels": {"ESCALATION": ["EMAIL", "IN_APP"]}});
    save_preferences(&app, ActorRole::Agent, "team-lead", lead).await;
    // Admins are called on too: one who saved preferences is found by role.
    save_preferences(
        &app,
        ActorRole::Admin,
        "head-of-support",
        json!({"email": "head@desk.example",
        "channels": {"ESCALATION": ["EMAIL"]}}),
    )
    .await;
    let ladder = app
        .post(
            "/api/v1/support/escalation-policies",
            &app.admin(),
            json!({"name": "By hand", "rules": [{"triggers": ["MANUAL"], "levels": [
                {"recipients": {"agents": ["team-lead"], "roles": ["admin"]}, "delayMinutes": 30}
            ]}]}),
        )
        .await;
    assert_eq!(ladder.status(), 201);
    let ticket = open(&app, "P1_HIGH", None).await;
    let id = ticket["id"].as_str().unwrap();
    let number = ticket["ticketNumber"].as_str().unwrap();
    let agent = app.token(ActorRole::Agent, "agent-1");
    let escalated = app
        .post(
            &format!("{TICKETS}/{id}/escalate"),
            &agent,
            json!({"reason": "Payments down for every customer"}),
        )
        .await;
    assert_eq!(escalated.status(), 200);
    planned(&app).await;
    deliver_due(&app.context, t0()).await.unwrap();

    let messages = smtp.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    let mut to: Vec<&str> = messages
        .iter()
        .map(|m| m["rcptTos"][0].as_str().unwrap())
        .collect();
    to.sort_unstable();
    assert_eq!(to, ["head@desk.example", "lead@desk.example"]);
    for message in &messages {
        let subject = message["headers"]["Subject"].as_str().unwrap();
        assert!(subject.starts_with(&format!("[{number}]")), "{subject}");
        let reply_to = message["headers"]["Reply-To"].as_str().unwrap();
        assert!(
            reply_to.contains(&format!("+{number}@desk.example")),
            "{reply_to}"
        );
    }
    let lead_told = deliveries_to(&app, "team-lead").await;
    assert_eq!(
        lead_told
            .iter()
            .map(|(kind, channel, state, ..)| (kind.as_str(), channel.as_str(), state.as_str()))
            .collect::<Vec<_>>(),
        [
            ("ESCALATION", "EMAIL", "DELIVERED"),
            ("ESCALATION", "IN_APP", "DELIVERED")
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_team_on_a_ladder_is_told_and_a_queued_tickets_breach_goes_to_the_admins(pool: PgPool) {
    let (app, _clock) = app(pool, None, None).await;
    // Two members of tier-2 (as their tokens say when they save preferences), one outsider, and
    // an admin.
    for (sub, teams) in [
        ("tier2-a", &["tier-2"][..]),
        ("tier2-b", &["tier-2", "billing"][..]),
        ("billing-c", &["billing"][..]),
    ] {
        let token = app.keys.sign(
            ActorRole::Agent,
            sub,
            None,
            None,
            teams,
            chrono::Duration::hours(1),
        );
        ok_json(app.put(PREFERENCES, &token, json!({})).await, 200).await;
    }
    save_preferences(&app, ActorRole::Admin, "admin-on-duty", json!({})).await;
    let ladder = app
        .post(
            "/api/v1/support/escalation-policies",
            &app.admin(),
            json!({"name": "Tier 2", "rules": [{"triggers": ["MANUAL"], "levels": [
                {"recipients": {"teams": ["tier-2"]}, "delayMinutes": 30}
            ]}]}),
        )
        .await;
    assert_eq!(ladder.status(), 201);
    // A P1 ticket in the queue: escalated by hand, then breached (the default P1 policy answers
    // within an hour).
    let ticket = open(&app, "P1_HIGH", None).await;
    let id = ticket["id"].as_str().unwrap();
    let agent = app.token(ActorRole::Agent, "agent-1");
    let escalated = app
        .post(
            &format!("{TICKETS}/{id}/escalate"),
            &agent,
            json!({"reason": "Needs tier 2"}),
        )
        .await;
    assert_eq!(escalated.status(), 200);
    wait_until_applied(&app.pool, "sla_timers", "ticket").await;
    record_due(&app.context, t0() + minutes(60)).await.unwrap();
    planned(&app).await;

    let kinds = |rows: Vec<Delivery>| rows.into_iter().map(|(kind, ..)| kind).collect::<Vec<_>>();
    assert_eq!(kinds(deliveries_to(&app, "tier2-a").await), ["ESCALATION"]);
    assert_eq!(kinds(deliveries_to(&app, "tier2-b").await), ["ESCALATION"]);
    assert!(deliveries_to(&app, "billing-c").await.is_empty());
    // Nobody is assigned: the warning and the breach go to the admins who saved preferences.
    assert_eq!(
        kinds(deliveries_to(&app, "admin-on-duty").await),
        ["SLA_WARNING", "SLA_BREACH"]
    );
}
