//! `--scenario kb-read`: a help centre's readers. Publishes `--articles` articles through the API
//! (a few kilobytes of Markdown each), reads each once, then times anonymous
//! `GET /kb-articles/{id}` of articles picked at random; afterwards checks that the views counted
//! are exactly the reads answered, and reports the service's cache hits and misses.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use sqlx::postgres::PgPoolOptions;
use support_domain::ActorRole;
use uuid::Uuid;

use super::{drive, http_client, token, Dice, Latencies};
use crate::settings::Settings;

/// About 3 KB: a guide of a dozen steps.
fn content(n: usize) -> String {
    let step = "Open **Settings**, then *Security*, and follow the prompts; if the link has \
                expired, ask for a new one and check the spam folder before trying again.";
    let mut content = format!("# Guide {n}\n\n");
    for i in 1..=16 {
        content.push_str(&format!("{i}. {step}\n"));
    }
    content
}

/// The value of an unlabelled counter on the service's `/metrics`; 0 before it first counts.
async fn counter(http: &reqwest::Client, url: &str, name: &str) -> anyhow::Result<u64> {
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0))
}

pub async fn run(
    url: &str,
    clients: usize,
    duration: Duration,
    articles: usize,
    settings: &Settings,
) -> anyhow::Result<()> {
    let http = http_client(clients)?;
    let kb = format!("{url}/api/v1/support/kb-articles");
    let agent = token(settings, ActorRole::Agent, "bench-author");
    let publish = |n: usize| {
        let (http, kb, agent) = (http.clone(), kb.clone(), agent.clone());
        async move {
            let created: serde_json::Value = http
                .post(&kb)
                .bearer_auth(&agent)
                .json(&serde_json::json!({
                    "title": format!("How to reset your password, part {n}"),
                    "summary": "Step-by-step guide to reset your account password",
                    "content": content(n),
                    "category": "HOW_TO",
                    "tags": ["password", "account"],
                }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let id: Uuid = created["id"].as_str().context("an id")?.parse()?;
            http.put(format!("{kb}/{id}"))
                .bearer_auth(&agent)
                .json(&serde_json::json!({"status": "PUBLISHED"}))
                .send()
                .await?
                .error_for_status()?;
            // Read once: the timed reads find it cached, as a help centre's popular articles are.
            http.get(format!("{kb}/{id}"))
                .send()
                .await?
                .error_for_status()?;
            anyhow::Ok(id)
        }
    };
    let published: Vec<anyhow::Result<Uuid>> = futures::stream::iter(0..articles)
        .map(publish)
        .buffer_unordered(clients)
        .collect()
        .await;
    let ids: Vec<Uuid> = published.into_iter().collect::<anyhow::Result<_>>()?;

    let hits_before = counter(&http, url, "supportd_kb_cache_hits_total").await?;
    let misses_before = counter(&http, url, "supportd_kb_cache_misses_total").await?;
    let started = Instant::now();
    let outcomes = {
        let (http, kb, ids) = (http.clone(), kb.clone(), ids.clone());
        drive(clients, duration, move |client, n| {
            let (http, kb) = (http.clone(), kb.clone());
            let id = ids[Dice::new((client as u64) << 32 | n).below(ids.len())];
            async move {
                let sent = Instant::now();
                let response = http.get(format!("{kb}/{id}")).send().await;
                let answered = match response {
                    Ok(r) if r.status() == reqwest::StatusCode::OK => r.bytes().await.is_ok(),
                    _ => false,
                };
                (sent.elapsed(), answered)
            }
        })
        .await
    };
    let elapsed = started.elapsed().as_secs_f64();
    let hits = counter(&http, url, "supportd_kb_cache_hits_total").await? - hits_before;
    let misses = counter(&http, url, "supportd_kb_cache_misses_total").await? - misses_before;

    let mut latencies = Latencies::new();
    let mut failed = 0;
    for (latency, answered) in outcomes.into_iter().flatten() {
        if answered {
            latencies.record(latency);
        } else {
            failed += 1;
        }
    }
    // Every answered read counted once: the timed ones and one per article before them.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&settings.database_url)
        .await
        .context("bench reads the view counts from DATABASE_URL")?;
    let counted: i64 = sqlx::query_scalar(
        "SELECT coalesce((SELECT sum(views) FROM kb_article_view_counts \
                          WHERE article_id = ANY($1)), 0)::bigint \
              + (SELECT count(*) FROM kb_article_views WHERE article_id = ANY($1))",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await?;
    let expected = latencies.len() as i64 + ids.len() as i64;

    println!(
        "supportd bench kb-read: {clients} clients for {elapsed:.1} s against {url}, {} articles",
        ids.len()
    );
    println!(
        "reads answered:          {} ({failed} failed)",
        latencies.len()
    );
    println!(
        "reads per second:        {:.0}",
        latencies.len() as f64 / elapsed
    );
    println!("latency p50:             {:.2} ms", latencies.ms(0.50));
    println!("latency p99:             {:.2} ms", latencies.ms(0.99));
    println!("cache hits / misses:     {hits} / {misses}");
    println!("views counted:           {counted} (expected {expected})");
    if counted != expected {
        bail!("the views counted are not the reads answered");
    }
    Ok(())
}
