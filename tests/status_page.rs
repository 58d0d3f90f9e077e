//! The public status page end to end: component states from incidents' impact, an admin's
//! override, maintenance windows, 90 daily bars and uptime on the injected clock, the Atom feed,
//! internal updates kept off all three, and the HTML page read in headless Chromium.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::browser;
use common::{fields, ok_json, problem, spawn_app_with, wait_until_applied, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::clock::ManualClock;

const INCIDENTS: &str = "/api/v1/support/incidents";
const STATUS: &str = "/api/v1/status";
const SECRET_NOTE: &str = "db-7 password rotated by hand";

/// Sunday 29 November 2026, 10:00 UTC.
fn t0() -> DateTime<Utc> {
    "2026-11-29T10:00:00Z".parse().unwrap()
}

async fn app_at_t0(pool: PgPool) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let injected = clock.clone();
    let app = spawn_app_with(pool, move |settings| settings.clock = injected).await;
    (app, clock)
}

fn agent(app: &TestApp) -> String {
    app.token(ActorRole::Agent, "oncall-engineer-id")
}

/// A critical, widespread outage of the API and data services, with a public and an internal
/// update.
async fn outage(app: &TestApp) -> Value {
    let created = ok_json(
        app.post(
            INCIDENTS,
            &agent(app),
            json!({
                "title": "API Service Outage",
                "description": "Main API service is returning 503 errors",
                "severity": "CRITICAL",
                "category": "OUTAGE",
                "impact": "WIDESPREAD",
                "affectedSystems": ["api-service", "data-service"],
            }),
        )
        .await,
        201,
    )
    .await;
    let updates = format!("{INCIDENTS}/{}/updates", created["id"].as_str().unwrap());
    for (message, visibility) in [
        ("We are investigating errors on the API", "PUBLIC"),
        (SECRET_NOTE, "INTERNAL"),
    ] {
        let body = json!({"message": message, "visibility": visibility});
        ok_json(app.post(&updates, &agent(app), body).await, 201).await;
    }
    created
}

async fn change(app: &TestApp, incident: &Value, body: Value) {
    let path = format!("{INCIDENTS}/{}", incident["id"].as_str().unwrap());
    ok_json(app.put(&path, &agent(app), body).await, 200).await;
}

/// The public status once the status page shows every event.
async fn status(app: &TestApp) -> Value {
    wait_until_applied(&app.pool, "status_page", "incident").await;
    wait_until_applied(&app.pool, "status_page", "status_page").await;
    ok_json(app.send(Method::GET, STATUS, None, None).await, 200).await
}

fn component<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no component {name} in {status}"))
}

#[sqlx::test(migrations = "../migrations")]
async fn components_follow_the_incidents_impact_and_only_public_updates_show(pool: PgPool) {
    let (app, clock) = app_at_t0(pool).await;
    let incident = outage(&app).await;
    let during = status(&app).await;
    assert_eq!(during["status"], "MAJOR_OUTAGE");
    for name in ["api-service", "data-service"] {
        let component = component(&during, name);
        assert_eq!(component["status"], "MAJOR_OUTAGE");
        assert_eq!(component["days"].as_array().unwrap().len(), 90);
        assert_eq!(component["days"][89]["date"], "2026-11-29");
        assert_eq!(component["days"][89]["status"], "MAJOR_OUTAGE");
        assert!(component["days"][88]["status"].is_null(), "unknown before");
    }
    let active = &during["activeIncidents"][0];
    assert_eq!(active["incidentNumber"], incident["incidentNumber"]);
    assert_eq!(
        active["updates"],
        json!([{"id": active["updates"][0]["id"],
                "message": "We are investigating errors on the API", "status": "DETECTED",
                "postedAt": "2026-11-29T10:00:00Z"}])
    );
    assert!(!during.to_string().contains(SECRET_NOTE));

    // Lowered to MAJOR impact an hour in: a partial outage now, and the day's bar the worst.
    clock.set(t0() + TimeDelta::hours(1));
    change(&app, &incident, json!({"impact": "MAJOR"})).await;
    let partial = status(&app).await;
    let api = component(&partial, "api-service");
    assert_eq!(api["status"], "PARTIAL_OUTAGE");
    assert_eq!(api["since"], "2026-11-29T11:00:00Z");
    assert_eq!(api["days"][89]["status"], "MAJOR_OUTAGE");

    // Resolved at 12:00: operational again; two hours down of the two hours known.
    clock.set(t0() + TimeDelta::hours(2));
    change(&app, &incident, json!({"status": "RESOLVED"})).await;
    clock.set(t0() + TimeDelta::hours(4));
    let after = status(&app).await;
    assert_eq!(after["status"], "OPERATIONAL");
    assert!(after["activeIncidents"].as_array().unwrap().is_empty());
    let api = component(&after, "api-service");
    assert_eq!(api["status"], "OPERATIONAL");
    assert_eq!(api["days"][89]["outageMinutes"], 120.0);
    assert_eq!(api["uptimePercent"], 50.0);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_admin_overrides_a_component_and_schedules_maintenance(pool: PgPool) {
    let (app, clock) = app_at_t0(pool).await;
    outage(&app).await;
    let admin = app.admin();
    let put = |name: &str, body: Value| {
        let path = format!("/api/v1/support/status/components/{name}");
        let (app, admin) = (&app, admin.clone());
        async move { app.put(&path, &admin, body).await }
    };
    problem(
        app.put(
            "/api/v1/support/status/components/data-service",
            &agent(&app),
            json!({"status": "OPERATIONAL"}),
        )
        .await,
        403,
    )
    .await;
    let bad = problem(put("data-service", json!({"status": "DOWN"})).await, 422).await;
    assert_eq!(fields(&bad), ["status"]);
    ok_json(
        put("data-service", json!({"status": "OPERATIONAL"})).await,
        200,
    )
    .await;
    let overridden = status(&app).await;
    let data = component(&overridden, "data-service");
    assert_eq!(
        (data["status"].as_str(), data["overridden"].as_bool()),
        (Some("OPERATIONAL"), Some(true))
    );
    assert_eq!(
        component(&overridden, "api-service")["status"],
        "MAJOR_OUTAGE"
    );
    ok_json(put("data-service", json!({})).await, 200).await;
    assert_eq!(
        component(&status(&app).await, "data-service")["status"],
        "MAJOR_OUTAGE"
    );

    // A window from 10:30 to 11:30 for billing: listed before, under maintenance during.
    let windows = "/api/v1/support/status/maintenances";
    let invalid = problem(
        app.post(
            windows,
            &admin,
            json!({"title": "Upgrade", "components": [], "startsAt": "2026-11-29T11:00:00Z", "endsAt": "2026-11-29T10:00:00Z"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&invalid), ["components", "endsAt"]);
    let window = ok_json(
        app.post(
            windows,
            &admin,
            json!({"title": "Billing database upgrade", "components": ["billing"],
                   "startsAt": "2026-11-29T10:30:00Z", "endsAt": "2026-11-29T11:30:00Z"}),
        )
        .await,
        201,
    )
    .await;
    let before = status(&app).await;
    assert_eq!(component(&before, "billing")["status"], "OPERATIONAL");
    assert_eq!(
        before["upcomingMaintenance"][0]["title"],
        "Billing database upgrade"
    );
    clock.set(t0() + TimeDelta::minutes(45));
    let during = status(&app).await;
    let billing = component(&during, "billing");
    assert_eq!(billing["status"], "UNDER_MAINTENANCE");
    assert_eq!(billing["since"], "2026-11-29T10:30:00Z");
    assert_eq!(billing["days"][89]["status"], "UNDER_MAINTENANCE");
    assert_eq!(billing["uptimePercent"], 100.0, "maintenance is no outage");

    let cancel = format!("{windows}/{}", window["id"].as_str().unwrap());
    let cancelled = app.send(Method::DELETE, &cancel, Some(&admin), None).await;
    assert_eq!(cancelled.status(), 204);
    let gone = status(&app).await;
    assert_eq!(component(&gone, "billing")["status"], "OPERATIONAL");
    assert!(gone["upcomingMaintenance"].as_array().unwrap().is_empty());
    problem(
        app.send(Method::DELETE, &cancel, Some(&admin), None).await,
        404,
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_feed_has_one_entry_per_incident_updated_as_it_moves(pool: PgPool) {
    let (app, clock) = app_at_t0(pool).await;
    let incident = outage(&app).await;
    let feed = || async {
        wait_until_applied(&app.pool, "incidents", "incident").await;
        let response = app.send(Method::GET, "/status/feed.atom", None, None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/atom+xml; charset=utf-8"
        );
        response.text().await.unwrap()
    };
    let entry_id = format!("<id>urn:uuid:{}</id>", incident["id"].as_str().unwrap());
    let first = feed().await;
    assert!(first.starts_with("<?xml"), "{first}");
    assert_eq!(first.matches(&entry_id).count(), 1, "{first}");
    assert!(
        first.contains("<title>[DETECTED] API Service Outage</title>"),
        "{first}"
    );
    assert!(first.contains("We are investigating errors on the API"));
    assert!(!first.contains(SECRET_NOTE));
    clock.set(t0() + TimeDelta::hours(1));
    change(&app, &incident, json!({"status": "RESOLVED"})).await;
    let second = feed().await;
    assert_eq!(second.matches(&entry_id).count(), 1, "the same entry");
    assert!(second.contains("<title>[RESOLVED] API Service Outage</title>"));
    assert!(
        second.contains("<updated>2026-11-29T11:00:00+00:00</updated>"),
        "{second}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_page_shows_a_major_outage_in_a_real_browser_and_operational_after(pool: PgPool) {
    let (app, clock) = app_at_t0(pool).await;
    let incident = outage(&app).await;
    status(&app).await;
    let url = format!("{}/status", app.address);
    let during = browser::dom(&url).await;
    let api = component_html(&during, "api-service");
    assert!(
        api.contains("data-status=\"MAJOR_OUTAGE\">Major outage</span>"),
        "{api}"
    );
    assert!(during.contains("<title>Service status: Major outage</title>"));
    assert!(during.contains("We are investigating errors on the API"));
    assert!(!during.contains(SECRET_NOTE), "internal updates never show");
    assert!(during.contains("<main>") && during.contains("role=\"img\""));
    browser::screenshot(&url, "status-page-outage").await;

    clock.set(t0() + TimeDelta::hours(1));
    change(&app, &incident, json!({"status": "RESOLVED"})).await;
    status(&app).await;
    let after = browser::dom(&url).await;
    let api = component_html(&after, "api-service");
    assert!(
        api.contains("data-status=\"OPERATIONAL\">Operational</span>"),
        "{api}"
    );
    assert!(after.contains("No active incidents."));
}

/// The article of `name` in the page's DOM.
fn component_html<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = dom
        .find(&format!("data-component=\"{name}\""))
        .unwrap_or_else(|| panic!("no {name} in {dom}"));
    let end = dom[start..].find("</article>").unwrap() + start;
    &dom[start..end]
}
