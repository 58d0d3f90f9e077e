//! Incidents end to end: the spec's examples, the lifecycle over HTTP, MTTA and MTTR with the
//! injected clock, the post-mortem that closing waits for, the list's filters, status updates and
//! the timeline, ticket links from both sides, and bad input refused without a write.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::{
    fields, ok_json, problem, spawn_app, spawn_app_with, spawn_app_without_sla_timer, ticket_body,
    wait_until_applied, TestApp,
};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::incidents::IncidentsProjection;
use support_projections::status_page::StatusPageProjection;
use supportd::clock::{Clock, ManualClock};
use supportd::sla_timer::record_due;

const INCIDENTS: &str = "/api/v1/support/incidents";

fn agent(app: &TestApp) -> String {
    app.token(ActorRole::Agent, "engineer-456")
}

/// The spec's create example, as written.
fn spec_incident() -> Value {
    json!({
        "title": "API Service Outage",
        "description": "Main API service is returning 503 errors",
        "severity": "CRITICAL",
        "category": "OUTAGE",
        "impact": "WIDESPREAD",
        "affectedSystems": ["api-service", "data-service"],
        "affectedServices": ["lead-routing", "agent-matching"],
        "affectedCustomers": 150,
        "incidentCommander": "oncall-engineer-id",
        "assignedTeam": ["team-sre", "team-backend"],
        "reportedBy": "monitoring-system"
    })
}

fn incident(severity: &str, impact: &str) -> Value {
    json!({
        "title": format!("{severity} {impact} incident"),
        "description": "Something is broken",
        "severity": severity,
        "category": "APPLICATION",
        "impact": impact,
        "affectedSystems": ["api-service"],
    })
}

async fn create(app: &TestApp, body: Value) -> Value {
    ok_json(app.post(INCIDENTS, &agent(app), body).await, 201).await
}

fn path(incident: &Value, rest: &str) -> String {
    format!("{INCIDENTS}/{}{rest}", incident["id"].as_str().unwrap())
}

async fn change(app: &TestApp, incident: &Value, body: Value) -> reqwest::Response {
    app.put(&path(incident, ""), &agent(app), body).await
}

#[sqlx::test(migrations = "../migrations")]
async fn the_spec_examples_work_as_written(pool: PgPool) {
    let app = spawn_app(pool).await;
    // Monitoring systems report incidents in the service role.
    let monitoring = app.token(ActorRole::Service, "monitoring-system");
    let created = ok_json(app.post(INCIDENTS, &monitoring, spec_incident()).await, 201).await;
    let number = created["incidentNumber"].as_str().unwrap();
    let today = Utc::now().format("%Y%m%d").to_string();
    assert_eq!(number, format!("INC-{today}-0001"));
    assert_eq!(created["status"], "DETECTED");
    assert_eq!(created["severity"], "CRITICAL");
    assert_eq!(created["category"], "OUTAGE");
    assert_eq!(created["impact"], "WIDESPREAD");
    assert_eq!(
        created["affectedSystems"],
        json!(["api-service", "data-service"])
    );
    assert_eq!(
        created["affectedServices"],
        json!(["lead-routing", "agent-matching"])
    );
    assert_eq!(created["affectedCustomers"], 150);
    assert_eq!(created["incidentCommander"], "oncall-engineer-id");
    assert_eq!(created["assignedTeam"], json!(["team-sre", "team-backend"]));
    assert_eq!(created["reportedBy"], "monitoring-system");
    assert_eq!(created["responseTimeTarget"], 15);
    assert_eq!(created["resolutionTimeTarget"], 240);
    assert_eq!(created["slaBreached"], false);
    assert_eq!(created["postMortemRequired"], true);
    assert_eq!(created["postMortemCompleted"], false);
    assert!(created["acknowledgedAt"].is_null());

    // The update example, by number as well as by id.
    let updated = ok_json(
        app.put(
            &format!("{INCIDENTS}/{number}"),
            &agent(&app),
            json!({
                "status": "INVESTIGATING",
                "rootCause": "Database connection pool exhaustion",
                "updatedBy": "engineer-456"
            }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(updated["status"], "INVESTIGATING");
    assert_eq!(updated["rootCause"], "Database connection pool exhaustion");
    assert!(
        updated["acknowledgedAt"].is_string(),
        "moving to INVESTIGATING acknowledges"
    );
    assert_eq!(updated["acknowledgedBy"], "engineer-456");
    let read = ok_json(app.get(&path(&created, ""), &agent(&app)).await, 200).await;
    assert_eq!(read, updated);

    // Each change its own event, the acknowledgement among them.
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'incident' ORDER BY sequence",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        types,
        [
            "IncidentDetected",
            "IncidentRootCauseRecorded",
            "IncidentAcknowledged",
            "IncidentStatusChanged"
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn who_may_report_run_and_read_incidents(pool: PgPool) {
    let app = spawn_app(pool).await;
    let customer = app.token(ActorRole::Customer, "customer-1");
    let auditor = app.token(ActorRole::Auditor, "auditor-1");
    let service = app.token(ActorRole::Service, "monitoring-system");
    for token in [&customer, &auditor] {
        problem(app.post(INCIDENTS, token, spec_incident()).await, 403).await;
    }
    let created = create(&app, spec_incident()).await;
    problem(app.get(&path(&created, ""), &customer).await, 403).await;
    problem(app.get(INCIDENTS, &customer).await, 403).await;
    ok_json(app.get(&path(&created, ""), &auditor).await, 200).await;
    // Services report incidents but do not run them.
    problem(
        app.post(&path(&created, "/acknowledge"), &service, json!({}))
            .await,
        403,
    )
    .await;
    problem(
        app.put(&path(&created, ""), &service, json!({"status": "RESOLVED"}))
            .await,
        403,
    )
    .await;
    let unknown = format!("{INCIDENTS}/{}", uuid::Uuid::new_v4());
    problem(app.get(&unknown, &agent(&app)).await, 404).await;
    problem(
        app.get(&format!("{INCIDENTS}/INC-20261129-9999"), &agent(&app))
            .await,
        404,
    )
    .await;
    problem(
        app.get(&format!("{INCIDENTS}/inc-123"), &agent(&app)).await,
        404,
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_lifecycle_refuses_illegal_steps_and_closing_waits_for_the_post_mortem(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = create(&app, spec_incident()).await;
    let identified = ok_json(
        change(&app, &created, json!({"status": "IDENTIFIED"})).await,
        200,
    )
    .await;
    assert_eq!(identified["status"], "IDENTIFIED");

    let illegal = problem(
        change(
            &app,
            &created,
            json!({"status": "INVESTIGATING", "mitigation": "x"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(
        illegal["allowedStatuses"],
        json!(["MONITORING", "RESOLVED", "CLOSED"])
    );
    let after = ok_json(app.get(&path(&created, ""), &agent(&app)).await, 200).await;
    assert!(
        after["mitigation"].is_null(),
        "a refused request writes nothing"
    );

    ok_json(
        change(&app, &created, json!({"status": "RESOLVED"})).await,
        200,
    )
    .await;
    let refused = problem(
        change(&app, &created, json!({"status": "CLOSED"})).await,
        409,
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("post-mortem"),
        "{refused}"
    );

    let post_mortem = path(&created, "/post-mortem");
    let incomplete = problem(
        app.put(
            &post_mortem,
            &agent(&app),
            json!({"summary": "The API was down for 40 minutes", "completed": true}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        fields(&incomplete),
        [
            "rootCause",
            "impact",
            "whatWentWell",
            "whatWentWrong",
            "lessonsLearned"
        ]
    );
    let item = ok_json(
        app.post(
            &format!("{post_mortem}/action-items"),
            &agent(&app),
            json!({"title": "Alert on pool saturation", "owner": "engineer-456", "dueDate": "2026-12-15"}),
        )
        .await,
        201,
    )
    .await;
    let item_id = item["actionItems"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(item["actionItems"][0]["status"], "OPEN");
    let done = ok_json(
        app.put(
            &format!("{post_mortem}/action-items/{item_id}"),
            &agent(&app),
            json!({"status": "DONE"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["actionItems"][0]["status"], "DONE");
    assert_eq!(done["actionItems"][0]["dueDate"], "2026-12-15");
    problem(
        app.put(
            &format!("{post_mortem}/action-items/{}", uuid::Uuid::new_v4()),
            &agent(&app),
            json!({"status": "DONE"}),
        )
        .await,
        404,
    )
    .await;

    let completed = ok_json(
        app.put(
            &post_mortem,
            &agent(&app),
            json!({
                "summary": "The API was down for 40 minutes",
                "rootCause": "Connection pool exhaustion",
                "impact": "150 customers could not route leads",
                "whatWentWell": "Paged within a minute",
                "whatWentWrong": "No alert on pool saturation",
                "lessonsLearned": "Alert on saturation, not on errors",
                "completed": true
            }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(completed["completed"], true);
    assert_eq!(completed["summary"], "The API was down for 40 minutes");
    let timeline: Vec<&str> = completed["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(timeline.first(), Some(&"IncidentDetected"));
    assert_eq!(timeline.last(), Some(&"PostMortemCompleted"));

    let closed = ok_json(
        change(&app, &created, json!({"status": "CLOSED"})).await,
        200,
    )
    .await;
    assert_eq!(closed["status"], "CLOSED");
    assert_eq!(closed["postMortemCompleted"], true);
    assert!(closed["closedAt"].is_string());
    let final_step = problem(
        change(&app, &created, json!({"status": "INVESTIGATING"})).await,
        409,
    )
    .await;
    assert_eq!(final_step["allowedStatuses"], json!([]));

    // MEDIUM and LOW close freely.
    for severity in ["MEDIUM", "LOW"] {
        let minor = create(&app, incident(severity, "MINOR")).await;
        ok_json(
            change(&app, &minor, json!({"status": "RESOLVED"})).await,
            200,
        )
        .await;
        ok_json(change(&app, &minor, json!({"status": "CLOSED"})).await, 200).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn mtta_and_mttr_count_from_detection_on_the_injected_clock(pool: PgPool) {
    let t0: DateTime<Utc> = "2026-11-29T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let injected = clock.clone();
    let app = spawn_app_with(pool, move |settings| settings.clock = injected).await;
    let created = create(&app, incident("HIGH", "MAJOR")).await;
    assert_eq!(created["incidentNumber"], "INC-20261129-0001");
    assert_eq!(created["detectedAt"], "2026-11-29T10:00:00Z");
    assert_eq!(created["responseDueAt"], "2026-11-29T11:00:00Z");
    assert_eq!(created["resolutionDueAt"], "2026-11-29T18:00:00Z");

    clock.advance(TimeDelta::minutes(7));
    let so_far = ok_json(app.get(&path(&created, ""), &agent(&app)).await, 200).await;
    assert_eq!(
        (so_far["mtta"].as_f64(), so_far["mttr"].as_f64()),
        (Some(7.0), Some(7.0))
    );
    let acknowledged = ok_json(
        app.post(&path(&created, "/acknowledge"), &agent(&app), json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(acknowledged["acknowledgedAt"], "2026-11-29T10:07:00Z");
    // Acknowledging again changes nothing.
    clock.advance(TimeDelta::minutes(1));
    let again = ok_json(
        app.post(&path(&created, "/acknowledge"), &agent(&app), json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(again["acknowledgedAt"], "2026-11-29T10:07:00Z");

    clock.advance(TimeDelta::seconds(52 * 60 + 30));
    let resolved = ok_json(
        change(&app, &created, json!({"status": "RESOLVED"})).await,
        200,
    )
    .await;
    assert_eq!(resolved["resolvedAt"], "2026-11-29T11:00:30Z");
    assert_eq!(resolved["mtta"].as_f64(), Some(7.0));
    assert_eq!(resolved["mttr"].as_f64(), Some(60.5));

    // Later reads keep the figures: they stopped with the acknowledgement and the resolution.
    clock.advance(TimeDelta::hours(5));
    let later = ok_json(app.get(&path(&created, ""), &agent(&app)).await, 200).await;
    assert_eq!(
        (later["mtta"].as_f64(), later["mttr"].as_f64()),
        (Some(7.0), Some(60.5))
    );

    // A reopened incident is unresolved again: its MTTR runs on.
    let reopened = ok_json(
        change(&app, &created, json!({"status": "INVESTIGATING"})).await,
        200,
    )
    .await;
    assert!(reopened["resolvedAt"].is_null());
    assert_eq!(reopened["mttr"].as_f64(), Some(360.5));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_list_filters_and_pages_newest_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    let critical = create(&app, spec_incident()).await;
    let minor = create(&app, incident("LOW", "MINOR")).await;
    let major = create(&app, incident("HIGH", "MAJOR")).await;
    ok_json(
        change(&app, &minor, json!({"status": "RESOLVED"})).await,
        200,
    )
    .await;

    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let id = |incident: &Value| incident["id"].as_str().unwrap().to_owned();
    let list = |query: &str| {
        let path = format!("{INCIDENTS}{query}");
        let token = agent(&app);
        let app = &app;
        async move { ok_json(app.get(&path, &token).await, 200).await }
    };
    let all = list("").await;
    assert_eq!(ids(&all), [id(&major), id(&minor), id(&critical)]);
    assert_eq!(all["total"], 3);
    assert_eq!(ids(&list("?severity=CRITICAL").await), [id(&critical)]);
    assert_eq!(ids(&list("?impact=MAJOR").await), [id(&major)]);
    assert_eq!(ids(&list("?category=OUTAGE").await), [id(&critical)]);
    assert_eq!(ids(&list("?status=RESOLVED").await), [id(&minor)]);
    assert_eq!(
        ids(&list("?active=true").await),
        [id(&major), id(&critical)]
    );
    assert_eq!(ids(&list("?active=false").await), [id(&minor)]);
    assert_eq!(
        ids(&list("?commander=oncall-engineer-id").await),
        [id(&critical)]
    );
    assert_eq!(
        ids(&list("?detectedFrom=2000-01-01&detectedTo=2000-01-02").await),
        Vec::<String>::new()
    );

    let first = list("?limit=2").await;
    assert_eq!(ids(&first), [id(&major), id(&minor)]);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = list(&format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), [id(&critical)]);
    assert!(second["nextCursor"].is_null());

    let bad = problem(
        app.get(
            &format!("{INCIDENTS}?severity=SEV1&active=maybe&sort=asc"),
            &agent(&app),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&bad), ["sort", "severity", "active"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn updates_and_ticket_links_show_on_the_incident_and_its_timeline(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = create(&app, spec_incident()).await;
    let public = ok_json(
        app.post(
            &path(&created, "/updates"),
            &agent(&app),
            json!({"message": "We are investigating elevated 503s", "visibility": "PUBLIC"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(public["updates"][0]["visibility"], "PUBLIC");
    assert_eq!(public["updates"][0]["status"], "DETECTED");
    assert_eq!(public["updates"][0]["postedBy"], "engineer-456");
    let internal = ok_json(
        app.post(
            &path(&created, "/updates"),
            &agent(&app),
            json!({"message": "Pool at 100%, restarting api-7"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(internal["updates"][1]["visibility"], "INTERNAL");

    let customer = app.token(ActorRole::Customer, "customer-123");
    let ticket = app
        .open_ticket(&customer, ticket_body("Leads do not route", "customer-123"))
        .await;
    let ticket_id = ticket["id"].as_str().unwrap();
    let linked = ok_json(
        app.post(
            &path(&created, "/tickets"),
            &agent(&app),
            json!({"ticketId": ticket["ticketNumber"]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(linked["linkedTickets"], json!([ticket_id]));
    let seen = ok_json(
        app.get(
            &format!("/api/v1/support/tickets/{ticket_id}"),
            &app.admin(),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(seen["relatedIncidents"], json!([created["id"]]));

    let timeline = ok_json(
        app.get(&path(&created, "/timeline"), &agent(&app)).await,
        200,
    )
    .await;
    let entries: Vec<(&str, &str)> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["eventType"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("IncidentDetected", "engineer-456"),
            ("IncidentUpdatePosted", "engineer-456"),
            ("IncidentUpdatePosted", "engineer-456"),
            ("TicketIncidentLinked", "engineer-456"),
        ]
    );
    assert_eq!(
        timeline[1]["details"]["message"],
        "We are investigating elevated 503s"
    );
    assert_eq!(timeline[3]["aggregateId"], ticket_id);

    let unlink = format!("{}/{ticket_id}", path(&created, "/tickets"));
    let unlinked = ok_json(
        app.send(Method::DELETE, &unlink, Some(&agent(&app)), None)
            .await,
        200,
    )
    .await;
    assert_eq!(unlinked["linkedTickets"], json!([]));
    problem(
        app.send(Method::DELETE, &unlink, Some(&agent(&app)), None)
            .await,
        404,
    )
    .await;
    problem(
        app.post(
            &format!("{INCIDENTS}/{}/tickets", uuid::Uuid::new_v4()),
            &agent(&app),
            json!({"ticketId": ticket_id}),
        )
        .await,
        404,
    )
    .await;
    problem(
        app.post(
            &path(&created, "/tickets"),
            &agent(&app),
            json!({"ticketId": uuid::Uuid::new_v4()}),
        )
        .await,
        404,
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_input_is_refused_with_every_field_named_and_writes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let before = app.event_count().await;
    let missing = problem(app.post(INCIDENTS, &agent(&app), json!({})).await, 422).await;
    assert_eq!(
        fields(&missing),
        ["title", "description", "severity", "category", "impact"]
    );
    let mut unknown = spec_incident();
    unknown["priority"] = json!("P0_CRITICAL");
    let unknown = problem(app.post(INCIDENTS, &agent(&app), unknown).await, 422).await;
    assert_eq!(fields(&unknown), ["priority"]);
    let mut oversized = spec_incident();
    oversized["title"] = json!("x".repeat(201));
    oversized["category"] = json!("METEOR");
    let oversized = problem(app.post(INCIDENTS, &agent(&app), oversized).await, 422).await;
    assert_eq!(fields(&oversized), ["title", "category"]);
    let malformed = app
        .http
        .post(format!("{}{INCIDENTS}", app.address))
        .bearer_auth(agent(&app))
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    problem(malformed, 400).await;
    problem(
        app.post(INCIDENTS, "forged.token.here", spec_incident())
            .await,
        401,
    )
    .await;

    let created = create(&app, spec_incident()).await;
    let after_create = app.event_count().await;
    assert_eq!(after_create, before + 1);
    let bad_update = problem(
        change(
            &app,
            &created,
            json!({"status": "FIXED", "impact": "TOTAL", "assignedTeam": [""]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&bad_update), ["status", "impact", "assignedTeam[0]"]);
    let bad_update = problem(
        app.post(
            &path(&created, "/updates"),
            &agent(&app),
            json!({"visibility": "SECRET"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&bad_update), ["message", "visibility"]);
    assert_eq!(app.event_count().await, after_create);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_missed_acknowledgement_is_recorded_at_its_deadline_by_the_timer(pool: PgPool) {
    let t0: DateTime<Utc> = "2026-11-29T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let injected = clock.clone();
    let app = spawn_app_without_sla_timer(pool, move |settings| settings.clock = injected).await;
    let critical = create(&app, spec_incident()).await;
    let acknowledged_in_time = create(&app, incident("CRITICAL", "MAJOR")).await;

    // A minute before the deadline, nothing is due.
    clock.set(t0 + TimeDelta::minutes(14));
    ok_json(
        app.post(
            &path(&acknowledged_in_time, "/acknowledge"),
            &agent(&app),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(record_due(&app.context, clock.now()).await.unwrap(), 0);

    // The timer woke late: the breach is recorded at the deadline, not when it woke.
    clock.set(t0 + TimeDelta::minutes(16));
    assert_eq!(record_due(&app.context, clock.now()).await.unwrap(), 1);
    wait_until_applied(&app.pool, "incidents", "incident").await;
    let breached = ok_json(app.get(&path(&critical, ""), &agent(&app)).await, 200).await;
    assert_eq!(breached["slaBreached"], true);
    let on_time = ok_json(
        app.get(&path(&acknowledged_in_time, ""), &agent(&app))
            .await,
        200,
    )
    .await;
    assert_eq!(on_time["slaBreached"], false);
    let missed: Vec<(String, Value)> = sqlx::query_as(
        "SELECT aggregate_id, (payload -> 'IncidentTargetMissed')::jsonb FROM events \
         WHERE event_type = 'IncidentTargetMissed'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        missed,
        [(
            critical["id"].as_str().unwrap().to_owned(),
            json!({"target": "RESPONSE", "dueAt": "2026-11-29T10:15:00Z"})
        )]
    );
    let recorded_by: String = sqlx::query_scalar(
        "SELECT metadata ->> 'actorSub' FROM events WHERE event_type = 'IncidentTargetMissed'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(recorded_by, "sla-timer");

    // The next deadline is the resolution's, four hours from detection; once resolved in time,
    // nothing more is due.
    clock.set(t0 + TimeDelta::minutes(239));
    assert_eq!(record_due(&app.context, clock.now()).await.unwrap(), 0);
    ok_json(
        change(&app, &critical, json!({"status": "RESOLVED"})).await,
        200,
    )
    .await;
    clock.set(t0 + TimeDelta::hours(5));
    // The incident acknowledged in time still misses its resolution.
    assert_eq!(record_due(&app.context, clock.now()).await.unwrap(), 1);
    wait_until_applied(&app.pool, "incidents", "incident").await;
    let late = ok_json(
        app.get(&path(&acknowledged_in_time, ""), &agent(&app))
            .await,
        200,
    )
    .await;
    assert_eq!(late["slaBreached"], true);
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'IncidentTargetMissed'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(count, 2, "one for each incident");
    assert_eq!(record_due(&app.context, clock.now()).await.unwrap(), 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_linked_tickets_clocks_pause_while_the_incident_is_active_and_resume_after(pool: PgPool) {
    // Monday 09:00 UTC: the default P1 policy answers within an hour, around the clock.
    let t0: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let injected = clock.clone();
    let app = spawn_app_without_sla_timer(pool, move |settings| settings.clock = injected).await;
    let ticket = app
        .open_ticket(
            &app.admin(),
            ticket_body("Leads do not route", "customer-123"),
        )
        .await;
    let ticket_path = format!("/api/v1/support/tickets/{}", ticket["id"].as_str().unwrap());
    assert_eq!(
        ticket["slaClocks"]["response"]["deadline"],
        "2026-11-23T10:00:00Z"
    );
    let created = create(&app, spec_incident()).await;

    // Linked ten minutes in: the timer holds the ticket for the incident.
    clock.set(t0 + TimeDelta::minutes(10));
    ok_json(
        app.post(
            &path(&created, "/tickets"),
            &agent(&app),
            json!({"ticketId": ticket["id"]}),
        )
        .await,
        200,
    )
    .await;
    wait_until_applied(&app.pool, "incident_holds", "ticket").await;
    assert_eq!(record_due(&app.context, clock.now()).await.unwrap(), 1);
    wait_until_applied(&app.pool, "tickets", "ticket").await;
    let held = ok_json(app.get(&ticket_path, &app.admin()).await, 200).await;
    assert_eq!(held["slaClocks"]["response"]["state"], "PAUSED");
    assert!(held["slaClocks"]["response"]["deadline"].is_null());
    let explained = ok_json(
        app.get(&format!("{ticket_path}/sla"), &app.admin()).await,
        200,
    )
    .await;
    let paused = explained["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["eventType"] == "SlaClocksPaused")
        .expect("a pause step");
    assert_eq!(paused["pauseReason"], "INCIDENT");
    assert!(
        paused["explanation"].as_str().unwrap().contains("incident"),
        "{paused}"
    );

    // Past the original deadline, nothing breaches while the incident holds the ticket (the
    // incident itself misses its acknowledgement).
    clock.set(t0 + TimeDelta::minutes(70));
    record_due(&app.context, clock.now()).await.unwrap();
    let breaches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'SlaBreached'",
    )
    .bind(ticket["id"].as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(breaches, 0);

    // The incident resolves at 09:40 + 30: the response deadline moves by the hour held.
    ok_json(
        change(&app, &created, json!({"status": "RESOLVED"})).await,
        200,
    )
    .await;
    wait_until_applied(&app.pool, "incident_holds", "incident").await;
    record_due(&app.context, clock.now()).await.unwrap();
    wait_until_applied(&app.pool, "tickets", "ticket").await;
    let released = ok_json(app.get(&ticket_path, &app.admin()).await, 200).await;
    assert_eq!(released["slaClocks"]["response"]["state"], "RUNNING");
    assert_eq!(
        released["slaClocks"]["response"]["deadline"],
        "2026-11-23T11:00:00Z"
    );
    let explained = ok_json(
        app.get(&format!("{ticket_path}/sla"), &app.admin()).await,
        200,
    )
    .await;
    let resumed = explained["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["eventType"] == "SlaClocksResumed")
        .expect("a resume step");
    assert_eq!(resumed["pauseReason"], "INCIDENT");
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_id = $1 \
         AND event_type IN ('TicketHeldByIncident', 'TicketReleasedByIncident') ORDER BY sequence",
    )
    .bind(ticket["id"].as_str().unwrap())
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(types, ["TicketHeldByIncident", "TicketReleasedByIncident"]);
}

/// Every row of `table`, in a stable order.
async fn rows(pool: &PgPool, table: &str) -> Vec<Value> {
    sqlx::query_scalar(&format!(
        "SELECT to_jsonb(t) FROM {table} t ORDER BY to_jsonb(t)::text"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn numbers_are_unique_under_concurrency_and_a_replay_rebuilds_the_same_rows(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = futures::future::join_all((0..12).map(|n| {
        let severity = ["CRITICAL", "HIGH", "MEDIUM", "LOW"][n % 4];
        let app = &app;
        async move { create(app, incident(severity, "MAJOR")).await }
    }))
    .await;
    let mut numbers: Vec<&str> = created
        .iter()
        .map(|i| i["incidentNumber"].as_str().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 12, "{numbers:?}");
    // A life for a few of them: updates, a post-mortem item, a resolution.
    for incident in &created[..3] {
        let updates = path(incident, "/updates");
        let body = json!({"message": "Investigating", "visibility": "PUBLIC"});
        ok_json(app.post(&updates, &agent(&app), body).await, 201).await;
        let items = path(incident, "/post-mortem/action-items");
        let body = json!({"title": "Add an alert", "dueDate": "2026-12-31"});
        ok_json(app.post(&items, &agent(&app), body).await, 201).await;
        ok_json(
            change(&app, incident, json!({"status": "RESOLVED"})).await,
            200,
        )
        .await;
    }
    wait_until_applied(&app.pool, "incidents", "incident").await;
    wait_until_applied(&app.pool, "status_page", "incident").await;
    let tables = [
        "incidents",
        "incident_updates",
        "incident_action_items",
        "incident_timers",
        "status_components",
        "status_component_history",
        "status_incidents",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(rows(&app.pool, table).await);
    }
    let keys = common::data_keys();
    support_projections::replay(&app.pool, &keys, &IncidentsProjection)
        .await
        .unwrap();
    support_projections::replay(&app.pool, &keys, &StatusPageProjection)
        .await
        .unwrap();
    for (table, before) in tables.iter().zip(before) {
        assert_eq!(rows(&app.pool, table).await, before, "{table}");
    }
}
