//! `supportd bench`: a load generator that drives a running service over HTTP and reports what
//! docs/benchmarks.md records.

use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use sqlx::postgres::PgPoolOptions;
use support_domain::ActorRole;
use uuid::Uuid;

use crate::auth::TokenKeys;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The service to drive.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Concurrent clients, each sending one request at a time.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// How long to drive it.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
}

struct ClientResult {
    latencies: Histogram<u64>,
    created: u64,
    failed: u64,
}

pub async fn run(args: BenchArgs, settings: &Settings) -> anyhow::Result<()> {
    let run_id = format!("bench-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let token = TokenKeys::new(&settings.jwt_secret).issue(
        ActorRole::Admin,
        &run_id,
        None,
        chrono::Duration::hours(2),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let url = format!("{}/api/v1/support/tickets", args.url.trim_end_matches('/'));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);

    let clients: Vec<_> = (0..args.clients)
        .map(|client| {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                let mut result = ClientResult {
                    latencies: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
                    created: 0,
                    failed: 0,
                };
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let body = serde_json::json!({
                        "title": format!("Bench ticket {client}-{n}"),
                        "description": "Created by supportd bench",
                        "priority": "P2_MEDIUM",
                        "category": "TECHNICAL",
                        "channel": "API",
                        "customerId": format!("bench-customer-{}", n % 100),
                    });
                    let sent = Instant::now();
                    let response = http.post(&url).bearer_auth(&token).json(&body).send().await;
                    let micros = sent.elapsed().as_micros() as u64;
                    match response {
                        Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                            result.created += 1;
                            result.latencies.saturating_record(micros.max(1));
                        }
                        _ => result.failed += 1,
                    }
                }
                result
            })
        })
        .collect();

    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut created, mut failed) = (0, 0);
    for client in clients {
        let result = client.await?;
        latencies.add(&result.latencies)?;
        created += result.created;
        failed += result.failed;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&settings.database_url)
        .await
        .context("bench reads lag from DATABASE_URL")?;
    let (lag_p50, lag_p99): (Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) \
         FROM (SELECT extract(epoch FROM t.projected_at - e.recorded_at) * 1000 AS lag \
               FROM tickets t JOIN events e \
                 ON e.aggregate_type = 'ticket' AND e.aggregate_id = t.id::text AND e.sequence = 1 \
               WHERE t.created_by = $1) lags",
    )
    .bind(&run_id)
    .fetch_one(&pool)
    .await?;

    let metrics = http
        .get(format!("{}/metrics", args.url.trim_end_matches('/')))
        .send()
        .await?
        .text()
        .await?;
    let peak_rss = metrics
        .lines()
        .find_map(|line| line.strip_prefix("process_resident_memory_peak_bytes "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);

    let ms = |micros: u64| micros as f64 / 1000.0;
    println!(
        "supportd bench: {} clients for {:.1} s against {}",
        args.clients, elapsed, args.url
    );
    println!("tickets created:         {created} ({failed} failed)");
    println!("creations per second:    {:.0}", created as f64 / elapsed);
    println!(
        "command latency p50:     {:.1} ms",
        ms(latencies.value_at_quantile(0.50))
    );
    println!(
        "command latency p99:     {:.1} ms",
        ms(latencies.value_at_quantile(0.99))
    );
    println!(
        "event-to-read-model lag p50: {:.1} ms",
        lag_p50.unwrap_or(f64::NAN)
    );
    println!(
        "event-to-read-model lag p99: {:.1} ms",
        lag_p99.unwrap_or(f64::NAN)
    );
    println!(
        "service peak RSS:        {:.1} MB",
        peak_rss as f64 / 1_048_576.0
    );
    Ok(())
}
