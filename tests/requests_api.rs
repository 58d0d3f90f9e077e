//! Requests that say what they mean: unknown fields, `isInternal`, array limits and
//! `Idempotency-Key`, end to end over HTTP against real PostgreSQL and NATS.

mod common;

use common::{spawn_app, ticket_body, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;

const TICKETS: &str = "/api/v1/support/tickets";

/// Reads a problem document, checking its status and type.
async fn problem(response: reqwest::Response, status: u16, problem_type: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], format!("/problems/{problem_type}"));
    problem
}

fn refused_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// Opens a ticket as an admin and returns its path.
async fn ticket_path(app: &TestApp) -> String {
    let ticket = app
        .open_ticket(&app.admin(), ticket_body("Dashboard down", "customer-123"))
        .await;
    format!("{TICKETS}/{}", ticket["id"].as_str().unwrap())
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_fields_are_refused_by_name_and_record_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let path = ticket_path(&app).await;
    let before = app.event_count().await;

    let mut create = ticket_body("Typo", "customer-123");
    create["isInternl"] = json!(true);
    create["prority"] = json!("P0_CRITICAL");
    let cases = [
        (TICKETS.to_owned(), create, vec!["isInternl", "prority"]),
        (
            format!("{path}/comments"),
            json!({"body": "note", "isInternl": true}),
            vec!["isInternl"],
        ),
        (
            format!("{path}/escalate"),
            json!({"reason": "angry", "escalated_by": "me", "level": 2}),
            vec!["escalated_by", "level"],
        ),
    ];
    for (target, body, unknown) in cases {
        let refused = problem(app.post(&target, &admin, body).await, 422, "validation").await;
        assert_eq!(refused_fields(&refused), unknown, "{target}");
        assert!(refused["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["message"] == "is not a field of this request"));
    }
    let refused = problem(
        app.put(
            &path,
            &admin,
            json!({"title": "New", "asignedTo": "agent-7"}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused_fields(&refused), ["asignedTo"]);
    assert_eq!(
        refused["detail"],
        "asignedTo: is not a field of this request"
    );

    assert_eq!(app.event_count().await, before, "nothing was recorded");
    let ticket: Value = app.get_json(&path, &admin).await;
    assert_eq!(ticket["title"], "Dashboard down");
}

#[sqlx::test(migrations = "../migrations")]
async fn every_field_the_spec_examples_send_is_declared(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let created = app
        .open_ticket(
            &admin,
            json!({
                "title": "Unable to access lead dashboard",
                "description": "Getting 500 error when trying to load the lead dashboard",
                "priority": "P1_HIGH",
                "category": "TECHNICAL",
                "channel": "WEB_FORM",
                "customerId": "customer-123",
                "customerName": "John Doe",
                "customerEmail": "john.doe@example.com",
                "affectedSystems": ["lead-dashboard", "api"],
                "createdBy": "customer-123"
            }),
        )
        .await;
    let path = format!("{TICKETS}/{}", created["id"].as_str().unwrap());

    let updated = app
        .put(
            &path,
            &admin,
            json!({"assignedTo": "agent-7", "status": "IN_PROGRESS", "updatedBy": "agent-7"}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let commented = app
        .post(
            &format!("{path}/comments"),
            &admin,
            json!({"body": "On it", "author": "agent-7"}),
        )
        .await;
    assert_eq!(commented.status(), 201);
    let escalated = app
        .post(
            &format!("{path}/escalate"),
            &admin,
            json!({"reason": "Customer is losing revenue", "escalatedBy": "agent-7"}),
        )
        .await;
    assert_eq!(escalated.status(), 200);
    assert_eq!(
        escalated.json::<Value>().await.unwrap()["escalationLevel"],
        1
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn is_internal_makes_a_note_the_customer_never_sees(pool: PgPool) {
    let app = spawn_app(pool).await;
    let agent = app.token(ActorRole::Agent, "agent-7");
    let customer = app.token(ActorRole::Customer, "customer-123");
    let path = ticket_path(&app).await;
    let comments = format!("{path}/comments");

    let note = app
        .post(
            &comments,
            &agent,
            json!({"body": "Pool exhausted at 15:32", "isInternal": true}),
        )
        .await;
    assert_eq!(note.status(), 201);
    let reply = app
        .post(
            &comments,
            &agent,
            json!({"body": "We are on it", "isInternal": false}),
        )
        .await;
    assert_eq!(reply.status(), 201);

    let staff_view: Value = app.get_json(&path, &agent).await;
    let seen: Vec<_> = staff_view["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["body"].as_str().unwrap(),
                c["visibility"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("Pool exhausted at 15:32", "INTERNAL"),
            ("We are on it", "PUBLIC")
        ]
    );
    let customer_view: Value = app.get_json(&path, &customer).await;
    let bodies: Vec<_> = customer_view["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["We are on it"]);

    let before = app.event_count().await;
    let disagreeing = problem(
        app.post(
            &comments,
            &agent,
            json!({"body": "which?", "isInternal": true, "visibility": "PUBLIC"}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused_fields(&disagreeing), ["visibility", "isInternal"]);
    problem(
        app.post(
            &comments,
            &customer,
            json!({"body": "psst", "isInternal": true}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(app.event_count().await, before, "nothing was recorded");
}

#[sqlx::test(migrations = "../migrations")]
async fn arrays_are_bounded(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let path = ticket_path(&app).await;
    let before = app.event_count().await;

    let ids: Vec<_> = (0..51).map(|_| uuid::Uuid::new_v4()).collect();
    let tags: Vec<_> = (0..51).map(|i| format!("tag-{i}")).collect();
    for (field, value) in [
        ("relatedTickets", json!(ids)),
        ("relatedIncidents", json!(ids)),
        ("tags", json!(tags)),
        ("affectedSystems", json!(tags)),
    ] {
        let refused = problem(
            app.put(&path, &admin, json!({ field: value })).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(
            refused["errors"],
            json!([{"field": field, "message": "must have at most 50 items"}])
        );
    }
    let mut create = ticket_body("Too many tags", "customer-123");
    create["tags"] = json!(tags);
    let refused = problem(app.post(TICKETS, &admin, create).await, 422, "validation").await;
    assert_eq!(refused_fields(&refused), ["tags"]);
    assert_eq!(app.event_count().await, before, "nothing was recorded");
}
