//! The audit log (`GET /audit`, `supportd audit`), the auditor role, and tickets as they stood at
//! an earlier instant (`GET /tickets/{key}?asOf=`), against real PostgreSQL and NATS.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use clap::Parser;
use common::{spawn_app_with, ticket_body, TestApp};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::audit::AuditFilter;
use supportd::audit::{write_entries, AuditArgs};
use supportd::clock::Clock;

const AUDIT: &str = "/api/v1/support/audit";
const TICKETS: &str = "/api/v1/support/tickets";

/// The time the service gives each command; the test moves it between requests, so that actions
/// happen at the instants it names.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn set(&self, instant: &str) {
        *self.0.lock().unwrap() = instant.parse().unwrap();
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

async fn spawn_with_clock(pool: PgPool) -> (TestApp, Arc<TestClock>) {
    let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
    let service_clock = clock.clone();
    let app = spawn_app_with(pool, move |settings| settings.clock = service_clock).await;
    (app, clock)
}

async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// The fields a problem document names, after checking its status.
async fn refused_fields(response: Response, status: u16) -> Vec<String> {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

fn id_of(ticket: &Value) -> &str {
    ticket["id"].as_str().unwrap()
}

/// Two tickets worked over three days: agent-7 takes the first on the 24th, works it on the 25th
/// (alongside agent-8, who takes the second) and resolves it on the 26th.
async fn three_days(app: &TestApp, clock: &TestClock) -> (Value, Value) {
    let admin = app.admin();
    let agent_7 = app.token(ActorRole::Agent, "agent-7");
    let agent_8 = app.token(ActorRole::Agent, "agent-8");
    clock.set("2026-11-24T10:00:00Z");
    let first = app
        .open_ticket(&admin, ticket_body("Dashboard down", "customer-1"))
        .await;
    let second = app
        .open_ticket(&admin, ticket_body("Invoices late", "customer-2"))
        .await;
    let first_path = format!("{TICKETS}/{}", id_of(&first));
    let second_path = format!("{TICKETS}/{}", id_of(&second));
    ok_json(
        app.put(&first_path, &agent_7, json!({"assignedTo": "agent-7"}))
            .await,
    )
    .await;

    clock.set("2026-11-25T09:00:00Z");
    ok_json(
        app.put(&first_path, &agent_7, json!({"status": "IN_PROGRESS"}))
            .await,
    )
    .await;
    ok_json(
        app.put(&second_path, &agent_8, json!({"assignedTo": "agent-8"}))
            .await,
    )
    .await;
    clock.set("2026-11-25T11:30:00Z");
    let comment = json!({"body": "Looking into it"});
    ok_json(
        app.post(&format!("{first_path}/comments"), &agent_7, comment)
            .await,
    )
    .await;
    clock.set("2026-11-25T23:59:59.999999Z");
    let reason = json!({"reason": "The customer is blocked"});
    ok_json(
        app.post(&format!("{first_path}/escalate"), &agent_7, reason)
            .await,
    )
    .await;

    clock.set("2026-11-26T00:00:00Z");
    let resolve = json!({"status": "RESOLVED", "resolutionNote": "Restarted the pool"});
    ok_json(app.put(&first_path, &agent_7, resolve).await).await;
    (first, second)
}

/// Global positions of the events the test's own SQL finds for an actor in a time range.
async fn positions_of(pool: &PgPool, actor: &str, from: &str, to: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT global_position FROM events WHERE metadata ->> 'actorSub' = $1 \
         AND (metadata ->> 'occurredAt')::timestamptz >= $2::timestamptz \
         AND (metadata ->> 'occurredAt')::timestamptz < $3::timestamptz \
         ORDER BY global_position DESC",
    )
    .bind(actor)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn what_an_agent_did_yesterday_is_found_in_one_call_and_nothing_else(pool: PgPool) {
    let (app, clock) = spawn_with_clock(pool).await;
    let (first, _) = three_days(&app, &clock).await;
    let auditor = app.token(ActorRole::Auditor, "auditor-1");

    let yesterday = "actor=agent-7&from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z";
    let log = ok_json(app.get(&format!("{AUDIT}?{yesterday}"), &auditor).await).await;
    let items = log["items"].as_array().unwrap();
    let types: Vec<&str> = items
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    // Newest first; agent-8's change and agent-7's on the 24th and the 26th are left out. The
    // SLA events agent-7's commands recorded are theirs too: the reply met the response clock,
    // and the status change first recorded the warnings and breaches that fell due before it
    // (the timer, on the real clock, was not due to wake yet).
    assert_eq!(
        types,
        [
            "TicketEscalated",
            "SlaClockCompleted",
            "TicketFirstResponseRecorded",
            "TicketCommentAdded",
            "TicketStatusChanged",
            "SlaBreached",
            "SlaWarningReached",
            "SlaBreached",
            "SlaWarningReached",
        ]
    );
    let positions: Vec<i64> = items
        .iter()
        .map(|e| e["globalPosition"].as_i64().unwrap())
        .collect();
    assert_eq!(
        positions,
        positions_of(
            &app.pool,
            "agent-7",
            "2026-11-25T00:00:00Z",
            "2026-11-26T00:00:00Z"
        )
        .await
    );
    assert_eq!(log["nextCursor"], Value::Null);
    assert_eq!(log["limit"], 50);

    let escalated = &items[0];
    assert_eq!(
        escalated["actor"],
        json!({"sub": "agent-7", "role": "agent"})
    );
    assert_eq!(escalated["aggregateType"], "ticket");
    assert_eq!(escalated["aggregateId"], first["id"]);
    assert_eq!(escalated["occurredAt"], "2026-11-25T23:59:59.999999Z");
    assert_eq!(escalated["payload"]["reason"], "The customer is blocked");
    assert_eq!(escalated["source"], "api");
    for field in ["eventId", "recordedAt", "requestId", "correlationId"] {
        assert!(escalated[field].is_string(), "{field}: {escalated}");
    }
    assert_eq!(escalated["causationId"], Value::Null);
    assert_eq!(items[4]["payload"]["to"], "IN_PROGRESS");

    // Every filter together narrows to one event; each alone finds what the event store holds.
    let narrow = format!(
        "{yesterday}&actorRole=agent&aggregateType=ticket&aggregateId={}&eventType=TicketCommentAdded",
        id_of(&first)
    );
    let log = ok_json(app.get(&format!("{AUDIT}?{narrow}"), &auditor).await).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    assert_eq!(log["items"][0]["payload"]["body"], "Looking into it");
    let by_role = ok_json(app.get(&format!("{AUDIT}?actorRole=admin"), &auditor).await).await;
    let openings: Vec<&str> = by_role["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(openings, ["TicketOpened", "TicketOpened"]);

    // `supportd audit` prints the same entries, a day meaning its start in UTC.
    let args = AuditArgs::try_parse_from([
        "audit",
        "--actor",
        "agent-7",
        "--since",
        "2026-11-25",
        "--until",
        "2026-11-26",
    ])
    .unwrap();
    let mut out = Vec::new();
    let written = write_entries(
        &app.pool,
        &common::data_keys(),
        &args.filter(),
        args.limit,
        &mut out,
    )
    .await
    .unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(written, 9);
    let log = ok_json(app.get(&format!("{AUDIT}?{yesterday}"), &auditor).await).await;
    assert_eq!(Value::Array(lines), log["items"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn cursor_pages_give_every_entry_once_newest_first(pool: PgPool) {
    let (app, clock) = spawn_with_clock(pool).await;
    three_days(&app, &clock).await;
    let admin = app.admin();
    let every: Vec<i64> =
        sqlx::query_scalar("SELECT global_position FROM events ORDER BY global_position DESC")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(every.len() > 10, "{every:?}");

    let mut seen = Vec::new();
    let mut path = format!("{AUDIT}?limit=3");
    loop {
        let page = ok_json(app.get(&path, &admin).await).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|e| e["globalPosition"].as_i64().unwrap()));
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("{AUDIT}?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, every);

    // A cursor carries on below its page, with the filters sent along.
    let first: Value = ok_json(
        app.get(&format!("{AUDIT}?actor=agent-7&limit=2"), &admin)
            .await,
    )
    .await;
    let cursor = first["nextCursor"].as_str().unwrap();
    let rest = ok_json(
        app.get(&format!("{AUDIT}?actor=agent-7&cursor={cursor}"), &admin)
            .await,
    )
    .await;
    let agent_7: Vec<i64> = [&first, &rest]
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap())
        .map(|e| e["globalPosition"].as_i64().unwrap())
        .collect();
    assert_eq!(
        agent_7,
        positions_of(&app.pool, "agent-7", "2000-01-01Z", "3000-01-01Z").await
    );
}

/// Past one page of the command line's (500), `supportd audit` reads on by cursor, and stops at
/// its limit. The events go straight into the store: only their metadata and order matter.
#[sqlx::test(migrations = "../migrations")]
async fn the_command_line_pages_through_every_match_up_to_its_limit(pool: PgPool) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
             payload, metadata) \
         SELECT 'ticket', 't-' || (n % 7), n, 'TicketEscalated', '1', \
             json_build_object('TicketEscalated', json_build_object('level', n, 'reason', 'r')), \
             json_build_object('actorSub', CASE WHEN n % 3 = 0 THEN 'agent-7' ELSE 'agent-8' END, \
                 'actorRole', 'agent', 'requestId', 'r-' || n, 'correlationId', 'r-' || n, \
                 'occurredAt', to_char((timestamptz '2026-11-25 00:00Z' + n * interval '1 minute') \
                     AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                 'source', 'import') \
         FROM generate_series(1, 1300) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let lines = |out: Vec<u8>| -> Vec<i64> {
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| {
                let entry: Value = serde_json::from_str(line).unwrap();
                entry["globalPosition"].as_i64().unwrap()
            })
            .collect()
    };
    let agent_7 = AuditFilter {
        actor: Some("agent-7".into()),
        ..Default::default()
    };
    let mut out = Vec::new();
    assert_eq!(
        write_entries(
            &pool,
            &common::data_keys(),
            &AuditFilter::default(),
            None,
            &mut out
        )
        .await
        .unwrap(),
        1300
    );
    let every = lines(out);
    assert_eq!(every, (1..=1300).rev().collect::<Vec<i64>>());

    let mut out = Vec::new();
    write_entries(&pool, &common::data_keys(), &agent_7, Some(420), &mut out)
        .await
        .unwrap();
    let expected: Vec<i64> = (1..=1300).rev().filter(|n| n % 3 == 0).take(420).collect();
    assert_eq!(lines(out), expected);

    let mut out = Vec::new();
    write_entries(
        &pool,
        &common::data_keys(),
        &AuditFilter::default(),
        Some(777),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(lines(out), every[..777]);
}

#[sqlx::test(migrations = "../migrations")]
async fn only_admins_and_auditors_read_the_audit_log(pool: PgPool) {
    let (app, clock) = spawn_with_clock(pool).await;
    clock.set("2026-11-25T09:00:00Z");
    app.open_ticket(&app.admin(), ticket_body("Dashboard down", "customer-1"))
        .await;
    // The opening, and the default SLA policies the service created at start-up.
    let events = app.event_count().await;
    for role in [ActorRole::Admin, ActorRole::Auditor] {
        let log = ok_json(app.get(AUDIT, &app.token(role, "reader")).await).await;
        assert_eq!(
            log["items"].as_array().unwrap().len() as i64,
            events,
            "{role:?}"
        );
    }
    for role in [ActorRole::Agent, ActorRole::Customer, ActorRole::Service] {
        let response = app.get(AUDIT, &app.token(role, "customer-1")).await;
        assert!(refused_fields(response, 403).await.is_empty(), "{role:?}");
    }
    let unauthenticated = app.send(Method::GET, AUDIT, None, None).await;
    assert_eq!(unauthenticated.status(), 401);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_auditor_reads_every_ticket_and_changes_none(pool: PgPool) {
    let (app, clock) = spawn_with_clock(pool).await;
    clock.set("2026-11-25T09:00:00Z");
    let admin = app.admin();
    let ticket = app
        .open_ticket(&admin, ticket_body("Dashboard down", "customer-1"))
        .await;
    let path = format!("{TICKETS}/{}", id_of(&ticket));
    let note = json!({"body": "Pool exhausted", "visibility": "INTERNAL"});
    ok_json(app.post(&format!("{path}/comments"), &admin, note).await).await;
    ok_json(
        app.put(&path, &admin, json!({"assignedTo": "agent-7"}))
            .await,
    )
    .await;
    let auditor = app.token(ActorRole::Auditor, "auditor-1");

    // Like an admin, an auditor sees every ticket, internal notes included.
    let seen = ok_json(app.get(&path, &auditor).await).await;
    assert_eq!(seen, ok_json(app.get(&path, &admin).await).await);
    assert_eq!(seen["comments"][0]["visibility"], "INTERNAL");
    let list = ok_json(app.get(TICKETS, &auditor).await).await;
    assert_eq!(list["total"], 1);
    let history = ok_json(app.get(&format!("{path}/history"), &auditor).await).await;
    // Opened (under its SLA policy), the note, the assignment (and the move to ASSIGNED).
    assert_eq!(history.as_array().unwrap().len(), 4);

    let events = app.event_count().await;
    let writes = [
        (Method::POST, TICKETS.to_owned(), ticket_body("Mine", "c-1")),
        (Method::PUT, path.clone(), json!({"title": "Renamed"})),
        (
            Method::PUT,
            path.clone(),
            json!({"status": "IN_PROGRESS", "assignedTo": "agent-7"}),
        ),
        (
            Method::POST,
            format!("{path}/comments"),
            json!({"body": "Checked"}),
        ),
        (
            Method::POST,
            format!("{path}/escalate"),
            json!({"reason": "Audit finding"}),
        ),
        (
            Method::POST,
            "/api/v1/support/admin/dead-letters/1/retry".to_owned(),
            json!({}),
        ),
    ];
    for (method, path, body) in writes {
        let response = app
            .send(method.clone(), &path, Some(&auditor), Some(body))
            .await;
        assert_eq!(response.status(), 403, "{method} {path}");
    }
    assert_eq!(app.event_count().await, events, "an auditor wrote nothing");
}

#[sqlx::test(migrations = "../migrations")]
async fn as_of_shows_the_ticket_as_it_stood_then(pool: PgPool) {
    let (app, clock) = spawn_with_clock(pool).await;
    let admin = app.admin();
    let customer = app.token(ActorRole::Customer, "customer-1");
    clock.set("2026-11-24T10:00:00Z");
    let opened = app
        .open_ticket(&admin, ticket_body("Dashboard down", "customer-1"))
        .await;
    let path = format!("{TICKETS}/{}", id_of(&opened));
    clock.set("2026-11-25T09:00:00Z");
    ok_json(
        app.put(&path, &admin, json!({"assignedTo": "agent-7"}))
            .await,
    )
    .await;
    let note = json!({"body": "Pool exhausted", "visibility": "INTERNAL"});
    ok_json(app.post(&format!("{path}/comments"), &admin, note).await).await;
    clock.set("2026-11-26T09:00:00Z");
    let change = json!({"title": "Dashboard down for EU customers", "status": "IN_PROGRESS"});
    let now = ok_json(app.put(&path, &admin, change).await).await;
    let as_of = |instant: &str| format!("{path}?asOf={}", instant.replace('+', "%2B"));

    // At its opening: the ticket as opened, in every field.
    let opening = ok_json(app.get(&as_of("2026-11-24T10:00:00Z"), &admin).await).await;
    assert_eq!(opening, opened);
    // Before the assignment: as opened, with its clocks as they stood then, the response
    // deadline (an hour) long past.
    let day_one = ok_json(app.get(&as_of("2026-11-24T18:00:00Z"), &admin).await).await;
    assert_eq!(day_one["version"], opened["version"]);
    assert_eq!(day_one["title"], opened["title"]);
    assert_eq!(day_one["slaState"], "BREACHED");
    let response = &day_one["slaClocks"]["response"];
    assert_eq!(response["breachedAt"], "2026-11-24T11:00:00Z");
    assert_eq!(response["breachMinutes"], 420);
    assert_eq!(day_one["slaClocks"]["resolution"]["remainingMinutes"], 0);
    // Between the assignment and the retitle: assigned, with the old title and the note.
    let day_two = ok_json(app.get(&as_of("2026-11-25T09:00:00+00:00"), &admin).await).await;
    assert_eq!(day_two["status"], "ASSIGNED");
    assert_eq!(day_two["assignedTo"], "agent-7");
    assert_eq!(day_two["title"], "Dashboard down");
    assert_eq!(day_two["updatedAt"], "2026-11-25T09:00:00Z");
    assert_eq!(day_two["comments"].as_array().unwrap().len(), 1);
    // After the last change: exactly what the read model shows now, by id or by number, but for
    // the clocks, read 14 hours later.
    let number = now["ticketNumber"].as_str().unwrap();
    let mut later = ok_json(
        app.get(
            &format!("{TICKETS}/{number}?asOf=2026-11-27T00:00:00%2B01:00"),
            &admin,
        )
        .await,
    )
    .await;
    let elapsed = |ticket: &Value| ticket["slaClocks"]["resolution"]["elapsedMinutes"].as_i64();
    assert_eq!(elapsed(&later), elapsed(&now).map(|m| m + 14 * 60));
    let mut now = now;
    for ticket in [&mut later, &mut now] {
        ticket.as_object_mut().unwrap().remove("slaClocks");
    }
    assert_eq!(later, now);
    assert_eq!(later["status"], "IN_PROGRESS");

    // The customer sees their own ticket's past, without the internal note.
    let theirs = ok_json(app.get(&as_of("2026-11-25T12:00:00Z"), &customer).await).await;
    assert_eq!(theirs["status"], "ASSIGNED");
    assert_eq!(theirs["comments"], json!([]));
    let stranger = app.token(ActorRole::Customer, "customer-2");
    let response = app.get(&as_of("2026-11-25T12:00:00Z"), &stranger).await;
    assert_eq!(response.status(), 404);

    // Before it was opened, the ticket did not exist.
    let response = app.get(&as_of("2026-11-24T09:59:59Z"), &admin).await;
    assert_eq!(response.status(), 404);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_parameters_are_refused_each_by_name(pool: PgPool) {
    let (app, _) = spawn_with_clock(pool).await;
    let ticket = app
        .open_ticket(&app.admin(), ticket_body("Dashboard down", "customer-1"))
        .await;
    let auditor = app.token(ActorRole::Auditor, "auditor-1");
    let cases: [(&str, &[&str]); 6] = [
        (
            "actr=agent-7&from=yesterday&to=2026-11-26&limit=0&cursor=forged",
            &["actr", "from", "to", "limit", "cursor"],
        ),
        ("limit=501", &["limit"]),
        ("actorRole=boss", &["actorRole"]),
        (
            "aggregateId=7c9e6679-7425-40de-944b-e07fc1f90ae7",
            &["aggregateId"],
        ),
        ("from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z", &["to"]),
        ("cursor=AAAAAAAAAAA", &["cursor"]),
    ];
    for (query, fields) in cases {
        let response = app.get(&format!("{AUDIT}?{query}"), &auditor).await;
        assert_eq!(refused_fields(response, 422).await, fields, "{query}");
    }
    let path = format!("{TICKETS}/{}", id_of(&ticket));
    let response = app
        .get(
            &format!("{path}?asOf=last%20week&asof=2026-11-25"),
            &auditor,
        )
        .await;
    assert_eq!(refused_fields(response, 422).await, ["asof", "asOf"]);
    // A parameter sent twice cannot be read at all.
    let response = app
        .get(&format!("{AUDIT}?actor=agent-7&actor=agent-8"), &auditor)
        .await;
    assert_eq!(response.status(), 400);
}
