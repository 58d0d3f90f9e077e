//! The ticket endpoints end to end, over HTTP, against real PostgreSQL and NATS.

mod common;

use common::{problem, spawn_app, spawn_app_with, spec_create_example, ticket_body};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;

const TICKETS: &str = "/api/v1/support/tickets";

#[sqlx::test(migrations = "../migrations")]
async fn the_spec_create_example_opens_a_ticket_that_a_get_sees_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.post(TICKETS, &app.admin(), spec_create_example()).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("{TICKETS}/{}", created["id"].as_str().unwrap())
    );
    let number = created["ticketNumber"].as_str().unwrap();
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    assert_eq!(number, format!("TKT-{today}-0001"));
    assert_eq!(created["status"], "OPEN");
    assert_eq!(created["priority"], "P1_HIGH");
    assert_eq!(created["customerName"], "John Doe");
    assert_eq!(created["affectedSystems"], json!(["lead-dashboard", "api"]));
    assert_eq!(created["slaBreached"], false);
    assert_eq!(created["escalationLevel"], 0);

    // No sleep: the response waited for the read model, so a GET sees the ticket, by id or number.
    for key in [created["id"].as_str().unwrap(), number] {
        let fetched: Value = app
            .get(&format!("{TICKETS}/{key}"), &app.admin())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(fetched, created);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_spec_list_example_filters_and_pages(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    for i in 0..3 {
        app.open_ticket(&admin, ticket_body(&format!("High {i}"), "customer-123"))
            .await;
    }
    let mut low = ticket_body("Low one", "customer-9");
    low["priority"] = json!("P3_LOW");
    app.open_ticket(&admin, low).await;
    let assigned = app
        .open_ticket(&admin, ticket_body("High but assigned", "customer-123"))
        .await;
    let id = assigned["id"].as_str().unwrap();
    let response = app
        .put(
            &format!("{TICKETS}/{id}"),
            &admin,
            json!({"assignedTo": "agent-7"}),
        )
        .await;
    assert_eq!(response.status(), 200);

    let page: Value = app
        .get_json(
            &format!("{TICKETS}?priority=P1_HIGH&status=OPEN&page=1&limit=20"),
            &admin,
        )
        .await;
    assert_eq!(page["total"], 3);
    assert_eq!(
        (page["page"].as_u64(), page["limit"].as_u64()),
        (Some(1), Some(20))
    );
    let titles: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["High 2", "High 1", "High 0"], "newest first");

    let second: Value = app
        .get_json(
            &format!("{TICKETS}?priority=P1_HIGH&limit=2&page=2"),
            &admin,
        )
        .await;
    assert_eq!(second["total"], 4);
    assert_eq!(second["items"].as_array().unwrap().len(), 2);

    let number = assigned["ticketNumber"].as_str().unwrap();
    let today = chrono::Utc::now().date_naive();
    for (query, total) in [
        ("assignedTo=agent-7".to_owned(), 1),
        ("customerId=customer-9&channel=WEB_FORM".to_owned(), 1),
        ("q=but%20ASSIGNED".to_owned(), 1),
        (format!("q={number}"), 1),
        (
            format!("createdFrom={today}&createdTo={today}&slaBreached=false"),
            5,
        ),
        ("createdTo=2024-01-31".to_owned(), 0),
    ] {
        let page: Value = app.get_json(&format!("{TICKETS}?{query}"), &admin).await;
        assert_eq!(page["total"], total, "{query}");
    }
    let by_number: Value = app.get_json(&format!("{TICKETS}?q={number}"), &admin).await;
    assert_eq!(by_number["items"][0]["id"], assigned["id"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_ticket_is_worked_from_open_to_closed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let agent = app.token(ActorRole::Agent, "agent-7");
    let customer = app.token(ActorRole::Customer, "customer-123");
    let ticket = app
        .open_ticket(&customer, ticket_body("Dashboard down", "customer-123"))
        .await;
    let path = format!("{TICKETS}/{}", ticket["id"].as_str().unwrap());

    let assigned: Value = app
        .put(
            &path,
            &agent,
            json!({"assignedTo": "agent-7", "updatedBy": "agent-7"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (assigned["status"].as_str(), assigned["assignedTo"].as_str()),
        (Some("ASSIGNED"), Some("agent-7"))
    );

    let working: Value = app
        .put(
            &path,
            &agent,
            json!({"status": "IN_PROGRESS", "priority": "P0_CRITICAL", "tags": ["dashboard"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(working["status"], "IN_PROGRESS");
    assert_eq!(working["priority"], "P0_CRITICAL");
    assert_eq!(working["tags"], json!(["dashboard"]));

    let note = app
        .post(
            &format!("{path}/comments"),
            &agent,
            json!({"body": "Looks like the pool", "visibility": "INTERNAL"}),
        )
        .await;
    assert_eq!(note.status(), 201);
    assert!(
        note.json::<Value>().await.unwrap()["responseAt"].is_null(),
        "an internal note is no response"
    );
    let reply: Value = app
        .post(
            &format!("{path}/comments"),
            &agent,
            json!({"body": "We are on it"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        reply["responseAt"].is_string(),
        "the first public reply sets responseAt"
    );
    assert_eq!(reply["comments"].as_array().unwrap().len(), 2);

    let escalated: Value = app
        .post(
            &format!("{path}/escalate"),
            &agent,
            json!({"reason": "Revenue impact"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(escalated["escalationLevel"], 1);

    let resolved: Value = app
        .put(
            &path,
            &agent,
            json!({"status": "RESOLVED", "resolutionNote": "Raised the pool size"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resolved["status"], "RESOLVED");
    assert_eq!(resolved["resolutionNote"], "Raised the pool size");
    assert!(resolved["resolvedAt"].is_string());

    // The customer sees their ticket without the internal note, and their reply reopens it.
    let seen: Value = app.get_json(&path, &customer).await;
    let bodies: Vec<_> = seen["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["We are on it"]);
    let reopened: Value = app
        .post(
            &format!("{path}/comments"),
            &customer,
            json!({"body": "Still broken"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reopened["status"], "ASSIGNED");
    assert!(reopened["resolvedAt"].is_null());

    let resolved = app.put(&path, &agent, json!({"status": "RESOLVED"})).await;
    assert_eq!(resolved.status(), 200);
    let closed: Value = app
        .put(&path, &agent, json!({"status": "CLOSED"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closed["status"], "CLOSED");
    let refused = problem(
        app.put(&path, &agent, json!({"title": "Too late"})).await,
        409,
    )
    .await;
    assert_eq!(refused["allowedStatuses"], json!([]));

    // The audit trail is the event stream: who did what, oldest first.
    let history: Vec<Value> = app.get_json(&format!("{path}/history"), &agent).await;
    let types: Vec<_> = history
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            // Under the priority's default policy: its terms and clocks come with the opening.
            "TicketOpened",
            "TicketAssigned",
            "TicketStatusChanged",
            "TicketReprioritized",
            "TicketTagsChanged",
            "TicketStatusChanged",
            // The new priority's default policy, with the time counted kept.
            "SlaPolicyApplied",
            "TicketCommentAdded",
            "TicketCommentAdded",
            "TicketFirstResponseRecorded",
            "SlaClockCompleted",
            "TicketEscalated",
            "TicketStatusChanged",
            "SlaClockCompleted",
            "TicketCommentAdded",
            "TicketStatusChanged",
            "SlaClockRestarted",
            "TicketStatusChanged",
            "SlaClockCompleted",
            "TicketStatusChanged",
        ]
    );
    assert_eq!(
        history[0]["actor"],
        json!({"sub": "customer-123", "role": "customer"})
    );
    assert_eq!(
        history[1]["actor"],
        json!({"sub": "agent-7", "role": "agent"})
    );
    assert_eq!(
        history[3]["changes"],
        json!({"from": "P1_HIGH", "to": "P0_CRITICAL"})
    );
    assert!(history
        .iter()
        .all(|e| e["requestId"].is_string() && e["source"] == "api"));
    let customer_history: Vec<Value> = app.get_json(&format!("{path}/history"), &customer).await;
    assert_eq!(
        customer_history.len(),
        history.len() - 1,
        "customers do not see the internal note"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_illegal_transition_is_a_409_naming_the_allowed_statuses_and_writes_nothing(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let ticket = app
        .open_ticket(&app.admin(), ticket_body("Login fails", "c-1"))
        .await;
    let path = format!("{TICKETS}/{}", ticket["id"].as_str().unwrap());
    let before = app.event_count().await;
    let refused = problem(
        app.put(
            &path,
            &app.admin(),
            json!({"title": "New title", "status": "CLOSED"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(
        refused["allowedStatuses"],
        json!([
            "ASSIGNED",
            "IN_PROGRESS",
            "WAITING_CUSTOMER",
            "WAITING_INTERNAL",
            "RESOLVED",
            "CANCELLED"
        ])
    );
    assert!(refused["detail"]
        .as_str()
        .unwrap()
        .contains("OPEN to CLOSED"));
    let needs_agent = problem(
        app.put(&path, &app.admin(), json!({"status": "IN_PROGRESS"}))
            .await,
        409,
    )
    .await;
    assert!(needs_agent["detail"].as_str().unwrap().contains("assignee"));
    assert_eq!(app.event_count().await, before);
    let unchanged: Value = app.get(&path, &app.admin()).await.json().await.unwrap();
    assert_eq!(unchanged["title"], "Login fails");
}

#[sqlx::test(migrations = "../migrations")]
async fn related_tickets_and_incidents_are_linked(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let first = app.open_ticket(&admin, ticket_body("First", "c-1")).await;
    let second = app.open_ticket(&admin, ticket_body("Second", "c-1")).await;
    let path = format!("{TICKETS}/{}", first["id"].as_str().unwrap());
    let incident = uuid::Uuid::new_v4();
    let linked: Value = app
        .put(
            &path,
            &admin,
            json!({"relatedTickets": [second["id"]], "relatedIncidents": [incident]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(linked["relatedTickets"], json!([second["id"]]));
    assert_eq!(linked["relatedIncidents"], json!([incident]));
    let unknown = problem(
        app.put(
            &path,
            &admin,
            json!({"relatedTickets": [uuid::Uuid::new_v4()]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "relatedTickets");
    let itself = problem(
        app.put(&path, &admin, json!({"relatedTickets": [first["id"]]}))
            .await,
        422,
    )
    .await;
    assert_eq!(itself["errors"][0]["field"], "relatedTickets");
}

#[sqlx::test(migrations = "../migrations")]
async fn customers_see_only_their_own_tickets_and_agents_their_queue(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.token(ActorRole::Customer, "alice");
    let bob = app.token(ActorRole::Customer, "bob");
    let alices = app
        .open_ticket(&alice, ticket_body("Alice's problem", "alice"))
        .await;
    app.open_ticket(&bob, ticket_body("Bob's problem", "bob"))
        .await;
    let path = format!("{TICKETS}/{}", alices["id"].as_str().unwrap());

    problem(app.get(&path, &bob).await, 404).await;
    problem(app.get(&format!("{path}/history"), &bob).await, 404).await;
    problem(
        app.post(
            &format!("{path}/comments"),
            &bob,
            json!({"body": "mine now"}),
        )
        .await,
        404,
    )
    .await;
    let bobs_list: Value = app
        .get_json(&format!("{TICKETS}?customerId=alice"), &bob)
        .await;
    assert_eq!(
        bobs_list["total"], 0,
        "a filter cannot widen a customer's scope"
    );
    let alices_list: Value = app.get_json(TICKETS, &alice).await;
    assert_eq!(alices_list["total"], 1);

    problem(
        app.post(TICKETS, &bob, ticket_body("For someone else", "alice"))
            .await,
        403,
    )
    .await;
    problem(
        app.put(&path, &alice, json!({"status": "CANCELLED"})).await,
        403,
    )
    .await;
    problem(
        app.post(
            &format!("{path}/escalate"),
            &alice,
            json!({"reason": "now"}),
        )
        .await,
        403,
    )
    .await;
    problem(
        app.post(
            &format!("{path}/comments"),
            &alice,
            json!({"body": "secret", "visibility": "INTERNAL"}),
        )
        .await,
        403,
    )
    .await;

    // Agents see the unassigned queue and their own tickets, not a colleague's.
    let admin = app.admin();
    app.put(&path, &admin, json!({"assignedTo": "agent-2"}))
        .await;
    let agent_1 = app.token(ActorRole::Agent, "agent-1");
    problem(app.get(&path, &agent_1).await, 404).await;
    let queue: Value = app.get_json(TICKETS, &agent_1).await;
    assert_eq!(queue["total"], 1, "only Bob's unassigned ticket");
    let agent_2 = app.token(ActorRole::Agent, "agent-2");
    assert_eq!(app.get(&path, &agent_2).await.status(), 200);
    // Handing it to a colleague answers with the ticket as the command left it, then it is gone.
    let handed = app
        .put(&path, &agent_2, json!({"assignedTo": "agent-3"}))
        .await;
    assert_eq!(handed.status(), 200);
    assert_eq!(
        handed.json::<Value>().await.unwrap()["assignedTo"],
        "agent-3"
    );
    problem(app.get(&path, &agent_2).await, 404).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_input_gets_a_problem_and_writes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let ticket = app
        .open_ticket(&admin, ticket_body("Existing", "c-1"))
        .await;
    let path = format!("{TICKETS}/{}", ticket["id"].as_str().unwrap());
    let before = app.event_count().await;

    let malformed = app
        .http
        .post(format!("{}{TICKETS}", app.address))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    problem(malformed, 400).await;

    let not_json = app
        .http
        .post(format!("{}{TICKETS}", app.address))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    problem(not_json, 415).await;

    let mut unknown_priority = ticket_body("Bad priority", "c-1");
    unknown_priority["priority"] = json!("URGENT");
    let refused = problem(app.post(TICKETS, &admin, unknown_priority).await, 422).await;
    assert_eq!(refused["errors"][0]["field"], "priority");
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("P0_CRITICAL"));

    let mut missing_title = ticket_body("", "c-1");
    missing_title.as_object_mut().unwrap().remove("title");
    let refused = problem(app.post(TICKETS, &admin, missing_title).await, 422).await;
    assert_eq!(
        refused["errors"],
        json!([{"field": "title", "message": "is required"}])
    );

    let wrong_type = problem(app.post(TICKETS, &admin, json!({"title": 5})).await, 422).await;
    assert!(wrong_type["detail"].as_str().unwrap().contains("title"));

    let oversized = ticket_body(&"x".repeat(1_100_000), "c-1");
    problem(app.post(TICKETS, &admin, oversized).await, 413).await;
    let long_title = ticket_body(&"x".repeat(201), "c-1");
    problem(app.post(TICKETS, &admin, long_title).await, 422).await;

    problem(app.put(&path, &admin, json!({"status": "DONE"})).await, 422).await;
    problem(
        app.put(&path, &admin, json!({"resolutionNote": "no status"}))
            .await,
        422,
    )
    .await;
    problem(
        app.post(&format!("{path}/escalate"), &admin, json!({}))
            .await,
        422,
    )
    .await;
    problem(
        app.get(&format!("{TICKETS}?status=SOLVED"), &admin).await,
        422,
    )
    .await;
    problem(app.get(&format!("{TICKETS}?limit=1000"), &admin).await, 422).await;
    problem(app.get(&format!("{TICKETS}?page=abc"), &admin).await, 422).await;

    for bad_id in [
        "not-an-id",
        "TKT-2024-1",
        &uuid::Uuid::new_v4().to_string(),
        "TKT-20240101-0001",
    ] {
        problem(app.get(&format!("{TICKETS}/{bad_id}"), &admin).await, 404).await;
        problem(
            app.put(
                &format!("{TICKETS}/{bad_id}"),
                &admin,
                json!({"title": "x"}),
            )
            .await,
            404,
        )
        .await;
    }
    problem(app.get(&format!("{TICKETS}/%FF"), &admin).await, 400).await;
    problem(app.get("/api/v1/support/nothing-here", &admin).await, 404).await;
    problem(
        app.send(Method::DELETE, &path, Some(&admin), None).await,
        405,
    )
    .await;

    problem(app.send(Method::GET, TICKETS, None, None).await, 401).await;
    problem(
        app.send(
            Method::POST,
            TICKETS,
            None,
            Some(ticket_body("No token", "c-1")),
        )
        .await,
        401,
    )
    .await;
    problem(
        app.send(Method::GET, TICKETS, Some("not.a.jwt"), None)
            .await,
        401,
    )
    .await;
    let forged = supportd::auth::TokenKeys::new("someone-else").issue(
        ActorRole::Admin,
        "mallory",
        None,
        chrono::Duration::hours(1),
    );
    problem(
        app.send(Method::GET, TICKETS, Some(&forged), None).await,
        401,
    )
    .await;
    let expired = app
        .keys
        .issue(ActorRole::Admin, "alice", None, chrono::Duration::hours(-1));
    problem(
        app.send(
            Method::POST,
            TICKETS,
            Some(&expired),
            Some(ticket_body("Expired", "c-1")),
        )
        .await,
        401,
    )
    .await;

    assert_eq!(
        app.event_count().await,
        before,
        "no bad request wrote an event"
    );
    let counters: i64 = sqlx::query_scalar("SELECT count(*) FROM number_counters")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(counters, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn fifty_parallel_commands_on_one_ticket_succeed_or_conflict_and_none_is_lost(pool: PgPool) {
    let app = spawn_app(pool).await;
    let agent = app.token(ActorRole::Agent, "agent-1");
    let ticket = app
        .open_ticket(&agent, ticket_body("Busy ticket", "c-1"))
        .await;
    let path = format!("{TICKETS}/{}/comments", ticket["id"].as_str().unwrap());
    let requests = (0..50).map(|i| {
        let (app, path, agent) = (&app, path.clone(), agent.clone());
        async move {
            app.post(&path, &agent, json!({"body": format!("comment {i}")}))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let succeeded = statuses.iter().filter(|s| **s == 201).count();
    assert!(succeeded >= 1);

    let detail: Value = app
        .get_json(
            &format!("{TICKETS}/{}", ticket["id"].as_str().unwrap()),
            &agent,
        )
        .await;
    assert_eq!(
        detail["comments"].as_array().unwrap().len(),
        succeeded,
        "every success is in the read model"
    );
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'TicketCommentAdded'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        stored as usize, succeeded,
        "and in the event stream, and nothing else is"
    );
    let last_sequence: i64 = sqlx::query_scalar("SELECT max(sequence) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(detail["version"], last_sequence);
}

#[sqlx::test(migrations = "../migrations")]
async fn ticket_numbers_are_unique_under_concurrency(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let creates = (0..50).map(|i| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.open_ticket(&admin, ticket_body(&format!("Parallel {i}"), "c-1"))
                .await
        }
    });
    let tickets = futures::future::join_all(creates).await;
    let mut numbers: Vec<_> = tickets
        .iter()
        .map(|t| t["ticketNumber"].as_str().unwrap().to_owned())
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 50);
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    assert_eq!(numbers.last().unwrap(), &format!("TKT-{today}-0050"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_openapi_document_covers_every_endpoint(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document: Value =
        serde_json::from_str(&app.get_text("/api/v1/openapi.json").await).unwrap();
    let paths = document["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/support/tickets", &["post", "get"][..]),
        ("/api/v1/support/tickets/{key}", &["get", "put"]),
        ("/api/v1/support/tickets/{key}/comments", &["post"]),
        ("/api/v1/support/tickets/{key}/escalate", &["post"]),
        ("/api/v1/support/tickets/{key}/history", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ] {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["TicketView"]["properties"]["priority"]["enum"],
        json!(["P0_CRITICAL", "P1_HIGH", "P2_MEDIUM", "P3_LOW"])
    );
    assert!(schemas["Problem"].is_object());
    assert!(paths["/api/v1/support/tickets/{key}"]["put"]["responses"]["409"].is_object());

    let swagger = app
        .http
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(swagger.status(), 200);
    assert!(swagger.text().await.unwrap().contains("swagger"));
    let ready: Value = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready,
        json!({"status": "ready", "postgres": true, "nats": true, "migrations": true})
    );
    assert_eq!(
        app.http
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn numbers_and_event_times_come_from_the_injected_clock(pool: PgPool) {
    let late = chrono::DateTime::parse_from_rfc3339("2024-02-29T23:59:59Z")
        .unwrap()
        .to_utc();
    let app = spawn_app_with(pool, |settings| {
        settings.clock = std::sync::Arc::new(supportd::clock::FixedClock(late));
    })
    .await;
    let admin = app.admin();
    let first = app
        .open_ticket(&admin, ticket_body("Leap day", "c-1"))
        .await;
    assert_eq!(first["ticketNumber"], "TKT-20240229-0001");
    assert_eq!(first["createdAt"], "2024-02-29T23:59:59Z");
    let path = format!("{TICKETS}/{}/history", first["id"].as_str().unwrap());
    let history: Vec<Value> = app.get_json(&path, &admin).await;
    assert_eq!(history[0]["occurredAt"], "2024-02-29T23:59:59Z");

    // Past 9,999 tickets in a day the counter widens rather than wrapping.
    sqlx::query("UPDATE number_counters SET last_value = 9999")
        .execute(&app.pool)
        .await
        .unwrap();
    let wide = app
        .open_ticket(&admin, ticket_body("Busy day", "c-1"))
        .await;
    assert_eq!(wide["ticketNumber"], "TKT-20240229-10000");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_ticket_keeps_the_articles_its_customer_saw_first_through_a_replay(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin();
    let customer = app.token(ActorRole::Customer, "customer-123");
    let (first, second) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut body = ticket_body("Dashboard down", "customer-123");
    body["suggestedArticlesSeen"] = json!([first, second, first]);
    let created = app.open_ticket(&customer, body).await;
    assert_eq!(
        created["suggestedArticlesSeen"],
        json!([first, second]),
        "duplicates collapse, order kept"
    );
    let path = format!("{TICKETS}/{}", created["id"].as_str().unwrap());
    let fetched: Value = app.get_json(&path, &customer).await;
    assert_eq!(fetched, created);
    let history: Vec<Value> = app.get_json(&format!("{path}/history"), &admin).await;
    assert_eq!(
        history[0]["changes"]["suggestedArticlesSeen"],
        json!([first, second])
    );
    let without = app
        .open_ticket(&admin, ticket_body("No articles", "customer-123"))
        .await;
    assert_eq!(without["suggestedArticlesSeen"], json!([]));

    // Only the opening records them.
    let refused = problem(
        app.put(&path, &admin, json!({"suggestedArticlesSeen": [second]}))
            .await,
        422,
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "suggestedArticlesSeen");

    common::replay_tickets(&pool).await;
    let replayed: Value = app.get_json(&path, &customer).await;
    assert_eq!(replayed, created);
    let as_of = format!("{path}?asOf={}", created["createdAt"].as_str().unwrap());
    let folded: Value = app.get_json(&as_of, &customer).await;
    assert_eq!(folded["suggestedArticlesSeen"], json!([first, second]));
}

#[sqlx::test(migrations = "../migrations")]
async fn articles_seen_are_bounded_and_a_bad_one_is_named_with_the_other_errors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let before = app.event_count().await;

    let mut too_many = ticket_body("Too many articles", "customer-123");
    let ids: Vec<_> = (0..21).map(|_| uuid::Uuid::new_v4()).collect();
    too_many["suggestedArticlesSeen"] = json!(ids);
    let refused = problem(app.post(TICKETS, &admin, too_many).await, 422).await;
    assert_eq!(
        refused["errors"],
        json!([{"field": "suggestedArticlesSeen", "message": "must have at most 20 items"}])
    );

    let mut bad = ticket_body("Not an article", "customer-123");
    bad["priority"] = json!("URGENT");
    bad["suggestedArticlesSeen"] = json!([uuid::Uuid::new_v4(), "kb-42"]);
    let refused = problem(app.post(TICKETS, &admin, bad).await, 422).await;
    assert_eq!(refused["type"], "/problems/validation");
    assert_eq!(
        common::fields(&refused),
        ["priority", "suggestedArticlesSeen[1]"]
    );
    assert_eq!(refused["errors"][1]["message"], "must be a UUID");
    assert_eq!(app.event_count().await, before, "nothing was recorded");
}
