//! Notification preferences end to end, over HTTP, against real PostgreSQL and NATS: the
//! defaults, saving and reading back, refusals, each user their own, the recipients query the
//! notifier resolves escalations with, and the customer's export and erasure.

mod common;

use chrono::Duration;
use common::{data_keys, fields, ok_json, problem, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::notification::{preferences_id, NotificationChannel, NotificationKind};
use support_domain::ActorRole;
use support_projections::notification_preferences::{
    recipients, NotificationPreferencesProjection,
};

const PREFERENCES: &str = "/api/v1/support/notification-preferences";

fn agent_with_teams(app: &TestApp, sub: &str, teams: &[&str]) -> String {
    app.keys
        .sign(ActorRole::Agent, sub, None, None, teams, Duration::hours(1))
}

async fn preference_events(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'notification_preferences'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

fn in_app_everywhere() -> Value {
    json!({
        "SLA_WARNING": ["IN_APP"], "SLA_BREACH": ["IN_APP"], "ESCALATION": ["IN_APP"],
        "ASSIGNMENT": ["IN_APP"], "PUBLIC_REPLY": ["IN_APP"], "STATUS_CHANGE": ["IN_APP"],
        "KB_LOW_RATING": ["IN_APP"], "INCIDENT_ALERT": ["IN_APP"], "INCIDENT_UPDATE": ["IN_APP"],
        "SUPPORT_ALERT": ["IN_APP"],
    })
}

fn office_hours() -> Value {
    json!({
        "channels": {"SLA_WARNING": ["EMAIL"], "SLA_BREACH": ["SMS", "EMAIL", "IN_APP"]},
        "email": "alice@desk.example",
        "phone": "+4930123456789",
        "timeZone": "Europe/Berlin",
        "workingHours": {"days": [5, 1, 2, 3, 4], "start": "09:00", "end": "17:30"},
    })
}

#[sqlx::test(migrations = "../migrations")]
async fn a_user_who_never_saved_gets_the_defaults_with_their_tokens_role_and_teams(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = agent_with_teams(&app, "alice", &["billing", "tier-2"]);
    let defaults = ok_json(app.get(PREFERENCES, &token).await, 200).await;
    assert_eq!(
        defaults,
        json!({
            "sub": "alice", "role": "agent", "teams": ["billing", "tier-2"],
            "channels": in_app_everywhere(), "email": null, "phone": null,
            "timeZone": "UTC", "workingHours": null, "updatedAt": null, "version": null,
        })
    );
    assert_eq!(preference_events(&app).await, 0, "reading records nothing");
}

#[sqlx::test(migrations = "../migrations")]
async fn saved_preferences_read_back_as_saved_with_defaults_for_what_was_left_out(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = agent_with_teams(&app, "alice", &["billing"]);
    let saved = ok_json(app.put(PREFERENCES, &token, office_hours()).await, 200).await;
    let expected_channels = json!({
        "SLA_WARNING": ["EMAIL"], "SLA_BREACH": ["SMS", "EMAIL", "IN_APP"],
        // Left out: the defaults, with email for escalations and incidents since an address
        // was sent.
        "ESCALATION": ["IN_APP", "EMAIL"], "ASSIGNMENT": ["IN_APP"],
        "PUBLIC_REPLY": ["IN_APP"], "STATUS_CHANGE": ["IN_APP"], "KB_LOW_RATING": ["IN_APP"],
        "INCIDENT_ALERT": ["IN_APP", "EMAIL"], "INCIDENT_UPDATE": ["IN_APP", "EMAIL"],
        "SUPPORT_ALERT": ["IN_APP", "EMAIL"],
    });
    assert_eq!(saved["channels"], expected_channels);
    assert_eq!(saved["email"], "alice@desk.example");
    assert_eq!(saved["phone"], "+4930123456789");
    assert_eq!(saved["timeZone"], "Europe/Berlin");
    assert_eq!(
        saved["workingHours"],
        json!({"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:30"})
    );
    assert_eq!(saved["teams"], json!(["billing"]));
    assert_eq!(saved["version"], 1);
    assert_eq!(
        ok_json(app.get(PREFERENCES, &token).await, 200).await,
        saved
    );

    // The same again records nothing; a PUT replaces the whole.
    let again = ok_json(app.put(PREFERENCES, &token, office_hours()).await, 200).await;
    assert_eq!(again["version"], 1);
    let plain = ok_json(app.put(PREFERENCES, &token, json!({})).await, 200).await;
    assert_eq!(plain["channels"], in_app_everywhere());
    assert_eq!(plain["email"], Value::Null);
    assert_eq!(plain["workingHours"], Value::Null);
    assert_eq!(plain["version"], 2);

    // The address is sealed in the event, not in clear.
    let stored: String = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE aggregate_type = 'notification_preferences' \
         AND sequence = 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!stored.contains("alice@desk.example"), "{stored}");
    assert!(!stored.contains("+4930123456789"), "{stored}");
}

#[sqlx::test(migrations = "../migrations")]
async fn every_bad_field_is_refused_at_once_and_nothing_is_recorded(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = app.token(ActorRole::Agent, "alice");
    let body = json!({
        "channels": {"SLA_WARNING": ["PIGEON"], "ESCALATION": ["SMS", "SMS"], "ASSIGNMENT": ["EMAIL"]},
        "email": "no-at-sign",
        "timeZone": "Mars/Olympus",
        "workingHours": {"days": [1, 8], "start": "25:00", "end": "17:00"},
    });
    let refused = problem(app.put(PREFERENCES, &token, body).await, 422).await;
    assert_eq!(
        fields(&refused),
        [
            "email",
            "timeZone",
            "workingHours.start",
            "workingHours.days[1]",
            "channels.SLA_WARNING[0]",
            "channels.ESCALATION[1]",
            "phone",
        ]
    );
    // A channel without its address, alone.
    let no_phone = json!({"channels": {"SLA_BREACH": ["SMS"]}, "email": "a@desk.example"});
    let refused = problem(app.put(PREFERENCES, &token, no_phone).await, 422).await;
    assert_eq!(fields(&refused), ["phone"]);
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("SMS is chosen for SLA_BREACH"));
    let no_email = json!({"channels": {"ASSIGNMENT": ["EMAIL"]}});
    let refused = problem(app.put(PREFERENCES, &token, no_email).await, 422).await;
    assert_eq!(fields(&refused), ["email"]);
    assert_eq!(preference_events(&app).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_fields_are_refused_by_name(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = app.token(ActorRole::Agent, "alice");
    let body = json!({
        "emial": "alice@desk.example",
        "channels": {"EVENT": ["IN_APP"]},
        "workingHours": {"days": [1], "start": "09:00", "end": "17:00", "lunch": "12:00"},
    });
    let refused = problem(app.put(PREFERENCES, &token, body).await, 422).await;
    assert_eq!(
        fields(&refused),
        ["channels.EVENT", "emial", "workingHours.lunch"]
    );
    assert_eq!(preference_events(&app).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn customers_and_agents_each_read_and_save_their_own(pool: PgPool) {
    let app = spawn_app(pool).await;
    let agent = app.token(ActorRole::Agent, "alice");
    let customer = app.token(ActorRole::Customer, "jo");
    ok_json(app.put(PREFERENCES, &agent, office_hours()).await, 200).await;

    let theirs = ok_json(app.get(PREFERENCES, &customer).await, 200).await;
    assert_eq!(theirs["sub"], "jo");
    assert_eq!(theirs["email"], Value::Null, "not the agent's");
    let body = json!({"email": "jo@example.com", "channels": {"STATUS_CHANGE": ["EMAIL"]}});
    let saved = ok_json(app.put(PREFERENCES, &customer, body).await, 200).await;
    assert_eq!(saved["role"], "customer");
    assert_eq!(saved["channels"]["STATUS_CHANGE"], json!(["EMAIL"]));

    let agents = ok_json(app.get(PREFERENCES, &agent).await, 200).await;
    assert_eq!(agents["email"], "alice@desk.example");
    assert_eq!(agents["sub"], "alice");

    // Auditors read their own and change nothing.
    let auditor = app.token(ActorRole::Auditor, "audra");
    ok_json(app.get(PREFERENCES, &auditor).await, 200).await;
    problem(app.put(PREFERENCES, &auditor, json!({})).await, 403).await;
    // Without a token, nothing.
    let anonymous = app.send(Method::GET, PREFERENCES, None, None).await;
    problem(anonymous, 401).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn recipients_are_found_by_sub_role_or_team_with_their_preferences(pool: PgPool) {
    let app = spawn_app(pool).await;
    let save = |token: String, body: Value| {
        let app = &app;
        async move { ok_json(app.put(PREFERENCES, &token, body).await, 200).await }
    };
    save(
        agent_with_teams(&app, "alice", &["billing"]),
        office_hours(),
    )
    .await;
    save(agent_with_teams(&app, "bob", &["network"]), json!({})).await;
    let admin = app.keys.sign(
        ActorRole::Admin,
        "carol",
        None,
        None,
        &["billing", "network"],
        Duration::hours(1),
    );
    save(admin, json!({"timeZone": "America/New_York"})).await;
    save(app.token(ActorRole::Customer, "jo"), json!({})).await;

    let subs = |found: &[support_projections::notification_preferences::RecipientPreferences]| {
        found.iter().map(|r| r.sub.clone()).collect::<Vec<_>>()
    };
    let by_team = recipients(&app.pool, &[], &[], &["billing".to_owned()])
        .await
        .unwrap();
    assert_eq!(subs(&by_team), ["alice", "carol"]);
    let alice = &by_team[0];
    assert_eq!(alice.role, ActorRole::Agent);
    assert_eq!(
        alice
            .preferences
            .channels
            .for_kind(NotificationKind::SlaBreach),
        [
            NotificationChannel::Sms,
            NotificationChannel::Email,
            NotificationChannel::InApp
        ]
    );
    assert_eq!(
        alice.preferences.email.as_ref().unwrap().as_str(),
        "alice@desk.example"
    );
    assert!(alice.preferences.working_time.has_working_hours());

    let by_role = recipients(&app.pool, &[], &[ActorRole::Admin], &[])
        .await
        .unwrap();
    assert_eq!(subs(&by_role), ["carol"]);
    assert_eq!(
        by_role[0].preferences.working_time.time_zone(),
        chrono_tz::America::New_York
    );
    // Named several ways, each once; a sub without preferences is not found.
    let all = recipients(
        &app.pool,
        &["bob".to_owned(), "nobody".to_owned()],
        &[ActorRole::Agent],
        &["network".to_owned()],
    )
    .await
    .unwrap();
    assert_eq!(subs(&all), ["alice", "bob", "carol"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_customers_export_shows_their_preferences_and_erasure_erases_them(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    let customer = app.token(ActorRole::Customer, "jo");
    let body = json!({"email": "jo@example.com", "phone": "+14155550123"});
    ok_json(app.put(PREFERENCES, &customer, body).await, 200).await;
    let personal_data = "/api/v1/support/customers/jo/personal-data";

    let export = ok_json(app.get(personal_data, &admin).await, 200).await;
    let exported = &export["notificationPreferences"];
    assert_eq!(exported.as_array().unwrap().len(), 1);
    assert_eq!(exported[0]["email"], "jo@example.com");
    assert_eq!(exported[0]["phone"], "+14155550123");

    let receipt = ok_json(
        app.send(Method::DELETE, personal_data, Some(&admin), None)
            .await,
        200,
    )
    .await;
    assert_eq!(
        receipt["notificationPreferences"],
        json!([preferences_id("jo")])
    );
    let erased = ok_json(app.get(PREFERENCES, &customer).await, 200).await;
    assert_eq!(erased["email"], "[erased]");
    assert_eq!(erased["phone"], "[erased]");
    let listed: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT unnest(notification_preferences) FROM personal_data_erasures")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(listed, [preferences_id("jo")]);
    // The key is gone: nothing left to export, and no new address under it.
    let export = ok_json(app.get(personal_data, &admin).await, 200).await;
    assert_eq!(export["notificationPreferences"], json!([]));
    problem(app.put(PREFERENCES, &customer, json!({})).await, 409).await;
    let recipients = recipients(&app.pool, &["jo".to_owned()], &[], &[])
        .await
        .unwrap();
    assert_eq!(recipients[0].preferences.email, None);

    // A replay from the store, where the address no longer opens, gives the same erased row.
    let replayed =
        support_projections::replay(&app.pool, &data_keys(), &NotificationPreferencesProjection)
            .await
            .unwrap();
    assert!(replayed.events > 0, "{replayed:?}");
    assert_eq!(
        ok_json(app.get(PREFERENCES, &customer).await, 200).await,
        erased
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_openapi_document_describes_both_routes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document: Value =
        serde_json::from_str(&app.get_text("/api/v1/openapi.json").await).unwrap();
    let path = &document["paths"][PREFERENCES];
    assert_eq!(path["get"]["operationId"], "get_notification_preferences");
    assert_eq!(path["put"]["operationId"], "put_notification_preferences");
    for status in ["200", "403", "409", "422"] {
        assert!(path["put"]["responses"][status].is_object(), "{status}");
    }
    let schemas = &document["components"]["schemas"];
    let request = &schemas["PutNotificationPreferencesRequest"];
    assert_eq!(request["additionalProperties"], false);
    let channels = &request["properties"]["channels"];
    assert_eq!(channels["additionalProperties"], false);
    assert_eq!(
        channels["properties"]["SLA_BREACH"]["items"]["enum"],
        json!(["EMAIL", "SMS", "IN_APP"])
    );
    // Email and SMS word tickets and incidents: a knowledge base alert is in-app only.
    assert_eq!(
        channels["properties"]["KB_LOW_RATING"]["items"]["enum"],
        json!(["IN_APP"])
    );
    assert_eq!(
        channels["properties"]["INCIDENT_ALERT"]["items"]["enum"],
        json!(["EMAIL", "SMS", "IN_APP"])
    );
    // An alert rule's firing goes in-app and by email.
    assert_eq!(
        channels["properties"]["SUPPORT_ALERT"]["items"]["enum"],
        json!(["EMAIL", "IN_APP"])
    );
    let view = &schemas["NotificationPreferencesView"];
    assert_eq!(
        view["properties"]["channels"]["required"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}
