//! Alert rules end to end: an admin configures a HIGH_VOLUME rule; tickets are opened over HTTP
//! on a manual clock, the timer's evaluation runs at chosen instants, and the rule fires once per
//! spike outside its cool-down, each firing an event and an in-app notification to its
//! recipient.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{fields, problem, spawn_notifying_app, ticket_body, wait_until_applied, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::alert_watch::evaluate;
use supportd::notifier::deliver_due;

const RULES: &str = "/api/v1/support/alert-rules";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn firings(app: &TestApp, rule: &Value) -> Vec<Value> {
    wait_until_applied(&app.pool, "alert_rules", "alert_rule").await;
    let path = format!("{RULES}/{}/firings", rule["id"].as_str().unwrap());
    let agent = app.token(ActorRole::Agent, "agent-1");
    ok(app.get(&path, &agent).await)
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_volume_spike_fires_once_and_a_second_spike_in_the_cool_down_does_not(pool: PgPool) {
    let now = at("2026-11-24T09:15:00Z");
    let (app, clock) = spawn_notifying_app(pool, now - TimeDelta::weeks(4), None, None).await;
    let admin = app.admin();
    // The same hour (08:15 to 09:15) one to four weeks before: 3, 2, 2 and 1 tickets, a median
    // of 2.
    for (weeks, tickets) in [(4, 3), (3, 2), (2, 2), (1, 1)] {
        for n in 0..tickets {
            clock.set(now - TimeDelta::weeks(weeks) - TimeDelta::minutes(10 + n));
            app.open_ticket(&admin, ticket_body("Usual", "customer-1"))
                .await;
        }
    }
    clock.set(at("2026-11-24T08:00:00Z"));
    let rule = ok(app
        .post(
            RULES,
            &admin,
            json!({"name": "Volume spike", "kind": "HIGH_VOLUME", "threshold": 2,
                   "recipients": {"agents": ["lead-1"]}, "cooldownMinutes": 60}),
        )
        .await)
    .await;
    assert_eq!(rule["threshold"], 2.0);
    assert_eq!(rule["active"], true);
    wait_until_applied(&app.pool, "alert_rules", "alert_rule").await;

    // Four tickets in the last hour: twice the usual, not more.
    for minute in [20, 30, 40, 50] {
        clock.set(at(&format!("2026-11-24T08:{minute}:00Z")));
        app.open_ticket(&admin, ticket_body("Spike", "customer-2"))
            .await;
    }
    evaluate(&app.context, now).await.unwrap();
    assert!(firings(&app, &rule).await.is_empty());

    // A fifth: 2.5 times the usual. It fires, once however often the timer looks.
    clock.set(at("2026-11-24T09:00:00Z"));
    app.open_ticket(&admin, ticket_body("Spike", "customer-2"))
        .await;
    evaluate(&app.context, now).await.unwrap();
    evaluate(&app.context, now).await.unwrap();
    evaluate(&app.context, now + TimeDelta::minutes(1))
        .await
        .unwrap();
    let fired = firings(&app, &rule).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["observed"], 2.5);
    assert_eq!(fired[0]["subject"], "desk");
    assert_eq!(fired[0]["firedAt"], "2026-11-24T09:15:00Z");

    // A second spike inside the cool-down (until 10:15) does not fire.
    for minute in [40, 45, 50, 55] {
        clock.set(at(&format!("2026-11-24T09:{minute}:00Z")));
        app.open_ticket(&admin, ticket_body("Spike", "customer-2"))
            .await;
    }
    evaluate(&app.context, at("2026-11-24T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(firings(&app, &rule).await.len(), 1);
    // After it, the spike under way fires again: the hour before 10:20 holds the four tickets of
    // 09:40 to 09:55, and the same hour of the weeks before none (a median below one counts as
    // one), four times the usual.
    evaluate(&app.context, at("2026-11-24T10:20:00Z"))
        .await
        .unwrap();
    assert_eq!(firings(&app, &rule).await.len(), 2);

    // Each firing told the recipient, at once, in the inbox.
    wait_until_applied(&app.pool, "notification_planner", "alert_rule").await;
    deliver_due(&app.context, at("2026-11-24T10:20:00Z"))
        .await
        .unwrap();
    let lead = app.token(ActorRole::Agent, "lead-1");
    let inbox = ok(app.get("/api/v1/support/notifications", &lead).await).await;
    let items = inbox["items"].as_array().unwrap();
    assert!(
        items.iter().all(|i| i["kind"] == "SUPPORT_ALERT"),
        "{inbox}"
    );
    let mut headlines: Vec<&str> = items
        .iter()
        .map(|i| i["headline"].as_str().unwrap())
        .collect();
    headlines.sort_unstable();
    assert_eq!(
        headlines,
        [
            "Alert HIGH_VOLUME: 4 tickets opened in the last hour; the median of the same hour \
             over the previous 4 weeks is 0",
            "Alert HIGH_VOLUME: 5 tickets opened in the last hour; the median of the same hour \
             over the previous 4 weeks is 2",
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_keep_rules_and_bad_rules_change_nothing(pool: PgPool) {
    let (app, _clock) = spawn_notifying_app(pool, at("2026-11-24T08:00:00Z"), None, None).await;
    let admin = app.admin();
    let agent = app.token(ActorRole::Agent, "agent-1");
    let rule = json!({"name": "Overload", "kind": "AGENT_OVERLOAD", "threshold": 25,
                      "recipients": {"roles": ["admin"]}});
    problem(app.post(RULES, &agent, rule.clone()).await, 403).await;
    let events = app.event_count().await;
    let bad = problem(
        app.post(
            RULES,
            &admin,
            json!({"name": "", "kind": "AGENT_OVERLOAD", "threshold": 2.5,
                   "recipients": {"agents": []}, "cooldownMinutes": 20000}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        fields(&bad),
        ["name", "threshold", "recipients", "cooldownMinutes"]
    );
    let unknown = problem(
        app.post(
            RULES,
            &admin,
            json!({"name": "x", "kind": "FIRE", "recipients": {}}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&unknown), ["kind", "recipients"]);
    assert_eq!(app.event_count().await, events, "nothing was recorded");

    let created = ok(app.post(RULES, &admin, rule).await).await;
    assert_eq!(created["cooldownMinutes"], 60, "the default cool-down");
    let path = format!("{RULES}/{}", created["id"].as_str().unwrap());
    // A new kind keeps the threshold only if it means something to it.
    let refused = problem(
        app.put(&path, &admin, json!({"kind": "LOW_KB_RATING"}))
            .await,
        422,
    )
    .await;
    assert_eq!(fields(&refused), ["threshold"]);
    let changed = ok(app
        .put(
            &path,
            &admin,
            json!({"kind": "LOW_KB_RATING", "threshold": 2.5, "active": false}),
        )
        .await)
    .await;
    assert_eq!(changed["kind"], "LOW_KB_RATING");
    assert_eq!(changed["active"], false);
    let listed = ok(app.get(RULES, &agent).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let customer = app.token(ActorRole::Customer, "customer-1");
    problem(app.get(RULES, &customer).await, 403).await;
    problem(
        app.get(&format!("{RULES}/{}", uuid::Uuid::new_v4()), &agent)
            .await,
        404,
    )
    .await;
}
