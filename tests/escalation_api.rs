//! Escalation ladders end to end: policies over the API, a breach that starts a climb, the timer
//! climbing a level when its delay passes unanswered (at instants the test chooses, with the
//! injected clock), an answer that ends the climb, a manual escalation on the same ladder, and the
//! ticket's escalation chain. Nothing sleeps.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::{spawn_app_without_sla_timer, wait_until_applied, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::sla::default_policy_id;
use support_domain::ticket::TicketPriority;
use support_domain::ActorRole;
use supportd::clock::ManualClock;
use supportd::sla_timer::record_due;

const TICKETS: &str = "/api/v1/support/tickets";
const SLA_POLICIES: &str = "/api/v1/support/sla-policies";
const POLICIES: &str = "/api/v1/support/escalation-policies";

/// Monday 09:00 UTC.
fn t0() -> DateTime<Utc> {
    "2026-11-23T09:00:00Z".parse().unwrap()
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

async fn app_at_t0(pool: PgPool) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let injected = clock.clone();
    let app = spawn_app_without_sla_timer(pool, move |settings| settings.clock = injected).await;
    (app, clock)
}

/// A policy answering P2 tickets within a minute, escalating on breach, in place of the default
/// P2 policy (which, created at the same instant, could win the tie).
async fn one_minute_policy(app: &TestApp) {
    let default = default_policy_id(TicketPriority::Medium);
    let deactivated = app
        .put(
            &format!("{SLA_POLICIES}/{default}"),
            &app.admin(),
            json!({"active": false}),
        )
        .await;
    assert_eq!(deactivated.status(), 200);
    let response = app
        .post(
            SLA_POLICIES,
            &app.admin(),
            json!({
                "name": "P2: answer within a minute",
                "priority": "P2_MEDIUM",
                "responseTimeTarget": 1,
                "resolutionTimeTarget": 60,
                "autoEscalateOnBreach": true
            }),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// Level 1 calls the team lead for 5 minutes, level 2 the admins and the tier-2 team.
fn ladder() -> Value {
    json!({
        "name": "Unanswered P2",
        "rules": [{
            "priorities": ["P2_MEDIUM"],
            "triggers": ["RESPONSE_BREACH", "MANUAL"],
            "levels": [
                {"recipients": {"agents": ["team-lead"]}, "delayMinutes": 5},
                {"recipients": {"roles": ["admin"], "teams": ["tier-2"]}, "delayMinutes": 10}
            ]
        }]
    })
}

async fn create_ladder(app: &TestApp) -> Value {
    let response = app.post(POLICIES, &app.admin(), ladder()).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn open_p2(app: &TestApp) -> String {
    let ticket = app
        .open_ticket(
            &app.admin(),
            json!({
                "title": "Checkout fails",
                "description": "Card payments time out",
                "priority": "P2_MEDIUM",
                "category": "TECHNICAL",
                "customerId": "customer-1"
            }),
        )
        .await;
    ticket["id"].as_str().unwrap().to_owned()
}

async fn caught_up(app: &TestApp) {
    wait_until_applied(&app.pool, "sla_timers", "ticket").await;
}

async fn chain(app: &TestApp, ticket: &str) -> Vec<Value> {
    app.get_json(&format!("{TICKETS}/{ticket}/escalations"), &app.admin())
        .await
}

fn levels(chain: &[Value]) -> Vec<(u64, &str)> {
    chain
        .iter()
        .map(|s| (s["level"].as_u64().unwrap(), s["trigger"].as_str().unwrap()))
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unanswered_breach_climbs_the_ladder_until_the_ticket_is_answered(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool).await;
    one_minute_policy(&app).await;
    let policy = create_ladder(&app).await;
    let ticket = open_p2(&app).await;
    caught_up(&app).await;

    // The breach, at t0 + 1 min, starts the climb on level 1.
    record_due(&app.context, t0() + minutes(1)).await.unwrap();
    caught_up(&app).await;
    let steps = chain(&app, &ticket).await;
    assert_eq!(levels(&steps), [(1, "RESPONSE_BREACH")]);
    assert_eq!(
        steps[0]["recipients"],
        json!({"agents": ["team-lead"], "roles": [], "teams": []})
    );
    assert_eq!(steps[0]["policyId"], policy["id"]);
    assert_eq!(steps[0]["escalatedBy"]["sub"], "sla-timer");
    let next: DateTime<Utc> = steps[0]["nextLevelAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(next, t0() + minutes(6));

    // Not before the level's delay has passed.
    record_due(&app.context, t0() + minutes(5)).await.unwrap();
    caught_up(&app).await;
    assert_eq!(chain(&app, &ticket).await.len(), 1);

    record_due(&app.context, t0() + minutes(6)).await.unwrap();
    caught_up(&app).await;
    let steps = chain(&app, &ticket).await;
    assert_eq!(
        levels(&steps),
        [(1, "RESPONSE_BREACH"), (2, "RESPONSE_BREACH")]
    );
    assert_eq!(steps[1]["recipients"]["roles"], json!(["admin"]));
    assert_eq!(steps[1]["recipients"]["teams"], json!(["tier-2"]));
    let detail: Value = app
        .get_json(&format!("{TICKETS}/{ticket}"), &app.admin())
        .await;
    assert_eq!(detail["escalationLevel"], 2);
    // The climb is in the ticket's history too, as the events themselves.
    let history: Vec<Value> = app
        .get_json(&format!("{TICKETS}/{ticket}/history"), &app.admin())
        .await;
    let escalated = history
        .iter()
        .filter(|e| e["eventType"] == "TicketEscalated")
        .count();
    assert_eq!(escalated, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_answer_stops_the_climb(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool).await;
    one_minute_policy(&app).await;
    create_ladder(&app).await;
    let ticket = open_p2(&app).await;
    caught_up(&app).await;
    record_due(&app.context, t0() + minutes(1)).await.unwrap();
    caught_up(&app).await;

    let agent = app.token(ActorRole::Agent, "agent-1");
    let reply = app
        .post(
            &format!("{TICKETS}/{ticket}/comments"),
            &agent,
            json!({"body": "Looking into it now", "visibility": "PUBLIC"}),
        )
        .await;
    assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap());
    caught_up(&app).await;
    let due: i64 = sqlx::query_scalar("SELECT count(*) FROM escalation_timers")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(due, 0, "an answered ticket has no next level to wait for");
    record_due(&app.context, t0() + minutes(30)).await.unwrap();
    caught_up(&app).await;
    assert_eq!(
        levels(&chain(&app, &ticket).await),
        [(1, "RESPONSE_BREACH")]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_manual_escalation_climbs_the_same_ladder(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool).await;
    create_ladder(&app).await;
    let ticket = open_p2(&app).await;
    let agent = app.token(ActorRole::Agent, "agent-1");
    let escalate = || async {
        app.post(
            &format!("{TICKETS}/{ticket}/escalate"),
            &agent,
            json!({"reason": "The customer's shop is down"}),
        )
        .await
    };
    let first = escalate().await;
    assert_eq!(first.status(), 200, "{}", first.text().await.unwrap());
    let second = escalate().await;
    assert_eq!(second.status(), 200);
    let steps = chain(&app, &ticket).await;
    assert_eq!(levels(&steps), [(1, "MANUAL"), (2, "MANUAL")]);
    assert_eq!(steps[0]["recipients"]["agents"], json!(["team-lead"]));
    assert_eq!(steps[1]["reason"], "The customer's shop is down");
    // The ladder has two levels and no repeats.
    let third = escalate().await;
    assert_eq!(third.status(), 409);
    assert_eq!(third.headers()["content-type"], "application/problem+json");
}

#[sqlx::test(migrations = "../migrations")]
async fn policies_are_kept_by_admins_and_read_by_staff(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool).await;
    let policy = create_ladder(&app).await;
    let id = policy["id"].as_str().unwrap();
    assert_eq!(policy["active"], true);
    assert_eq!(policy["rules"][0]["levels"][1]["delayMinutes"], 10);

    let agent = app.token(ActorRole::Agent, "agent-1");
    let customer = app.token(ActorRole::Customer, "customer-1");
    assert_eq!(app.post(POLICIES, &agent, ladder()).await.status(), 403);
    assert_eq!(app.get(POLICIES, &customer).await.status(), 403);
    let page: Value = app.get_json(POLICIES, &agent).await;
    assert_eq!(page["total"], 1);
    let one: Value = app.get_json(&format!("{POLICIES}/{id}"), &agent).await;
    assert_eq!(one["name"], "Unanswered P2");

    let changed = app
        .put(
            &format!("{POLICIES}/{id}"),
            &app.admin(),
            json!({"name": "Renamed", "active": false}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(
        (changed["name"].as_str(), changed["active"].as_bool()),
        (Some("Renamed"), Some(false))
    );
    let active: Value = app
        .get_json(&format!("{POLICIES}?active=true"), &agent)
        .await;
    assert_eq!(active["total"], 0);
    assert_eq!(
        app.get(&format!("{POLICIES}/{}", uuid::Uuid::new_v4()), &agent)
            .await
            .status(),
        404
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_bad_policy_is_refused_with_every_bad_field_and_records_nothing(pool: PgPool) {
    let (app, _clock) = app_at_t0(pool).await;
    let before = app.event_count().await;
    let response = app
        .post(
            POLICIES,
            &app.admin(),
            json!({
                "name": " ",
                "rules": [{
                    "priorities": ["P9"],
                    "triggers": ["WHENEVER"],
                    "levels": [{"recipients": {"roles": ["boss"]}, "delayMinutes": 0}],
                    "repeat": 99
                }]
            }),
        )
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "name",
            "rules[0].levels[0].delayMinutes",
            "rules[0].levels[0].recipients.roles[0]",
            "rules[0].priorities[0]",
            "rules[0].repeat",
            "rules[0].triggers[0]",
        ]
    );
    // A rule without recipients, and an unknown field.
    let empty = app
        .post(
            POLICIES,
            &app.admin(),
            json!({"name": "x", "rules": [{"triggers": ["MANUAL"], "levels": [{"recipients": {}, "delayMinutes": 5}]}]}),
        )
        .await;
    assert_eq!(empty.status(), 422);
    let problem: Value = empty.json().await.unwrap();
    assert_eq!(
        problem["errors"][0]["field"],
        "rules[0].levels[0].recipients"
    );
    let unknown = app
        .post(
            POLICIES,
            &app.admin(),
            json!({"name": "x", "rules": [], "colour": "red"}),
        )
        .await;
    assert!([400, 422].contains(&unknown.status().as_u16()));
    assert_eq!(app.event_count().await, before);
}
