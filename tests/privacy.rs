//! Customers' personal data: sealed in the event store and on the bus, exported, erased beyond
//! recovery by destroying keys, and erased by retention.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{spawn_app, spawn_app_with, wait_until_projected, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::tickets::TicketsProjection;
use supportd::clock::Clock;
use uuid::Uuid;

/// Strings that can only come from one test's one customer.
struct Person {
    id: String,
    name: String,
    email: String,
    tag: String,
}

impl Person {
    fn new(first: &str) -> Self {
        let tag = Uuid::new_v4().simple().to_string()[..10].to_owned();
        Self {
            id: format!("customer-{tag}"),
            name: format!("{first} Zyx{tag}"),
            email: format!("{}.{tag}@example.org", first.to_lowercase()),
            tag,
        }
    }

    /// A text of theirs: a title, a description, a comment.
    fn text(&self, what: &str) -> String {
        format!("{what} of {} q{}", self.name, self.tag)
    }
}

/// Every text that carries the person's data, as they and the staff wrote it.
async fn write_tickets(app: &TestApp, person: &Person) -> (Vec<String>, Vec<Uuid>) {
    let admin = app.admin();
    let customer = app.keys.issue(
        ActorRole::Customer,
        &person.id,
        None,
        chrono::Duration::hours(1),
    );
    let agent = app.token(ActorRole::Agent, "agent-1");
    let mut texts = vec![person.name.clone(), person.email.clone()];
    let mut ids = Vec::new();
    for n in 0..2 {
        let (title, description) = (
            person.text(&format!("Title {n}")),
            person.text(&format!("Description {n}")),
        );
        let body = json!({
            "title": title, "description": description, "priority": "P2_MEDIUM",
            "category": "ACCOUNT", "channel": "EMAIL", "customerId": person.id,
            "customerName": person.name, "customerEmail": person.email,
        });
        // With an Idempotency-Key, so that its answer is kept too.
        let response = app
            .http
            .post(format!("{}/api/v1/support/tickets", app.address))
            .bearer_auth(&admin)
            .header("Idempotency-Key", format!("open-{}-{n}", person.tag))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let ticket: Value = response.json().await.unwrap();
        let id: Uuid = ticket["id"].as_str().unwrap().parse().unwrap();
        let path = format!("/api/v1/support/tickets/{id}");
        let retitled = person.text(&format!("Retitled {n}"));
        let changed = person.text(&format!("Changed {n}"));
        let update = json!({"title": retitled, "description": changed});
        assert_eq!(app.put(&path, &agent, update).await.status(), 200);
        let asked = person.text(&format!("Question {n}"));
        let reply = person.text(&format!("Reply {n}"));
        let note = person.text(&format!("Internal note {n}"));
        let reason = person.text(&format!("Escalation {n}"));
        for (token, text, visibility) in [
            (&customer, &asked, "PUBLIC"),
            (&agent, &reply, "PUBLIC"),
            (&agent, &note, "INTERNAL"),
        ] {
            let comment = json!({"body": text, "visibility": visibility});
            let response = app.post(&format!("{path}/comments"), token, comment).await;
            assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        }
        let response = app
            .post(
                &format!("{path}/escalate"),
                &agent,
                json!({"reason": reason}),
            )
            .await;
        assert_eq!(response.status(), 200);
        let resolution = person.text(&format!("Resolution {n}"));
        for change in [
            json!({"assignedTo": "agent-1", "status": "IN_PROGRESS"}),
            json!({"status": "RESOLVED", "resolutionNote": resolution}),
        ] {
            let response = app.put(&path, &agent, change).await;
            assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        }
        texts.extend([
            title,
            description,
            retitled,
            changed,
            asked,
            reply,
            note,
            reason,
            resolution,
        ]);
        ids.push(id);
    }
    (texts, ids)
}

/// Where `needle` is found in the database: `table` for each row of any table whose text form
/// holds it, as text or as the hex PostgreSQL shows bytea in (every text, json and bytea column).
async fn found_in_database(pool: &PgPool, needle: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) \
         FROM information_schema.tables \
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "public.events"), "{tables:?}");
    let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
    let mut found = Vec::new();
    for table in tables {
        let rows: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} AS t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0"
        ))
        .bind(needle)
        .bind(&hex)
        .fetch_one(pool)
        .await
        .unwrap();
        if rows > 0 {
            found.push(table);
        }
    }
    found
}

/// Every message of the test's JetStream stream.
async fn stream_messages(app: &TestApp) -> Vec<Vec<u8>> {
    let js = async_nats::jetstream::new(async_nats::connect(common::NATS_URL).await.unwrap());
    let mut stream = js.get_stream(&app.test_bus.bus.stream).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut messages = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await.unwrap();
        messages.push(message.payload.to_vec());
    }
    messages
}

fn holds(messages: &[Vec<u8>], needle: &str) -> bool {
    messages
        .iter()
        .any(|m| m.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

#[sqlx::test(migrations = "../migrations")]
async fn erasing_a_customer_leaves_no_byte_of_their_data_anywhere(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let (alice, bob) = (Person::new("Alice"), Person::new("Bob"));
    let (alice_texts, alice_tickets) = write_tickets(&app, &alice).await;
    let (bob_texts, _) = write_tickets(&app, &bob).await;
    wait_until_projected(&pool).await;

    // Sealed in the store and on the bus; in clear in the read models, which erasure scrubs.
    let messages = stream_messages(&app).await;
    assert!(messages.len() > 20, "{}", messages.len());
    for text in alice_texts.iter().chain(&bob_texts) {
        let found = found_in_database(&pool, text).await;
        assert!(
            !found.iter().any(|t| t == "public.events"),
            "{text} in clear in the store"
        );
        assert!(!holds(&messages, text), "{text} in clear on the bus");
    }
    // The search finds what is there.
    let in_tickets = found_in_database(&pool, &alice.email).await;
    assert!(
        in_tickets.iter().any(|t| t == "public.tickets"),
        "{in_tickets:?}"
    );
    let in_comments = found_in_database(&pool, &alice_texts[6]).await;
    assert_eq!(
        in_comments,
        ["public.ticket_comments"],
        "{}",
        alice_texts[6]
    );
    let admin = app.admin();
    let export_path = format!("/api/v1/support/customers/{}/personal-data", alice.id);
    let export: Value = app.get_json(&export_path, &admin).await;
    let exported = export.to_string();
    for text in &alice_texts {
        assert!(
            exported.contains(text.as_str()),
            "{text} is not in the export"
        );
    }
    assert!(!exported.contains(&bob.name));

    // Only admins erase.
    for role in [ActorRole::Agent, ActorRole::Customer, ActorRole::Auditor] {
        let token = app
            .keys
            .issue(role, &alice.id, None, chrono::Duration::hours(1));
        let response = app
            .send(Method::DELETE, &export_path, Some(&token), None)
            .await;
        assert_eq!(response.status(), 403, "{role:?}");
    }
    let before = app.event_count().await;
    let response = app
        .send(Method::DELETE, &export_path, Some(&admin), None)
        .await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["customerId"], alice.id);
    assert_eq!(receipt["reason"], "CUSTOMER_REQUEST");
    assert_eq!(receipt["erasedBy"], "admin-1");
    let mut erased: Vec<Uuid> = serde_json::from_value(receipt["tickets"].clone()).unwrap();
    erased.sort();
    let mut expected = alice_tickets.clone();
    expected.sort();
    assert_eq!(erased, expected);
    assert_eq!(
        app.event_count().await,
        before + 2,
        "one PersonalDataErased a ticket"
    );
    wait_until_projected(&pool).await;

    let messages = stream_messages(&app).await;
    for text in &alice_texts {
        let found = found_in_database(&pool, text).await;
        assert!(found.is_empty(), "{text} is still in {found:?}");
        assert!(!holds(&messages, text), "{text} is still on the bus");
    }
    // Bob's data is untouched, and the erased tickets still count.
    let bob_export: Value = app
        .get_json(
            &format!("/api/v1/support/customers/{}/personal-data", bob.id),
            &admin,
        )
        .await;
    assert_eq!(bob_export["tickets"].as_array().unwrap().len(), 2);
    let bob_export = bob_export.to_string();
    for text in &bob_texts {
        assert!(bob_export.contains(text.as_str()), "{text} of Bob is gone");
    }
    let list: Value = app.get_json("/api/v1/support/tickets", &admin).await;
    assert_eq!(list["total"], 4, "{list}");
    let export: Value = app.get_json(&export_path, &admin).await;
    assert_eq!(export["tickets"], json!([]));

    // What erased tickets show, and that they change no more.
    let path = format!("/api/v1/support/tickets/{}", alice_tickets[0]);
    let ticket: Value = app.get_json(&path, &admin).await;
    assert_eq!(ticket["title"], "[erased]");
    assert_eq!(ticket["customerEmail"], "[erased]");
    assert_eq!(ticket["customerId"], alice.id);
    assert!(ticket["comments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["body"] == "[erased]"));
    let history: Value = app.get_json(&format!("{path}/history"), &admin).await;
    assert_eq!(history[0]["changes"]["title"], "[erased]");
    assert_eq!(
        history.as_array().unwrap().last().unwrap()["eventType"],
        "PersonalDataErased"
    );
    let response = app.put(&path, &admin, json!({"priority": "P1_HIGH"})).await;
    assert_eq!(response.status(), 409);

    // A second erasure finds nothing more to erase.
    let again: Value = app
        .send(Method::DELETE, &export_path, Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["tickets"], json!([]));

    // A replay from the store gives the same erased read model.
    let live = common::read_model_snapshot(&pool).await;
    support_projections::replay(&pool, &common::data_keys(), &TicketsProjection)
        .await
        .unwrap();
    assert_eq!(common::read_model_snapshot(&pool).await, live);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_customer_exports_their_own_data_and_nobody_elses(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let (alice, bob) = (Person::new("Alice"), Person::new("Bob"));
    let (alice_texts, _) = write_tickets(&app, &alice).await;
    write_tickets(&app, &bob).await;
    let own = app
        .keys
        .issue(ActorRole::Customer, &alice.id, None, Duration::hours(1));
    let path = format!("/api/v1/support/customers/{}/personal-data", alice.id);
    let export: Value = app.get_json(&path, &own).await;
    let tickets = export["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    assert!(tickets[0]["history"].as_array().unwrap().len() > 5);
    let text = export.to_string();
    assert!(text.contains(&alice.email));
    // As the customer sees their tickets elsewhere: without the staff's internal notes.
    assert!(!alice_texts
        .iter()
        .filter(|t| t.contains("Internal note"))
        .any(|t| text.contains(t.as_str())));
    let bobs = format!("/api/v1/support/customers/{}/personal-data", bob.id);
    assert_eq!(app.get(&bobs, &own).await.status(), 404);
    let agent = app.token(ActorRole::Agent, "agent-1");
    assert_eq!(app.get(&path, &agent).await.status(), 403);
    assert_eq!(app.send(Method::GET, &path, None, None).await.status(), 401);
}

/// A clock the test moves.
struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap() = at;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn retention_erases_only_tickets_closed_long_enough_ago(pool: PgPool) {
    let start = Utc.with_ymd_and_hms(2025, 1, 10, 9, 0, 0).unwrap();
    let clock = Arc::new(TestClock(Mutex::new(start)));
    let shared = clock.clone();
    let app = spawn_app_with(pool.clone(), move |s| s.clock = shared).await;
    let admin = app.admin();
    let open = |title: &str| common::ticket_body(title, "customer-9");
    let cancel = json!({"status": "CANCELLED"});
    // Cancelled at the start; cancelled 200 days later; never closed.
    let early = app.open_ticket(&admin, open("Closed early by Ann")).await;
    let early_id = early["id"].as_str().unwrap().to_owned();
    let path = |id: &str| format!("/api/v1/support/tickets/{id}");
    assert_eq!(
        app.put(&path(&early_id), &admin, cancel.clone())
            .await
            .status(),
        200
    );
    let still_open = app.open_ticket(&admin, open("Still open for Ann")).await;
    clock.set(start + Duration::days(200));
    let late = app.open_ticket(&admin, open("Closed late by Ann")).await;
    let late_id = late["id"].as_str().unwrap().to_owned();
    assert_eq!(app.put(&path(&late_id), &admin, cancel).await.status(), 200);
    wait_until_projected(&pool).await;

    let keep_for = Duration::days(365);
    let sweep =
        |days| supportd::retention::sweep(&app.context, keep_for, start + Duration::days(days));
    assert!(
        sweep(300).await.unwrap().is_empty(),
        "nothing is a year past closing yet"
    );

    let receipts = sweep(400).await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].tickets, vec![early_id.parse::<Uuid>().unwrap()]);
    assert_eq!(receipts[0].reason, "RETENTION");
    assert_eq!(receipts[0].erased_by, "retention");
    assert_eq!(receipts[0].customer_id, None);
    wait_until_projected(&pool).await;
    let title = |id: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let ticket: Value = app.get_json(&path(&id), &admin).await;
            ticket["title"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(title(early_id.clone()).await, "[erased]");
    assert_eq!(title(late_id.clone()).await, "Closed late by Ann");
    let open_id = still_open["id"].as_str().unwrap().to_owned();
    assert_eq!(title(open_id.clone()).await, "Still open for Ann");
    assert!(found_in_database(&pool, "Closed early by Ann")
        .await
        .is_empty());

    // A later sweep erases the next one, never the open ticket, and nothing twice.
    let receipts = sweep(600).await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].tickets, vec![late_id.parse::<Uuid>().unwrap()]);
    wait_until_projected(&pool).await;
    assert_eq!(title(late_id).await, "[erased]");
    assert_eq!(title(open_id).await, "Still open for Ann");
    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM personal_data_erasures WHERE reason = 'RETENTION'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(recorded, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_id_no_account_can_have_is_404_and_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin();
    app.open_ticket(&admin, common::ticket_body("Printer jammed", "customer-1"))
        .await;
    let before = app.event_count().await;
    let long = "c".repeat(201);
    for id in ["%00", "customer-1%00", "%20customer-1", long.as_str()] {
        let path = format!("/api/v1/support/customers/{id}/personal-data");
        for method in [Method::GET, Method::DELETE] {
            let response = app.send(method.clone(), &path, Some(&admin), None).await;
            assert_eq!(response.status(), 404, "{method} {id}");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json",
                "{method} {id}"
            );
        }
    }
    // Nothing is erased without a token, whatever the id.
    let response = app
        .send(
            Method::DELETE,
            "/api/v1/support/customers/customer-1/personal-data",
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(app.event_count().await, before);
    let receipts: i64 = sqlx::query_scalar("SELECT count(*) FROM personal_data_erasures")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(receipts, 0);
}
