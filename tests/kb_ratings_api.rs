//! Readers' ratings of knowledge base articles over the real API: one rating per reader, the mean
//! and the low-rating flag on the article, `?lowRated=`, the alert the SLA timer's pass raises
//! once and the author's in-app notice of it, who may rate what, the refusals, and the comment as
//! personal data: sealed in the store, exported and erased with the customer.

mod common;

use common::{
    fields, ok_json, problem, spawn_app, spawn_app_without_sla_timer, wait_until_applied, TestApp,
};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::kb_rating_alerts::tell_pending;
use supportd::notifier::deliver_due;
use uuid::Uuid;

const KB: &str = "/api/v1/support/kb-articles";
const AUTHOR: &str = "agent-author";

fn agent(app: &TestApp) -> String {
    app.token(ActorRole::Agent, "agent-1")
}

/// A customer reader acting for their own account.
fn reader(app: &TestApp, n: usize) -> String {
    app.token(ActorRole::Customer, &format!("reader-{n}"))
}

/// A draft by `AUTHOR`, public unless `internal`.
async fn draft(app: &TestApp, title: &str, internal: bool) -> Value {
    let body = json!({
        "title": title, "summary": "A guide", "content": "Click Forgot Password.",
        "category": "HOW_TO", "author": AUTHOR, "isInternal": internal,
    });
    ok_json(app.post(KB, &agent(app), body).await, 201).await
}

async fn published(app: &TestApp, title: &str) -> Value {
    let article = draft(app, title, false).await;
    let path = format!("{KB}/{}", article["id"].as_str().unwrap());
    ok_json(
        app.put(&path, &agent(app), json!({"status": "PUBLISHED"}))
            .await,
        200,
    )
    .await
}

fn ratings_of(article: &Value) -> String {
    format!("{KB}/{}/ratings", article["id"].as_str().unwrap())
}

async fn rate(app: &TestApp, article: &Value, token: &str, body: Value) -> reqwest::Response {
    app.post(&ratings_of(article), token, body).await
}

async fn get(app: &TestApp, article: &Value) -> Value {
    let path = format!("{KB}/{}", article["id"].as_str().unwrap());
    ok_json(app.get(&path, &agent(app)).await, 200).await
}

async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let page = ok_json(app.get(&format!("{KB}?{query}"), &agent(app)).await, 200).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn events_of(app: &TestApp, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_reader_rating_again_replaces_their_rating_and_counts_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let article = published(&app, "Reset your password").await;
    let unrated = get(&app, &article).await;
    assert_eq!(unrated["rating"], 0.0);
    assert_eq!(unrated["ratingCount"], 0);
    assert_eq!(unrated["helpfulRatio"], Value::Null);
    assert_eq!(unrated["lowRated"], false);

    let first = rate(
        &app,
        &article,
        &reader(&app, 1),
        json!({"rating": 2, "helpful": false}),
    )
    .await;
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first = ok_json(first, 201).await;
    assert_eq!(
        location,
        format!("{KB}/{}", article["id"].as_str().unwrap())
    );
    assert_eq!(first["articleId"], article["id"]);
    assert_eq!(
        (first["rating"].clone(), first["helpful"].clone()),
        (json!(2), json!(false))
    );

    let again = json!({"rating": 4, "helpful": true, "comment": "Clear now"});
    let replaced = ok_json(
        rate(&app, &article, &reader(&app, 1), again.clone()).await,
        200,
    )
    .await;
    assert_eq!(replaced["id"], first["id"], "the same rating");
    assert_eq!(replaced["comment"], "Clear now");
    assert_eq!(replaced["ratedAt"], first["ratedAt"]);
    let shown = get(&app, &article).await;
    assert_eq!(shown["ratingCount"], 1, "{shown}");
    assert_eq!(shown["rating"], 4.0);
    assert_eq!(shown["helpfulRatio"], 1.0);
    // Sent again unchanged: nothing is recorded.
    let revisions = events_of(&app, "KbArticleRatingRevised").await;
    ok_json(rate(&app, &article, &reader(&app, 1), again).await, 200).await;
    assert_eq!(events_of(&app, "KbArticleRatingRevised").await, revisions);

    let staff = app.token(ActorRole::Admin, "admin-7");
    ok_json(
        rate(
            &app,
            &article,
            &staff,
            json!({"rating": 5, "helpful": false}),
        )
        .await,
        201,
    )
    .await;
    let shown = get(&app, &article).await;
    assert_eq!(shown["ratingCount"], 2);
    assert_eq!(shown["rating"], 4.5);
    assert_eq!(shown["helpfulRatio"], 0.5);
    // Search hits show the same.
    let page = ok_json(app.get(&format!("{KB}?search=password"), &staff).await, 200).await;
    let hit = &page["items"][0];
    assert_eq!(
        (hit["rating"].clone(), hit["ratingCount"].clone()),
        (json!(4.5), json!(2))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_fifth_bad_rating_flags_the_article_and_its_author_is_told_once(pool: PgPool) {
    // The SLA timer's and the notifier's passes are the test's to run.
    let app = spawn_app_without_sla_timer(pool, |_| {}).await;
    let article = published(&app, "Export to CSV").await;
    published(&app, "Import from CSV").await;
    // An admin who saved preferences is found by role, as escalations find them.
    let admin = app.token(ActorRole::Admin, "admin-2");
    ok_json(
        app.put(
            "/api/v1/support/notification-preferences",
            &admin,
            json!({}),
        )
        .await,
        200,
    )
    .await;

    for n in 1..=4 {
        let bad = json!({"rating": 1 + n % 2, "helpful": false});
        ok_json(rate(&app, &article, &reader(&app, n), bad).await, 201).await;
        assert_eq!(get(&app, &article).await["lowRated"], false, "{n} ratings");
    }
    assert!(listed(&app, "lowRated=true").await.is_empty());
    ok_json(
        rate(
            &app,
            &article,
            &reader(&app, 5),
            json!({"rating": 3, "helpful": true}),
        )
        .await,
        201,
    )
    .await;
    let flagged = get(&app, &article).await;
    assert_eq!(flagged["lowRated"], true, "{flagged}");
    assert_eq!(flagged["rating"], 1.8);
    assert_eq!(flagged["helpfulRatio"], 0.2);
    assert_eq!(listed(&app, "lowRated=true").await, ["Export to CSV"]);
    assert_eq!(listed(&app, "lowRated=false").await, ["Import from CSV"]);
    assert_eq!(
        listed(&app, "search=csv&lowRated=true").await,
        ["Export to CSV"]
    );

    // The pass raises the alert once; a second pass finds nothing, and a pass redone after a
    // crash (the mark still set) records nothing new.
    let now = || app.context.clock.now();
    assert_eq!(events_of(&app, "KbArticleRatedLow").await, 0);
    assert_eq!(tell_pending(&app.context, now(), 64).await.unwrap(), 1);
    assert_eq!(events_of(&app, "KbArticleRatedLow").await, 1);
    assert_eq!(tell_pending(&app.context, now(), 64).await.unwrap(), 0);
    sqlx::query("UPDATE kb_rating_summaries SET alert_pending = true")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(tell_pending(&app.context, now(), 64).await.unwrap(), 1);
    assert_eq!(events_of(&app, "KbArticleRatedLow").await, 1);
    let alert: Value = sqlx::query_scalar(
        "SELECT payload -> 'KbArticleRatedLow' FROM events WHERE event_type = 'KbArticleRatedLow'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        alert,
        json!({"rating": 1.8, "ratingCount": 5, "author": AUTHOR, "title": "Export to CSV"})
    );

    // The author and the admin find it in their inboxes.
    wait_until_applied(&app.pool, "notification_planner", "kb_article").await;
    deliver_due(&app.context, now()).await.unwrap();
    for (sub, token) in [
        (AUTHOR, app.token(ActorRole::Agent, AUTHOR)),
        ("admin-2", admin),
    ] {
        let inbox = ok_json(app.get("/api/v1/support/notifications", &token).await, 200).await;
        let items = inbox["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{sub}: {inbox}");
        assert_eq!(items[0]["kind"], "KB_LOW_RATING");
        assert_eq!(items[0]["eventType"], "KbArticleRatedLow");
        assert_eq!(
            items[0]["headline"],
            "Rated low: Export to CSV (1.8 of 5 from 5 ratings)"
        );
    }

    // Better ratings clear the flag, and the next pass records the recovery.
    for n in 6..=7 {
        let good = json!({"rating": 5, "helpful": true});
        ok_json(rate(&app, &article, &reader(&app, n), good).await, 201).await;
    }
    assert_eq!(get(&app, &article).await["lowRated"], false);
    assert_eq!(tell_pending(&app.context, now(), 64).await.unwrap(), 1);
    assert_eq!(events_of(&app, "KbArticleRatingRecovered").await, 1);
    assert!(listed(&app, "lowRated=true").await.is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn readers_rate_only_the_articles_they_can_read(pool: PgPool) {
    let app = spawn_app(pool).await;
    let good = json!({"rating": 4, "helpful": true});
    let unpublished = draft(&app, "Unpublished", false).await;
    let internal = draft(&app, "Staff only", true).await;
    let path = format!("{KB}/{}", internal["id"].as_str().unwrap());
    ok_json(
        app.put(&path, &agent(&app), json!({"status": "PUBLISHED"}))
            .await,
        200,
    )
    .await;
    let events = app.event_count().await;
    for article in [&unpublished, &internal] {
        let refused = rate(&app, article, &reader(&app, 1), good.clone()).await;
        problem(refused, 404).await;
    }
    problem(
        app.post(
            &format!("{KB}/KB-999999/ratings"),
            &agent(&app),
            good.clone(),
        )
        .await,
        404,
    )
    .await;
    // A rating needs a reader; services and auditors are none.
    let anonymous = app
        .send(
            Method::POST,
            &ratings_of(&unpublished),
            None,
            Some(good.clone()),
        )
        .await;
    problem(anonymous, 401).await;
    for role in [ActorRole::Service, ActorRole::Auditor] {
        let token = app.token(role, "someone");
        problem(rate(&app, &unpublished, &token, good.clone()).await, 403).await;
    }
    assert_eq!(app.event_count().await, events, "nothing recorded");
    // Staff rate any article, by number too.
    let number = unpublished["articleNumber"].as_str().unwrap();
    let by_number = app
        .post(&format!("{KB}/{number}/ratings"), &agent(&app), good)
        .await;
    assert_eq!(
        ok_json(by_number, 201).await["articleId"],
        unpublished["id"]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_ratings_are_refused_naming_every_field(pool: PgPool) {
    let app = spawn_app(pool).await;
    let article = published(&app, "Reset your password").await;
    let token = reader(&app, 1);
    let events = app.event_count().await;
    let long = "x".repeat(2_001);
    for (body, named) in [
        (
            json!({"comment": long}),
            vec!["rating", "helpful", "comment"],
        ),
        (
            json!({"rating": 0, "helpful": true, "comment": ""}),
            vec!["rating", "comment"],
        ),
        (json!({"rating": 2.5, "helpful": true}), vec!["rating"]),
        (
            json!({"rating": 6, "helpful": false, "comment": "a\u{0}b"}),
            vec!["rating", "comment"],
        ),
        (
            json!({"rating": 3, "helpful": true, "stars": 3, "reader": "x"}),
            vec!["stars", "reader"],
        ),
    ] {
        let refused = problem(rate(&app, &article, &token, body.clone()).await, 422).await;
        let mut refused = fields(&refused);
        refused.sort_unstable();
        let mut named = named;
        named.sort_unstable();
        assert_eq!(refused, named, "{body}");
    }
    assert_eq!(app.event_count().await, events, "nothing recorded");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_comment_is_sealed_exported_and_erased_with_the_customer(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let article = published(&app, "Reset your password").await;
    let tag = Uuid::new_v4().simple().to_string();
    let comment = format!("Step 3 failed for my account q{tag}");
    let account = format!("customer-{}", &tag[..8]);
    let token = app.keys.issue(
        ActorRole::Customer,
        "reader-with-account",
        Some(&account),
        chrono::Duration::hours(1),
    );
    let rated = ok_json(
        rate(
            &app,
            &article,
            &token,
            json!({"rating": 2, "helpful": false, "comment": comment}),
        )
        .await,
        201,
    )
    .await;
    let rating_id = rated["id"].as_str().unwrap().to_owned();

    // Sealed in the store and filed under the account; in clear in the read model only.
    let in_clear: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE strpos(payload::text, $1) > 0")
            .bind(&tag)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(in_clear, 0, "the comment is sealed in the store");
    let filed: Option<String> = sqlx::query_scalar(
        "SELECT customer_id FROM data_keys WHERE aggregate_type = 'kb_rating' AND aggregate_id = $1",
    )
    .bind(&rating_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(filed.as_deref(), Some(account.as_str()));

    let admin = app.admin();
    let path = format!("/api/v1/support/customers/{account}/personal-data");
    let export = ok_json(app.get(&path, &admin).await, 200).await;
    assert_eq!(export["kbRatings"][0]["comment"], comment, "{export}");
    assert_eq!(export["kbRatings"][0]["articleId"], article["id"]);

    let receipt = ok_json(
        app.send(Method::DELETE, &path, Some(&admin), None).await,
        200,
    )
    .await;
    assert_eq!(receipt["kbRatings"], json!([rating_id]), "{receipt}");
    let left: Vec<(Option<String>, bool)> =
        sqlx::query_as("SELECT comment, erased_at IS NOT NULL FROM kb_ratings")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(left, [(Some("[erased]".to_owned()), true)]);
    let export = ok_json(app.get(&path, &admin).await, 200).await;
    assert_eq!(export["kbRatings"], json!([]));
    // The stars still count; the rating accepts no further change.
    assert_eq!(get(&app, &article).await["ratingCount"], 1);
    let again = rate(
        &app,
        &article,
        &token,
        json!({"rating": 5, "helpful": true}),
    )
    .await;
    problem(again, 409).await;

    // A replay from the store gives the same erased rows.
    let rows = |pool: PgPool| async move {
        sqlx::query_as::<_, (Uuid, Option<String>, i32, i32)>(
            "SELECT r.rating_id, r.comment, s.rating_count, s.rating_sum \
             FROM kb_ratings r JOIN kb_rating_summaries s USING (article_id)",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let live = rows(pool.clone()).await;
    support_projections::replay(
        &pool,
        &common::data_keys(),
        &support_projections::kb::KbRatingsProjection,
    )
    .await
    .unwrap();
    assert_eq!(rows(pool.clone()).await, live);
}
