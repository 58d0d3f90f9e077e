//! Knowledge base views: the fold that moves the view log into the counts keeps them exact, side
//! by side with other folds and with readers, and a `supportd` killed with SIGKILL in the middle of
//! many reads (and of folds) loses no view and counts none twice.

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{TestBus, NATS_URL};
use futures::StreamExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::kb;
use supportd::auth::TokenKeys;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

const KB: &str = "/api/v1/support/kb-articles";
const SECRET: &str = "kb-views-test-secret";

/// An article's views as the API counts them: folded, and in the log.
async fn views(pool: &PgPool, article: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce((SELECT views FROM kb_article_view_counts WHERE article_id = $1), 0) \
             + (SELECT count(*) FROM kb_article_views WHERE article_id = $1)",
    )
    .bind(article)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn folded(pool: &PgPool, article: Uuid) -> i64 {
    sqlx::query_scalar("SELECT views FROM kb_article_view_counts WHERE article_id = $1")
        .bind(article)
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap_or(0)
}

async fn log_len(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM kb_article_views")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Folds until the log is empty.
async fn fold_everything(pool: &PgPool) {
    while kb::fold_views(pool, 1_000).await.unwrap() > 0 {}
    assert_eq!(log_len(pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn folds_side_by_side_with_readers_count_every_view_once(pool: PgPool) {
    let articles: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let reading = Arc::new(AtomicBool::new(true));
    // Four folds of small batches, over and over, while 1,500 views are recorded.
    let folds: Vec<_> = (0..4)
        .map(|_| {
            let (pool, reading) = (pool.clone(), reading.clone());
            tokio::spawn(async move {
                let mut folded = 0;
                while reading.load(Ordering::SeqCst) {
                    folded += kb::fold_views(&pool, 7).await.unwrap();
                }
                folded
            })
        })
        .collect();
    let reads = futures::stream::iter(0..1_500).for_each_concurrent(32, |n| {
        let pool = pool.clone();
        let article = articles[n % 3];
        async move {
            kb::count_view(&pool, article, chrono::Utc::now())
                .await
                .unwrap()
        }
    });
    reads.await;
    reading.store(false, Ordering::SeqCst);
    let mut folded_by_folds = 0;
    for fold in folds {
        folded_by_folds += fold.await.unwrap();
    }
    for article in &articles {
        assert_eq!(views(&pool, *article).await, 500, "exact while unfolded");
    }
    fold_everything(&pool).await;
    for article in &articles {
        assert_eq!(folded(&pool, *article).await, 500, "exact once folded");
    }
    assert!(folded_by_folds > 0, "the folds ran among the reads");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_fold_cut_short_folds_nothing(pool: PgPool) {
    let article = Uuid::new_v4();
    for _ in 0..10 {
        kb::count_view(&pool, article, chrono::Utc::now())
            .await
            .unwrap();
    }
    kb::fold_views(&pool, 4).await.unwrap();
    let mut cut_short = pool.begin().await.unwrap();
    assert_eq!(kb::fold_views(&mut *cut_short, 4).await.unwrap(), 4);
    cut_short.rollback().await.unwrap();
    assert_eq!(folded(&pool, article).await, 4);
    assert_eq!(views(&pool, article).await, 10);
    fold_everything(&pool).await;
    assert_eq!(folded(&pool, article).await, 10);
}

/// A `supportd serve` process of the test's own, on the test's database and stream.
struct Service {
    process: Child,
    address: String,
}

impl Service {
    async fn start(pool: &PgPool, bus: &TestBus) -> Self {
        let database = pool.connect_options().get_database().unwrap().to_owned();
        let mut process = Command::new(env!("CARGO_BIN_EXE_supportd"))
            .arg("serve")
            .env(
                "DATABASE_URL",
                format!("postgres://postgres@127.0.0.1:5432/{database}"),
            )
            .env("NATS_URL", NATS_URL)
            .env("SUPPORTD_STREAM", &bus.bus.stream)
            .env("SUPPORTD_SUBJECT_PREFIX", &bus.bus.subject_prefix)
            .env("SUPPORTD_BIND", "127.0.0.1:0")
            .env("SUPPORTD_JWT_SECRET", SECRET)
            .env("SUPPORTD_RATE_LIMIT_PER_MINUTE_ANONYMOUS", "100000000")
            .env("SUPPORTD_RATE_LIMIT_PER_MINUTE_AGENT", "100000000")
            // Folds all the time, so that the kill lands among them.
            .env("SUPPORTD_KB_VIEW_FOLD_MS", "1")
            .env("SUPPORTD_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // The address it bound is in its log; the rest of the log is drained so it never blocks.
        let mut lines = BufReader::new(process.stderr.take().unwrap()).lines();
        let listening = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if event["fields"]["message"] == "supportd listening" {
                    return event["fields"]["address"].as_str().unwrap().to_owned();
                }
            }
            panic!("supportd ended before it listened");
        };
        let address = tokio::time::timeout(Duration::from_secs(60), listening)
            .await
            .expect("supportd listens within 60 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            process,
            address: format!("http://{address}"),
        }
    }

    async fn kill(&mut self) {
        // SIGKILL: no graceful shutdown, requests in flight cut off.
        self.process.start_kill().unwrap();
        self.process.wait().await.unwrap();
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_service_killed_among_reads_and_folds_loses_no_view(pool: PgPool) {
    const SENT_AT_MOST: usize = 4_000;
    const KILL_AFTER_ANSWERS: usize = 1_500;
    let bus = TestBus::new();
    let mut service = Service::start(&pool, &bus).await;
    let http = reqwest::Client::new();
    let agent = TokenKeys::new(SECRET).issue(
        ActorRole::Agent,
        "agent-1",
        None,
        chrono::Duration::hours(1),
    );
    let created: Value = http
        .post(format!("{}{KB}", service.address))
        .bearer_auth(&agent)
        .json(&json!({
            "title": "How to Reset Your Password",
            "summary": "Step-by-step guide",
            "content": "# Password Reset\n\n1. Click Forgot Password...",
            "category": "HOW_TO"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let path = format!("{KB}/{id}");
    let published = http
        .put(format!("{}{path}", service.address))
        .bearer_auth(&agent)
        .json(&json!({"status": "PUBLISHED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);

    // Anonymous readers, 64 at a time; the process is killed once 1,500 have been answered.
    let sent = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let enough = Arc::new(tokio::sync::Notify::new());
    let url = format!("{}{path}", service.address);
    let load = {
        let (sent, answered, refused) = (sent.clone(), answered.clone(), refused.clone());
        let (stopped, enough, http) = (stopped.clone(), enough.clone(), http.clone());
        tokio::spawn(
            futures::stream::iter(0..SENT_AT_MOST).for_each_concurrent(64, move |_| {
                let (sent, answered, refused) = (sent.clone(), answered.clone(), refused.clone());
                let (stopped, enough, http, url) =
                    (stopped.clone(), enough.clone(), http.clone(), url.clone());
                async move {
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                    let Ok(response) = http.get(&url).send().await else {
                        return; // cut off by the kill
                    };
                    let status = response.status();
                    if response.bytes().await.is_err() {
                        return;
                    }
                    if status != 200 {
                        refused.fetch_add(1, Ordering::SeqCst);
                    } else if answered.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER_ANSWERS {
                        stopped.store(true, Ordering::SeqCst);
                        enough.notify_one();
                    }
                }
            }),
        )
    };
    tokio::time::timeout(Duration::from_secs(120), enough.notified())
        .await
        .expect("1,500 reads are answered within 2 minutes");
    service.kill().await;
    load.await.unwrap();
    let (sent, answered) = (sent.load(Ordering::SeqCst), answered.load(Ordering::SeqCst));
    assert_eq!(refused.load(Ordering::SeqCst), 0, "every answer was a 200");

    // Every answered read was counted; a read cut off may have been counted or not.
    let counted = views(&pool, id).await;
    assert!(
        answered as i64 <= counted && counted <= sent as i64,
        "{answered} answered <= {counted} counted <= {sent} sent"
    );
    assert!(folded(&pool, id).await > 0, "folds ran before the kill");

    // Restarted, it goes on from exactly there: its folds neither lose nor repeat a view.
    let mut restarted = Service::start(&pool, &bus).await;
    let url = format!("{}{path}", restarted.address);
    let read = |http: reqwest::Client, url: String| async move {
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["views"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(read(http.clone(), url.clone()).await, counted + 1);
    futures::stream::iter(0..200)
        .for_each_concurrent(32, |_| async {
            read(http.clone(), url.clone()).await;
        })
        .await;
    assert_eq!(read(http.clone(), url.clone()).await, counted + 202);
    restarted.kill().await;
    fold_everything(&pool).await;
    assert_eq!(folded(&pool, id).await, counted + 202);
}
