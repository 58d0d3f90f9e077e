//! No log line carries personal data or a token. The service's own JSON logs, captured at their
//! most verbose while every route that takes personal data is used (well and badly, with good
//! and bad tokens, and with an event the service cannot read), contain none of what was sent.

mod common;

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Duration as TimeDelta;
use common::{spawn_app, wait_until_projected, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::dead_letters::PARKED_CHANNEL;
use support_projections::Redacted;
use supportd::auth::TokenKeys;
use supportd::telemetry::{self, LogFormat};
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

const TICKETS: &str = "/api/v1/support/tickets";

/// TRACE for the service's own crates and tower-http (axum's rejections too); the rest, sqlx
/// included, as the default filter has them.
const MOST_VERBOSE: &str = "info,sqlx=warn,supportd=trace,support_workers=trace,\
    support_projections=trace,support_domain=trace,tower_http=trace,axum::rejection=trace";

/// Everything the process logs, as written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .expect("log lines are UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The production JSON formatter writing to memory: the process's one subscriber, installed by
/// the first test that asks.
fn captured_logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        telemetry::init_with_writer(
            move || writer.clone(),
            EnvFilter::new(MOST_VERBOSE),
            LogFormat::Json,
        )
        .expect("no other subscriber is installed in this test binary");
        logs
    })
}

/// What must appear in no log line. Personal values are made of invented words, so that each word
/// is looked for alone too: a log quoting part of a value, or the value encoded in a URL, is found.
#[derive(Default)]
struct Secrets(BTreeSet<String>);

impl Secrets {
    fn personal(&mut self, value: &str) -> String {
        self.0.insert(value.to_owned());
        self.0.extend(
            value
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|word| word.len() >= 5 && !["example", "Bearer", "Basic"].contains(word))
                .map(str::to_owned),
        );
        value.to_owned()
    }

    /// A token, and its claims and signature alone.
    fn token(&mut self, token: String) -> String {
        self.0.insert(token.clone());
        self.0.extend(token.split('.').skip(1).map(str::to_owned));
        token
    }
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.http.request(method, format!("{}{path}", app.address));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("the request is sent")
}

async fn expect_status(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[sqlx::test(migrations = "../migrations")]
async fn no_log_line_carries_personal_data_or_a_token(pool: PgPool) {
    let logs = captured_logs();
    let app = spawn_app(pool).await;
    let mut secrets = Secrets::default();
    let admin = secrets.token(app.admin());
    let agent = secrets.token(app.token(ActorRole::Agent, "agent-7"));
    let customer = secrets.token(app.token(ActorRole::Customer, "customer-77"));

    // Staff open a ticket for a customer, once with an Idempotency-Key and its replay.
    let opened = json!({
        "title": secrets.personal("Quixotrel Vantablorp Frumious"),
        "description": secrets.personal("Slithytove Mimsyborogove Jubjubbird outgribing"),
        "priority": "P1_HIGH",
        "customerId": "customer-12",
        "customerName": secrets.personal("Zebulon Quarrington"),
        "customerEmail": secrets.personal("zebulon.quarrington@example.org"),
    });
    let created = app
        .http
        .post(format!("{}{TICKETS}", app.address))
        .bearer_auth(&admin)
        .header("idempotency-key", "logs-test-1")
        .json(&opened)
        .send()
        .await
        .unwrap();
    let ticket = expect_status(created, 201).await;
    let replayed = app
        .http
        .post(format!("{}{TICKETS}", app.address))
        .bearer_auth(&admin)
        .header("idempotency-key", "logs-test-1")
        .json(&opened)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let path = format!("{TICKETS}/{}", ticket["id"].as_str().unwrap());
    let number = ticket["ticketNumber"].as_str().unwrap();

    // A customer opens one of their own.
    let own = app
        .open_ticket(
            &customer,
            json!({
                "title": secrets.personal("Frindlewick Gallimaufry Quodlibet"),
                "description": secrets.personal("Zorblaxian Borogrove Hobbledehoy"),
                "priority": "P2_MEDIUM",
                "customerId": "customer-77",
                "customerName": secrets.personal("Ottoline Brackwater"),
                "customerEmail": secrets.personal("ottoline.brackwater@example.net"),
            }),
        )
        .await;
    let own_path = format!("{TICKETS}/{}", own["id"].as_str().unwrap());

    // Read by id and by number, listed and searched by what agents type.
    expect_status(app.get(&path, &admin).await, 200).await;
    expect_status(app.get(&format!("{TICKETS}/{number}"), &admin).await, 200).await;
    expect_status(app.get(&own_path, &customer).await, 200).await;
    for query in [
        "?q=Quixotrel",
        "?q=Zebulon%20Quarrington",
        "?search=Zebulon+Quarrington&customerId=customer-12",
        "?q=zebulon.quarrington%40example.org&limit=5",
    ] {
        expect_status(app.get(&format!("{TICKETS}{query}"), &admin).await, 200).await;
    }
    expect_status(
        app.get(&format!("{TICKETS}?q=Frindlewick"), &customer)
            .await,
        200,
    )
    .await;
    customer_personal_data(&app, &admin, &mut secrets).await;

    // Worked to resolution: assigned, retitled and described anew, commented on publicly and
    // internally, escalated, resolved with a note; the customer answers; the history is read.
    expect_status(
        app.put(&path, &admin, json!({"assignedTo": "agent-7"}))
            .await,
        200,
    )
    .await;
    let changed = json!({
        "title": secrets.personal("Snickersnee Tulgeywood Galumphing"),
        "description": secrets.personal("Uffishthought Frabjous Chortling"),
        "status": "IN_PROGRESS",
    });
    expect_status(app.put(&path, &agent, changed).await, 200).await;
    let comments = format!("{path}/comments");
    let public = json!({"body": secrets.personal("Manxome Brillig Wabeling")});
    expect_status(app.post(&comments, &agent, public).await, 201).await;
    let internal = json!({
        "body": secrets.personal("Kerfuffle Hornswoggle Snollygoster"),
        "visibility": "INTERNAL",
    });
    expect_status(app.post(&comments, &agent, internal).await, 201).await;
    let reason = json!({"reason": secrets.personal("Skedaddle Taradiddle Collywobbles")});
    expect_status(
        app.post(&format!("{path}/escalate"), &agent, reason).await,
        200,
    )
    .await;
    let resolved = json!({
        "status": "RESOLVED",
        "resolutionNote": secrets.personal("Flibbertigibbet Widdershins Cattywampus"),
    });
    expect_status(app.put(&path, &agent, resolved).await, 200).await;
    let answer = json!({"body": secrets.personal("Brouhaha Lollygag Bumfuzzle")});
    expect_status(
        app.post(&format!("{own_path}/comments"), &customer, answer)
            .await,
        201,
    )
    .await;
    expect_status(app.get(&format!("{path}/history"), &admin).await, 200).await;
    export_and_erase(&app, &admin, &mut secrets).await;

    send_bad_input(&app, &admin, &mut secrets).await;
    send_bad_tokens(&app, &mut secrets).await;

    // Unknown tickets and paths, with personal data and a token in the query string.
    let nowhere = Uuid::new_v4();
    expect_status(app.get(&format!("{TICKETS}/{nowhere}"), &admin).await, 404).await;
    expect_status(
        app.get(&format!("{TICKETS}/TKT-20990101-9999"), &admin)
            .await,
        404,
    )
    .await;
    let email = secrets.personal("gimbleton.gyre@example.com");
    expect_status(
        app.get(
            &format!("/api/v1/support/nowhere?email={email}&access_token={admin}"),
            &admin,
        )
        .await,
        404,
    )
    .await;
    expect_status(
        app.get(&format!("{TICKETS}?access_token={admin}"), &admin)
            .await,
        200,
    )
    .await;
    wait_until_projected(&app.pool).await;

    // An event the service cannot read, whose parser's message would quote a personal value:
    // a command on its ticket fails (500), and the read model parks it in the dead letters.
    let poisoned = secrets.personal("Jabberwock Vorpalblade Bandersnatch");
    poison_latest_event(&app, own["id"].as_str().unwrap(), &poisoned).await;
    let retitle = json!({"title": secrets.personal("Tumtumtree Beamish Callooh")});
    expect_status(app.put(&own_path, &admin, retitle).await, 500).await;
    let letter = wait_until_parked(&app, &admin).await;
    assert!(!letter["error"].as_str().unwrap().contains("Jabberwock"));
    expect_status(
        app.post(
            &format!("/api/v1/support/admin/dead-letters/{}/retry", letter["id"]),
            &admin,
            json!({}),
        )
        .await,
        409,
    )
    .await;

    let lines = logs.lines();
    assert_something_was_captured(&lines);
    for line in &lines {
        for secret in &secrets.0 {
            assert!(
                !line.contains(secret.as_str()),
                "a log line carries {secret:?}: {line}"
            );
        }
    }
}

/// What the service holds about one customer, read as staff read it.
async fn customer_personal_data(app: &TestApp, admin: &str, secrets: &mut Secrets) {
    let name = secrets.personal("Zebulon Quarrington");
    let tickets: Value = app
        .get_json(&format!("{TICKETS}?customerId=customer-12"), admin)
        .await;
    assert_eq!(tickets["items"][0]["customerName"], name);
}

/// The customer's export, then their erasure: both carry everything held about them.
async fn export_and_erase(app: &TestApp, admin: &str, secrets: &mut Secrets) {
    let path = "/api/v1/support/customers/customer-12/personal-data";
    let export = expect_status(app.get(path, admin).await, 200).await;
    let name = secrets.personal("Zebulon Quarrington");
    assert!(export.to_string().contains(&name));
    let receipt = expect_status(
        app.send(reqwest::Method::DELETE, path, Some(admin), None)
            .await,
        200,
    )
    .await;
    assert_eq!(receipt["tickets"].as_array().unwrap().len(), 1);
}

/// Bodies the API refuses, each quoting a personal value the refusal may echo to the caller.
async fn send_bad_input(app: &TestApp, admin: &str, secrets: &mut Secrets) {
    let valid = || {
        json!({"title": "Printer", "description": "Jammed", "priority": "P3_LOW",
               "customerId": "customer-12"})
    };
    let mut malformed_email = valid();
    malformed_email["customerEmail"] = json!(secrets.personal("Gobbledygook at Quagmirish"));
    let mut unknown_field = valid();
    unknown_field["colour"] = json!(secrets.personal("Whippersnapper Crumplehorn"));
    let mut wrong_type = valid();
    wrong_type["tags"] = json!(secrets.personal("Snorkeltrix Quibbler"));
    let mut too_long = valid();
    too_long["customerName"] = json!(secrets.personal(&"Ramshackle".repeat(21)));
    for (body, status) in [
        (malformed_email, 422),
        (unknown_field, 422),
        (wrong_type, 422),
        (too_long, 422),
    ] {
        expect_status(app.post(TICKETS, admin, body).await, status).await;
    }
    let mut oversized = valid();
    oversized["description"] = json!(secrets.personal(&"Mumblecrust ".repeat(100_000)));
    expect_status(app.post(TICKETS, admin, oversized).await, 413).await;
    let cut_short = app
        .http
        .post(format!("{}{TICKETS}", app.address))
        .bearer_auth(admin)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"customerName\": \"{}",
            secrets.personal("Fiddlesticks Poppycock")
        ))
        .send()
        .await
        .unwrap();
    expect_status(cut_short, 400).await;
}

/// A forged token, an expired one and a garbage `Authorization`, on reads and on a write.
async fn send_bad_tokens(app: &TestApp, secrets: &mut Secrets) {
    let forged = secrets.token(TokenKeys::new("not-the-secret").issue(
        ActorRole::Admin,
        "mallory",
        None,
        TimeDelta::hours(1),
    ));
    let expired =
        secrets.token(
            app.keys
                .issue(ActorRole::Admin, "admin-1", None, TimeDelta::hours(-2)),
        );
    let garbage = secrets.personal("Bearer Gyrelwabe.Slithytoves.Gimblewabe");
    let basic = secrets.personal("Basic QmFsZGVyZGFzaDpQYXNzd29yZA==");
    let body = json!({"title": secrets.personal("Mumpsimus Sockdolager"), "priority": "P3_LOW",
                      "description": "x"});
    for authorization in [
        format!("Bearer {forged}"),
        format!("Bearer {expired}"),
        garbage,
        basic,
    ] {
        for (method, body) in [(Method::GET, None), (Method::POST, Some(body.clone()))] {
            let response = send(app, method, TICKETS, Some(&authorization), body).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
}

/// Appends to a ticket's stream an event whose payload is the text `value` instead of the
/// event's fields, as a faulty import could.
async fn poison_latest_event(app: &TestApp, ticket: &str, value: &str) {
    sqlx::query(
        "INSERT INTO events \
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT aggregate_type, aggregate_id, sequence + 1, 'TicketRetitled', event_version, \
             json_build_object('TicketRetitled', $2::text), metadata \
         FROM events WHERE aggregate_type = 'ticket' AND aggregate_id = $1 \
         ORDER BY sequence DESC LIMIT 1",
    )
    .bind(ticket)
    .bind(value)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// Waits, woken by the runner's announcements, until a dead letter is parked, and returns it.
async fn wait_until_parked(app: &TestApp, admin: &str) -> Value {
    let mut listener = PgListener::connect_with(&app.pool).await.unwrap();
    listener.listen(PARKED_CHANNEL).await.unwrap();
    let wait = async {
        loop {
            let letters: Value = app
                .get_json("/api/v1/support/admin/dead-letters", admin)
                .await;
            if let Some(letter) = letters.as_array().unwrap().first() {
                return letter.clone();
            }
            listener.recv().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the event is parked within 30 s")
}

/// The logs hold what the run did, as JSON lines with the request's span: a test that captured
/// nothing would pass the search for secrets.
fn assert_something_was_captured(lines: &[String]) {
    let events: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).expect("every line is a JSON object"))
        .collect();
    let logged = |message: &str, route: &str| {
        events
            .iter()
            .any(|event| event["fields"]["message"] == message && event["span"]["route"] == route)
    };
    assert!(
        logged(
            "finished processing request",
            "/api/v1/support/tickets/{key}"
        ),
        "request spans name the route template"
    );
    assert!(
        logged("request failed", "/api/v1/support/tickets/{key}"),
        "the 500 is logged"
    );
    assert!(
        events.iter().any(|event| event["fields"]["message"]
            == "batch not applied; applying its events one by one"),
        "the read model's failure is logged"
    );
    let spans: Vec<&Value> = events.iter().map(|event| &event["span"]).collect();
    assert!(spans
        .iter()
        .any(|span| span["route"] == "unmatched" && span["method"] == "GET"));
    assert!(spans
        .iter()
        .all(|span| span.is_null() || span.get("uri").is_none()));
}

#[sqlx::test(migrations = "../migrations")]
async fn errors_are_logged_without_the_values_they_quote(pool: PgPool) {
    let email = "bartholomew.quibble@example.org";
    let shown = |error: &(dyn std::error::Error + 'static)| {
        let full: String = std::iter::successors(Some(error), |e| e.source())
            .map(|e| format!("{e}; "))
            .collect();
        let redacted = Redacted(error).to_string();
        assert!(full.contains(email), "the error quotes the value: {full}");
        assert!(!redacted.contains(email), "{redacted}");
        redacted
    };

    let cast = sqlx::query("SELECT CAST($1::text AS uuid)")
        .bind(email)
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(shown(&cast), "database error 22P02");

    let decode = sqlx::query_scalar::<_, sqlx::types::Json<i64>>("SELECT to_json($1::text)")
        .bind(email)
        .fetch_one(&pool)
        .await
        .unwrap_err();
    assert!(matches!(decode, sqlx::Error::ColumnDecode { .. }));
    shown(&decode);

    let parse = serde_json::from_str::<i64>(&format!("\"{email}\"")).unwrap_err();
    let chain = anyhow::Error::from(parse).context("reading a ticket event");
    assert_eq!(
        shown(chain.as_ref()),
        "reading a ticket event: JSON of the wrong shape or type at line 1 column 33"
    );
}
