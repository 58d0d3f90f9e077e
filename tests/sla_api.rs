//! The SLA engine end to end: default policies on a fresh database, clocks on tickets, the SLA
//! timer recording warnings and breaches at their true instants (in one pass at a chosen instant,
//! and as the running worker woken by an injected clock), pauses that move deadlines, and the
//! explanation of a ticket's SLA. Time comes from a clock the test moves; nothing sleeps.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::{spawn_app_with, spawn_app_without_sla_timer, wait_until_applied, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::clock::ManualClock;
use supportd::sla_timer::record_due;

const TICKETS: &str = "/api/v1/support/tickets";
const POLICIES: &str = "/api/v1/support/sla-policies";

/// Monday 09:00 UTC.
fn t0() -> DateTime<Utc> {
    "2026-11-23T09:00:00Z".parse().unwrap()
}

fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("an instant, not {value}"))
        .parse()
        .unwrap()
}

/// The app with its clock at `t0`; with the SLA timer running, or without it so that the test
/// runs the timer's passes itself.
async fn app_at_t0(pool: PgPool, timer: bool) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let injected = clock.clone();
    let configure = move |settings: &mut supportd::settings::Settings| settings.clock = injected;
    let app = if timer {
        spawn_app_with(pool, configure).await
    } else {
        spawn_app_without_sla_timer(pool, configure).await
    };
    (app, clock)
}

fn ticket(priority: &str, tier: Option<&str>) -> Value {
    let mut body = json!({
        "title": "Dashboard down",
        "description": "500 on load",
        "priority": priority,
        "category": "TECHNICAL",
        "customerId": "customer-123",
    });
    if let Some(tier) = tier {
        body["customerTier"] = json!(tier);
    }
    body
}

/// A one-minute response policy for ENTERPRISE tickets of priority P2_MEDIUM.
async fn one_minute_policy(app: &TestApp) -> Value {
    let response = app
        .post(
            POLICIES,
            &app.admin(),
            json!({
                "name": "Enterprise P2: answer within a minute",
                "priority": "P2_MEDIUM",
                "customerTier": "ENTERPRISE",
                "responseTimeTarget": 1,
                "resolutionTimeTarget": 60,
                "responseTimeWarningThreshold": 80,
                "resolutionTimeWarningThreshold": 80,
                "applyBusinessHoursOnly": false,
                "timezone": "UTC",
                "autoEscalateOnBreach": false,
                "notifyOnWarning": true,
                "notifyOnBreach": true
            }),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn sla_events(app: &TestApp, ticket: &str, event_type: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload -> event_type FROM events \
         WHERE aggregate_id = $1 AND event_type = $2 ORDER BY sequence",
    )
    .bind(ticket)
    .bind(event_type)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn timers_caught_up(app: &TestApp) {
    wait_until_applied(&app.pool, "sla_timers", "ticket").await;
}

async fn tickets_caught_up(app: &TestApp) {
    wait_until_applied(&app.pool, "tickets", "ticket").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_ticket_runs_under_the_default_policy_of_its_priority(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool, false).await;
    let created = app.open_ticket(&app.admin(), ticket("P1_HIGH", None)).await;
    assert_eq!(instant(&created["createdAt"]), t0());
    assert!(created["slaId"].is_string(), "{created}");
    assert_eq!(
        instant(&created["responseDeadline"]),
        t0() + TimeDelta::hours(1)
    );
    assert_eq!(
        instant(&created["resolutionDeadline"]),
        t0() + TimeDelta::hours(8)
    );
    assert_eq!(created["slaState"], "RUNNING");
    assert_eq!(created["slaBreached"], false);
    assert_eq!(created["customerTier"], Value::Null);
    let clocks = &created["slaClocks"];
    assert_eq!(clocks["businessHoursOnly"], false);
    assert_eq!(clocks["response"]["state"], "RUNNING");
    assert_eq!(clocks["response"]["targetMinutes"], 60);
    assert_eq!(clocks["response"]["elapsedMinutes"], 0);
    assert_eq!(clocks["response"]["remainingMinutes"], 60);
    assert_eq!(
        instant(&clocks["response"]["warningAt"]),
        t0() + TimeDelta::minutes(48)
    );
    assert_eq!(clocks["resolution"]["targetMinutes"], 480);

    let policies: Value = app.get_json(POLICIES, &app.admin()).await;
    let default_p1 = policies
        .as_array()
        .or_else(|| policies["items"].as_array())
        .unwrap()
        .iter()
        .find(|p| p["priority"] == "P1_HIGH" && p["customerTier"].is_null())
        .cloned()
        .unwrap();
    assert_eq!(created["slaId"], default_p1["id"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unanswered_ticket_breaches_and_the_timer_records_the_true_instant_once(pool: PgPool) {
    let (app, clock) = app_at_t0(pool, false).await;
    let policy = one_minute_policy(&app).await;
    let created = app
        .open_ticket(&app.admin(), ticket("P2_MEDIUM", Some("ENTERPRISE")))
        .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        created["slaId"], policy["id"],
        "the tier's policy beats the default"
    );
    assert_eq!(created["customerTier"], "ENTERPRISE");
    assert_eq!(
        instant(&created["responseDeadline"]),
        t0() + TimeDelta::minutes(1)
    );
    timers_caught_up(&app).await;

    let ctx = &app.context;
    assert_eq!(
        record_due(ctx, t0() + TimeDelta::seconds(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        record_due(ctx, t0() + TimeDelta::seconds(50))
            .await
            .unwrap(),
        1,
        "the warning at 80%, 48 s in"
    );
    // The timer comes late: the breach keeps its own instant. (Each pass after the timers show
    // the last one's events: a row the projection has yet to replace would be claimed again,
    // and found to record nothing.)
    timers_caught_up(&app).await;
    clock.set(t0() + TimeDelta::seconds(75));
    assert_eq!(record_due(ctx, clock_now(&clock)).await.unwrap(), 1);
    timers_caught_up(&app).await;
    assert_eq!(record_due(ctx, clock_now(&clock)).await.unwrap(), 0);

    let breaches = sla_events(&app, id, "SlaBreached").await;
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(breaches[0]["clock"], "RESPONSE");
    assert_eq!(instant(&breaches[0]["at"]), t0() + TimeDelta::minutes(1));
    let warnings = sla_events(&app, id, "SlaWarningReached").await;
    assert_eq!(instant(&warnings[0]["at"]), t0() + TimeDelta::seconds(48));

    tickets_caught_up(&app).await;
    let shown: Value = app.get_json(&format!("{TICKETS}/{id}"), &app.admin()).await;
    assert_eq!(shown["slaBreached"], true);
    assert_eq!(shown["slaState"], "BREACHED");
    let response = &shown["slaClocks"]["response"];
    assert_eq!(response["state"], "BREACHED");
    assert_eq!(
        instant(&response["breachedAt"]),
        t0() + TimeDelta::minutes(1)
    );
    assert_eq!(response["remainingMinutes"], 0);

    let breached: Value = app
        .get_json(&format!("{TICKETS}?slaState=BREACHED"), &app.admin())
        .await;
    assert_eq!(breached["items"].as_array().unwrap().len(), 1);
    assert_eq!(breached["items"][0]["id"], id);

    let explained: Value = app
        .get_json(&format!("{TICKETS}/{id}/sla"), &app.admin())
        .await;
    let steps: Vec<&str> = explained["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["TicketOpened", "SlaWarningReached", "SlaBreached"]);
    let breach = &explained["steps"][2];
    assert_eq!(instant(&breach["at"]), t0() + TimeDelta::minutes(1));
    assert_eq!(
        instant(&breach["recordedAt"]),
        t0() + TimeDelta::seconds(75)
    );
    let applied = explained["steps"][0]["explanation"].as_str().unwrap();
    assert!(
        applied.contains("tier ENTERPRISE") && applied.contains("Response within 1 min"),
        "{applied}"
    );
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use supportd::clock::Clock;
    clock.now()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_running_timer_wakes_when_its_deadline_comes(pool: PgPool) {
    let (app, clock) = app_at_t0(pool, true).await;
    one_minute_policy(&app).await;
    let created = app
        .open_ticket(&app.admin(), ticket("P2_MEDIUM", Some("ENTERPRISE")))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    timers_caught_up(&app).await;
    clock.advance(TimeDelta::seconds(61));
    // Woken by the clock, not by this test: wait for the breach to reach the read model.
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.pool)
        .await
        .unwrap();
    listener
        .listen(support_projections::read_model::APPLIED_CHANNEL)
        .await
        .unwrap();
    let breached = || async {
        sqlx::query_scalar::<_, bool>("SELECT sla_breached FROM tickets WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while !breached().await {
            listener.recv().await.unwrap();
        }
    })
    .await
    .expect("the timer records the breach");
    let breaches = sla_events(&app, &id, "SlaBreached").await;
    assert_eq!(instant(&breaches[0]["at"]), t0() + TimeDelta::minutes(1));
}

#[sqlx::test(migrations = "../migrations")]
async fn two_timers_at_once_record_each_breach_once(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool, false).await;
    one_minute_policy(&app).await;
    for _ in 0..12 {
        app.open_ticket(&app.admin(), ticket("P2_MEDIUM", Some("ENTERPRISE")))
            .await;
    }
    timers_caught_up(&app).await;
    let later = t0() + TimeDelta::minutes(2);
    let (a, b) = tokio::join!(
        record_due(&app.context, later),
        record_due(&app.context, later)
    );
    assert_eq!(
        a.unwrap() + b.unwrap(),
        12,
        "a row a ticket, its warning, shared; each ticket records its breach with it"
    );
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_type, count(*) FROM events \
         WHERE event_type IN ('SlaBreached', 'SlaWarningReached') GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        counts,
        [
            ("SlaBreached".to_owned(), 12),
            ("SlaWarningReached".to_owned(), 12)
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_timer_down_over_a_deadline_records_it_when_it_starts(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool, false).await;
    let created = app.open_ticket(&app.admin(), ticket("P1_HIGH", None)).await;
    let id = created["id"].as_str().unwrap();
    timers_caught_up(&app).await;
    // Nobody recorded anything for ten hours: both clocks breached meanwhile. The ticket's one
    // row, its first warning, brings the command that records all four.
    assert_eq!(
        record_due(&app.context, t0() + TimeDelta::hours(10))
            .await
            .unwrap(),
        1
    );
    let breaches = sla_events(&app, id, "SlaBreached").await;
    let instants: Vec<_> = breaches.iter().map(|b| instant(&b["at"])).collect();
    assert_eq!(
        instants,
        [t0() + TimeDelta::hours(1), t0() + TimeDelta::hours(8)]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn waiting_for_the_customer_pauses_the_clocks_and_moves_the_deadlines(pool: PgPool) {
    let (app, clock) = app_at_t0(pool, false).await;
    let created = app.open_ticket(&app.admin(), ticket("P1_HIGH", None)).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("{TICKETS}/{id}");

    clock.advance(TimeDelta::minutes(20));
    let waiting = app
        .put(
            &path,
            &app.admin(),
            json!({"assignedTo": "agent-1", "status": "WAITING_CUSTOMER"}),
        )
        .await;
    assert_eq!(waiting.status(), 200);
    let waiting: Value = waiting.json().await.unwrap();
    assert_eq!(waiting["slaState"], "PAUSED");
    assert_eq!(waiting["responseDeadline"], Value::Null, "a pause moves it");
    assert_eq!(waiting["slaClocks"]["response"]["elapsedMinutes"], 20);
    assert_eq!(waiting["slaClocks"]["response"]["remainingMinutes"], 40);

    // Two hours later the customer answers: the clocks run again, two hours later.
    clock.advance(TimeDelta::hours(2));
    let customer = app.keys.issue(
        ActorRole::Customer,
        "customer-123",
        None,
        chrono::Duration::hours(1),
    );
    let replied = app
        .post(
            &format!("{path}/comments"),
            &customer,
            json!({"body": "Here are the logs"}),
        )
        .await;
    assert_eq!(replied.status(), 201);
    let replied: Value = replied.json().await.unwrap();
    assert_eq!(replied["status"], "IN_PROGRESS");
    assert_eq!(replied["slaState"], "RUNNING");
    assert_eq!(
        instant(&replied["responseDeadline"]),
        t0() + TimeDelta::hours(3),
        "an hour's target, 40 minutes left after 2 h 20 min"
    );
    assert_eq!(
        instant(&replied["resolutionDeadline"]),
        t0() + TimeDelta::hours(10)
    );

    let due: Value = app
        .get_json(
            &format!("{TICKETS}?responseDueBefore=2026-11-23T12:00:01Z"),
            &app.admin(),
        )
        .await;
    assert_eq!(due["items"].as_array().unwrap().len(), 1);
    let not_yet: Value = app
        .get_json(
            &format!("{TICKETS}?responseDueBefore=2026-11-23T11:59:59Z"),
            &app.admin(),
        )
        .await;
    assert_eq!(not_yet["items"].as_array().unwrap().len(), 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_customer_token_carries_the_tier_and_a_customer_cannot_choose_one(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool, false).await;
    let policy = one_minute_policy(&app).await;
    let enterprise = app.keys.issue_with_tier(
        ActorRole::Customer,
        "customer-123",
        None,
        Some(support_domain::sla::CustomerTier::Enterprise),
        chrono::Duration::hours(1),
    );
    let created = app
        .open_ticket(&enterprise, ticket("P2_MEDIUM", None))
        .await;
    assert_eq!(created["customerTier"], "ENTERPRISE");
    assert_eq!(created["slaId"], policy["id"]);

    let refused = app
        .post(TICKETS, &enterprise, ticket("P2_MEDIUM", Some("FREE")))
        .await;
    assert_eq!(refused.status(), 403);

    let unknown = app
        .post(TICKETS, &app.admin(), ticket("P2_MEDIUM", Some("GOLD")))
        .await;
    assert_eq!(unknown.status(), 422);
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "customerTier");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_preview_checks_a_business_hours_calendar_across_a_weekend_and_a_pause(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool, false).await;
    let created = app
        .post(
            POLICIES,
            &app.admin(),
            json!({
                "name": "Berlin office hours",
                "priority": "P2_MEDIUM",
                "customerTier": "PROFESSIONAL",
                "responseTimeTarget": 60,
                "resolutionTimeTarget": 480,
                "applyBusinessHoursOnly": true,
                "businessHoursStart": "09:00",
                "businessHoursEnd": "17:00",
                "businessDays": [1, 2, 3, 4, 5],
                "timezone": "Europe/Berlin",
                "holidays": ["2026-12-25"]
            }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let policy: Value = created.json().await.unwrap();
    let preview = format!("{POLICIES}/{}/preview", policy["id"].as_str().unwrap());
    let agent = app.token(ActorRole::Agent, "agent-1");

    // Friday 18:30 in Berlin: nothing counts until Monday 09:00.
    let friday = app
        .post(&preview, &agent, json!({"start": "2026-11-27T17:30:00Z"}))
        .await;
    assert_eq!(friday.status(), 200);
    let friday: Value = friday.json().await.unwrap();
    assert_eq!(friday["responseDeadline"], "2026-11-30T09:00:00Z");
    assert_eq!(
        friday["local"]["responseDeadline"],
        "2026-11-30T10:00:00+01:00"
    );
    assert_eq!(
        friday["local"]["responseWarningAt"],
        "2026-11-30T09:48:00+01:00"
    );
    assert_eq!(
        friday["local"]["resolutionWarningAt"],
        "2026-11-30T15:24:00+01:00"
    );
    assert_eq!(
        friday["local"]["resolutionDeadline"],
        "2026-11-30T17:00:00+01:00"
    );
    assert_eq!(friday["businessHoursOnly"], true);
    assert_eq!(friday["timezone"], "Europe/Berlin");

    // Waiting for the customer from 09:30 to 11:00 on Monday moves what is still to come by the
    // 90 minutes paused; the resolution runs over into Tuesday.
    let paused = app
        .post(
            &preview,
            &agent,
            json!({"start": "2026-11-27T17:30:00Z",
                   "pauses": [{"from": "2026-11-30T08:30:00Z", "to": "2026-11-30T10:00:00Z"}]}),
        )
        .await;
    let paused: Value = paused.json().await.unwrap();
    assert_eq!(
        paused["local"]["responseWarningAt"],
        "2026-11-30T11:18:00+01:00"
    );
    assert_eq!(
        paused["local"]["responseDeadline"],
        "2026-11-30T11:30:00+01:00"
    );
    assert_eq!(
        paused["local"]["resolutionDeadline"],
        "2026-12-01T10:30:00+01:00"
    );

    // Every bad field at once, and nothing else answers for a policy that is not there.
    let refused = app
        .post(
            &preview,
            &agent,
            json!({"pauses": [{"from": "2026-11-30T10:00:00Z", "to": "2026-11-30T09:00:00Z"},
                              {"from": "yesterday"}]}),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["start", "pauses[0].to", "pauses[1].from", "pauses[1].to"]
    );
    let missing = format!("{POLICIES}/{}/preview", uuid::Uuid::new_v4());
    let absent = app
        .post(&missing, &agent, json!({"start": "2026-11-27T17:30:00Z"}))
        .await;
    assert_eq!(absent.status(), 404);
    let customer = app.token(ActorRole::Customer, "customer-123");
    let forbidden = app
        .post(
            &preview,
            &customer,
            json!({"start": "2026-11-27T17:30:00Z"}),
        )
        .await;
    assert_eq!(forbidden.status(), 403);
}

#[sqlx::test(migrations = "../migrations")]
async fn what_if_sets_a_periods_verdicts_under_another_policy_beside_the_actual_ones(pool: PgPool) {
    let (app, clock) = app_at_t0(pool, false).await;
    let agent = app.token(ActorRole::Agent, "agent-1");
    // Three P1 tickets under the default policy: an hour to respond.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let ticket = app.open_ticket(&app.admin(), ticket("P1_HIGH", None)).await;
        ids.push(ticket["id"].as_str().unwrap().to_owned());
    }
    let reply = |id: &str| format!("{TICKETS}/{id}/comments");
    clock.set(t0() + TimeDelta::minutes(30));
    let met = app
        .post(&reply(&ids[0]), &agent, json!({"body": "On it"}))
        .await;
    assert_eq!(met.status(), 201);
    clock.set(t0() + TimeDelta::minutes(90));
    let late = app
        .post(
            &reply(&ids[1]),
            &agent,
            json!({"body": "Sorry for the wait"}),
        )
        .await;
    assert_eq!(late.status(), 201);
    clock.set(t0() + TimeDelta::hours(3));
    timers_caught_up(&app).await;
    record_due(&app.context, clock_now(&clock)).await.unwrap();

    // Two hours to respond would have met the late reply; the unanswered one breaches anyway.
    let relaxed = app
        .post(
            POLICIES,
            &app.admin(),
            json!({"name": "P1 relaxed", "priority": "P1_HIGH",
                   "responseTimeTarget": 120, "resolutionTimeTarget": 480}),
        )
        .await;
    assert_eq!(relaxed.status(), 201);
    let relaxed: Value = relaxed.json().await.unwrap();
    let path = format!("{POLICIES}/{}/what-if", relaxed["id"].as_str().unwrap());
    let answer = app
        .post(
            &path,
            &app.admin(),
            json!({"startDate": "2026-11-23", "endDate": "2026-11-23"}),
        )
        .await;
    assert_eq!(answer.status(), 200);
    let what_if: Value = answer.json().await.unwrap();
    assert_eq!(what_if["ticketsConsidered"], 3);
    assert_eq!(what_if["actual"]["response"]["met"], 1);
    assert_eq!(what_if["actual"]["response"]["breached"], 2);
    assert_eq!(what_if["underPolicy"]["response"]["met"], 2);
    assert_eq!(what_if["underPolicy"]["response"]["breached"], 1);
    assert_eq!(what_if["changedVerdicts"], 1);
    assert_eq!(what_if["changes"][0]["ticketId"], ids[1].as_str());
    assert_eq!(what_if["changes"][0]["actual"], "BREACHED");
    assert_eq!(what_if["changes"][0]["underPolicy"], "MET");

    let backwards = app
        .post(
            &path,
            &app.admin(),
            json!({"startDate": "2026-11-23", "endDate": "2026-11-01"}),
        )
        .await;
    assert_eq!(backwards.status(), 422);
}

/// Every timer row, for comparing the live read model with a replayed one.
async fn timer_rows(app: &TestApp) -> Vec<(String, String, DateTime<Utc>)> {
    sqlx::query_as("SELECT ticket_id::text, kind, due_at FROM sla_timers ORDER BY 1")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_replay_gives_the_sla_columns_and_timers_the_live_events_gave(pool: PgPool) {
    let (app, clock) = app_at_t0(pool, false).await;
    let admin = app.admin();
    let customer = app.token(ActorRole::Customer, "customer-123");
    let opened: Vec<String> = {
        let mut ids = Vec::new();
        for priority in ["P0_CRITICAL", "P1_HIGH", "P2_MEDIUM", "P3_LOW"] {
            let ticket = app.open_ticket(&admin, ticket(priority, None)).await;
            ids.push(ticket["id"].as_str().unwrap().to_owned());
        }
        ids
    };
    let path = |n: usize| format!("{TICKETS}/{}", opened[n]);
    // A pause and a resume; a resolution and a reopen; a re-match; a cancellation; breaches.
    clock.advance(TimeDelta::minutes(10));
    let changes = [
        (
            0,
            json!({"assignedTo": "agent-1", "status": "WAITING_CUSTOMER"}),
        ),
        (1, json!({"assignedTo": "agent-1", "status": "RESOLVED"})),
        (2, json!({"priority": "P0_CRITICAL"})),
        (3, json!({"status": "CANCELLED"})),
    ];
    for (n, change) in changes {
        assert_eq!(app.put(&path(n), &admin, change).await.status(), 200);
    }
    clock.advance(TimeDelta::minutes(50));
    for n in [0, 1] {
        let reply = app
            .post(
                &format!("{}/comments", path(n)),
                &customer,
                json!({"body": "Still broken"}),
            )
            .await;
        assert_eq!(reply.status(), 201);
    }
    timers_caught_up(&app).await;
    record_due(&app.context, clock_now(&clock)).await.unwrap();
    tickets_caught_up(&app).await;
    timers_caught_up(&app).await;

    let live = common::read_model_snapshot(&app.pool).await;
    let live_timers = timer_rows(&app).await;
    assert!(!live_timers.is_empty());
    let keys = common::data_keys();
    support_projections::replay(
        &app.pool,
        &keys,
        &support_projections::tickets::TicketsProjection,
    )
    .await
    .unwrap();
    support_projections::replay(
        &app.pool,
        &keys,
        &support_projections::sla::timers::SlaTimersProjection,
    )
    .await
    .unwrap();
    assert_eq!(common::read_model_snapshot(&app.pool).await, live);
    assert_eq!(timer_rows(&app).await, live_timers);
}
