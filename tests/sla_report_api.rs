//! The SLA report end to end: tickets opened and worked over HTTP under the default policies, their
//! deadlines passed on a manual clock and recorded by the SLA timer's own pass, and the report read
//! back. P1_HIGH, as the default policies have it: a response within 60 minutes and a resolution
//! within 480, around the clock in UTC, warnings at 80%.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{spawn_registry, ticket_body, wait_until_applied, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::Projections;
use supportd::clock::{Clock, ManualClock};
use supportd::sla_timer;
use supportd::startup::{Registry, Worker};

const TICKETS: &str = "/api/v1/support/tickets";
const REPORTS: &str = "/api/v1/support/sla-reports";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The service on a clock the test moves, without the SLA timer's loop: the test runs its passes
/// itself, at the instants it chooses.
async fn spawn_on_clock(pool: PgPool, start: &str) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at(start)));
    let service_clock = clock.clone();
    let without_timer = |projections: &Projections| {
        let mut workers = Worker::all(projections);
        workers.retain(|w| *w != Worker::SlaTimer);
        workers
    };
    let app = spawn_registry(pool, Registry::standard(), without_timer, move |settings| {
        settings.clock = service_clock
    })
    .await;
    (app, clock)
}

fn id_of(ticket: &Value) -> &str {
    ticket["id"].as_str().unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn reply(app: &TestApp, token: &str, ticket: &Value) {
    let path = format!("{TICKETS}/{}/comments", id_of(ticket));
    ok(app
        .post(&path, token, json!({"body": "Looking into it"}))
        .await)
    .await;
}

/// Records what the SLA timer finds due at `now`, once every timer the opened tickets set is in.
async fn run_timer(app: &TestApp, now: DateTime<Utc>) {
    wait_until_applied(&app.pool, "sla_timers", &["ticket"]).await;
    sla_timer::record_due(&app.context, now).await.unwrap();
}

async fn report(app: &TestApp, token: &str, query: &str) -> Value {
    wait_until_applied(&app.pool, "sla_report", &["ticket"]).await;
    ok(app.get(&format!("{REPORTS}?{query}"), token).await).await
}

const DAY: &str = "startDate=2026-11-24&endDate=2026-11-24";

#[sqlx::test(migrations = "../migrations")]
async fn met_and_breached_clocks_make_the_days_report(pool: PgPool) {
    let (app, clock) = spawn_on_clock(pool, "2026-11-24T09:00:00Z").await;
    let admin = app.admin();
    let agent = app.token(ActorRole::Agent, "agent-7");
    let kept = app
        .open_ticket(&admin, ticket_body("Dashboard down", "customer-1"))
        .await;
    let mut billing = ticket_body("Invoices late", "customer-2");
    billing["category"] = json!("BILLING");
    let late = app.open_ticket(&admin, billing).await;
    // Never answered: its breach still runs.
    app.open_ticket(&admin, ticket_body("Export broken", "customer-3"))
        .await;

    clock.set(at("2026-11-24T09:30:00Z"));
    reply(&app, &agent, &kept).await;
    // The response deadline of the other two passed at 10:00; the timer ran five minutes later.
    clock.set(at("2026-11-24T10:05:00Z"));
    run_timer(&app, clock.now()).await;
    clock.set(at("2026-11-24T10:20:00Z"));
    reply(&app, &agent, &late).await;
    clock.set(at("2026-11-24T11:00:00Z"));
    ok(app
        .put(
            &format!("{TICKETS}/{}", id_of(&kept)),
            &admin,
            json!({"status": "RESOLVED", "resolutionNote": "Fixed"}),
        )
        .await)
    .await;

    let day = report(&app, &agent, DAY).await;
    assert_eq!(day["from"], "2026-11-24T00:00:00Z");
    assert_eq!(day["to"], "2026-11-25T00:00:00Z");
    assert_eq!(
        day["overall"],
        json!({"met": 2, "breached": 2, "complianceRate": 0.5})
    );
    assert_eq!(
        day["response"],
        json!({
            "met": 1, "breached": 2, "complianceRate": 1.0 / 3.0, "openBreaches": 1,
            "completed": 2,
            "calendarMinutes": {"average": 55.0, "median": 55.0},
            "businessMinutes": {"average": 55.0, "median": 55.0},
        })
    );
    assert_eq!(day["resolution"]["complianceRate"], 1.0);
    assert_eq!(day["resolution"]["calendarMinutes"]["median"], 120.0);
    assert_eq!(
        day["breaches"],
        json!({"total": 2, "response": 2, "resolution": 0, "open": 1})
    );
    assert_eq!(
        day["topBreaches"],
        json!([{
            "ticketId": late["id"],
            "ticketNumber": late["ticketNumber"],
            "clock": "RESPONSE",
            "priority": "P1_HIGH",
            "category": "BILLING",
            "breachedAt": "2026-11-24T10:00:00Z",
            "endedAt": "2026-11-24T10:20:00Z",
            "breachMinutes": 20.0,
        }]),
        "the breach still running is counted, not listed"
    );
    let priorities: Vec<_> = day["byPriority"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["priority"].clone(),
                p["overall"]["complianceRate"].clone(),
            )
        })
        .collect();
    assert_eq!(
        priorities,
        [
            (json!("P0_CRITICAL"), Value::Null),
            (json!("P1_HIGH"), json!(0.5)),
            (json!("P2_MEDIUM"), Value::Null),
            (json!("P3_LOW"), Value::Null),
        ]
    );
    let category = |name: &str| {
        day["byCategory"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["category"] == name)
            .unwrap()["overall"]
            .clone()
    };
    assert_eq!(
        category("TECHNICAL"),
        json!({"met": 2, "breached": 1, "complianceRate": 2.0 / 3.0})
    );
    assert_eq!(
        category("BILLING"),
        json!({"met": 0, "breached": 1, "complianceRate": 0.0})
    );

    // Filters narrow the same day; another day has nothing to rate.
    let billing = report(&app, &admin, &format!("{DAY}&category=BILLING")).await;
    assert_eq!(billing["overall"]["breached"], 1);
    let critical = report(&app, &admin, &format!("{DAY}&priority=P0_CRITICAL")).await;
    assert_eq!(
        critical["overall"],
        json!({"met": 0, "breached": 0, "complianceRate": null})
    );
    let next_day = report(&app, &admin, "startDate=2026-11-25&endDate=2026-11-25").await;
    assert_eq!(next_day["overall"]["met"], 0);
    let by_instants = report(
        &app,
        &admin,
        "startDate=2026-11-24T09:31:00Z&endDate=2026-11-24T10:01:00Z",
    )
    .await;
    assert_eq!(
        by_instants["overall"],
        json!({"met": 0, "breached": 2, "complianceRate": 0.0}),
        "the two breaches at 10:00, not the response met at 09:30"
    );

    // The customer answers the resolved ticket: it reopens, and its resolution is not met yet.
    clock.set(at("2026-11-24T12:00:00Z"));
    reply(&app, &app.token(ActorRole::Customer, "customer-1"), &kept).await;
    let reopened = report(&app, &agent, DAY).await;
    assert_eq!(
        (
            reopened["resolution"]["met"].as_u64(),
            reopened["response"]["met"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(reopened["overall"]["met"], 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn staff_and_auditors_read_the_report_and_customers_do_not(pool: PgPool) {
    let (app, _clock) = spawn_on_clock(pool, "2026-11-24T09:00:00Z").await;
    for role in [ActorRole::Agent, ActorRole::Admin, ActorRole::Auditor] {
        let token = app.token(role, "reader-1");
        let spec_example = "startDate=2024-01-01&endDate=2024-01-31";
        let january = report(&app, &token, spec_example).await;
        assert_eq!(january["from"], "2024-01-01T00:00:00Z", "{role:?}");
        assert_eq!(january["to"], "2024-02-01T00:00:00Z");
        assert_eq!(january["topBreaches"], json!([]));
    }
    for role in [ActorRole::Customer, ActorRole::Service] {
        let response = app
            .get(&format!("{REPORTS}?{DAY}"), &app.token(role, "c-1"))
            .await;
        assert_eq!(response.status(), 403, "{role:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let anonymous = app
        .send(
            reqwest::Method::GET,
            &format!("{REPORTS}?{DAY}"),
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status(), 401);
}

#[sqlx::test(migrations = "../migrations")]
async fn every_bad_parameter_is_refused_at_once(pool: PgPool) {
    let (app, _clock) = spawn_on_clock(pool, "2026-11-24T09:00:00Z").await;
    let response = app
        .get(
            &format!("{REPORTS}?startDate=2024-13-01&priority=URGENT&prority=P1_HIGH"),
            &app.admin(),
        )
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["prority", "startDate", "endDate", "priority"]);
    let backwards = app
        .get(
            &format!("{REPORTS}?startDate=2024-02-01&endDate=2024-01-01"),
            &app.admin(),
        )
        .await;
    assert_eq!(backwards.status(), 422);
}
