//! Support analytics end to end: a hand-made desk of five tickets worked over HTTP on a manual
//! clock, every figure computed by hand below, read back from `GET /analytics`, and read back
//! the same after `supportd replay` rebuilt the read model.
//!
//! The desk, Tuesday 2026-11-24 and Wednesday 2026-11-25 (UTC). P1 tickets run under the default
//! policy, around the clock; ticket C under a policy counting 09:00-17:00 UTC, Monday to Friday.
//! - A (P1_HIGH, TECHNICAL, WEB_FORM): opened Tue 08:00, assigned to agent-7 08:10, replied 08:30,
//!   resolved 10:00; reopened (IN_PROGRESS) 13:00, resolved 14:00.
//! - B (P1_HIGH, BILLING, EMAIL): opened 08:00; at 09:00 agent-8 takes it (IN_PROGRESS), replies
//!   and waits for the customer; the customer answers 11:00 (back to IN_PROGRESS); WAITING_INTERNAL
//!   11:15; agent-8 replies 11:45 and resolves 12:00.
//! - C (P2_MEDIUM, TECHNICAL, CHAT, PROFESSIONAL): opened Tue 16:00; agent-7 assigned, replies and
//!   resolves Wed 10:00: 18 hours on the wall clock, 2 business hours (Tue 16-17, Wed 09-10).
//! - D (P3_LOW, ACCOUNT, PHONE): opened Tue 09:00, left open.
//! - E (P3_LOW, TECHNICAL, API): opened Tue 09:30, cancelled 10:30.
//!
//! Satisfaction: A's customer rates its first resolution 5 (Tue 10:30) and its second 2 (14:30);
//! B's rates 4 (12:30), then replaces it with 3 (13:30); C's rates 5 (Wed 11:00).

mod common;

use chrono::{DateTime, Utc};
use common::{problem, spawn_notifying_app, wait_until_applied, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::analytics::AnalyticsProjection;
use supportd::clock::{Clock, ManualClock};

const TICKETS: &str = "/api/v1/support/tickets";
const ANALYTICS: &str = "/api/v1/support/analytics";
const BOTH_DAYS: &str = "startDate=2026-11-24&endDate=2026-11-25";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn ticket(title: &str, priority: &str, category: &str, channel: &str, customer: &str) -> Value {
    json!({
        "title": title,
        "description": "Something is wrong",
        "priority": priority,
        "category": category,
        "channel": channel,
        "customerId": customer,
    })
}

struct Desk {
    app: TestApp,
    clock: std::sync::Arc<ManualClock>,
    admin: String,
}

impl Desk {
    async fn at(&self, instant: &str) {
        self.clock.set(at(instant));
    }

    async fn open(&self, instant: &str, body: Value) -> String {
        self.at(instant).await;
        let ticket = self.app.open_ticket(&self.admin, body).await;
        ticket["id"].as_str().unwrap().to_owned()
    }

    async fn update(&self, instant: &str, ticket: &str, body: Value) {
        self.at(instant).await;
        ok(self
            .app
            .put(&format!("{TICKETS}/{ticket}"), &self.admin, body)
            .await)
        .await;
    }

    async fn comment(&self, instant: &str, ticket: &str, role: ActorRole, sub: &str) {
        self.at(instant).await;
        let token = self.app.token(role, sub);
        ok(self
            .app
            .post(
                &format!("{TICKETS}/{ticket}/comments"),
                &token,
                json!({"body": "A public reply"}),
            )
            .await)
        .await;
    }

    async fn analytics(&self, query: &str) -> Value {
        analytics(&self.app, query).await
    }

    async fn rate(&self, instant: &str, ticket: &str, customer: &str, score: u8) -> Value {
        self.at(instant).await;
        let token = self.app.token(ActorRole::Customer, customer);
        let path = format!("{TICKETS}/{ticket}/satisfaction");
        let body = json!({"score": score, "comment": "Thanks"});
        ok(self.app.post(&path, &token, body).await).await
    }
}

/// The figures of `query`, once the analytics read model shows every ticket event.
async fn analytics(app: &TestApp, query: &str) -> Value {
    wait_until_applied(&app.pool, "analytics", "ticket").await;
    let agent = app.token(ActorRole::Agent, "agent-1");
    ok(app.get(&format!("{ANALYTICS}?{query}"), &agent).await).await
}

/// The five tickets of the module's comment.
async fn desk(pool: PgPool) -> Desk {
    let (app, clock) = spawn_notifying_app(pool, at("2026-11-24T07:00:00Z"), None, None).await;
    let admin = app.admin();
    ok(app
        .post(
            "/api/v1/support/sla-policies",
            &admin,
            json!({
                "name": "Office hours",
                "priority": "P2_MEDIUM",
                "customerTier": "PROFESSIONAL",
                "responseTimeTarget": 240,
                "resolutionTimeTarget": 960,
                "applyBusinessHoursOnly": true,
                "businessHoursStart": "09:00",
                "businessHoursEnd": "17:00",
                "businessDays": [1, 2, 3, 4, 5],
                "timezone": "UTC"
            }),
        )
        .await)
    .await;
    let desk = Desk { app, clock, admin };
    let resolve = json!({"status": "RESOLVED", "resolutionNote": "Fixed"});

    let a = desk
        .open(
            "2026-11-24T08:00:00Z",
            ticket("A", "P1_HIGH", "TECHNICAL", "WEB_FORM", "customer-1"),
        )
        .await;
    let b = desk
        .open(
            "2026-11-24T08:00:00Z",
            ticket("B", "P1_HIGH", "BILLING", "EMAIL", "customer-2"),
        )
        .await;
    desk.update("2026-11-24T08:10:00Z", &a, json!({"assignedTo": "agent-7"}))
        .await;
    desk.comment("2026-11-24T08:30:00Z", &a, ActorRole::Agent, "agent-7")
        .await;
    let d = desk
        .open(
            "2026-11-24T09:00:00Z",
            ticket("D", "P3_LOW", "ACCOUNT", "PHONE", "customer-4"),
        )
        .await;
    desk.update(
        "2026-11-24T09:00:00Z",
        &b,
        json!({"assignedTo": "agent-8", "status": "IN_PROGRESS"}),
    )
    .await;
    desk.comment("2026-11-24T09:00:00Z", &b, ActorRole::Agent, "agent-8")
        .await;
    desk.update(
        "2026-11-24T09:00:00Z",
        &b,
        json!({"status": "WAITING_CUSTOMER"}),
    )
    .await;
    let e = desk
        .open(
            "2026-11-24T09:30:00Z",
            ticket("E", "P3_LOW", "TECHNICAL", "API", "customer-5"),
        )
        .await;
    desk.update("2026-11-24T10:00:00Z", &a, resolve.clone())
        .await;
    desk.rate("2026-11-24T10:30:00Z", &a, "customer-1", 5).await;
    desk.update("2026-11-24T10:30:00Z", &e, json!({"status": "CANCELLED"}))
        .await;
    desk.comment(
        "2026-11-24T11:00:00Z",
        &b,
        ActorRole::Customer,
        "customer-2",
    )
    .await;
    desk.update(
        "2026-11-24T11:15:00Z",
        &b,
        json!({"status": "WAITING_INTERNAL"}),
    )
    .await;
    desk.comment("2026-11-24T11:45:00Z", &b, ActorRole::Agent, "agent-8")
        .await;
    desk.update("2026-11-24T12:00:00Z", &b, resolve.clone())
        .await;
    desk.rate("2026-11-24T12:30:00Z", &b, "customer-2", 4).await;
    desk.update("2026-11-24T13:00:00Z", &a, json!({"status": "IN_PROGRESS"}))
        .await;
    let replaced = desk.rate("2026-11-24T13:30:00Z", &b, "customer-2", 3).await;
    assert_eq!(
        replaced,
        json!({"ticketId": b, "resolution": 1, "score": 3, "comment": "Thanks",
               "ratedAt": "2026-11-24T13:30:00Z"})
    );
    desk.update("2026-11-24T14:00:00Z", &a, resolve.clone())
        .await;
    let second = desk.rate("2026-11-24T14:30:00Z", &a, "customer-1", 2).await;
    assert_eq!(second["resolution"], 2);
    let mut professional = ticket("C", "P2_MEDIUM", "TECHNICAL", "CHAT", "customer-3");
    professional["customerTier"] = json!("PROFESSIONAL");
    let c = desk.open("2026-11-24T16:00:00Z", professional).await;
    desk.update("2026-11-25T10:00:00Z", &c, json!({"assignedTo": "agent-7"}))
        .await;
    desk.comment("2026-11-25T10:00:00Z", &c, ActorRole::Agent, "agent-7")
        .await;
    desk.update("2026-11-25T10:00:00Z", &c, resolve).await;
    desk.rate("2026-11-25T11:00:00Z", &c, "customer-3", 5).await;
    let _ = d;
    desk
}

/// A percentile is the middle of its histogram bucket: within 1/128 of the value (docs/analytics.md).
fn about(actual: &Value, minutes: f64) {
    let got = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{actual} is a number"));
    assert!(
        (got - minutes).abs() <= minutes / 128.0 + 0.01,
        "{got} is not {minutes} within 1/128"
    );
}

/// Mean (exact), median and p90 (within a bucket) on the wall clock and in business minutes.
fn times(figure: &Value, measured: i64, calendar: [f64; 3], business: [f64; 3]) {
    assert_eq!(figure["measured"], measured, "{figure}");
    assert_eq!(figure["mean"].as_f64().unwrap(), calendar[0], "{figure}");
    about(&figure["median"], calendar[1]);
    about(&figure["p90"], calendar[2]);
    let business_minutes = &figure["businessMinutes"];
    assert_eq!(
        business_minutes["mean"].as_f64().unwrap(),
        business[0],
        "{figure}"
    );
    about(&business_minutes["median"], business[1]);
    about(&business_minutes["p90"], business[2]);
}

#[sqlx::test(migrations = "../migrations")]
async fn every_figure_of_a_hand_made_desk_is_as_computed_by_hand(pool: PgPool) {
    let desk = desk(pool).await;
    let figures = desk.analytics(BOTH_DAYS).await;

    assert_eq!(figures["startDate"], "2026-11-24");
    assert_eq!(figures["endDate"], "2026-11-25");
    // Resolutions: A twice, B, C. The work the period had: 5 opened and 1 reopened.
    assert_eq!(
        figures["tickets"],
        json!({
            "ticketsCreated": 5,
            "ticketsResolved": 4,
            "ticketsReopened": 1,
            "ticketsCancelled": 1,
            "resolutionRate": 4.0 / 6.0,
        })
    );
    let t = &figures["times"];
    // First replies: A 30, B 60, C 1080 (business 120). Nearest rank: the median is the 2nd of
    // 3, the p90 the 3rd.
    times(
        &t["firstReplyTime"],
        3,
        [390.0, 60.0, 1080.0],
        [70.0, 60.0, 120.0],
    );
    // Resolutions: A 120 then 360, B 240, C 1080 (business 120): the median is the 2nd of 4,
    // the p90 the 4th.
    times(
        &t["fullResolutionTime"],
        4,
        [450.0, 240.0, 1080.0],
        [210.0, 120.0, 360.0],
    );
    // Waiting for the desk: A 120 (OPEN 10, ASSIGNED 110) then 180 (IN_PROGRESS 60 more); B 120
    // (OPEN 60, IN_PROGRESS 15, WAITING_INTERNAL 45; not the 2 h WAITING_CUSTOMER); C 1080 (120).
    times(
        &t["requesterWaitTime"],
        4,
        [375.0, 120.0, 1080.0],
        [135.0, 120.0, 180.0],
    );
    // The same without WAITING_INTERNAL: B 75.
    times(
        &t["agentWorkTime"],
        4,
        [363.75, 120.0, 1080.0],
        [123.75, 120.0, 180.0],
    );
    // B's customer answered at 11:00 and agent-8 at 11:45.
    times(
        &t["nextReplyTime"],
        1,
        [45.0, 45.0, 45.0],
        [45.0, 45.0, 45.0],
    );

    // First resolutions: A, B, C. One reply each for A and C, but A was reopened.
    assert_eq!(
        figures["firstContactResolution"],
        json!({"firstResolutions": 3, "oneTouchResolutions": 1, "fcrRate": 1.0 / 3.0})
    );
    // Four resolutions of tickets with customers, each rated: 5, 2, 3 (replacing 4) and 5.
    assert_eq!(
        figures["satisfaction"]["csat"],
        json!({"score": 0.5, "mean": 3.75, "responses": 4, "surveys": 4, "responseRate": 1.0})
    );
    // D is open at the end, opened a day before the period's last day.
    assert_eq!(
        figures["backlog"],
        json!({
            "atStart": 0,
            "atEnd": 1,
            "age": [
                {"label": "0-1 days", "minDays": 0, "maxDays": 1, "tickets": 1},
                {"label": "2-7 days", "minDays": 2, "maxDays": 7, "tickets": 0},
                {"label": "8-30 days", "minDays": 8, "maxDays": 30, "tickets": 0},
                {"label": "over 30 days", "minDays": 31, "maxDays": null, "tickets": 0},
            ]
        })
    );

    let priorities: Vec<&Value> = figures["byPriority"].as_array().unwrap().iter().collect();
    let names: Vec<&str> = priorities
        .iter()
        .map(|p| p["value"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["P1_HIGH", "P2_MEDIUM", "P3_LOW"]);
    let high = priorities[0];
    assert_eq!(high["ticketsCreated"], 2);
    assert_eq!(high["ticketsResolved"], 3);
    assert_eq!(high["backlog"], 0);
    about(&high["firstReplyMedian"], 30.0);
    about(&high["fullResolutionMedian"], 240.0);
    assert_eq!(priorities[2]["backlog"], 1);
    assert_eq!(priorities[2]["firstReplyMedian"], Value::Null);
    let channels: Vec<&str> = figures["byChannel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["API", "CHAT", "EMAIL", "PHONE", "WEB_FORM"]);

    // agent-7: A (twice) and C; agent-8: B.
    let agents = figures["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2, "{agents:?}");
    let (seven, eight) = (&agents[0], &agents[1]);
    assert_eq!(seven["agent"], "agent-7");
    assert_eq!(seven["ticketsAssigned"], 2);
    assert_eq!(seven["ticketsResolved"], 3);
    about(&seven["firstReplyMedian"], 30.0);
    about(&seven["fullResolutionMedian"], 360.0);
    assert_eq!(seven["openLoad"], 0);
    assert_eq!(
        seven["csat"],
        json!({"score": 2.0 / 3.0, "mean": 4.0, "responses": 3})
    );
    assert_eq!(
        eight["csat"],
        json!({"score": 0.0, "mean": 3.0, "responses": 1})
    );
    assert_eq!(eight["agent"], "agent-8");
    assert_eq!(eight["ticketsAssigned"], 1);
    about(&eight["fullResolutionMedian"], 240.0);

    let no_nps = json!({"score": null, "responses": 0, "promoters": 0, "passives": 0,
                        "detractors": 0});
    assert_eq!(
        figures["series"],
        json!([
            {"start": "2026-11-24T00:00:00Z", "ticketsCreated": 5, "ticketsResolved": 3,
             "ticketsReopened": 1, "ticketsCancelled": 1,
             "csat": {"score": 1.0 / 3.0, "mean": 3.33, "responses": 3}, "nps": no_nps},
            {"start": "2026-11-25T00:00:00Z", "ticketsCreated": 0, "ticketsResolved": 1,
             "ticketsReopened": 0, "ticketsCancelled": 0,
             "csat": {"score": 1.0, "mean": 5.0, "responses": 1}, "nps": no_nps},
        ])
    );

    // Wednesday alone: C's resolution, with the backlog D left at its start.
    let wednesday = desk
        .analytics("startDate=2026-11-25&endDate=2026-11-25&interval=hour")
        .await;
    assert_eq!(wednesday["tickets"]["ticketsCreated"], 0);
    assert_eq!(wednesday["tickets"]["ticketsResolved"], 1);
    assert_eq!(wednesday["backlog"]["atStart"], 2);
    assert_eq!(wednesday["backlog"]["atEnd"], 1);
    assert_eq!(wednesday["tickets"]["resolutionRate"], 0.5);
    let series = wednesday["series"].as_array().unwrap();
    assert_eq!(series.len(), 24);
    assert_eq!(series[10]["start"], "2026-11-25T10:00:00Z");
    assert_eq!(series[10]["ticketsResolved"], 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_filter_narrows_the_figures_to_its_slice(pool: PgPool) {
    let desk = desk(pool).await;
    let high = desk
        .analytics(&format!("{BOTH_DAYS}&priority=P1_HIGH"))
        .await;
    assert_eq!(high["tickets"]["ticketsCreated"], 2);
    assert_eq!(high["tickets"]["ticketsResolved"], 3);
    times(
        &high["times"]["firstReplyTime"],
        2,
        [45.0, 30.0, 60.0],
        [45.0, 30.0, 60.0],
    );
    assert_eq!(high["firstContactResolution"]["fcrRate"], 0.0);
    // The breakdowns stay the whole desk's.
    assert_eq!(high["byPriority"].as_array().unwrap().len(), 3);

    let seven = desk.analytics(&format!("{BOTH_DAYS}&agent=agent-7")).await;
    assert_eq!(seven["tickets"]["ticketsResolved"], 3);
    assert_eq!(seven["firstContactResolution"]["oneTouchResolutions"], 1);

    let low = desk
        .analytics(&format!("{BOTH_DAYS}&priority=P3_LOW"))
        .await;
    assert_eq!(low["backlog"]["atEnd"], 1);
    assert_eq!(low["tickets"]["ticketsCancelled"], 1);
    assert_eq!(low["times"]["firstReplyTime"]["measured"], 0);
    assert_eq!(low["times"]["firstReplyTime"]["median"], Value::Null);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_replay_recomputes_the_same_figures(pool: PgPool) {
    let desk = desk(pool).await;
    let queries = [
        BOTH_DAYS.to_owned(),
        format!("{BOTH_DAYS}&channel=EMAIL&interval=week"),
        format!("{BOTH_DAYS}&customerTier=PROFESSIONAL"),
        "startDate=2026-11-24&endDate=2026-11-24&interval=hour".to_owned(),
    ];
    let mut before = Vec::new();
    for query in &queries {
        before.push(desk.analytics(query).await);
    }
    support_projections::replay(&desk.app.pool, &common::data_keys(), &AnalyticsProjection)
        .await
        .unwrap();
    for (query, before) in queries.iter().zip(before) {
        assert_eq!(desk.analytics(query).await, before, "{query}");
    }
}

/// Periods over three months, read from the monthly rows where they cover a whole month, from the
/// weekly rows where they cover a whole week (from Monday) around those, and from the daily rows
/// at their edges (docs/analytics.md, Cost), each computed by hand:
/// - T1 (P1_HIGH): opened Tue 2026-09-29 10:00, assigned, resolved Fri 2026-10-02 10:00 (3 days);
/// - T2 (P3_LOW): opened 2026-10-15 08:00, assigned, resolved 2026-11-03 08:00 (19 days);
/// - T3 (P2_MEDIUM): opened 2026-10-31 23:00, left open;
/// - T4 (P2_MEDIUM): opened 2026-11-30 12:00, cancelled 2026-12-01 12:00.
#[sqlx::test(migrations = "../migrations")]
async fn whole_months_weeks_and_edge_days_add_up_to_the_period(pool: PgPool) {
    let (app, clock) = spawn_notifying_app(pool, at("2026-09-29T09:00:00Z"), None, None).await;
    let admin = app.admin();
    let desk = Desk { app, clock, admin };
    let resolve = json!({"status": "RESOLVED", "resolutionNote": "Fixed"});
    let open = |title, priority| ticket(title, priority, "TECHNICAL", "EMAIL", "customer-1");
    let t1 = desk
        .open("2026-09-29T10:00:00Z", open("T1", "P1_HIGH"))
        .await;
    desk.update(
        "2026-09-29T11:00:00Z",
        &t1,
        json!({"assignedTo": "agent-7"}),
    )
    .await;
    desk.update("2026-10-02T10:00:00Z", &t1, resolve.clone())
        .await;
    let t2 = desk
        .open("2026-10-15T08:00:00Z", open("T2", "P3_LOW"))
        .await;
    desk.update(
        "2026-10-15T09:00:00Z",
        &t2,
        json!({"assignedTo": "agent-7"}),
    )
    .await;
    desk.open("2026-10-31T23:00:00Z", open("T3", "P2_MEDIUM"))
        .await;
    desk.update("2026-11-03T08:00:00Z", &t2, resolve).await;
    let t4 = desk
        .open("2026-11-30T12:00:00Z", open("T4", "P2_MEDIUM"))
        .await;
    desk.update("2026-12-01T12:00:00Z", &t4, json!({"status": "CANCELLED"}))
        .await;

    let counts = |figures: &Value| {
        let tickets = &figures["tickets"];
        let backlog = &figures["backlog"];
        let aged: Vec<i64> = backlog["age"]
            .as_array()
            .unwrap()
            .iter()
            .map(|bucket| bucket["tickets"].as_i64().unwrap())
            .collect();
        (
            [
                tickets["ticketsCreated"].as_i64().unwrap(),
                tickets["ticketsResolved"].as_i64().unwrap(),
                tickets["ticketsCancelled"].as_i64().unwrap(),
                backlog["atStart"].as_i64().unwrap(),
                backlog["atEnd"].as_i64().unwrap(),
            ],
            aged,
        )
    };
    let queries = [
        // Two edge days, October and November, one edge day.
        "startDate=2026-09-29&endDate=2026-12-01&interval=week",
        // October alone.
        "startDate=2026-10-01&endDate=2026-10-31",
        // No whole month: 3 days, the four weeks from Monday 2026-10-05, 2 days.
        "startDate=2026-10-02&endDate=2026-11-03",
        "startDate=2026-11-01&endDate=2026-11-30&priority=P3_LOW",
    ];
    let mut answers = Vec::new();
    for query in queries {
        answers.push(desk.analytics(query).await);
    }

    let whole = &answers[0];
    // T3 is 31 days old on the last day, 2026-12-01.
    assert_eq!(counts(whole), ([4, 2, 1, 0, 1], vec![0, 0, 0, 1]));
    let resolution = &whole["times"]["fullResolutionTime"];
    assert_eq!(resolution["measured"], 2);
    assert_eq!(
        resolution["mean"].as_f64().unwrap(),
        (4320.0 + 27360.0) / 2.0
    );
    about(&resolution["median"], 4320.0);
    about(&resolution["p90"], 27360.0);
    let weeks = whole["series"].as_array().unwrap();
    assert_eq!(weeks.len(), 10);
    let created: i64 = weeks
        .iter()
        .map(|w| w["ticketsCreated"].as_i64().unwrap())
        .sum();
    assert_eq!(created, 4);
    let agent = &whole["agents"][0];
    assert_eq!(
        (&agent["agent"], &agent["ticketsResolved"]),
        (&json!("agent-7"), &json!(2))
    );
    about(&agent["fullResolutionMedian"], 4320.0);

    // T1 open at the start; T2 (16 days old on the 31st) and T3 (0) at the end.
    assert_eq!(counts(&answers[1]), ([2, 1, 0, 1, 2], vec![1, 0, 1, 0]));
    assert_eq!(counts(&answers[2]), ([2, 2, 0, 1, 1], vec![0, 1, 0, 0]));
    about(&answers[2]["times"]["fullResolutionTime"]["p90"], 27360.0);
    assert_eq!(counts(&answers[3]), ([0, 1, 0, 1, 0], vec![0, 0, 0, 0]));

    support_projections::replay(&desk.app.pool, &common::data_keys(), &AnalyticsProjection)
        .await
        .unwrap();
    for (query, before) in queries.iter().zip(answers) {
        assert_eq!(desk.analytics(query).await, before, "{query}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn customers_do_not_read_analytics_and_bad_queries_are_refused(pool: PgPool) {
    let (app, _clock) = spawn_notifying_app(pool, at("2026-11-24T07:00:00Z"), None, None).await;
    let customer = app.token(ActorRole::Customer, "customer-1");
    problem(
        app.get(&format!("{ANALYTICS}?{BOTH_DAYS}"), &customer)
            .await,
        403,
    )
    .await;
    let agent = app.token(ActorRole::Agent, "agent-1");
    let refused = problem(
        app.get(
            &format!("{ANALYTICS}?startDate=2026-11-25&endDate=2026-11-24&channel=FAX&agent=a"),
            &agent,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(common::fields(&refused), ["channel", "endDate"]);
}

/// Incidents reported, acknowledged and resolved on the manual clock, Tuesday 2026-11-24:
/// - CRITICAL at 08:00, acknowledged 08:06, resolved 09:00;
/// - CRITICAL at 10:00, its 15-minute acknowledgement target missed (the timer's pass at
///   10:16), acknowledged 10:20, resolved 12:00;
/// - HIGH at 11:00, acknowledged 11:30, still open;
/// - LOW at 12:00, never acknowledged.
#[sqlx::test(migrations = "../migrations")]
async fn incidents_figures_are_mtta_and_mttr_by_severity(pool: PgPool) {
    let (app, clock) = spawn_notifying_app(pool, at("2026-11-24T08:00:00Z"), None, None).await;
    let agent = app.token(ActorRole::Agent, "oncall-1");
    let report = |severity: &str| {
        json!({
            "title": format!("{severity} outage"),
            "description": "Errors",
            "severity": severity,
            "category": "OUTAGE",
            "impact": "MAJOR",
        })
    };
    let path = |incident: &Value, tail: &str| {
        format!(
            "/api/v1/support/incidents/{}{tail}",
            incident["id"].as_str().unwrap()
        )
    };
    let create = |body: Value| {
        let (app, agent) = (&app, &agent);
        async move { ok(app.post("/api/v1/support/incidents", agent, body).await).await }
    };
    let acknowledge = |incident: Value| {
        let (app, agent) = (&app, &agent);
        async move {
            ok(app
                .post(&path(&incident, "/acknowledge"), agent, json!({}))
                .await)
            .await
        }
    };
    let resolve = |incident: Value| {
        let (app, agent) = (&app, &agent);
        async move {
            ok(app
                .put(&path(&incident, ""), agent, json!({"status": "RESOLVED"}))
                .await)
            .await
        }
    };

    let first = create(report("CRITICAL")).await;
    clock.set(at("2026-11-24T08:06:00Z"));
    acknowledge(first.clone()).await;
    clock.set(at("2026-11-24T09:00:00Z"));
    resolve(first).await;
    clock.set(at("2026-11-24T10:00:00Z"));
    let second = create(report("CRITICAL")).await;
    clock.set(at("2026-11-24T10:16:00Z"));
    wait_until_applied(&app.pool, "incidents", "incident").await;
    assert_eq!(
        supportd::sla_timer::record_due(&app.context, clock.now())
            .await
            .unwrap(),
        1
    );
    clock.set(at("2026-11-24T10:20:00Z"));
    acknowledge(second.clone()).await;
    clock.set(at("2026-11-24T11:00:00Z"));
    let high = create(report("HIGH")).await;
    clock.set(at("2026-11-24T11:30:00Z"));
    acknowledge(high).await;
    clock.set(at("2026-11-24T12:00:00Z"));
    resolve(second).await;
    create(report("LOW")).await;

    wait_until_applied(&app.pool, "incidents", "incident").await;
    let figures = analytics(&app, BOTH_DAYS).await;
    let incidents = &figures["incidents"];
    // Acknowledged after 6, 20 and 30 minutes; resolved after 60 and 120. percentile_disc: the
    // first value whose rank reaches the share.
    assert_eq!(
        incidents["total"],
        json!({
            "severity": null, "incidents": 4, "breached": 1,
            "mtta": {"mean": 18.67, "median": 20.0, "p90": 30.0},
            "mttr": {"mean": 90.0, "median": 60.0, "p90": 120.0},
        })
    );
    let severities: Vec<&str> = incidents["bySeverity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["CRITICAL", "HIGH", "MEDIUM", "LOW"]);
    assert_eq!(
        incidents["bySeverity"][0],
        json!({
            "severity": "CRITICAL", "incidents": 2, "breached": 1,
            "mtta": {"mean": 13.0, "median": 6.0, "p90": 20.0},
            "mttr": {"mean": 90.0, "median": 60.0, "p90": 120.0},
        })
    );
    assert_eq!(incidents["bySeverity"][3]["incidents"], 1);
    assert_eq!(incidents["bySeverity"][3]["mtta"]["mean"], Value::Null);
    assert_eq!(incidents["postMortemsOverdue"], 0);

    // Seven days after their resolution, both critical post-mortems are overdue.
    let later = analytics(&app, "startDate=2026-12-01&endDate=2026-12-01").await;
    assert_eq!(later["incidents"]["total"]["incidents"], 0);
    assert_eq!(later["incidents"]["postMortemsOverdue"], 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_customer_rates_a_resolved_ticket_and_bad_ratings_change_nothing(pool: PgPool) {
    let (app, clock) = spawn_notifying_app(pool, at("2026-11-24T08:00:00Z"), None, None).await;
    let admin = app.admin();
    let ticket = app
        .open_ticket(
            &admin,
            ticket("A", "P1_HIGH", "TECHNICAL", "EMAIL", "customer-1"),
        )
        .await;
    let path = format!("{TICKETS}/{}/satisfaction", ticket["id"].as_str().unwrap());
    let customer = app.token(ActorRole::Customer, "customer-1");
    let rating = json!({"score": 5});

    let open = problem(app.post(&path, &customer, rating.clone()).await, 409).await;
    assert!(open["detail"].as_str().unwrap().contains("OPEN"), "{open}");
    clock.set(at("2026-11-24T09:00:00Z"));
    ok(app
        .put(
            &format!("{TICKETS}/{}", ticket["id"].as_str().unwrap()),
            &admin,
            json!({"status": "RESOLVED", "resolutionNote": "Fixed"}),
        )
        .await)
    .await;
    let events = app.event_count().await;

    let agent = app.token(ActorRole::Agent, "agent-1");
    problem(app.post(&path, &agent, rating.clone()).await, 403).await;
    let stranger = app.token(ActorRole::Customer, "customer-2");
    problem(app.post(&path, &stranger, rating.clone()).await, 404).await;
    let bad = problem(
        app.post(&path, &customer, json!({"score": 6, "comment": ""}))
            .await,
        422,
    )
    .await;
    assert_eq!(common::fields(&bad), ["score", "comment"]);
    let fraction = problem(app.post(&path, &customer, json!({"score": 4.5})).await, 422).await;
    assert_eq!(common::fields(&fraction), ["score"]);
    problem(
        app.post(&path, &customer, json!({"comment": "no score"}))
            .await,
        422,
    )
    .await;
    assert_eq!(app.event_count().await, events, "nothing was recorded");
    problem(app.get(&path, &customer).await, 404).await;

    clock.set(at("2026-11-24T09:30:00Z"));
    // A whole number sent as 4.0 is a 4.
    let rated = ok(app.post(&path, &customer, json!({"score": 4.0})).await).await;
    assert_eq!(rated["score"], 4);
    assert_eq!(rated["comment"], Value::Null);
    // The same rating again records nothing.
    ok(app.post(&path, &customer, json!({"score": 4})).await).await;
    assert_eq!(app.event_count().await, events + 1);
    let read = ok(app.get(&path, &agent).await).await;
    assert_eq!(read, rated);
    problem(app.get(&path, &stranger).await, 404).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_resolution_invites_its_customer_to_rate_it_in_the_inbox(pool: PgPool) {
    let (app, clock) = spawn_notifying_app(pool, at("2026-11-24T08:00:00Z"), None, None).await;
    let admin = app.admin();
    let ticket = app
        .open_ticket(
            &admin,
            ticket("A", "P1_HIGH", "TECHNICAL", "EMAIL", "customer-1"),
        )
        .await;
    let id = ticket["id"].as_str().unwrap();
    clock.set(at("2026-11-24T09:00:00Z"));
    ok(app
        .put(
            &format!("{TICKETS}/{id}"),
            &admin,
            json!({"status": "RESOLVED", "resolutionNote": "Fixed"}),
        )
        .await)
    .await;
    wait_until_applied(&app.pool, "notification_planner", "ticket").await;
    supportd::notifier::deliver_due(&app.context, clock.now())
        .await
        .unwrap();
    let customer = app.token(ActorRole::Customer, "customer-1");
    let inbox = ok(app.get("/api/v1/support/notifications", &customer).await).await;
    let items = inbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{inbox}");
    assert_eq!(items[0]["kind"], "STATUS_CHANGE");
    assert_eq!(
        items[0]["headline"],
        "Resolved: how did we do? Rate the resolution from 1 to 5"
    );
    assert_eq!(items[0]["ticketId"], id);
}

/// Five accounts answer on Tuesday 2026-11-24: 10, 9, 9 (promoters), 7 (passive), 3 (detractor):
/// NPS = 60% - 20% = 40.
#[sqlx::test(migrations = "../migrations")]
async fn nps_counts_one_response_an_account_every_90_days(pool: PgPool) {
    let (app, clock) = spawn_notifying_app(pool, at("2026-11-24T09:00:00Z"), None, None).await;
    let respond = |customer: &str, body: Value| {
        let token = app.token(ActorRole::Customer, customer);
        let app = &app;
        async move {
            app.post("/api/v1/support/nps-responses", &token, body)
                .await
        }
    };
    for (n, score) in [10, 9, 9, 7, 3].into_iter().enumerate() {
        let customer = format!("customer-{}", n + 1);
        let response = respond(&customer, json!({"score": score, "comment": "Fine"})).await;
        assert_eq!(response.status(), 201);
        let response: Value = response.json().await.unwrap();
        assert_eq!(response["customerId"], customer);
        assert_eq!(response["score"], score);
        assert_eq!(response["respondedAt"], "2026-11-24T09:00:00Z");
    }
    let agent = app.token(ActorRole::Agent, "agent-1");
    problem(
        app.post("/api/v1/support/nps-responses", &agent, json!({"score": 9}))
            .await,
        403,
    )
    .await;
    let bad = problem(
        respond("customer-9", json!({"score": 11, "comment": ""})).await,
        422,
    )
    .await;
    assert_eq!(common::fields(&bad), ["score", "comment"]);

    // A second answer counts from 90 days after the first.
    clock.set(at("2027-01-01T09:00:00Z"));
    let soon = problem(respond("customer-1", json!({"score": 0})).await, 409).await;
    assert!(
        soon["detail"].as_str().unwrap().contains("2027-02-22"),
        "{soon}"
    );
    clock.set(at("2027-02-22T09:00:00Z"));
    assert_eq!(
        respond("customer-1", json!({"score": 0})).await.status(),
        201
    );

    wait_until_applied(&app.pool, "nps_responses", "nps_survey").await;
    let tuesday = analytics(&app, "startDate=2026-11-24&endDate=2026-11-24").await;
    assert_eq!(
        tuesday["satisfaction"]["nps"],
        json!({"score": 40.0, "responses": 5, "promoters": 3, "passives": 1, "detractors": 1})
    );
    assert_eq!(tuesday["series"][0]["nps"]["score"], 40.0);
    let february = analytics(&app, "startDate=2027-02-01&endDate=2027-02-28").await;
    assert_eq!(february["satisfaction"]["nps"]["score"], -100.0);

    // The account's export lists its responses; its erasure erases their comments.
    let admin = app.admin();
    let export = ok(app
        .get("/api/v1/support/customers/customer-2/personal-data", &admin)
        .await)
    .await;
    assert_eq!(export["npsResponses"][0]["comment"], "Fine", "{export}");
    let receipt = ok(app
        .send(
            reqwest::Method::DELETE,
            "/api/v1/support/customers/customer-2/personal-data",
            Some(&admin),
            None,
        )
        .await)
    .await;
    assert_eq!(
        receipt["npsSurveys"],
        json!([support_domain::nps::survey_id("customer-2")])
    );
    let comments: Vec<Option<String>> =
        sqlx::query_scalar("SELECT comment FROM nps_responses WHERE customer_id = 'customer-2'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(comments, [Some("[erased]".to_owned())]);

    let rows = || async {
        sqlx::query_as::<_, (String, i16, Option<String>)>(
            "SELECT customer_id, score, comment FROM nps_responses ORDER BY customer_id, sequence",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    let before = rows().await;
    support_projections::replay(
        &app.pool,
        &common::data_keys(),
        &support_projections::nps::NpsResponsesProjection,
    )
    .await
    .unwrap();
    assert_eq!(rows().await, before);
}
