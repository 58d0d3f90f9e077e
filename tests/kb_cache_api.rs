//! The cache of published articles: two API processes on one database, one caching an article
//! and the other changing it; the cached one never serves what the change took away once the
//! command answered. And a hit reads no text from the database.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{ok_json, problem, spawn_app, spawn_app_with, spawn_registry, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::startup::Registry;

const KB: &str = "/api/v1/support/kb-articles";

fn agent(app: &TestApp) -> String {
    app.token(ActorRole::Agent, "agent-1")
}

/// A published article titled `title`, through `app`.
async fn published(app: &TestApp, title: &str) -> Value {
    let body = json!({
        "title": title,
        "summary": "A guide",
        "content": "Steps to follow.",
        "category": "HOW_TO"
    });
    let created = ok_json(app.post(KB, &agent(app), body).await, 201).await;
    let path = format!("{KB}/{}", created["id"].as_str().unwrap());
    let publish = app
        .put(&path, &agent(app), json!({"status": "PUBLISHED"}))
        .await;
    ok_json(publish, 200).await
}

/// An anonymous read of `path`.
async fn read(app: &TestApp, path: &str) -> reqwest::Response {
    app.send(Method::GET, path, None, None).await
}

/// A second API process on the same database and stream, with no worker of its own.
async fn second_process(pool: &PgPool) -> TestApp {
    spawn_registry(pool.clone(), Registry::standard(), |_| Vec::new(), |_| {}).await
}

/// Publishes an article through `a`, reads it through `b` by id and by number until `b` serves it
/// from its cache, then changes it through `a`; returns its paths by id and by number once the
/// change has been answered.
async fn cached_by_b_then_changed_by_a(
    a: &TestApp,
    b: &TestApp,
    title: &str,
    change: Value,
) -> (String, String) {
    let article = published(a, title).await;
    let by_id = format!("{KB}/{}", article["id"].as_str().unwrap());
    let by_number = format!("{KB}/{}", article["articleNumber"].as_str().unwrap());
    for _ in 0..2 {
        ok_json(read(b, &by_id).await, 200).await;
        ok_json(read(b, &by_number).await, 200).await;
    }
    ok_json(a.put(&by_id, &agent(a), change).await, 200).await;
    (by_id, by_number)
}

#[sqlx::test(migrations = "../migrations")]
async fn a_change_made_through_one_process_is_served_at_once_by_the_other(pool: PgPool) {
    let a = spawn_app(pool.clone()).await;
    let b = second_process(&pool).await;

    // Archived, or taken back to draft: 404 at B, by id and by number, once A answered.
    for status in ["ARCHIVED", "DRAFT"] {
        let (by_id, by_number) =
            cached_by_b_then_changed_by_a(&a, &b, "A guide", json!({"status": status})).await;
        problem(read(&b, &by_id).await, 404).await;
        problem(read(&b, &by_number).await, 404).await;
    }

    // Updated: the new title, and every read counted.
    let (updated, _) =
        cached_by_b_then_changed_by_a(&a, &b, "Old title", json!({"title": "New title"})).await;
    let served = ok_json(read(&b, &updated).await, 200).await;
    assert_eq!(served["title"], "New title");
    assert_eq!(served["views"], 5);

    // Made internal: 404 for the public, shown to staff.
    let (internal, _) =
        cached_by_b_then_changed_by_a(&a, &b, "Soon internal", json!({"isInternal": true})).await;
    problem(read(&b, &internal).await, 404).await;
    let staff = ok_json(b.get(&internal, &agent(&b)).await, 200).await;
    assert_eq!(staff["isInternal"], true);
}

#[sqlx::test(migrations = "../migrations")]
async fn no_read_started_after_the_archive_answered_is_served_the_article(pool: PgPool) {
    let a = spawn_app(pool.clone()).await;
    let b = Arc::new(second_process(&pool).await);
    let article = published(&a, "Read while archived").await;
    let path = format!("{KB}/{}", article["id"].as_str().unwrap());
    ok_json(read(&b, &path).await, 200).await;

    // Readers at B all along; each notes whether the archive had answered when its read started.
    let archived = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (b, path, archived) = (b.clone(), path.clone(), archived.clone());
            tokio::spawn(async move {
                let mut after_archive = Vec::new();
                while after_archive.len() < 20 {
                    let started_after = archived.load(Ordering::SeqCst);
                    let status = read(&b, &path).await.status();
                    if started_after {
                        after_archive.push(status);
                    } else {
                        // Concurrent with the archive: either answer is right.
                        assert!(status == 200 || status == 404, "{status}");
                    }
                }
                after_archive
            })
        })
        .collect();
    let archive = a
        .put(&path, &agent(&a), json!({"status": "ARCHIVED"}))
        .await;
    ok_json(archive, 200).await;
    archived.store(true, Ordering::SeqCst);
    for reader in readers {
        let statuses = reader.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 404), "{statuses:?}");
    }
}

/// Changes an article's title in the read model without a new version: only a read that goes to
/// the database sees it.
async fn retitle_behind_the_service(pool: &PgPool, article: &Value) {
    sqlx::query("UPDATE kb_articles SET title = 'Changed in the table' WHERE id = $1::uuid")
        .bind(article["id"].as_str().unwrap())
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_hit_is_served_from_memory_with_its_views_and_ratings_as_they_stand(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let article = published(&app, "Cached guide").await;
    let path = format!("{KB}/{}", article["id"].as_str().unwrap());
    ok_json(read(&app, &path).await, 200).await;
    retitle_behind_the_service(&pool, &article).await;
    let hit = ok_json(read(&app, &path).await, 200).await;
    assert_eq!(hit["title"], "Cached guide", "served from the cache");
    assert_eq!(hit["views"], 2);
    // Staff and customers are served the same public article.
    let staff = ok_json(app.get(&path, &agent(&app)).await, 200).await;
    assert_eq!(
        (&staff["title"], &staff["views"]),
        (&json!("Cached guide"), &json!(3))
    );
    // What readers change without a new version is read afresh on a hit.
    let reader = app.token(ActorRole::Customer, "reader-1");
    let rating = json!({"rating": 2, "helpful": false});
    let rated = app.post(&format!("{path}/ratings"), &reader, rating).await;
    assert!(rated.status().is_success(), "{}", rated.status());
    let hit = ok_json(read(&app, &path).await, 200).await;
    assert_eq!(hit["title"], "Cached guide", "still served from the cache");
    assert_eq!(
        (
            &hit["views"],
            &hit["ratingCount"],
            &hit["rating"],
            &hit["helpfulRatio"]
        ),
        (&json!(4), &json!(1), &json!(2.0), &json!(0.0))
    );
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("supportd_kb_cache_hits_total"),
        "{metrics}"
    );
    assert!(metrics.contains("supportd_kb_cache_misses_total"));
}

#[sqlx::test(migrations = "../migrations")]
async fn with_the_cache_off_every_read_goes_to_the_database(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), |settings| settings.kb.cache_bytes = 0).await;
    let article = published(&app, "Uncached guide").await;
    let path = format!("{KB}/{}", article["id"].as_str().unwrap());
    ok_json(read(&app, &path).await, 200).await;
    retitle_behind_the_service(&pool, &article).await;
    let read_again = ok_json(read(&app, &path).await, 200).await;
    assert_eq!(read_again["title"], "Changed in the table");
    assert_eq!(read_again["views"], 2);
}

/// An anonymous search for `words`.
async fn search(app: &TestApp, words: &str) -> Value {
    ok_json(read(app, &format!("{KB}?search={words}")).await, 200).await
}

fn titles(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["title"].as_str().unwrap())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_kept_search_page_is_served_with_its_hits_figures_as_they_stand(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let article = published(&app, "Rotate webhook secrets").await;
    assert_eq!(
        titles(&search(&app, "webhook").await),
        ["Rotate webhook secrets"]
    );
    // A change behind the service, which moves no article's version nor the read model's mark of
    // its last change: only a search that goes to the database sees it.
    retitle_behind_the_service(&pool, &article).await;
    let path = format!("{KB}/{}", article["id"].as_str().unwrap());
    ok_json(read(&app, &path).await, 200).await;
    let kept = search(&app, "webhook").await;
    assert_eq!(titles(&kept), ["Rotate webhook secrets"], "served as kept");
    assert_eq!(kept["items"][0]["views"], 1, "its views as they stand");
    // Another audience, another page: staff search the database.
    let staff = ok_json(
        app.get(&format!("{KB}?search=webhook"), &agent(&app)).await,
        200,
    )
    .await;
    assert_eq!(titles(&staff), ["Changed in the table"]);
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("supportd_kb_search_cache_hits_total"),
        "{metrics}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn any_change_to_any_article_through_either_process_retires_the_kept_pages(pool: PgPool) {
    let a = spawn_app(pool.clone()).await;
    let b = second_process(&pool).await;
    let first = published(&a, "Export invoices").await;
    for _ in 0..2 {
        assert_eq!(titles(&search(&b, "invoices").await), ["Export invoices"]);
    }
    // A new article that matches is found at once by B, which kept the page without it.
    published(&a, "Invoices explained").await;
    let page = search(&b, "invoices").await;
    let mut found = titles(&page);
    found.sort_unstable();
    assert_eq!(found, ["Export invoices", "Invoices explained"]);
    // Archived through A: gone from B's search once A answered.
    let path = format!("{KB}/{}", first["id"].as_str().unwrap());
    ok_json(
        a.put(&path, &agent(&a), json!({"status": "ARCHIVED"}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        titles(&search(&b, "invoices").await),
        ["Invoices explained"]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn with_the_cache_off_every_search_goes_to_the_database(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), |settings| settings.kb.cache_bytes = 0).await;
    let article = published(&app, "Rotate webhook secrets").await;
    search(&app, "webhook").await;
    retitle_behind_the_service(&pool, &article).await;
    assert_eq!(
        titles(&search(&app, "webhook").await),
        ["Changed in the table"]
    );
}
