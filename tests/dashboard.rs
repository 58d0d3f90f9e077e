//! The support dashboard end to end: a desk worked over HTTP on a manual clock, the page read in
//! headless Chromium with an agent's token in its fragment, each of its seven charts drawn with
//! marks and its headline figures those of the desk; without a token the page asks for one, and a
//! customer's or a forged token gets the API's refusal in words.
//!
//! The desk, Monday 2026-11-16 to Wednesday 2026-11-18 (UTC): three tickets opened, assigned to
//! agent-7, answered once and resolved, then rated 5, 4 and 2 by their customers (CSAT 2 of 3
//! satisfied); a fourth left open. Three NPS answers, 9, 10 and 6 (NPS +33.3). A critical incident
//! acknowledged after 5 minutes and resolved after an hour. Two searches that found nothing.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{browser, spawn_app, spawn_notifying_app, wait_until_applied, TestApp};
use reqwest::header;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::clock::ManualClock;

const TICKETS: &str = "/api/v1/support/tickets";
const INCIDENTS: &str = "/api/v1/support/incidents";
/// The page's period, Monday to Friday of the desk's week.
const PERIOD: &str = "start=2026-11-16&end=2026-11-20&interval=day";
const CHARTS: [&str; 7] = [
    "volume",
    "backlog",
    "sla",
    "times",
    "satisfaction",
    "incidents",
    "kb",
];

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The answer's body; panics unless it is a success (a 202 included: the read models catch up
/// before the page is read).
async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Opens a ticket for `customer` at `opened`; agent-7 takes it 10 minutes later, answers after
/// 30 and resolves it after two hours; the customer rates the resolution `rating` an hour on.
async fn worked_ticket(
    app: &TestApp,
    clock: &ManualClock,
    opened: &str,
    customer: &str,
    priority: &str,
    rating: u8,
) {
    let admin = app.admin();
    let agent = app.token(ActorRole::Agent, "agent-7");
    let opened = at(opened);
    clock.set(opened);
    let ticket = app
        .open_ticket(&admin, ticket(customer, priority, "Cannot sign in"))
        .await;
    let path = format!("{TICKETS}/{}", ticket["id"].as_str().unwrap());
    clock.set(opened + TimeDelta::minutes(10));
    let assign = json!({"assignedTo": "agent-7"});
    ok(app.put(&path, &admin, assign).await).await;
    clock.set(opened + TimeDelta::minutes(30));
    let reply = json!({"body": "Try resetting your password"});
    ok(app.post(&format!("{path}/comments"), &agent, reply).await).await;
    clock.set(opened + TimeDelta::hours(2));
    let resolve = json!({"status": "RESOLVED", "resolutionNote": "Fixed"});
    ok(app.put(&path, &agent, resolve).await).await;
    clock.set(opened + TimeDelta::hours(3));
    let customer = app.token(ActorRole::Customer, customer);
    let rating = json!({"score": rating});
    ok(app
        .post(&format!("{path}/satisfaction"), &customer, rating)
        .await)
    .await;
}

fn ticket(customer: &str, priority: &str, title: &str) -> Value {
    json!({
        "title": title,
        "description": "Something is wrong",
        "priority": priority,
        "category": "TECHNICAL",
        "channel": "WEB_FORM",
        "customerId": customer,
    })
}

/// The desk of the module's comment, its read models caught up.
async fn seeded_desk(pool: PgPool) -> TestApp {
    let (app, clock) = spawn_notifying_app(pool, at("2026-11-16T08:00:00Z"), None, None).await;
    for (opened, customer, priority, rating) in [
        ("2026-11-16T09:00:00Z", "customer-1", "P1_HIGH", 5),
        ("2026-11-16T11:00:00Z", "customer-2", "P2_MEDIUM", 4),
        ("2026-11-17T09:00:00Z", "customer-3", "P1_HIGH", 2),
    ] {
        worked_ticket(&app, &clock, opened, customer, priority, rating).await;
    }
    clock.set(at("2026-11-18T09:00:00Z"));
    app.open_ticket(&app.admin(), ticket("customer-4", "P3_LOW", "Export slow"))
        .await;

    clock.set(at("2026-11-18T10:00:00Z"));
    for (customer, score) in [("customer-1", 9), ("customer-2", 10), ("customer-3", 6)] {
        let token = app.token(ActorRole::Customer, customer);
        let answer = json!({"score": score});
        let response = app.post("/api/v1/support/nps-responses", &token, answer);
        ok(response.await).await;
    }

    let oncall = app.token(ActorRole::Agent, "agent-7");
    clock.set(at("2026-11-18T12:00:00Z"));
    let incident = json!({
        "title": "API errors",
        "description": "The API answers 503",
        "severity": "CRITICAL",
        "category": "OUTAGE",
        "impact": "MAJOR",
    });
    let incident = ok(app.post(INCIDENTS, &oncall, incident).await).await;
    let path = format!("{INCIDENTS}/{}", incident["id"].as_str().unwrap());
    clock.set(at("2026-11-18T12:05:00Z"));
    ok(app
        .post(&format!("{path}/acknowledge"), &oncall, json!({}))
        .await)
    .await;
    clock.set(at("2026-11-18T13:00:00Z"));
    let resolved = json!({"status": "RESOLVED"});
    ok(app.put(&path, &oncall, resolved).await).await;

    clock.set(at("2026-11-18T14:00:00Z"));
    for _ in 0..2 {
        let search = "/api/v1/support/kb-articles?search=nothingmatches";
        ok(app.send(Method::GET, search, None, None).await).await;
    }

    for (read_model, aggregate_type) in [
        ("analytics", "ticket"),
        ("sla_report", "ticket"),
        ("incidents", "incident"),
        ("nps_responses", "nps_survey"),
    ] {
        wait_until_applied(&app.pool, read_model, aggregate_type).await;
    }
    app
}

/// The opening tag of the first element with `attribute` (`name="value"`) in the DOM.
fn tag<'a>(dom: &'a str, attribute: &str) -> &'a str {
    let at = dom
        .find(attribute)
        .unwrap_or_else(|| panic!("no element with {attribute} in {dom}"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

/// The value of `name` on an opening tag, if it has one.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!(" {name}=\"");
    let from = tag.find(&marker)? + marker.len();
    Some(&tag[from..from + tag[from..].find('"')?])
}

/// The text of the headline figure `name`.
fn headline<'a>(dom: &'a str, name: &str) -> &'a str {
    let opening = tag(dom, &format!("data-figure=\"{name}\""));
    let from = dom.find(opening).unwrap() + opening.len();
    &dom[from..from + dom[from..].find('<').unwrap()]
}

fn page(app: &TestApp, fragment: &str) -> String {
    format!("{}/dashboard#{fragment}", app.address)
}

#[sqlx::test(migrations = "../migrations")]
async fn the_dashboard_draws_every_chart_of_a_seeded_desk(pool: PgPool) {
    let app = seeded_desk(pool).await;
    let agent = app.token(ActorRole::Agent, "agent-7");
    let url = page(&app, &format!("token={agent}&{PERIOD}"));
    let dom = browser::dom(&url).await;

    assert!(!dom.contains("role=\"alert\""), "an error is shown: {dom}");
    for chart in CHARTS {
        let section = tag(&dom, &format!("data-chart=\"{chart}\""));
        assert_eq!(attribute(section, "data-drawn"), Some("true"), "{section}");
        let marks: usize = attribute(section, "data-marks")
            .unwrap_or_else(|| panic!("{section} counts no marks"))
            .parse()
            .unwrap();
        assert!(marks > 0, "{chart} drew nothing: {section}");
    }
    // Created on Monday (2), Tuesday and Wednesday; resolved on Monday and Tuesday.
    assert_eq!(
        attribute(tag(&dom, "data-chart=\"volume\""), "data-marks"),
        Some("5")
    );
    assert_eq!(headline(&dom, "ticketsCreated"), "4");
    assert_eq!(headline(&dom, "ticketsResolved"), "3");
    // 3 resolutions of 4 tickets to work; each resolved after a single reply.
    assert_eq!(headline(&dom, "resolutionRate"), "75%");
    assert_eq!(headline(&dom, "fcrRate"), "100%");
    for words in [
        "From 16 Nov 2026 to 20 Nov 2026 (UTC), by day.",
        "1 ticket open at the end of the period",
        "CSAT 66.7% satisfied",
        "NPS +33.3: 3 responses, 2 promoters, 0 passives, 1 detractor.",
        "1 incident, 0 breached a target; MTTA 5 min, MTTR 1 h (means)",
        "2 searches, 2 found nothing; 0 article views.",
        "2 of 2 searches found nothing",
    ] {
        assert!(dom.contains(words), "{words:?} is not on the page: {dom}");
    }
    // The token is not in the page itself.
    assert!(!dom.contains(&agent));

    // The artefact: the page as a support lead sees it at 1280 pixels wide.
    browser::screenshot(&url, "dashboard").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn without_a_token_the_page_asks_for_one_and_refusals_are_shown(pool: PgPool) {
    let app = spawn_app(pool).await;
    for (path, content_type) in [
        ("/dashboard", "text/html; charset=utf-8"),
        ("/dashboard/dashboard.js", "text/javascript; charset=utf-8"),
        ("/dashboard/dashboard.css", "text/css; charset=utf-8"),
    ] {
        let response = app.send(Method::GET, path, None, None).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            supportd::dashboard::CONTENT_SECURITY_POLICY,
            "{path}"
        );
    }

    let signed_out = browser::dom(&page(&app, PERIOD)).await;
    let sign_in = tag(&signed_out, "id=\"sign-in\"");
    assert_eq!(attribute(sign_in, "hidden"), None, "{sign_in}");
    assert!(tag(&signed_out, "id=\"token\"").contains("type=\"password\""));
    assert!(attribute(tag(&signed_out, "id=\"report\""), "hidden").is_some());
    assert!(!signed_out.contains("role=\"alert\""));

    let customer = app.token(ActorRole::Customer, "customer-1");
    let refused = browser::dom(&page(&app, &format!("token={customer}&{PERIOD}"))).await;
    assert!(
        tag(&refused, "role=\"alert\"").contains("class=\"alert\""),
        "{refused}"
    );
    assert!(
        refused.contains(
            "<strong>Not allowed (403):</strong> the customer role cannot read analytics"
        ),
        "{refused}"
    );
    assert_eq!(attribute(tag(&refused, "id=\"sign-in\""), "hidden"), None);
    assert!(!refused.contains("data-drawn"));

    let forged = browser::dom(&page(&app, &format!("token=not.a.token&{PERIOD}"))).await;
    assert!(
        forged.contains("<strong>Authentication required (401):</strong>"),
        "{forged}"
    );
    assert_eq!(attribute(tag(&forged, "id=\"sign-in\""), "hidden"), None);
}
