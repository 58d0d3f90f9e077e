//! The OpenAPI document is exact: schemathesis sends a real supportd the requests the document
//! allows and the ones it does not, as an admin and as a customer, runs every check it has and
//! its stateful phase, and finds no answer the document does not promise.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::python::{succeed, venv};
use common::{spawn_app, ticket_body};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::sla::default_policy_id;
use support_domain::ticket::TicketPriority;
use support_domain::ActorRole;
use tokio::process::Command;

/// The pinned requirements, the run's configuration and its hooks.
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/schemathesis");

/// The schemathesis executable, in a venv of its own.
async fn schemathesis() -> PathBuf {
    let requirements = Path::new(DIR).join("requirements.txt");
    venv("schemathesis-venv", &requirements)
        .await
        .join("bin/schemathesis")
}

#[sqlx::test(migrations = "../migrations")]
async fn schemathesis_finds_the_api_as_documented(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let customer = app.token(ActorRole::Customer, "customer-1");
    // Each run works on a ticket of its own, which its caller may see.
    let theirs = app
        .open_ticket(&admin, ticket_body("Dashboard down", "customer-1"))
        .await;
    let other = app
        .open_ticket(&admin, ticket_body("Invoices late", "customer-2"))
        .await;
    // A dead letter to list and retry, of a ticket nothing else touches: while a letter is open,
    // the projection parks the events of its aggregate.
    let parked = app
        .open_ticket(&admin, ticket_body("Parked", "customer-3"))
        .await;
    let letter: i64 = sqlx::query_scalar(
        "INSERT INTO dead_letters (projection, subject, aggregate_type, aggregate_id, sequence, \
             event_type, error, deliveries, message) \
         VALUES ('tickets', 'support.events.ticket.TicketOpened', 'ticket', $1, 1, \
             'TicketOpened', 'parked by the test', 3, '\\x7b7d') RETURNING id",
    )
    .bind(parked["id"].as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();

    // A default policy, which the service created at start-up.
    let policy = default_policy_id(TicketPriority::High);
    // An escalation policy, to read and change.
    let ladder: Value = app
        .post(
            "/api/v1/support/escalation-policies",
            &admin,
            json!({"name": "Ladder", "rules": [{"triggers": ["MANUAL"],
                "levels": [{"recipients": {"roles": ["admin"]}, "delayMinutes": 5}]}]}),
        )
        .await
        .json()
        .await
        .unwrap();

    // A published public article, which both callers may read, rate and (the admin) change.
    let article: Value = app
        .post(
            "/api/v1/support/kb-articles",
            &admin,
            json!({"title": "Reset a password", "summary": "How", "content": "Click Forgot",
                "category": "HOW_TO"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let article = article["id"].as_str().unwrap().to_owned();
    let published = app
        .put(
            &format!("/api/v1/support/kb-articles/{article}"),
            &admin,
            json!({"status": "PUBLISHED"}),
        )
        .await;
    assert_eq!(published.status(), 200);

    // A low incident, which closes without a post-mortem, to read and work.
    let incident: Value = app
        .post(
            "/api/v1/support/incidents",
            &admin,
            json!({"title": "Slow exports", "description": "Exports take minutes",
                "severity": "LOW", "category": "DEGRADATION", "impact": "MINOR"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let incident = incident["id"].as_str().unwrap().to_owned();
    let alert_rule: Value = app
        .post(
            "/api/v1/support/alert-rules",
            &admin,
            json!({"name": "Overload", "kind": "AGENT_OVERLOAD", "threshold": 30,
                "recipients": {"roles": ["admin"]}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let alert_rule = alert_rule["id"].as_str().unwrap().to_owned();

    // A webhook endpoint (inactive, so that nothing leaves the machine) and a delivery of it to
    // read and resend.
    let webhook: serde_json::Value = app
        .post(
            "/api/v1/support/webhooks",
            &admin,
            serde_json::json!({
                "url": "https://hooks.example.com/supportd", "eventTypes": ["TicketOpened"],
                "active": false,
            }),
        )
        .await
        .json()
        .await
        .unwrap();
    let webhook = webhook["id"].as_str().unwrap().to_owned();
    let delivery: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO notification_deliveries (id, message_id, event_id, global_position, \
             event_type, recipient, channel, kind, state, next_attempt_at, created_at) \
         SELECT gen_random_uuid(), 'ticket:' || aggregate_id || ':1', gen_random_uuid(), \
             global_position, event_type, $2, 'WEBHOOK', 'EVENT', 'FAILED', now(), now() \
         FROM events WHERE aggregate_id = $1 AND sequence = 1 RETURNING id",
    )
    .bind(other["id"].as_str().unwrap())
    .bind(&webhook)
    .fetch_one(&app.pool)
    .await
    .unwrap();

    // An in-app notification of each caller's, delivered, to read.
    let mut notifications = vec![];
    for (recipient, ticket) in [("admin-1", &other), ("customer-1", &theirs)] {
        let notification: uuid::Uuid = sqlx::query_scalar(
            "INSERT INTO notification_deliveries (id, message_id, event_id, global_position, \
                 event_type, recipient, channel, kind, state, attempts, next_attempt_at, \
                 created_at, delivered_at) \
             SELECT gen_random_uuid(), 'ticket:' || aggregate_id || ':1', gen_random_uuid(), \
                 global_position, event_type, $2, 'IN_APP', 'ASSIGNMENT', 'DELIVERED', 1, now(), \
                 now(), now() \
             FROM events WHERE aggregate_id = $1 AND sequence = 1 RETURNING id",
        )
        .bind(ticket["id"].as_str().unwrap())
        .bind(recipient)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        notifications.push(notification.to_string());
    }

    let schemathesis = schemathesis().await;
    for ((caller, token, ticket, related), notification) in [
        ("admin", admin, &other, &theirs),
        ("customer", customer, &theirs, &other),
    ]
    .into_iter()
    .zip(notifications)
    {
        let started = Instant::now();
        let mut run = Command::new(&schemathesis);
        // Every check is enabled, and the exceptions explained, in schemathesis.toml. A fixed seed
        // and no example database make a run repeat the last one; 30 examples per operation and
        // one worker keep the two runs within a minute or so on two cores.
        run.current_dir(env!("CARGO_TARGET_TMPDIR"))
            .env("SUPPORTD_TICKET", ticket["id"].as_str().unwrap())
            .env("SUPPORTD_RELATED_TICKET", related["id"].as_str().unwrap())
            .env("SUPPORTD_DEAD_LETTER", letter.to_string())
            .env("SUPPORTD_SLA_POLICY", policy.to_string())
            .env("SUPPORTD_ESCALATION_POLICY", ladder["id"].as_str().unwrap())
            .env("SUPPORTD_WEBHOOK", &webhook)
            .env("SUPPORTD_WEBHOOK_DELIVERY", delivery.to_string())
            .env("SUPPORTD_NOTIFICATION", &notification)
            .env("SUPPORTD_KB_ARTICLE", &article)
            .env("SUPPORTD_INCIDENT", &incident)
            .env("SUPPORTD_ALERT_RULE", &alert_rule)
            .env("SCHEMATHESIS_HOOKS", format!("{DIR}/hooks.py"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args([
                "--no-color",
                "--config-file",
                &format!("{DIR}/schemathesis.toml"),
            ])
            .arg("run")
            .arg(format!("{}/api/v1/openapi.json", app.address))
            .args(["--url", &app.address])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--workers", "1", "--max-examples", "30", "--seed", "1"])
            .args(["--generation-database", "none"]);
        let output = succeed(&mut run).await;
        eprintln!(
            "schemathesis as {caller}: {:.0?}\n{output}",
            started.elapsed()
        );
    }
}
