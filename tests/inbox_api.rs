//! The in-app inbox over the real API: in-app deliveries of a ticket's real events, recorded as
//! the planner records them, delivered by the notifier's passes at chosen instants of an injected
//! clock, and read, paged and marked read by their recipient, and by no one else.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::{
    fields, ok_json, problem, spawn_app_without_sla_timer, ticket_body, wait_until_projected,
    TestApp,
};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::clock::ManualClock;
use supportd::notifier::deliver_due;
use uuid::Uuid;

const INBOX: &str = "/api/v1/support/notifications";
/// The agent whose inbox the tests read.
const AGENT: &str = "agent-inbox";
const OPENED: &str = "TicketOpened";

fn t0() -> DateTime<Utc> {
    "2026-11-30T10:00:00Z".parse().unwrap()
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(n)
}

/// The app at `t0`, without the notifier and the SLA timer, whose passes the tests run.
async fn app(pool: PgPool) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let injected = clock.clone();
    let app = spawn_app_without_sla_timer(pool, move |s| s.clock = injected).await;
    (app, clock)
}

/// Records an in-app delivery of `ticket`'s (first) `event_type` event to `recipient`, due at `due`, as the
/// planner records one (pending, no body); returns its id.
async fn plan(
    app: &TestApp,
    ticket: &Value,
    event_type: &str,
    recipient: &str,
    due: DateTime<Utc>,
) -> String {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO notification_deliveries (id, message_id, event_id, global_position, \
             event_type, recipient, channel, kind, state, next_attempt_at, created_at) \
         SELECT gen_random_uuid(), 'ticket:' || aggregate_id || ':' || sequence, \
             gen_random_uuid(), global_position, event_type, $3, 'IN_APP', 'ASSIGNMENT', \
             'PENDING', $4, $4 \
         FROM events WHERE aggregate_type = 'ticket' AND aggregate_id = $1 AND event_type = $2 \
         ORDER BY sequence LIMIT 1 RETURNING id",
    )
    .bind(ticket["id"].as_str().unwrap())
    .bind(event_type)
    .bind(recipient)
    .bind(due)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    id.to_string()
}

async fn inbox(app: &TestApp, token: &str, query: &str) -> Value {
    ok_json(app.get(&format!("{INBOX}{query}"), token).await, 200).await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every item from `query`'s first page on, following `nextCursor`.
async fn every_page(app: &TestApp, token: &str, query: &str) -> Vec<Vec<String>> {
    let mut pages = vec![];
    let mut page = inbox(app, token, query).await;
    loop {
        pages.push(ids(&page));
        let Some(cursor) = page["nextCursor"].as_str() else {
            return pages;
        };
        page = inbox(app, token, &format!("{query}&cursor={cursor}")).await;
    }
}

async fn mark_read(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.post(&format!("{INBOX}/{id}/read"), token, json!({}))
        .await
}

#[sqlx::test(migrations = "../migrations")]
async fn a_user_reads_their_delivered_notifications_unread_first_and_marks_them_read(pool: PgPool) {
    let (app, clock) = app(pool).await;
    let admin = app.admin();
    let agent = app.token(ActorRole::Agent, AGENT);
    let mut tickets = vec![];
    for title in [
        "Dashboard down",
        "Invoices late",
        "Export fails",
        "Login slow",
        "Reports empty",
    ] {
        tickets.push(
            app.open_ticket(&admin, ticket_body(title, "customer-1"))
                .await,
        );
    }
    let path = format!(
        "/api/v1/support/tickets/{}",
        tickets[0]["id"].as_str().unwrap()
    );
    ok_json(
        app.put(
            &path,
            &admin,
            json!({"status": "IN_PROGRESS", "assignedTo": "agent-7"}),
        )
        .await,
        200,
    )
    .await;

    // Due a minute apart, each delivered by its own pass: a, b, c, d opened, e the status change.
    let mut planned = vec![];
    for (n, ticket) in tickets[..4].iter().enumerate() {
        planned.push(plan(&app, ticket, OPENED, AGENT, minutes(n as i64 + 1)).await);
    }
    planned.push(plan(&app, &tickets[0], "TicketStatusChanged", AGENT, minutes(5)).await);
    // Held for the agent's working hours: due in an hour.
    let held = plan(&app, &tickets[4], OPENED, AGENT, minutes(60)).await;
    let [a, b, c, d, e] = <[String; 5]>::try_from(planned).unwrap();

    assert_eq!(
        ids(&inbox(&app, &agent, "").await),
        Vec::<String>::new(),
        "nothing is delivered yet"
    );
    for n in 1..=5 {
        deliver_due(&app.context, minutes(n)).await.unwrap();
    }
    let page = inbox(&app, &agent, "").await;
    assert_eq!(
        ids(&page),
        [e.as_str(), d.as_str(), c.as_str(), b.as_str(), a.as_str()],
        "newest first; the held one is not listed"
    );
    assert_eq!(page["unreadCount"], 5);
    assert_eq!(page["nextCursor"], Value::Null);
    let newest = &page["items"][0];
    assert_eq!(newest["eventType"], "TicketStatusChanged");
    assert_eq!(
        newest["headline"],
        "Status changed from OPEN to IN_PROGRESS"
    );
    assert_eq!(newest["kind"], "ASSIGNMENT");
    assert_eq!(newest["ticketId"], tickets[0]["id"]);
    assert_eq!(newest["ticketNumber"], tickets[0]["ticketNumber"]);
    assert_eq!(newest["title"], "Dashboard down");
    assert_eq!(
        (newest["read"].clone(), newest["readAt"].clone()),
        (json!(false), Value::Null)
    );
    assert_eq!(
        newest["deliveredAt"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        minutes(5)
    );
    assert_eq!(page["items"][4]["headline"], "New ticket");

    // Read one: it moves behind the unread ones; reading it again keeps its first time.
    clock.set(minutes(10));
    let read = ok_json(mark_read(&app, &agent, &c).await, 200).await;
    assert_eq!(
        (read["id"].as_str(), read["read"].clone()),
        (Some(c.as_str()), json!(true))
    );
    assert_eq!(read["title"], "Export fails");
    clock.set(minutes(11));
    let again = ok_json(mark_read(&app, &agent, &c).await, 200).await;
    assert_eq!(again["readAt"], read["readAt"]);
    assert_eq!(
        read["readAt"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        minutes(10)
    );
    let page = inbox(&app, &agent, "").await;
    assert_eq!(
        ids(&page),
        [e.as_str(), d.as_str(), b.as_str(), a.as_str(), c.as_str()],
        "unread first, then newest first"
    );
    assert_eq!(page["unreadCount"], 4);
    assert_eq!(
        ids(&inbox(&app, &agent, "?unread=true").await),
        [e.as_str(), d.as_str(), b.as_str(), a.as_str()]
    );

    // Pages of two, across the boundary of read and unread: no duplicate, no gap.
    assert_eq!(
        every_page(&app, &agent, "?limit=2").await,
        [
            vec![e.clone(), d.clone()],
            vec![b.clone(), a.clone()],
            vec![c.clone()]
        ]
    );
    assert_eq!(
        every_page(&app, &agent, "?limit=3&unread=true").await,
        [vec![e.clone(), d.clone(), b.clone()], vec![a.clone()]]
    );

    // The held one arrives when its hour comes, newest of the unread.
    deliver_due(&app.context, minutes(59)).await.unwrap();
    assert_eq!(ids(&inbox(&app, &agent, "?limit=1").await), [e.as_str()]);
    deliver_due(&app.context, minutes(60)).await.unwrap();
    let page = inbox(&app, &agent, "").await;
    assert_eq!(
        ids(&page),
        [
            held.as_str(),
            e.as_str(),
            d.as_str(),
            b.as_str(),
            a.as_str(),
            c.as_str()
        ]
    );
    assert_eq!(page["unreadCount"], 5);

    let all = format!("{INBOX}/read-all");
    assert_eq!(
        ok_json(app.post(&all, &agent, json!({})).await, 200).await,
        json!({"marked": 5})
    );
    assert_eq!(
        ok_json(app.post(&all, &agent, json!({})).await, 200).await,
        json!({"marked": 0})
    );
    let page = inbox(&app, &agent, "").await;
    assert_eq!(page["unreadCount"], 0);
    assert_eq!(
        ids(&page),
        [
            held.as_str(),
            e.as_str(),
            d.as_str(),
            c.as_str(),
            b.as_str(),
            a.as_str()
        ],
        "all read: newest first"
    );
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["read"] == true));
    assert_eq!(
        ids(&inbox(&app, &agent, "?unread=true").await),
        Vec::<String>::new()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn no_one_else_sees_or_marks_a_users_notifications(pool: PgPool) {
    let (app, _clock) = app(pool).await;
    let admin = app.admin();
    let agent = app.token(ActorRole::Agent, AGENT);
    let ticket = app
        .open_ticket(&admin, ticket_body("Dashboard down", "customer-1"))
        .await;
    let theirs = plan(&app, &ticket, OPENED, AGENT, minutes(1)).await;
    // Another customer's, still pending: not theirs to see either, and not the agent's.
    let pending = plan(&app, &ticket, OPENED, "customer-2", minutes(30)).await;
    deliver_due(&app.context, minutes(1)).await.unwrap();

    for other in [
        app.token(ActorRole::Agent, "agent-other"),
        app.token(ActorRole::Customer, "customer-2"),
    ] {
        let page = inbox(&app, &other, "").await;
        assert_eq!(
            (ids(&page), page["unreadCount"].clone()),
            (vec![], json!(0))
        );
        problem(mark_read(&app, &other, &theirs).await, 404).await;
        let all = ok_json(
            app.post(&format!("{INBOX}/read-all"), &other, json!({}))
                .await,
            200,
        )
        .await;
        assert_eq!(all, json!({"marked": 0}));
    }
    let customer = app.token(ActorRole::Customer, "customer-2");
    problem(mark_read(&app, &customer, &pending).await, 404).await;
    for unknown in [Uuid::new_v4().to_string(), "not-an-id".to_owned()] {
        problem(mark_read(&app, &agent, &unknown).await, 404).await;
    }
    let page = inbox(&app, &agent, "").await;
    assert_eq!(
        (ids(&page), page["unreadCount"].clone()),
        (vec![theirs], json!(1))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_parameters_are_refused_all_at_once(pool: PgPool) {
    let (app, _clock) = app(pool).await;
    let agent = app.token(ActorRole::Agent, AGENT);
    let refused = problem(
        app.get(
            &format!("{INBOX}?cursor=garbage&limit=0&unread=yes&page=2"),
            &agent,
        )
        .await,
        422,
    )
    .await;
    let mut named = fields(&refused);
    named.sort_unstable();
    assert_eq!(named, ["cursor", "limit", "page", "unread"]);
    for query in ["limit=101", "limit=ten", "cursor=", "unred=true"] {
        problem(app.get(&format!("{INBOX}?{query}"), &agent).await, 422).await;
    }
    problem(app.send(reqwest::Method::GET, INBOX, None, None).await, 401).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn an_erased_customers_ticket_reads_erased_in_the_inbox(pool: PgPool) {
    let (app, _clock) = app(pool).await;
    let admin = app.admin();
    let agent = app.token(ActorRole::Agent, AGENT);
    let ticket = app
        .open_ticket(&admin, ticket_body("Dashboard down", "customer-1"))
        .await;
    plan(&app, &ticket, OPENED, AGENT, minutes(1)).await;
    deliver_due(&app.context, minutes(1)).await.unwrap();
    assert_eq!(
        inbox(&app, &agent, "").await["items"][0]["title"],
        "Dashboard down"
    );

    let erase = "/api/v1/support/customers/customer-1/personal-data";
    let response = app
        .send(reqwest::Method::DELETE, erase, Some(&admin), None)
        .await;
    ok_json(response, 200).await;
    wait_until_projected(&app.pool).await;
    let item = &inbox(&app, &agent, "").await["items"][0];
    assert_eq!(item["title"], "[erased]");
    assert_eq!(item["headline"], "New ticket");
    assert_eq!(item["ticketNumber"], ticket["ticketNumber"]);
}
