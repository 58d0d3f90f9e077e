//! Webhooks end to end: endpoints registered over the API, events planned into deliveries by the
//! planner, and the delivery worker's passes run at chosen instants of an injected clock against
//! a real HTTP receiver on 127.0.0.1, which checks each request's signature by the Standard
//! Webhooks rules with its own HMAC (ring). Nothing sleeps.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use common::{spawn_app_without_sla_timer, wait_until_applied, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::event_log::aggregate_history;
use supportd::clock::ManualClock;
use supportd::notifier::deliver_due;
use supportd::notifier::webhook::{Egress, WebhookSettings};

const WEBHOOKS: &str = "/api/v1/support/webhooks";

/// Monday 09:00 UTC.
fn t0() -> DateTime<Utc> {
    "2026-11-23T09:00:00Z".parse().unwrap()
}

/// What the receiver answers next.
#[derive(Clone)]
enum Answer {
    Status(u16),
    RetryAfter(u16, &'static str),
    /// Never answers: the service's timeout ends the attempt.
    Hang,
}

/// One request as the receiver got it.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    answered: Option<u16>,
}

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<Received>>,
}

/// A real HTTP server on 127.0.0.1 that answers as scripted (200 once the script runs out).
struct Receiver {
    script: Arc<Script>,
    port: u16,
}

impl Receiver {
    async fn start(answers: Vec<Answer>) -> Self {
        let script = Arc::new(Script {
            answers: Mutex::new(answers.into()),
            received: Mutex::default(),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { script, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }
}

async fn receive(State(script): State<Arc<Script>>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = script
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Status(200));
    let (status, retry_after) = match answer {
        Answer::Status(status) => (status, None),
        Answer::RetryAfter(status, after) => (status, Some(after)),
        Answer::Hang => {
            script.received.lock().unwrap().push(Received {
                headers,
                body,
                answered: None,
            });
            return std::future::pending().await;
        }
    };
    script.received.lock().unwrap().push(Received {
        headers,
        body,
        answered: Some(status),
    });
    let status = StatusCode::from_u16(status).unwrap();
    match retry_after {
        Some(after) => (status, [("retry-after", after)]).into_response(),
        None => status.into_response(),
    }
}

/// The receiver's check, by the Standard Webhooks rules and with its own HMAC: the signature over
/// `{id}.{timestamp}.{body}` keyed with the secret's bytes, and a timestamp within five minutes of
/// its own clock (`now`). Returns the webhook-id.
fn verify(secret: &str, received: &Received, now: DateTime<Utc>) -> String {
    let header = |name: &str| received.headers[name].to_str().unwrap().to_owned();
    let id = header("webhook-id");
    let timestamp = header("webhook-timestamp");
    assert!(
        (timestamp.parse::<i64>().unwrap() - now.timestamp()).abs() <= 300,
        "timestamp {timestamp} is not near {now}"
    );
    assert_eq!(header("content-type"), "application/json");
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &BASE64
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap(),
    );
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&received.body);
    let signatures = header("webhook-signature");
    let verified = signatures.split(' ').any(|signature| {
        let Some(encoded) = signature.strip_prefix("v1,") else {
            return false;
        };
        let tag = BASE64.decode(encoded).unwrap_or_default();
        ring::hmac::verify(&key, &signed, &tag).is_ok()
    });
    assert!(verified, "the signature {signatures} does not verify");
    id
}

/// The app at `t0`, webhooks allowed to what `egress` names, without the notifier and the SLA
/// timer, whose passes the tests run themselves.
async fn app(pool: PgPool, egress: &str, timeout: Duration) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let injected = clock.clone();
    let webhooks = WebhookSettings {
        egress: Egress::parse(egress).unwrap(),
        timeout,
    };
    let app = spawn_app_without_sla_timer(pool, move |s| {
        s.clock = injected;
        s.webhooks = webhooks;
    })
    .await;
    (app, clock)
}

async fn loopback_app(pool: PgPool) -> (TestApp, Arc<ManualClock>) {
    app(pool, "127.0.0.1/32", Duration::from_secs(10)).await
}

/// Registers an endpoint for `TicketOpened`; returns it with its secret.
async fn register(app: &TestApp, url: &str) -> Value {
    let response = app
        .post(
            WEBHOOKS,
            &app.admin(),
            json!({"url": url, "eventTypes": ["TicketOpened"], "description": "Ops bridge"}),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// Opens a ticket, and waits until the planner has planned from it.
async fn open_ticket(app: &TestApp) -> Value {
    let ticket = app
        .open_ticket(
            &app.admin(),
            json!({
                "title": "Dashboard down",
                "description": "500 on load",
                "priority": "P1_HIGH",
                "customerId": "customer-123",
                "customerName": "Jo Doe",
            }),
        )
        .await;
    planned(app).await;
    ticket
}

async fn planned(app: &TestApp) {
    wait_until_applied(&app.pool, "notification_planner", "ticket").await;
}

async fn log(app: &TestApp, endpoint: &Value) -> Vec<Value> {
    let path = format!("{WEBHOOKS}/{}/deliveries", endpoint["id"].as_str().unwrap());
    let page: Value = app.get_json(&path, &app.admin()).await;
    page["items"].as_array().unwrap().clone()
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_event_is_delivered_signed_with_its_personal_fields_open(pool: PgPool) {
    let (app, _clock) = loopback_app(pool).await;
    let receiver = Receiver::start(vec![Answer::Status(204)]).await;
    let endpoint = register(&app, &receiver.url()).await;
    assert_eq!(endpoint["eventTypes"], json!(["TicketOpened"]));
    assert_eq!(endpoint["active"], true);
    let secret = endpoint["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{endpoint}");
    let shown: Value = app
        .get_json(
            &format!("{WEBHOOKS}/{}", endpoint["id"].as_str().unwrap()),
            &app.admin(),
        )
        .await;
    assert!(shown.get("secret").is_none(), "the secret is shown once");
    // Neither the secret nor the URL travels in clear in the store (nor, so, on the bus).
    let stored: String = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE aggregate_type = 'webhook_endpoint'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        !stored.contains(secret) && !stored.contains("127.0.0.1"),
        "{stored}"
    );

    let ticket = open_ticket(&app).await;
    assert_eq!(deliver_due(&app.context, t0()).await.unwrap(), 1);
    assert_eq!(deliver_due(&app.context, t0()).await.unwrap(), 0);

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let webhook_id = verify(secret, &received[0], t0());
    assert_eq!(
        received[0].headers["webhook-timestamp"],
        t0().timestamp().to_string()
    );
    let envelope: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(envelope["eventType"], "TicketOpened");
    assert_eq!(envelope["aggregateId"], ticket["id"]);
    assert_eq!(envelope["payload"]["title"], "Dashboard down");
    assert_eq!(envelope["payload"]["customer"]["name"], "Jo Doe");

    let deliveries = log(&app, &endpoint).await;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery["id"], webhook_id.as_str());
    assert_eq!(delivery["eventId"], envelope["eventId"]);
    assert_eq!(delivery["state"], "DELIVERED");
    assert_eq!(instant(&delivery["deliveredAt"]), t0());
    assert_eq!(delivery["nextAttemptAt"], Value::Null);
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["number"], 1);
    assert_eq!(attempts[0]["outcome"], "DELIVERED");
    assert_eq!(attempts[0]["httpStatus"], 204);
    assert!(attempts[0]["latencyMs"].is_i64());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_receiver_failing_twice_gets_one_accepted_delivery_on_the_third_attempt(pool: PgPool) {
    let (app, _clock) = loopback_app(pool).await;
    let receiver = Receiver::start(vec![Answer::Status(500), Answer::Status(503)]).await;
    let endpoint = register(&app, &receiver.url()).await;
    open_ticket(&app).await;
    let ctx = &app.context;

    assert_eq!(deliver_due(ctx, t0()).await.unwrap(), 1);
    let first = &log(&app, &endpoint).await[0];
    assert_eq!(first["state"], "PENDING");
    let retry_at = instant(&first["nextAttemptAt"]);
    // 30 s, plus at most a quarter more.
    assert!(
        (t0() + TimeDelta::seconds(30)..=t0() + TimeDelta::milliseconds(37_500))
            .contains(&retry_at),
        "{retry_at}"
    );
    assert_eq!(
        deliver_due(ctx, retry_at - TimeDelta::seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(deliver_due(ctx, retry_at).await.unwrap(), 1);
    let second = &log(&app, &endpoint).await[0];
    let again_at = instant(&second["nextAttemptAt"]);
    assert!(
        (retry_at + TimeDelta::seconds(60)..=retry_at + TimeDelta::seconds(75)).contains(&again_at),
        "{again_at}"
    );
    assert_eq!(deliver_due(ctx, again_at).await.unwrap(), 1);
    assert_eq!(
        deliver_due(ctx, again_at + TimeDelta::days(2))
            .await
            .unwrap(),
        0
    );

    let received = receiver.received();
    let answered: Vec<_> = received.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [Some(500), Some(503), Some(200)]);
    let secret = endpoint["secret"].as_str().unwrap();
    let ids: Vec<String> = received
        .iter()
        .zip([t0(), retry_at, again_at])
        .map(|(r, at)| verify(secret, r, at))
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one webhook-id: {ids:?}"
    );

    let delivery = &log(&app, &endpoint).await[0];
    assert_eq!(delivery["state"], "DELIVERED");
    let attempts = delivery["attempts"].as_array().unwrap();
    let outcomes: Vec<_> = attempts
        .iter()
        .map(|a| {
            (
                a["number"].clone(),
                a["outcome"].clone(),
                a["httpStatus"].clone(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (json!(1), json!("RETRY"), json!(500)),
            (json!(2), json!("RETRY"), json!(503)),
            (json!(3), json!("DELIVERED"), json!(200)),
        ]
    );
    assert_eq!(instant(&attempts[0]["nextAttemptAt"]), retry_at);
    assert_eq!(instant(&attempts[1]["startedAt"]), retry_at);
    assert_eq!(attempts[2]["nextAttemptAt"], Value::Null);
}

#[sqlx::test(migrations = "../migrations")]
async fn retry_after_is_honoured_and_a_timeout_is_tried_again(pool: PgPool) {
    let (app, _clock) = app(pool, "127.0.0.1/32", Duration::from_millis(300)).await;
    let receiver = Receiver::start(vec![
        Answer::RetryAfter(429, "120"),
        Answer::Hang,
        Answer::RetryAfter(503, "Mon, 23 Nov 2026 10:00:00 GMT"),
    ])
    .await;
    let endpoint = register(&app, &receiver.url()).await;
    open_ticket(&app).await;
    let ctx = &app.context;

    assert_eq!(deliver_due(ctx, t0()).await.unwrap(), 1);
    let after_429 = instant(&log(&app, &endpoint).await[0]["nextAttemptAt"]);
    assert_eq!(after_429, t0() + TimeDelta::seconds(120));
    assert_eq!(
        deliver_due(ctx, after_429 - TimeDelta::milliseconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(deliver_due(ctx, after_429).await.unwrap(), 1);

    let timed_out = &log(&app, &endpoint).await[0];
    let attempt = &timed_out["attempts"][1];
    assert_eq!(attempt["outcome"], "RETRY");
    assert_eq!(attempt["httpStatus"], Value::Null);
    assert_eq!(attempt["error"], "no answer within 300 ms");
    let after_timeout = instant(&timed_out["nextAttemptAt"]);
    assert_eq!(deliver_due(ctx, after_timeout).await.unwrap(), 1);

    // Retry-After as an HTTP date: not before it.
    let dated = instant(&log(&app, &endpoint).await[0]["nextAttemptAt"]);
    assert_eq!(
        dated,
        "2026-11-23T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(deliver_due(ctx, dated).await.unwrap(), 1);
    assert_eq!(log(&app, &endpoint).await[0]["state"], "DELIVERED");
    assert_eq!(receiver.received().len(), 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_endpoint_that_answers_410_is_disabled_and_gets_nothing_more(pool: PgPool) {
    let (app, _clock) = loopback_app(pool).await;
    let receiver = Receiver::start(vec![Answer::Status(410)]).await;
    let endpoint = register(&app, &receiver.url()).await;
    let id = endpoint["id"].as_str().unwrap();
    open_ticket(&app).await;
    assert_eq!(deliver_due(&app.context, t0()).await.unwrap(), 1);

    wait_until_applied(&app.pool, "webhook_endpoints", "webhook_endpoint").await;
    let shown: Value = app
        .get_json(&format!("{WEBHOOKS}/{id}"), &app.admin())
        .await;
    assert_eq!(shown["active"], false);
    let reason = shown["disabledReason"].as_str().unwrap();
    assert!(reason.contains("410"), "{reason}");
    let delivery = &log(&app, &endpoint).await[0];
    assert_eq!(delivery["state"], "FAILED");
    assert_eq!(delivery["attempts"][0]["outcome"], "GONE");
    // In the audit trail: the notifier, as the service, with the reason.
    let history = aggregate_history(&app.pool, "webhook_endpoint", id)
        .await
        .unwrap();
    let disabled = history.last().unwrap();
    assert_eq!(disabled.event_type, "WebhookEndpointDeactivated");
    assert_eq!(disabled.metadata.actor_sub, "notifier");
    assert_eq!(disabled.metadata.actor_role, ActorRole::Service);

    open_ticket(&app).await;
    let later = t0() + TimeDelta::hours(1);
    assert_eq!(deliver_due(&app.context, later).await.unwrap(), 0);
    assert_eq!(log(&app, &endpoint).await.len(), 1);
    assert_eq!(receiver.received().len(), 1);

    // An admin re-enables it; a resend goes out with the same webhook-id.
    let response = app
        .put(
            &format!("{WEBHOOKS}/{id}"),
            &app.admin(),
            json!({"active": true}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let reenabled: Value = response.json().await.unwrap();
    assert_eq!(reenabled["active"], true);
    assert_eq!(reenabled["disabledReason"], Value::Null);
    let resend = format!(
        "{WEBHOOKS}/{id}/deliveries/{}/resend",
        delivery["id"].as_str().unwrap()
    );
    let response = app.post(&resend, &app.admin(), json!({})).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let resent: Value = response.json().await.unwrap();
    assert_eq!(resent["state"], "PENDING");
    assert_eq!(resent["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(deliver_due(&app.context, later).await.unwrap(), 1);
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        verify(endpoint["secret"].as_str().unwrap(), &received[1], later),
        delivery["id"].as_str().unwrap()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_redelivered_event_does_not_notify_twice(pool: PgPool) {
    let (app, _clock) = loopback_app(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let endpoint = register(&app, &receiver.url()).await;
    let ticket = open_ticket(&app).await;
    assert_eq!(deliver_due(&app.context, t0()).await.unwrap(), 1);

    // The planner forgets it applied the event, and the bus carries it again under a new message
    // id (as after a lost acknowledgement outside JetStream's duplicate window).
    sqlx::query("DELETE FROM projection_positions WHERE projection = 'notification_planner'")
        .execute(&app.pool)
        .await
        .unwrap();
    let opened = aggregate_history(&app.pool, "ticket", ticket["id"].as_str().unwrap())
        .await
        .unwrap()
        .remove(0);
    let js = async_nats::jetstream::new(async_nats::connect(common::NATS_URL).await.unwrap());
    js.publish(
        app.test_bus.bus.subject("ticket", "TicketOpened"),
        serde_json::to_vec(&opened).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    planned(&app).await;

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(
        deliver_due(&app.context, t0() + TimeDelta::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(
        log(&app, &endpoint).await[0]["attempts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_private_address_is_refused_unless_the_allow_list_names_it(pool: PgPool) {
    let (app, _clock) = app(pool, "", Duration::from_secs(10)).await;
    let receiver = Receiver::start(vec![]).await;
    let before = app.event_count().await;
    for url in [
        receiver.url(),
        "https://10.0.0.1/hook".to_owned(),
        "https://[::ffff:169.254.169.254]/latest".to_owned(),
        "https://[fd00::1]/hook".to_owned(),
    ] {
        let response = app
            .post(
                WEBHOOKS,
                &app.admin(),
                json!({"url": url, "eventTypes": ["TicketOpened"]}),
            )
            .await;
        assert_eq!(response.status(), 422, "{url}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
    }
    assert_eq!(app.event_count().await, before);

    // A name that resolves to loopback: registered, but never reached.
    let by_name = format!("https://localhost:{}/hook", receiver.port);
    let endpoint = register(&app, &by_name).await;
    open_ticket(&app).await;
    assert_eq!(deliver_due(&app.context, t0()).await.unwrap(), 1);
    assert!(receiver.received().is_empty());
    let delivery = &log(&app, &endpoint).await[0];
    assert_eq!(delivery["state"], "FAILED");
    assert_eq!(delivery["attempts"][0]["outcome"], "FAILED");
    let error = delivery["lastError"].as_str().unwrap();
    assert!(error.contains("SUPPORTD_WEBHOOK_ALLOW"), "{error}");
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_input_and_other_roles_are_refused_with_problems_and_change_nothing(pool: PgPool) {
    let (app, _clock) = loopback_app(pool).await;
    let before = app.event_count().await;
    let refused = |body: Value| {
        let app = &app;
        async move {
            let response = app.post(WEBHOOKS, &app.admin(), body).await;
            assert_eq!(response.status(), 422);
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let problem: Value = response.json().await.unwrap();
            let fields: Vec<String> = problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect();
            fields
        }
    };
    assert_eq!(
        refused(json!({"url": "https://hooks.example.com", "eventTypes": ["TicketOpened"], "secret": "mine"})).await,
        ["secret"]
    );
    assert_eq!(
        refused(json!({"url": "not a url", "eventTypes": ["TicketOpened", "TicketEaten"], "description": ""})).await,
        ["url", "eventTypes[1]", "description"]
    );
    assert_eq!(
        refused(json!({"eventTypes": []})).await,
        ["url", "eventTypes"]
    );
    assert_eq!(
        refused(
            json!({"url": "ftp://hooks.example.com/x", "eventTypes": ["WebhookEndpointRegistered"]})
        )
        .await,
        ["url", "eventTypes[0]"]
    );

    let endpoint = register(&app, "https://hooks.example.com/support").await;
    let id = endpoint["id"].as_str().unwrap();
    let after_register = app.event_count().await;
    let response = app
        .put(
            &format!("{WEBHOOKS}/{id}"),
            &app.admin(),
            json!({"eventTypes": ["Nope"], "colour": "red"}),
        )
        .await;
    assert_eq!(response.status(), 422);

    for role in [ActorRole::Agent, ActorRole::Customer] {
        let token = app.token(role, "someone");
        let body = json!({"url": "https://hooks.example.com/b", "eventTypes": ["TicketOpened"]});
        assert_eq!(app.post(WEBHOOKS, &token, body).await.status(), 403);
        assert_eq!(app.get(WEBHOOKS, &token).await.status(), 403);
        let path = format!("{WEBHOOKS}/{id}/deliveries");
        assert_eq!(app.get(&path, &token).await.status(), 403);
    }
    let auditor = app.token(ActorRole::Auditor, "auditor-1");
    let listed: Value = app.get_json(WEBHOOKS, &auditor).await;
    assert_eq!(listed["total"], 1);
    assert!(listed["items"][0].get("secret").is_none());
    let put = app
        .put(
            &format!("{WEBHOOKS}/{id}"),
            &auditor,
            json!({"active": false}),
        )
        .await;
    assert_eq!(put.status(), 403);
    let missing = format!(
        "{WEBHOOKS}/{}/deliveries/{}/resend",
        id,
        uuid::Uuid::new_v4()
    );
    assert_eq!(
        app.post(&missing, &app.admin(), json!({})).await.status(),
        404
    );
    assert_eq!(
        app.get(&format!("{WEBHOOKS}/nope"), &app.admin())
            .await
            .status(),
        404
    );
    assert_eq!(app.event_count().await, after_register);
    assert_eq!(after_register, before + 1);
}
