//! The knowledge base end to end: the spec's examples, the lifecycle, revisions, ranking, typo
//! tolerance, visibility for customers and anonymous readers, search insights, suggestions and
//! view counting under concurrency.

mod common;

use common::{fields, ok_json, problem, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;

const KB: &str = "/api/v1/support/kb-articles";

fn agent(app: &TestApp) -> String {
    app.token(ActorRole::Agent, "agent-1")
}

fn customer(app: &TestApp) -> String {
    app.token(ActorRole::Customer, "customer-1")
}

/// The spec's create example.
fn spec_article() -> Value {
    json!({
        "title": "How to Reset Your Password",
        "summary": "Step-by-step guide to reset your account password",
        "content": "# Password Reset\n\n1. Click Forgot Password...",
        "category": "HOW_TO",
        "tags": ["password", "account", "security"],
        "keywords": ["reset", "password", "forgot", "login"],
        "author": "support-admin"
    })
}

/// An article with `title` and `content`, the other fields plain.
fn article(title: &str, content: &str) -> Value {
    json!({
        "title": title,
        "summary": "A guide",
        "content": content,
        "category": "TROUBLESHOOTING"
    })
}

async fn create(app: &TestApp, body: Value) -> Value {
    ok_json(app.post(KB, &agent(app), body).await, 201).await
}

async fn publish(app: &TestApp, article: &Value) -> Value {
    let path = format!("{KB}/{}", article["id"].as_str().unwrap());
    ok_json(
        app.put(&path, &agent(app), json!({"status": "PUBLISHED"}))
            .await,
        200,
    )
    .await
}

async fn published(app: &TestApp, body: Value) -> Value {
    let created = create(app, body).await;
    publish(app, &created).await
}

async fn search(app: &TestApp, token: Option<&str>, query: &str) -> Value {
    let response = app
        .send(Method::GET, &format!("{KB}?{query}"), token, None)
        .await;
    ok_json(response, 200).await
}

fn titles(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["title"].as_str().unwrap())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_spec_examples_create_a_draft_and_search_by_category_and_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = create(&app, spec_article()).await;
    assert_eq!(created["status"], "DRAFT");
    assert_eq!(created["articleNumber"], "KB-000001");
    assert_eq!(created["author"], "support-admin");
    assert_eq!(created["searchBoost"], 1.0);
    assert_eq!(created["revision"], 1);
    assert_eq!(created["views"], 0);
    let second = create(&app, article("Another", "text")).await;
    assert_eq!(second["articleNumber"], "KB-000002");

    let query = "search=password&category=HOW_TO&status=PUBLISHED";
    assert_eq!(search(&app, Some(&agent(&app)), query).await["total"], 0);
    publish(&app, &created).await;
    // The spec's curl sends no token: a public help centre.
    let found = search(&app, None, query).await;
    assert_eq!(titles(&found), ["How to Reset Your Password"]);
    assert_eq!(found["total"], 1);
    assert_eq!(
        found["categories"],
        json!([{"category": "HOW_TO", "count": 1}])
    );
    let snippet = found["items"][0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>Password</mark>"), "{snippet}");

    // By number too, and without a token.
    let by_number = app
        .send(Method::GET, &format!("{KB}/KB-000001"), None, None)
        .await;
    assert_eq!(ok_json(by_number, 200).await["id"], created["id"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_lifecycle_refuses_what_its_table_does_not_allow(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = create(&app, spec_article()).await;
    let path = format!("{KB}/{}", created["id"].as_str().unwrap());
    let archived = app
        .put(&path, &agent(&app), json!({"status": "ARCHIVED"}))
        .await;
    assert_eq!(ok_json(archived, 200).await["status"], "ARCHIVED");
    let events = app.event_count().await;
    let refused = app
        .put(
            &path,
            &agent(&app),
            json!({"status": "PUBLISHED", "title": "Changed"}),
        )
        .await;
    let refused = problem(refused, 409).await;
    assert_eq!(refused["allowedStatuses"], json!(["DRAFT"]));
    assert_eq!(app.event_count().await, events, "nothing changed");
    let restored = app
        .put(&path, &agent(&app), json!({"status": "DRAFT"}))
        .await;
    assert_eq!(ok_json(restored, 200).await["status"], "DRAFT");
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_requests_name_every_field_and_change_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let events = app.event_count().await;
    let refused = app
        .post(
            KB,
            &agent(&app),
            json!({"title": " ", "category": "NEWS", "searchBoost": 11, "tags": ["ok", ""]}),
        )
        .await;
    let refused = problem(refused, 422).await;
    let mut named = fields(&refused);
    named.sort();
    assert_eq!(
        named,
        [
            "category",
            "content",
            "searchBoost",
            "summary",
            "tags[1]",
            "title"
        ]
    );
    let unknown = app
        .post(KB, &agent(&app), json!({"title": "x", "colour": "red"}))
        .await;
    problem(unknown, 422).await;
    for role in [ActorRole::Customer, ActorRole::Auditor, ActorRole::Service] {
        let forbidden = app
            .post(KB, &app.token(role, "someone"), spec_article())
            .await;
        problem(forbidden, 403).await;
    }
    let forged = app.send(Method::GET, KB, Some("not-a-token"), None).await;
    problem(forged, 401).await;
    let bad_query = app
        .send(
            Method::GET,
            &format!("{KB}?status=LIVE&sort=new"),
            None,
            None,
        )
        .await;
    let bad_query = problem(bad_query, 422).await;
    assert_eq!(fields(&bad_query), ["sort", "status"]);
    assert_eq!(app.event_count().await, events);
}

#[sqlx::test(migrations = "../migrations")]
async fn revisions_show_what_each_change_changed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = create(&app, spec_article()).await;
    let path = format!("{KB}/{}", created["id"].as_str().unwrap());
    let revised = app
        .put(
            &path,
            &agent(&app),
            json!({"title": "Reset a forgotten password", "tags": ["password"], "category": "HOW_TO"}),
        )
        .await;
    assert_eq!(ok_json(revised, 200).await["revision"], 2);
    // Sent unchanged: no revision.
    let same = app
        .put(&path, &agent(&app), json!({"isPinned": false}))
        .await;
    assert_eq!(ok_json(same, 200).await["revision"], 2);

    let revisions: Value = app
        .get_json(&format!("{path}/revisions"), &agent(&app))
        .await;
    assert_eq!(revisions["total"], 2);
    let latest = &revisions["items"][0];
    assert_eq!(latest["revision"], 2);
    assert_eq!(latest["revisedBy"], "agent-1");
    assert_eq!(
        latest["changes"],
        json!([
            {"field": "tags", "before": ["password", "account", "security"], "after": ["password"]},
            {"field": "title", "before": "How to Reset Your Password", "after": "Reset a forgotten password"}
        ])
    );
    let first = &revisions["items"][1];
    assert_eq!(first["revision"], 1);
    assert!(first["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|change| change["before"].is_null()));
    // Past the last revision, up to the largest page number: an empty page.
    let beyond: Value = app
        .get_json(
            &format!("{path}/revisions?page=2147483647&limit=100"),
            &agent(&app),
        )
        .await;
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], 2);
    let customers = app.get(&format!("{path}/revisions"), &customer(&app)).await;
    problem(customers, 403).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn ranking_puts_titles_pins_boosts_and_exact_titles_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    // A title match beats a body match.
    published(
        &app,
        article("Billing overview", "How invoices work, and refunds too."),
    )
    .await;
    published(&app, article("Refunds", "How to get money back.")).await;
    assert_eq!(
        titles(&search(&app, None, "search=refunds").await),
        ["Refunds", "Billing overview"]
    );
    // A boosted article beats an equal unboosted one.
    published(&app, article("Export leads", "Export to CSV.")).await;
    let mut boosted = article("Export leads", "Export to CSV.");
    boosted["summary"] = json!("The boosted one");
    boosted["searchBoost"] = json!(2.0);
    published(&app, boosted).await;
    let found = search(&app, None, "search=export").await;
    assert_eq!(found["items"][0]["summary"], "The boosted one");
    assert_eq!(found["items"][1]["summary"], "A guide");
    // An exact title beats a stemmed match.
    published(&app, article("Run reports", "Reports on a schedule.")).await;
    published(&app, article("Running reports", "Reports on demand.")).await;
    assert_eq!(
        titles(&search(&app, None, "search=running").await),
        ["Running reports", "Run reports"]
    );
    // A pinned article comes first, even matched in its body only.
    let mut pinned = article("Announcements", "Running maintenance on Sunday.");
    pinned["isPinned"] = json!(true);
    published(&app, pinned).await;
    assert_eq!(
        titles(&search(&app, None, "search=running").await),
        ["Announcements", "Running reports", "Run reports"]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn phrases_exclusions_and_typos_find_what_they_mean(pool: PgPool) {
    let app = spawn_app(pool).await;
    published(&app, spec_article()).await;
    published(
        &app,
        article("Reset the API key", "Rotate the key, then reset clients."),
    )
    .await;
    published(
        &app,
        article("Password policy", "Passwords need twelve characters."),
    )
    .await;

    let phrase = search(&app, None, "search=%22reset%20your%20password%22").await;
    assert_eq!(titles(&phrase), ["How to Reset Your Password"]);
    let excluded = search(&app, None, "search=reset%20-password").await;
    assert_eq!(titles(&excluded), ["Reset the API key"]);

    let typo = search(&app, None, "search=pasword").await;
    assert_eq!(typo["correctedQuery"], "password");
    let mut found = titles(&typo);
    found.sort();
    assert_eq!(found, ["How to Reset Your Password", "Password policy"]);
    // Among other words, short ones and operators kept where they are.
    let among = search(&app, None, "search=to%20-api%20reset%20pasword").await;
    assert_eq!(among["correctedQuery"], "to -api reset password");
    assert_eq!(titles(&among), ["How to Reset Your Password"]);
    // A query that finds enough as sent is not corrected.
    assert!(search(&app, None, "search=reset").await["correctedQuery"].is_null());
}

#[sqlx::test(migrations = "../migrations")]
async fn customers_and_anonymous_readers_see_published_public_articles_only(pool: PgPool) {
    let app = spawn_app(pool).await;
    let public = published(&app, article("Public guide", "Shared steps for everyone.")).await;
    let mut internal = article("Internal runbook", "Shared steps for staff.");
    internal["isInternal"] = json!(true);
    let internal = published(&app, internal).await;
    let draft = create(&app, article("Draft guide", "Shared steps not ready.")).await;
    let archived = published(&app, article("Archived guide", "Shared steps of old.")).await;
    let path = |a: &Value| format!("{KB}/{}", a["id"].as_str().unwrap());
    app.put(
        &path(&archived),
        &agent(&app),
        json!({"status": "ARCHIVED"}),
    )
    .await;

    let customer = customer(&app);
    for token in [None, Some(customer.as_str())] {
        for query in [
            "search=shared%20steps",
            "",
            "status=DRAFT",
            "status=ARCHIVED",
        ] {
            let found = search(&app, token, query).await;
            let expected: &[&str] = if query.starts_with("status") {
                &[]
            } else {
                &["Public guide"]
            };
            assert_eq!(titles(&found), expected, "{query}");
        }
        for hidden in [&internal, &draft, &archived] {
            let response = app.send(Method::GET, &path(hidden), token, None).await;
            problem(response, 404).await;
        }
        ok_json(
            app.send(Method::GET, &path(&public), token, None).await,
            200,
        )
        .await;
        let suggested = app
            .send(
                Method::POST,
                &format!("{KB}/suggest"),
                token,
                Some(json!({"title": "Shared steps", "description": "What are the shared steps?"})),
            )
            .await;
        let suggested = ok_json(suggested, 200).await;
        let suggested: Vec<&str> = suggested
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(suggested, ["Public guide"]);
    }
    // Staff see everything, and filter by status.
    let staff = search(&app, Some(&agent(&app)), "search=shared%20steps").await;
    assert_eq!(staff["total"], 4);
    let drafts = search(&app, Some(&agent(&app)), "status=DRAFT").await;
    assert_eq!(titles(&drafts), ["Draft guide"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_tickets_suggestions_match_its_text_for_whoever_sees_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    published(&app, spec_article()).await;
    let mut internal = article("Password resets for admins", "Reset a customer's password.");
    internal["isInternal"] = json!(true);
    published(&app, internal).await;
    published(&app, article("Invoices", "Where invoices are.")).await;
    let customer = customer(&app);
    let ticket = app
        .open_ticket(
            &customer,
            json!({
                "title": "Forgot my password",
                "description": "I cannot log in and need to reset it",
                "priority": "P2_MEDIUM",
                "category": "ACCOUNT",
                "channel": "WEB_FORM",
                "customerId": "customer-1"
            }),
        )
        .await;
    let path = format!(
        "/api/v1/support/tickets/{}/suggested-articles",
        ticket["id"].as_str().unwrap()
    );
    let for_customer: Value = app.get_json(&path, &customer).await;
    let for_customer: Vec<&str> = for_customer
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(for_customer, ["How to Reset Your Password"]);
    let for_agent: Value = app.get_json(&path, &app.admin()).await;
    assert_eq!(for_agent.as_array().unwrap().len(), 2);
    let stranger = app.token(ActorRole::Customer, "customer-2");
    problem(app.get(&path, &stranger).await, 404).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn searches_are_recorded_without_personal_data_and_summarised(pool: PgPool) {
    let app = spawn_app(pool).await;
    published(&app, spec_article()).await;
    for query in [
        "search=password",
        "search=Password",
        "search=invoice",
        "search=invoice",
        "search=invoice",
        "search=refund%20jane@example.com%20order%20123456",
    ] {
        search(&app, None, query).await;
    }
    // Further pages are not new searches.
    search(&app, None, "search=password&page=2").await;
    let today = chrono::Utc::now().date_naive();
    let insights: Value = app
        .get_json(
            &format!("{KB}/search-insights?startDate={today}&endDate={today}"),
            &agent(&app),
        )
        .await;
    assert_eq!(insights["searches"], 6);
    assert_eq!(insights["searchesWithoutResults"], 4);
    assert_eq!(
        insights["topWithoutResults"],
        json!([
            {"query": "invoice", "searches": 3, "withoutResults": 3},
            {"query": "refund [email] order [number]", "searches": 1, "withoutResults": 1}
        ])
    );
    assert_eq!(
        insights["topSearches"][0],
        json!({"query": "invoice", "searches": 3, "withoutResults": 3})
    );
    assert_eq!(
        insights["topSearches"][1],
        json!({"query": "password", "searches": 2, "withoutResults": 0})
    );
    problem(
        app.get(&format!("{KB}/search-insights"), &agent(&app))
            .await,
        422,
    )
    .await;
    problem(
        app.get(
            &format!("{KB}/search-insights?startDate={today}&endDate={today}"),
            &customer(&app),
        )
        .await,
        403,
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn five_hundred_concurrent_reads_count_exactly(pool: PgPool) {
    let app = spawn_app(pool).await;
    let article = published(&app, spec_article()).await;
    let path = format!("{KB}/{}", article["id"].as_str().unwrap());
    let reads = (0..500).map(|_| app.send(Method::GET, &path, None, None));
    let answers = futures::future::join_all(reads).await;
    assert!(answers.iter().all(|answer| answer.status() == 200));
    let after: Value = app.get_json(&path, &agent(&app)).await;
    assert_eq!(after["views"], 501, "500 reads and this one");
}
