//! SLA policies end to end, over HTTP, against real PostgreSQL and NATS: the defaults a fresh desk
//! gets, creating, reading, changing, deactivating, who may do what, refusals, and which policy a
//! ticket would get.

mod common;

use common::{fields, ok_json, problem, spawn_app, spawn_registry, wait_until_applied, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::sla::{default_policy_id, CustomerTier};
use support_domain::ticket::TicketPriority;
use support_domain::ActorRole;
use support_projections::sla::policies::{active_policies, AGGREGATE_TYPE, READ_MODEL};
use supportd::startup::Registry;

const POLICIES: &str = "/api/v1/support/sla-policies";

/// Every field of a policy, each with a value other than its default.
fn enterprise_p1() -> Value {
    json!({
        "name": "Enterprise P1",
        "priority": "P1_HIGH",
        "customerTier": "ENTERPRISE",
        "responseTimeTarget": 30,
        "resolutionTimeTarget": 240,
        "responseTimeWarningThreshold": 75,
        "resolutionTimeWarningThreshold": 90,
        "applyBusinessHoursOnly": true,
        "businessHoursStart": "09:00",
        "businessHoursEnd": "17:00",
        "businessDays": [1, 2, 3, 4, 5],
        "timezone": "Europe/Berlin",
        "holidays": ["2026-12-24", "2026-12-25"],
        "autoEscalateOnBreach": true,
        "notifyOnWarning": false,
        "notifyOnBreach": false,
    })
}

async fn create(app: &TestApp, body: Value) -> Value {
    ok_json(app.post(POLICIES, &app.admin(), body).await, 201).await
}

fn path_of(policy: &Value) -> String {
    format!("{POLICIES}/{}", policy["id"].as_str().unwrap())
}

async fn policy_events(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT aggregate_id, event_type FROM events WHERE aggregate_type = $1 \
         ORDER BY global_position",
    )
    .bind(AGGREGATE_TYPE)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// The terms a ticket of `priority` and `tier` gets among the active policies.
async fn matching_terms(
    pool: &PgPool,
    priority: TicketPriority,
    tier: Option<CustomerTier>,
) -> Option<support_domain::sla::SlaTerms> {
    let policies = active_policies(pool).await.unwrap();
    policies
        .matching(priority, tier)
        .map(|(terms, _)| terms.clone())
}

async fn matched(pool: &PgPool, priority: TicketPriority, tier: Option<CustomerTier>) -> String {
    let terms = matching_terms(pool, priority, tier).await;
    terms.map_or_else(|| "none".to_owned(), |t| t.policy_name.as_str().to_owned())
}

#[sqlx::test(migrations = "../migrations")]
async fn a_fresh_desk_has_a_default_policy_for_each_priority(pool: PgPool) {
    let app = spawn_app(pool).await;
    wait_until_applied(&app.pool, READ_MODEL, AGGREGATE_TYPE).await;
    let list = ok_json(app.get(POLICIES, &app.admin()).await, 200).await;
    assert_eq!(list["total"], 4);
    let expected = [
        (TicketPriority::Critical, 15, 240),
        (TicketPriority::High, 60, 480),
        (TicketPriority::Medium, 240, 1440),
        (TicketPriority::Low, 1440, 4320),
    ];
    for (policy, (priority, response, resolution)) in
        list["items"].as_array().unwrap().iter().zip(expected)
    {
        assert_eq!(
            policy["id"],
            default_policy_id(priority).to_string(),
            "{policy}"
        );
        assert_eq!(policy["name"], format!("Default {priority}"));
        assert_eq!(policy["priority"], priority.as_str());
        assert_eq!(policy["customerTier"], Value::Null);
        assert_eq!(policy["responseTimeTarget"], response);
        assert_eq!(policy["resolutionTimeTarget"], resolution);
        assert_eq!(policy["responseTimeWarningThreshold"], 80);
        assert_eq!(policy["resolutionTimeWarningThreshold"], 80);
        assert_eq!(policy["applyBusinessHoursOnly"], false);
        assert_eq!(policy["timezone"], "UTC");
        assert_eq!(policy["holidays"], json!([]));
        assert_eq!(policy["active"], true);
        assert_eq!(policy["version"], 1);
    }
    // Recorded as the service, through the command path: in the audit log like any change.
    let audit: Value = app
        .get_json(
            "/api/v1/support/audit?aggregateType=sla_policy",
            &app.admin(),
        )
        .await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    for entry in entries {
        assert_eq!(entry["eventType"], "SlaPolicyCreated");
        assert_eq!(
            entry["actor"],
            json!({"sub": "sla-defaults", "role": "service"})
        );
        assert_eq!(entry["source"], "worker");
    }
    assert_eq!(
        matched(&app.pool, TicketPriority::High, Some(CustomerTier::Free)).await,
        "Default P1_HIGH"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn replicas_and_restarts_create_each_default_once_and_keep_what_admins_changed(pool: PgPool) {
    // Two replicas start on a fresh database at once, one with every worker and one serving the
    // API only (`supportd api`): both start, and each default is created by one of them.
    let api_only = spawn_registry(pool.clone(), Registry::standard(), |_| Vec::new(), |_| {});
    let (first, second) = tokio::join!(spawn_app(pool.clone()), api_only);
    drop(second);
    let created = policy_events(&first).await;
    assert_eq!(created.len(), 4, "{created:?}");
    assert!(created.iter().all(|(_, t)| t == "SlaPolicyCreated"));

    let admin = first.admin();
    let high = format!("{POLICIES}/{}", default_policy_id(TicketPriority::High));
    let low = format!("{POLICIES}/{}", default_policy_id(TicketPriority::Low));
    ok_json(
        first
            .put(&high, &admin, json!({"responseTimeTarget": 30}))
            .await,
        200,
    )
    .await;
    ok_json(first.put(&low, &admin, json!({"active": false})).await, 200).await;
    drop(first);

    // A restart finds the defaults and leaves them as the admin did.
    let restarted = spawn_app(pool).await;
    let events = policy_events(&restarted).await;
    assert_eq!(events.len(), 6, "{events:?}");
    let high = ok_json(restarted.get(&high, &admin).await, 200).await;
    assert_eq!(high["responseTimeTarget"], 30);
    assert_eq!(high["version"], 2);
    let low = ok_json(restarted.get(&low, &admin).await, 200).await;
    assert_eq!(low["active"], false);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_policy_is_created_read_listed_and_changed(pool: PgPool) {
    let app = spawn_app(pool).await;
    wait_until_applied(&app.pool, READ_MODEL, AGGREGATE_TYPE).await;
    let admin = app.admin();
    let response = app.post(POLICIES, &admin, enterprise_p1()).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(location, path_of(&created));
    let mut expected = enterprise_p1();
    for (field, value) in [
        ("id", created["id"].clone()),
        ("active", json!(true)),
        ("version", json!(1)),
        ("createdAt", created["createdAt"].clone()),
        ("updatedAt", created["createdAt"].clone()),
    ] {
        expected[field] = value;
    }
    assert_eq!(created, expected);

    // No sleep: the answer waited for the read model.
    assert_eq!(
        ok_json(app.get(&location, &admin).await, 200).await,
        created
    );
    let enterprise = ok_json(
        app.get(&format!("{POLICIES}?customerTier=ENTERPRISE"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(enterprise["items"], json!([created]));
    assert_eq!(
        (enterprise["total"].clone(), enterprise["page"].clone()),
        (json!(1), json!(1))
    );
    let high = ok_json(
        app.get(
            &format!("{POLICIES}?priority=P1_HIGH&limit=1&page=2"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(high["total"], 2, "the default and the new one");
    assert_eq!(
        high["items"][0]["id"], created["id"],
        "the tier-less default first, then the tier's"
    );

    // A partial change: one event with the whole definition; `null` makes it every tier's.
    let change = json!({"name": "Everyone P1", "customerTier": null, "notifyOnBreach": true,
                        "holidays": []});
    let changed = ok_json(app.put(&location, &admin, change).await, 200).await;
    assert_eq!(changed["name"], "Everyone P1");
    assert_eq!(changed["customerTier"], Value::Null);
    assert_eq!(changed["notifyOnBreach"], true);
    assert_eq!(changed["holidays"], json!([]));
    assert_eq!(changed["timezone"], "Europe/Berlin", "untouched");
    assert_eq!(changed["version"], 2);
    let stored: Value = sqlx::query_scalar(
        "SELECT payload -> 'SlaPolicyRevised' FROM events WHERE aggregate_id = $1 AND sequence = 2",
    )
    .bind(created["id"].as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored["name"], "Everyone P1");
    assert_eq!(stored["businessDays"], json!([1, 2, 3, 4, 5]));

    // The same values again change nothing and record nothing.
    let before = app.event_count().await;
    let same =
        json!({"name": "Everyone P1", "responseTimeTarget": 30, "timezone": "Europe/Berlin"});
    let unchanged = ok_json(app.put(&location, &admin, same).await, 200).await;
    assert_eq!(unchanged, changed);
    assert_eq!(app.event_count().await, before);

    // What a request leaves out takes the defaults.
    let minimal = create(
        &app,
        json!({"name": "Low, free", "priority": "P3_LOW", "customerTier": "FREE",
               "responseTimeTarget": 2880, "resolutionTimeTarget": 10080}),
    )
    .await;
    for (field, default) in [
        ("responseTimeWarningThreshold", json!(80)),
        ("resolutionTimeWarningThreshold", json!(80)),
        ("applyBusinessHoursOnly", json!(false)),
        ("businessHoursStart", Value::Null),
        ("businessDays", Value::Null),
        ("timezone", json!("UTC")),
        ("holidays", json!([])),
        ("autoEscalateOnBreach", json!(false)),
        ("notifyOnWarning", json!(true)),
        ("notifyOnBreach", json!(true)),
    ] {
        assert_eq!(minimal[field], default, "{field}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_policy_is_deactivated_and_reactivated_and_matching_follows(pool: PgPool) {
    use CustomerTier::Enterprise;
    use TicketPriority::High;
    let app = spawn_app(pool).await;
    wait_until_applied(&app.pool, READ_MODEL, AGGREGATE_TYPE).await;
    let admin = app.admin();
    let policy = create(&app, enterprise_p1()).await;
    let path = path_of(&policy);
    assert_eq!(
        matched(&app.pool, High, Some(Enterprise)).await,
        "Enterprise P1"
    );

    let off = ok_json(app.put(&path, &admin, json!({"active": false})).await, 200).await;
    assert_eq!(off["active"], false);
    assert_eq!(off["version"], 2);
    assert_eq!(
        matched(&app.pool, High, Some(Enterprise)).await,
        "Default P1_HIGH"
    );
    let inactive = ok_json(
        app.get(&format!("{POLICIES}?active=false"), &admin).await,
        200,
    )
    .await;
    assert_eq!(inactive["items"], json!([off]));
    // Deactivating twice records nothing.
    let again = ok_json(app.put(&path, &admin, json!({"active": false})).await, 200).await;
    assert_eq!(again["version"], 2);

    // A change and a reactivation in one request: two events, the change first.
    let on = json!({"active": true, "responseTimeTarget": 20});
    let on = ok_json(app.put(&path, &admin, on).await, 200).await;
    assert_eq!(
        (on["active"].clone(), on["version"].clone()),
        (json!(true), json!(4))
    );
    let id = policy["id"].as_str().unwrap();
    let types: Vec<String> = policy_events(&app)
        .await
        .into_iter()
        .filter(|(aggregate, _)| aggregate == id)
        .map(|(_, event_type)| event_type)
        .collect();
    assert_eq!(
        types,
        [
            "SlaPolicyCreated",
            "SlaPolicyDeactivated",
            "SlaPolicyRevised",
            "SlaPolicyReactivated"
        ]
    );
    let terms = matching_terms(&app.pool, High, Some(Enterprise))
        .await
        .unwrap();
    assert_eq!(terms.policy_id.to_string(), id);
    assert_eq!(terms.response_time_target.get(), 20);

    // The audit log has every change, with who made it.
    let audit: Value = app
        .get_json(
            &format!("/api/v1/support/audit?aggregateType=sla_policy&aggregateId={id}"),
            &admin,
        )
        .await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["eventType"], "SlaPolicyReactivated");
    assert_eq!(
        entries[0]["actor"],
        json!({"sub": "admin-1", "role": "admin"})
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_write_staff_and_auditors_read_and_customers_do_neither(pool: PgPool) {
    let app = spawn_app(pool).await;
    let policy = create(&app, enterprise_p1()).await;
    let path = path_of(&policy);
    let before = app.event_count().await;
    for (role, reads) in [
        (ActorRole::Agent, true),
        (ActorRole::Auditor, true),
        (ActorRole::Customer, false),
    ] {
        let token = app.token(role, "someone");
        let status = if reads { 200 } else { 403 };
        assert_eq!(app.get(POLICIES, &token).await.status(), status, "{role:?}");
        assert_eq!(app.get(&path, &token).await.status(), status, "{role:?}");
        problem(app.post(POLICIES, &token, enterprise_p1()).await, 403).await;
        problem(app.put(&path, &token, json!({"active": false})).await, 403).await;
    }
    assert_eq!(
        app.event_count().await,
        before,
        "no refused write recorded anything"
    );
    // The service role (an integration managing the desk) may write, as the defaults do.
    let service = app.token(ActorRole::Service, "config-sync");
    ok_json(
        app.put(&path, &service, json!({"name": "Synced"})).await,
        200,
    )
    .await;
    problem(app.send(Method::GET, POLICIES, None, None).await, 401).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_requests_are_refused_with_every_bad_field_and_write_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let policy = create(&app, enterprise_p1()).await;
    let path = path_of(&policy);
    let before = app.event_count().await;

    let everything_wrong = json!({
        "name": "",
        "priority": "URGENT",
        "customerTier": "GOLD",
        "responseTimeTarget": 0,
        "resolutionTimeTarget": 525601,
        "responseTimeWarningThreshold": 100,
        "resolutionTimeWarningThreshold": 0,
        "timezone": "Mars/Olympus_Mons",
        "holidays": ["2026-13-01"],
    });
    let refused = problem(app.post(POLICIES, &admin, everything_wrong).await, 422).await;
    assert_eq!(
        fields(&refused),
        [
            "name",
            "priority",
            "customerTier",
            "responseTimeTarget",
            "resolutionTimeTarget",
            "responseTimeWarningThreshold",
            "resolutionTimeWarningThreshold",
            "holidays[0]",
            "timezone",
        ]
    );
    let message = |field: &str| {
        let errors = refused["errors"].as_array().unwrap();
        let error = errors.iter().find(|e| e["field"] == field).unwrap();
        error["message"].as_str().unwrap().to_owned()
    };
    assert!(message("priority").contains("P0_CRITICAL, P1_HIGH, P2_MEDIUM, P3_LOW"));
    assert!(message("customerTier").contains("ENTERPRISE, PROFESSIONAL, STANDARD, FREE"));

    let missing = problem(app.post(POLICIES, &admin, json!({})).await, 422).await;
    assert_eq!(
        fields(&missing),
        [
            "name",
            "priority",
            "responseTimeTarget",
            "resolutionTimeTarget"
        ]
    );
    let mut unknown = enterprise_p1();
    unknown["escalateTo"] = json!("team-lead");
    unknown["slaName"] = json!("x");
    let refused = problem(app.post(POLICIES, &admin, unknown).await, 422).await;
    assert_eq!(fields(&refused), ["escalateTo", "slaName"]);
    let mut backwards = enterprise_p1();
    backwards["resolutionTimeTarget"] = json!(29);
    let refused = problem(app.post(POLICIES, &admin, backwards).await, 422).await;
    assert_eq!(fields(&refused), ["resolutionTimeTarget"]);
    let wrong_type = problem(
        app.post(POLICIES, &admin, json!({"responseTimeTarget": "1h"}))
            .await,
        422,
    )
    .await;
    assert!(wrong_type["detail"]
        .as_str()
        .unwrap()
        .contains("responseTimeTarget"));

    // A change that no longer fits the policy's other fields names the field it sent.
    let refused = problem(
        app.put(&path, &admin, json!({"responseTimeTarget": 300}))
            .await,
        422,
    )
    .await;
    assert_eq!(fields(&refused), ["responseTimeTarget"]);
    let refused = problem(
        app.put(
            &path,
            &admin,
            json!({"resolutionTimeTarget": 10, "timezone": "Nowhere", "priority": "P9"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&refused), ["priority"], "fields on their own first");
    let refused = problem(
        app.put(
            &path,
            &admin,
            json!({"resolutionTimeTarget": 10, "timezone": "Nowhere"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&refused), ["timezone", "resolutionTimeTarget"]);
    let refused = problem(app.put(&path, &admin, json!({"colour": "red"})).await, 422).await;
    assert_eq!(fields(&refused), ["colour"]);
    let refused = problem(app.put(&path, &admin, json!({"active": "no"})).await, 422).await;
    assert!(refused["detail"].as_str().unwrap().contains("active"));

    let refused = problem(
        app.get(
            &format!("{POLICIES}?priority=HIGH&active=maybe&tier=FREE"),
            &admin,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&refused), ["tier", "priority", "active"]);

    // Ids that name no policy, whatever they hold, are 404s and never reach the database as text.
    let long = "x".repeat(5_000);
    let absent = uuid::Uuid::new_v4().to_string();
    for bad in ["not-a-uuid", "%00", &format!("{absent}%00"), &long, &absent] {
        let bad_path = format!("{POLICIES}/{bad}");
        problem(app.get(&bad_path, &admin).await, 404).await;
        problem(
            app.put(&bad_path, &admin, json!({"active": false})).await,
            404,
        )
        .await;
    }
    // A path that is not UTF-8 once decoded cannot be read at all.
    let undecodable = format!("{POLICIES}/%FF");
    problem(app.get(&undecodable, &admin).await, 400).await;
    problem(
        app.put(&undecodable, &admin, json!({"active": false}))
            .await,
        400,
    )
    .await;
    problem(
        app.send(Method::DELETE, &path, Some(&admin), None).await,
        405,
    )
    .await;
    assert_eq!(
        app.event_count().await,
        before,
        "no bad request wrote an event"
    );
}
