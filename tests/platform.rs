//! The platform every aggregate shares, end to end against real PostgreSQL and NATS: a new
//! aggregate needs registration only, commands are authorised on the write model, one clock read
//! per command, poison events go to the dead letters, worker processes serve their own health and
//! metrics.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, TimeZone, Utc};
use common::{spawn_app, spawn_app_with, spawn_registry, ticket_body, TestBus};
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use support_domain::{ActorRole, DomainError, PersonalData, RecordedEvent, Refusal};
use support_projections::{Projection, ProjectionError};
use supportd::auth::Principal;
use supportd::clock::Clock;
use supportd::commands::RequestIds;
use supportd::extract::ApiJson;
use supportd::problem::ApiError;
use supportd::startup::{ApiContext, Application, Registry, Worker};
use uuid::Uuid;

const TICKETS: &str = "/api/v1/support/tickets";

// A small aggregate of the test's own: an agent's canned reply. It is written the way every
// aggregate is (domain, projection, routes) and joins the service through the registry alone.

#[derive(Debug, Default, Serialize, Deserialize)]
struct CannedReply {
    text: Option<String>,
}

#[derive(Debug)]
enum CannedReplyCommand {
    Save(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum CannedReplyEvent {
    CannedReplySaved { text: String },
}

/// A canned reply is the desk's own text: nothing in it is a customer's.
impl PersonalData for CannedReplyEvent {
    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }

    fn data_subject(&self) -> Option<&str> {
        None
    }

    fn erases_personal_data(&self) -> bool {
        false
    }
}

impl DomainEvent for CannedReplyEvent {
    fn event_type(&self) -> String {
        "CannedReplySaved".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
enum CannedReplyError {
    #[error("the canned reply says that already")]
    Unchanged,
}

impl DomainError for CannedReplyError {
    fn refusal(&self) -> Refusal {
        Refusal::Conflict {
            allowed_statuses: None,
        }
    }
}

impl Aggregate for CannedReply {
    const TYPE: &'static str = "canned_reply";
    type Command = CannedReplyCommand;
    type Event = CannedReplyEvent;
    type Error = CannedReplyError;
    type Services = ();

    async fn handle(
        &mut self,
        command: CannedReplyCommand,
        _: &(),
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), CannedReplyError> {
        let CannedReplyCommand::Save(text) = command;
        if self.text.as_ref() == Some(&text) {
            return Err(CannedReplyError::Unchanged);
        }
        sink.write(CannedReplyEvent::CannedReplySaved { text }, self)
            .await;
        Ok(())
    }

    fn apply(&mut self, event: CannedReplyEvent) {
        let CannedReplyEvent::CannedReplySaved { text } = event;
        self.text = Some(text);
    }
}

struct CannedReplies;

#[async_trait]
impl Projection for CannedReplies {
    fn name(&self) -> &'static str {
        "canned_replies"
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["canned_reply"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["canned_replies"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            let text = event.payload["text"]
                .as_str()
                .ok_or_else(|| ProjectionError::undecodable("canned reply", "no text"))?;
            sqlx::query(
                "INSERT INTO canned_replies (id, text) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text",
            )
            .bind(&event.aggregate_id)
            .bind(text)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// A view over two aggregates: how many events of each type it has seen.
struct Activity;

#[async_trait]
impl Projection for Activity {
    fn name(&self) -> &'static str {
        "activity"
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["ticket", "canned_reply"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["activity"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            sqlx::query(
                "INSERT INTO activity (aggregate_type, events) VALUES ($1, 1) \
                 ON CONFLICT (aggregate_type) DO UPDATE SET events = activity.events + 1",
            )
            .bind(&event.aggregate_type)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

async fn activity(pool: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT aggregate_type, events FROM activity ORDER BY aggregate_type")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[derive(Deserialize)]
struct SaveCannedReply {
    id: Uuid,
    text: String,
}

async fn save_canned_reply(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<SaveCannedReply>,
) -> Result<Response, ApiError> {
    save(ctx, principal, ids, body, false).await
}

/// As a create does: the id is taken to be new, and its events are not read.
async fn create_canned_reply(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<SaveCannedReply>,
) -> Result<Response, ApiError> {
    save(ctx, principal, ids, body, true).await
}

async fn save(
    ctx: ApiContext,
    principal: Principal,
    ids: RequestIds,
    body: SaveCannedReply,
    create: bool,
) -> Result<Response, ApiError> {
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = CannedReplyCommand::Save(body.text);
    let committed = if create {
        ctx.create::<CannedReply>(body.id, command, &metadata)
            .await?
    } else {
        ctx.execute::<CannedReply>(body.id, command, &metadata)
            .await?
    };
    let pool = ctx.pool.clone();
    let id = body.id.to_string();
    let location = format!("/api/v1/support/canned-replies/{id}");
    Ok(ctx
        .answer(
            StatusCode::OK,
            location,
            committed,
            "canned_replies",
            || {
                let (pool, id) = (pool.clone(), id.clone());
                async move {
                    let text: Option<String> =
                        sqlx::query_scalar("SELECT text FROM canned_replies WHERE id = $1")
                            .bind(&id)
                            .fetch_optional(&pool)
                            .await?;
                    Ok(text.map(|text| json!({ "id": id, "text": text })))
                }
            },
        )
        .await)
}

#[sqlx::test(migrations = "../migrations")]
async fn a_new_aggregate_and_a_view_over_several_need_only_registration(pool: PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE canned_replies (id text PRIMARY KEY, text text NOT NULL); \
         CREATE TABLE activity (aggregate_type text PRIMARY KEY, events bigint NOT NULL);",
    )
    .execute(&pool)
    .await
    .unwrap();
    let registry = Registry::standard()
        .with_projection(CannedReplies)
        .with_projection(Activity)
        .with_routes(
            Router::new()
                .route("/canned-replies", post(save_canned_reply))
                .route("/canned-replies/new", post(create_canned_reply)),
        );
    let app = spawn_registry(pool.clone(), registry, Worker::all, |_| {}).await;
    let agent = app.token(ActorRole::Agent, "agent-7");
    let id = Uuid::new_v4();

    // The answer waits for the test's own projection: read-your-writes for any view.
    let path = "/api/v1/support/canned-replies";
    let saved = app
        .post(
            path,
            &agent,
            json!({"id": id, "text": "Have you tried turning it off?"}),
        )
        .await;
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["text"], "Have you tried turning it off?");

    // Its errors reach HTTP through the one generic mapping.
    let again = app
        .post(
            path,
            &agent,
            json!({"id": id, "text": "Have you tried turning it off?"}),
        )
        .await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.headers()["content-type"], "application/problem+json");

    // A read-only role is refused by the command path itself, though the handler checks no role.
    let auditor = app.token(ActorRole::Auditor, "auditor-1");
    let new = json!({"id": Uuid::new_v4(), "text": "Noted"});
    assert_eq!(app.post(path, &auditor, new).await.status(), 403);

    // Its events carry the same metadata and reach the bus like a ticket's.
    let actor: String = sqlx::query_scalar(
        "SELECT metadata->>'actorSub' FROM events WHERE aggregate_type = 'canned_reply'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(actor, "agent-7");

    // Replay rebuilds it like any other read model.
    sqlx::query("UPDATE canned_replies SET text = 'drifted'")
        .execute(&pool)
        .await
        .unwrap();
    let report = support_projections::replay(&pool, &common::data_keys(), &CannedReplies)
        .await
        .unwrap();
    assert_eq!(report.events, 1);
    let text: String = sqlx::query_scalar("SELECT text FROM canned_replies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(text, "Have you tried turning it off?");

    // The view over both aggregates sees the events of each, and only those.
    app.open_ticket(&agent, ticket_body("Printer on fire", "c-1"))
        .await;
    // The ticket's opening, which carries its default SLA policy.
    let expected = vec![("canned_reply".to_owned(), 1), ("ticket".to_owned(), 1)];
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .unwrap();
    listener
        .listen(support_projections::read_model::APPLIED_CHANNEL)
        .await
        .unwrap();
    let caught_up = async {
        while activity(&pool).await != expected {
            listener.recv().await.unwrap();
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), caught_up)
        .await
        .expect("the activity view sees both aggregates");
    support_projections::replay(&pool, &common::data_keys(), &Activity)
        .await
        .unwrap();
    assert_eq!(
        activity(&pool).await,
        expected,
        "a replay of the view agrees"
    );

    // A command decided on a stale stream (here a create, which reads no events, on an id that
    // has some) collides with the events appended since: 409, and nothing is appended.
    let stale = app
        .post(
            &format!("{path}/new"),
            &agent,
            json!({"id": id, "text": "Is it plugged in?"}),
        )
        .await;
    assert_eq!(stale.status(), 409);
    let stale: Value = stale.json().await.unwrap();
    assert!(
        stale["detail"]
            .as_str()
            .unwrap()
            .contains("changed by another request"),
        "{stale}"
    );
    let fresh = Uuid::new_v4();
    let created = app
        .post(
            &format!("{path}/new"),
            &agent,
            json!({"id": fresh, "text": "Is it plugged in?"}),
        )
        .await;
    assert_eq!(created.status(), 200);
    let sequences: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, sequence FROM events WHERE aggregate_type = 'canned_reply' \
         ORDER BY global_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(sequences, vec![(id.to_string(), 1), (fresh.to_string(), 1)]);
}

#[sqlx::test(migrations = "../migrations")]
async fn commands_are_authorised_on_the_write_model_not_the_lagging_read_model(pool: PgPool) {
    // No projection runs: the read model never shows these tickets, and every answer is a 202.
    let app = spawn_registry(
        pool,
        Registry::standard(),
        |_| vec![Worker::Relay],
        |settings| settings.read_timeout = std::time::Duration::from_millis(200),
    )
    .await;
    let admin = app.admin();
    let opened = app
        .post(
            TICKETS,
            &admin,
            ticket_body("Dashboard down", "customer-123"),
        )
        .await;
    assert_eq!(opened.status(), 202);
    let id = opened.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let number: String = sqlx::query_scalar(
        "SELECT payload->'TicketOpened'->>'ticketNumber' FROM events WHERE aggregate_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();

    // A command right after a create that answered 202 works at once, by id and by number.
    let assign = app
        .put(
            &format!("{TICKETS}/{id}"),
            &admin,
            json!({"assignedTo": "agent-7"}),
        )
        .await;
    assert_eq!(assign.status(), 202);
    let agent7 = app.token(ActorRole::Agent, "agent-7");
    let comment = app
        .post(
            &format!("{TICKETS}/{number}/comments"),
            &agent7,
            json!({"body": "On it"}),
        )
        .await;
    assert_eq!(comment.status(), 202);

    // Handed to agent-8, the ticket is out of agent-7's reach at once, whatever the read model says.
    let reassign = app
        .put(
            &format!("{TICKETS}/{id}"),
            &admin,
            json!({"assignedTo": "agent-8"}),
        )
        .await;
    assert_eq!(reassign.status(), 202);
    let before = app.event_count().await;
    let refused = app
        .post(
            &format!("{TICKETS}/{id}/escalate"),
            &agent7,
            json!({"reason": "Still mine?"}),
        )
        .await;
    assert_eq!(refused.status(), 404);
    let other_customer = app.token(ActorRole::Customer, "customer-9");
    let refused = app
        .post(
            &format!("{TICKETS}/{number}/comments"),
            &other_customer,
            json!({"body": "Not my ticket"}),
        )
        .await;
    assert_eq!(refused.status(), 404);
    assert_eq!(app.event_count().await, before, "refusals write nothing");
    let unknown = app
        .put(
            &format!("{TICKETS}/TKT-20200101-0001"),
            &admin,
            json!({"title": "Nobody"}),
        )
        .await;
    assert_eq!(unknown.status(), 404);
}

/// A clock that moves a little on every read, across midnight: two reads for one command would
/// give it two days.
struct SteppingClock {
    start: DateTime<Utc>,
    reads: AtomicI64,
}

impl Clock for SteppingClock {
    fn now(&self) -> DateTime<Utc> {
        let step = self.reads.fetch_add(1, Ordering::SeqCst);
        self.start + chrono::Duration::milliseconds(600 * step)
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_command_reads_the_clock_once(pool: PgPool) {
    let clock = Arc::new(SteppingClock {
        start: Utc.with_ymd_and_hms(2026, 3, 31, 23, 59, 59).unwrap(),
        reads: AtomicI64::new(0),
    });
    // Without the SLA timer, which reads the clock to know what is due.
    let app =
        common::spawn_app_without_sla_timer(pool, |settings| settings.clock = clock.clone()).await;
    // The service's own commands at start-up (the default SLA policies) read it too: the
    // tickets below start the count, one step before midnight, as if they were the first.
    clock.reads.store(0, Ordering::SeqCst);
    let admin = app.admin();
    for _ in 0..3 {
        let ticket = app
            .open_ticket(&admin, ticket_body("Midnight", "c-1"))
            .await;
        let created: DateTime<Utc> = ticket["createdAt"].as_str().unwrap().parse().unwrap();
        let number = ticket["ticketNumber"].as_str().unwrap();
        assert!(
            number.starts_with(&format!("TKT-{}-", created.format("%Y%m%d"))),
            "{number} was opened at {created}"
        );
    }
    assert_eq!(
        clock.reads.load(Ordering::SeqCst),
        3,
        "one read per command"
    );
}

/// The tickets read model's dead letters: every read model of ticket events parks what it cannot
/// read, each its own letter.
async fn dead_letters(app: &common::TestApp) -> Vec<Value> {
    app.get_json(
        "/api/v1/support/admin/dead-letters?state=all&projection=tickets",
        &app.admin(),
    )
    .await
}

/// Waits, woken by the runner's announcements, until the tickets read model parked `count`
/// messages.
async fn wait_until_parked(app: &common::TestApp, count: usize) -> Vec<Value> {
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.pool)
        .await
        .unwrap();
    listener
        .listen(support_projections::dead_letters::PARKED_CHANNEL)
        .await
        .unwrap();
    let wait = async {
        loop {
            let letters = dead_letters(app).await;
            if letters.len() >= count {
                return letters;
            }
            listener.recv().await.unwrap();
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .expect("the messages are parked within 30 s")
}

#[sqlx::test(migrations = "../migrations")]
async fn a_malformed_event_on_the_stream_is_dead_lettered_and_the_rest_carry_on(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    app.open_ticket(&admin, ticket_body("Before", "c-1")).await;

    // An envelope whose payload no ticket event can be read from.
    let bus = &app.test_bus.bus;
    let aggregate_id = Uuid::new_v4().to_string();
    let malformed = json!({
        "eventId": Uuid::new_v4(), "aggregateType": "ticket", "aggregateId": aggregate_id,
        "sequence": 1, "globalPosition": 999_999, "eventType": "TicketOpened", "eventVersion": "1",
        "occurredAt": "2026-11-28T10:00:00Z",
        "metadata": {"actorSub": "x", "actorRole": "admin", "requestId": "r", "correlationId": "c",
                     "occurredAt": "2026-11-28T10:00:00Z", "source": "import"},
        "payload": {"title": 42}
    });
    let js = async_nats::jetstream::new(async_nats::connect(common::NATS_URL).await.unwrap());
    js.publish(
        bus.subject("ticket", "TicketOpened"),
        serde_json::to_vec(&malformed).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    js.publish(bus.subject("ticket", "TicketOpened"), "not json".into())
        .await
        .unwrap()
        .await
        .unwrap();

    // The events after them are applied: each answer shows its ticket (201, not 202).
    for n in 0..3 {
        app.open_ticket(&admin, ticket_body(&format!("After {n}"), "c-1"))
            .await;
    }
    let letters = wait_until_parked(&app, 2).await;
    let envelope = letters
        .iter()
        .find(|l| l["aggregateId"] == aggregate_id.as_str())
        .expect("the malformed envelope is parked with its aggregate");
    assert_eq!(envelope["projection"], "tickets");
    assert_eq!(
        envelope["deliveries"], 3,
        "after the bounded number of deliveries"
    );
    assert!(envelope["error"]
        .as_str()
        .unwrap()
        .contains("cannot be read"));
    assert!(letters.iter().any(|l| l["aggregateId"].is_null()
        && l["error"]
            .as_str()
            .unwrap()
            .contains("not an event envelope")));

    // Retrying cannot help while the cause is there; the letter stays open with its error.
    let retry = app
        .post(
            &format!(
                "/api/v1/support/admin/dead-letters/{}/retry",
                envelope["id"]
            ),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(retry.status(), 409);
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains("supportd_dead_letters_total{projection=\"tickets\"}"));

    // The command line lists the same open letters, one JSON object a line.
    let database = app
        .pool
        .connect_options()
        .get_database()
        .unwrap()
        .to_owned();
    let listed = tokio::process::Command::new(env!("CARGO_BIN_EXE_supportd"))
        .args(["dead-letters", "list", "--projection", "tickets"])
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{database}"),
        )
        .env("SUPPORTD_JWT_SECRET", "unused")
        .output()
        .await
        .unwrap();
    assert!(listed.status.success());
    let lines: Vec<Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["resolvedAt"].is_null()));

    // Only admins see them.
    let agent = app.token(ActorRole::Agent, "agent-7");
    let forbidden = app.get("/api/v1/support/admin/dead-letters", &agent).await;
    assert_eq!(forbidden.status(), 403);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dead_letter_retried_after_the_fix_is_applied_with_the_events_parked_behind_it(
    pool: PgPool,
) {
    // A read-model bug, as a trigger: rows titled "Poison" cannot be written.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.title = 'Poison' THEN RAISE EXCEPTION 'poisoned title'; END IF; \
             RETURN NEW; END $$; \
         CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON tickets \
             FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let app = spawn_app_with(pool, |settings| {
        settings.read_timeout = std::time::Duration::from_secs(3)
    })
    .await;
    let admin = app.admin();
    let poison = app
        .post(TICKETS, &admin, ticket_body("Poison", "c-1"))
        .await;
    assert_eq!(poison.status(), 202, "the read model cannot show it");
    let id = poison.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The read model carries on without it, and the ticket's later event is parked behind it.
    app.open_ticket(&admin, ticket_body("Fine", "c-1")).await;
    let comment = app
        .post(
            &format!("{TICKETS}/{id}/comments"),
            &admin,
            json!({"body": "Parked behind the opening"}),
        )
        .await;
    assert_eq!(comment.status(), 202);
    let letters = wait_until_parked(&app, 2).await;
    let opening = letters
        .iter()
        .find(|l| l["sequence"] == 1)
        .expect("the opening is parked");
    // Only in the read model they failed in: the others fed by the same consumer applied every
    // event of the ticket.
    assert!(
        letters.iter().all(|l| l["projection"] == "tickets"),
        "{letters:?}"
    );
    let ticket_id = Uuid::parse_str(&id).unwrap();
    let timers: i64 = sqlx::query_scalar("SELECT count(*) FROM sla_timers WHERE ticket_id = $1")
        .bind(ticket_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        timers, 1,
        "the resolution clock's warning: the reply met the response clock"
    );
    let positions: Vec<(String, i64)> = sqlx::query_as(
        "SELECT projection, sequence FROM projection_positions \
         WHERE aggregate_id = $1 ORDER BY projection",
    )
    .bind(&id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let last: i64 = sqlx::query_scalar("SELECT max(sequence) FROM events WHERE aggregate_id = $1")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        positions,
        [
            ("analytics".to_owned(), last),
            ("incident_holds".to_owned(), last),
            ("notification_planner".to_owned(), last),
            ("sla_report".to_owned(), last),
            ("sla_timers".to_owned(), last)
        ]
    );
    assert!(opening["error"]
        .as_str()
        .unwrap()
        .contains("poisoned title"));

    sqlx::query("DROP TRIGGER refuse_poison ON tickets")
        .execute(&app.pool)
        .await
        .unwrap();
    let retried: Value = app
        .post(
            &format!("/api/v1/support/admin/dead-letters/{}/retry", opening["id"]),
            &admin,
            json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retried["resolvedBy"], "admin-1");
    let ticket: Value = app.get_json(&format!("{TICKETS}/{id}"), &admin).await;
    assert_eq!(ticket["title"], "Poison");
    assert_eq!(ticket["comments"][0]["body"], "Parked behind the opening");
    let open: Vec<Value> = app
        .get_json("/api/v1/support/admin/dead-letters", &admin)
        .await;
    assert!(open.is_empty(), "both letters are resolved: {open:?}");
    let again = app
        .post(
            &format!("/api/v1/support/admin/dead-letters/{}/retry", opening["id"]),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(
        again.status(),
        409,
        "a resolved letter is not applied twice"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_worker_process_serves_health_readiness_and_metrics(pool: PgPool) {
    let test_bus = TestBus::new();
    let settings = common::settings(&test_bus.bus);
    let registry = Registry::standard();
    let workers = Worker::all(&registry.projections);
    let application = Application::build(settings, pool.clone(), registry, false, &workers)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    let server = tokio::spawn(application.run_until_stopped());
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{address}{path}")).send();

    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for name in [
        "supportd_http_request_duration_seconds_bucket",
        "process_resident_memory_bytes",
    ] {
        assert!(metrics.contains(name), "{name} in:\n{metrics}");
    }
    assert_eq!(
        get("/api/v1/support/tickets").await.unwrap().status(),
        404,
        "a worker process serves no API"
    );
    server.abort();
}

#[sqlx::test(migrations = "../migrations")]
async fn the_api_records_request_command_relay_and_projection_latencies(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.open_ticket(&app.admin(), ticket_body("Measured", "c-1"))
        .await;
    let metrics = app.get_text("/metrics").await;
    for name in [
        "supportd_http_request_duration_seconds_bucket{route=\"/api/v1/support/tickets\",method=\"POST\",status=\"201\"",
        "supportd_command_duration_seconds_bucket{aggregate=\"ticket\",outcome=\"committed\"",
        "supportd_relay_lag_seconds_bucket",
        "supportd_projection_lag_seconds_bucket{projection=\"tickets\"",
        "supportd_events_relayed_total",
    ] {
        assert!(metrics.contains(name), "{name} in:\n{metrics}");
    }
}
