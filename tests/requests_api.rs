//! Requests that say what they mean: unknown fields, `isInternal`, array limits and
//! `Idempotency-Key`, end to end over HTTP against real PostgreSQL and NATS.

mod common;

use common::{fields, spawn_app, spec_create_example, ticket_body, TestApp};
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

/// POSTs `body` as `token` with an `Idempotency-Key`.
async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.http
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Status, `Location`, `Content-Type`, `Idempotent-Replayed` and the body bytes of an answer.
async fn answer(
    response: reqwest::Response,
) -> (u16, Option<String>, String, Option<String>, Vec<u8>) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (location, content_type, replayed) = (
        header("location"),
        header("content-type").unwrap(),
        header("idempotent-replayed"),
    );
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap().to_vec();
    (status, location, content_type, replayed, body)
}

async fn count_events(app: &TestApp, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&app.pool)
        .await
        .unwrap()
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
        assert_eq!(fields(&refused), unknown, "{target}");
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
    assert_eq!(fields(&refused), ["asignedTo"]);
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
    let created = app.open_ticket(&admin, spec_create_example()).await;
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
    assert_eq!(fields(&disagreeing), ["visibility", "isInternal"]);
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
    assert_eq!(fields(&refused), ["tags"]);
    assert_eq!(app.event_count().await, before, "nothing was recorded");
}

#[sqlx::test(migrations = "../migrations")]
async fn nul_characters_are_refused_by_field_not_failed_on(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let path = ticket_path(&app).await;
    let before = app.event_count().await;

    let mut create = ticket_body("Null\u{0}byte", "customer-123");
    create["tags"] = json!(["ok", "b\u{0}d"]);
    let refused = problem(app.post(TICKETS, &admin, create).await, 422, "validation").await;
    assert_eq!(fields(&refused), ["title", "tags[1]"]);
    let comment = json!({"body": "\u{0}"});
    let refused = problem(
        app.post(&format!("{path}/comments"), &admin, comment).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&refused), ["body"]);
    let refused = problem(
        app.get("/api/v1/support/admin/dead-letters?projection=t%00", &admin)
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&refused), ["projection"]);
    assert_eq!(app.event_count().await, before, "nothing was recorded");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_retried_create_gets_the_first_answer_and_opens_one_ticket(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let body = ticket_body("Dashboard down", "customer-123");

    let first = answer(post_with_key(&app, TICKETS, &admin, "open-1", &body).await).await;
    let retry = answer(post_with_key(&app, TICKETS, &admin, "open-1", &body).await).await;
    assert_eq!(first.0, 201);
    assert_eq!(first.3, None, "the first answer is no replay");
    assert_eq!(retry.3.as_deref(), Some("true"));
    assert_eq!(
        (&retry.0, &retry.1, &retry.2, &retry.4),
        (&first.0, &first.1, &first.2, &first.4),
        "the same status, Location, Content-Type and body bytes"
    );
    assert_eq!(count_events(&app, "TicketOpened").await, 1);

    let before = app.event_count().await;
    let other_body = ticket_body("Something else", "customer-123");
    let other_path = format!("{}/comments", first.1.as_deref().unwrap());
    for (path, body) in [
        (TICKETS, &other_body),
        (&other_path, &json!({"body": "hello"})),
    ] {
        let refused = problem(
            post_with_key(&app, path, &admin, "open-1", body).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&refused), ["Idempotency-Key"], "{path}");
    }
    assert_eq!(app.event_count().await, before, "nothing was recorded");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_retried_comment_is_posted_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let comments = format!("{}/comments", ticket_path(&app).await);
    let body = json!({"body": "We are on it"});

    let first = answer(post_with_key(&app, &comments, &admin, "reply-1", &body).await).await;
    let retry = answer(post_with_key(&app, &comments, &admin, "reply-1", &body).await).await;
    assert_eq!((first.0, retry.0), (201, 201));
    assert_eq!(retry.4, first.4);
    assert_eq!(count_events(&app, "TicketCommentAdded").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn each_caller_has_keys_of_their_own(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = ticket_body("Dashboard down", "customer-123");
    for admin in ["admin-1", "admin-2"] {
        let token = app.token(ActorRole::Admin, admin);
        let (status, _, _, replayed, _) =
            answer(post_with_key(&app, TICKETS, &token, "same-key", &body).await).await;
        assert_eq!((status, replayed), (201, None), "{admin}");
    }
    assert_eq!(count_events(&app, "TicketOpened").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_retries_open_one_ticket(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let body = ticket_body("Dashboard down", "customer-123");

    let (one, two) = tokio::join!(
        post_with_key(&app, TICKETS, &admin, "race", &body),
        post_with_key(&app, TICKETS, &admin, "race", &body),
    );
    let answers = [answer(one).await, answer(two).await];
    let opened: Vec<_> = answers.iter().filter(|a| a.0 == 201).collect();
    assert!(!opened.is_empty(), "one of them ran");
    assert!(
        opened.iter().all(|a| a.4 == opened[0].4),
        "a 201 is the one answer"
    );
    for (status, _, content_type, _, body) in &answers {
        if *status == 409 {
            assert_eq!(content_type, "application/problem+json");
            let problem: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(
                problem["detail"],
                "a request with this Idempotency-Key is in progress; retry"
            );
        } else {
            assert_eq!(*status, 201);
        }
    }
    assert_eq!(count_events(&app, "TicketOpened").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn invalid_keys_are_refused_and_tokenless_requests_pass_through(pool: PgPool) {
    let app = spawn_app(pool).await;
    let before = app.event_count().await;
    let admin = app.admin();
    let body = ticket_body("Dashboard down", "customer-123");
    for key in [String::new(), "k".repeat(300)] {
        let refused = problem(
            post_with_key(&app, TICKETS, &admin, &key, &body).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&refused), ["Idempotency-Key"]);
    }
    let tokenless = app
        .http
        .post(format!("{}{TICKETS}", app.address))
        .header("Idempotency-Key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(tokenless, 401, "unauthorized").await;
    assert_eq!(app.event_count().await, before, "nothing was recorded");
}

#[sqlx::test(migrations = "../migrations")]
async fn keys_expire_after_a_day(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let insert = "INSERT INTO idempotency_keys \
                  (subject, idempotency_key, request_hash, created_at, status, body) \
                  VALUES ($1, $2, '\\x00', now() - interval '25 hours', 201, '{}')";
    for subject in ["admin-1", "someone-else"] {
        sqlx::query(insert)
            .bind(subject)
            .bind("old-key")
            .execute(&app.pool)
            .await
            .unwrap();
    }

    let body = ticket_body("Dashboard down", "customer-123");
    let (status, _, _, replayed, _) =
        answer(post_with_key(&app, TICKETS, &admin, "old-key", &body).await).await;
    assert_eq!(
        (status, replayed),
        (201, None),
        "an expired key is taken anew"
    );
    let subjects: Vec<String> =
        sqlx::query_scalar("SELECT subject FROM idempotency_keys ORDER BY subject")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(subjects, ["admin-1"], "the other expired key was deleted");
}
