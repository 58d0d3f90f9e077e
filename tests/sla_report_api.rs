//! The SLA report end to end: tickets opened and worked over HTTP under the default policies,
//! their deadlines passed on a manual clock and recorded by the SLA timer's own pass, the report
//! read back, and the what-if run over the same tickets. P1_HIGH, as the default policies have
//! it: a response within 60 minutes and a resolution within 480, around the clock in UTC,
//! warnings at 80%.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{spawn_registry, ticket_body, wait_until_applied, TestApp};
use serde_json::{json, Value};
use sqlx::types::Json;
use sqlx::PgPool;
use support_domain::sla::{CustomerTier, SlaTerms, TargetMinutes};
use support_domain::ticket::TicketPriority;
use support_domain::ActorRole;
use support_projections::Projections;
use supportd::clock::{Clock, ManualClock};
use supportd::sla_timer;
use supportd::sla_what_if::what_if;
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
    wait_until_applied(&app.pool, "sla_timers", "ticket").await;
    sla_timer::record_due(&app.context, now).await.unwrap();
}

async fn report(app: &TestApp, token: &str, query: &str) -> Value {
    wait_until_applied(&app.pool, "sla_report", "ticket").await;
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

/// The what-if reads the period's tickets from the event store and replays them: under the terms
/// they ran under it finds every verdict they recorded; under stricter ones it says which change.
#[sqlx::test(migrations = "../migrations")]
async fn a_what_if_replays_the_periods_tickets_under_other_terms(pool: PgPool) {
    let (app, clock) = spawn_on_clock(pool, "2026-11-24T09:00:00Z").await;
    let admin = app.admin();
    let agent = app.token(ActorRole::Agent, "agent-7");
    let kept = app
        .open_ticket(&admin, ticket_body("Dashboard down", "customer-1"))
        .await;
    let unanswered = app
        .open_ticket(&admin, ticket_body("Export broken", "customer-2"))
        .await;
    let waiting = app
        .open_ticket(&admin, ticket_body("Login loops", "customer-3"))
        .await;
    let mut medium = ticket_body("Typo on the invoice", "customer-4");
    medium["priority"] = json!("P2_MEDIUM");
    app.open_ticket(&admin, medium).await;

    clock.set(at("2026-11-24T09:30:00Z"));
    reply(&app, &agent, &kept).await;
    clock.set(at("2026-11-24T09:40:00Z"));
    let waiting_path = format!("{TICKETS}/{}", id_of(&waiting));
    let waits = json!({"assignedTo": "agent-7", "status": "WAITING_CUSTOMER"});
    ok(app.put(&waiting_path, &admin, waits).await).await;
    clock.set(at("2026-11-24T10:05:00Z"));
    run_timer(&app, clock.now()).await;
    clock.set(at("2026-11-24T10:40:00Z"));
    let resolve = json!({"status": "RESOLVED", "resolutionNote": "Fixed"});
    ok(app
        .put(&format!("{TICKETS}/{}", id_of(&kept)), &admin, resolve)
        .await)
    .await;
    clock.set(at("2026-11-24T12:00:00Z"));
    reply(
        &app,
        &app.token(ActorRole::Customer, "customer-3"),
        &waiting,
    )
    .await;
    let now = at("2026-11-24T12:10:00Z");

    let Json(p1): Json<SlaTerms> = sqlx::query_scalar(
        "SELECT (payload -> 'TicketOpened' -> 'sla' -> 'terms')::jsonb FROM events \
         WHERE aggregate_id = $1 AND event_type = 'TicketOpened'",
    )
    .bind(id_of(&kept))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let day = (at("2026-11-24T00:00:00Z"), at("2026-11-25T00:00:00Z"));
    let same = what_if(&app.context, &p1, TicketPriority::High, None, day, now)
        .await
        .unwrap();
    assert_eq!(
        (same.tickets_considered, same.tickets_without_policy),
        (3, 0)
    );
    assert_eq!(same.actual, same.under_policy, "{same:#?}");
    assert_eq!(same.changed_verdicts, 0);
    let response = same.actual.response;
    assert_eq!(
        (response.met, response.breached, response.without_verdict),
        (1, 1, 1),
        "kept answered, unanswered breached, waiting paused at 40 minutes and counting again"
    );
    assert_eq!(same.actual.resolution.met, 1);

    // Answer within 15 minutes, resolve within an hour.
    let mut strict = p1.clone();
    strict.response_time_target = TargetMinutes::parse(15).unwrap();
    strict.resolution_time_target = TargetMinutes::parse(60).unwrap();
    let stricter = what_if(&app.context, &strict, TicketPriority::High, None, day, now)
        .await
        .unwrap();
    assert_eq!(stricter.actual, same.actual);
    let (response, resolution) = (
        stricter.under_policy.response,
        stricter.under_policy.resolution,
    );
    assert_eq!((response.met, response.breached), (0, 3));
    assert_eq!(
        (
            resolution.met,
            resolution.breached,
            resolution.without_verdict
        ),
        (0, 2, 1),
        "waiting's resolution had 20 minutes left when it resumed at 12:00"
    );
    let mut changed: Vec<_> = stricter
        .changes
        .iter()
        .map(|c| {
            let ticket = [&kept, &unanswered, &waiting]
                .into_iter()
                .find(|t| t["id"] == c.ticket_id.to_string())
                .unwrap();
            (
                ticket["title"].as_str().unwrap(),
                c.clock.as_str(),
                c.actual.as_deref(),
                c.under_policy.as_deref(),
            )
        })
        .collect();
    changed.sort();
    assert_eq!(
        changed,
        [
            (
                "Dashboard down",
                "RESOLUTION",
                Some("MET"),
                Some("BREACHED")
            ),
            ("Dashboard down", "RESPONSE", Some("MET"), Some("BREACHED")),
            ("Export broken", "RESOLUTION", None, Some("BREACHED")),
            ("Login loops", "RESPONSE", None, Some("BREACHED")),
        ]
    );
    assert_eq!(stricter.changed_verdicts, 4);

    // Only the policy's scope and period.
    let enterprise = Some(CustomerTier::Enterprise);
    let tiered = what_if(
        &app.context,
        &p1,
        TicketPriority::High,
        enterprise,
        day,
        now,
    )
    .await
    .unwrap();
    assert_eq!(tiered.tickets_considered, 0);
    let next_day = (at("2026-11-25T00:00:00Z"), at("2026-11-26T00:00:00Z"));
    let later = what_if(&app.context, &p1, TicketPriority::High, None, next_day, now)
        .await
        .unwrap();
    assert_eq!(later.tickets_considered, 0);
    let medium = what_if(&app.context, &p1, TicketPriority::Medium, None, day, now)
        .await
        .unwrap();
    assert_eq!(medium.tickets_considered, 1);
}
