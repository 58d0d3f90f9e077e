//! `--scenario create`: ticket creations as fast as the clients go; throughput, command latency,
//! event-to-read-model lag and the service's memory.

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use support_domain::ActorRole;
use uuid::Uuid;

use super::{drive, http_client, token, Latencies};
use crate::settings::Settings;

pub async fn run(
    url: &str,
    clients: usize,
    duration: Duration,
    settings: &Settings,
) -> anyhow::Result<()> {
    let run_id = format!("bench-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let token = token(settings, ActorRole::Admin, &run_id);
    let http = http_client(clients)?;
    let tickets = format!("{url}/api/v1/support/tickets");
    let started = Instant::now();
    let outcomes = drive(clients, duration, move |client, n| {
        let (http, tickets, token) = (http.clone(), tickets.clone(), token.clone());
        async move {
            let body = serde_json::json!({
                "title": format!("Bench ticket {client}-{n}"),
                "description": "Created by supportd bench",
                "priority": "P2_MEDIUM",
                "category": "TECHNICAL",
                "channel": "API",
                "customerId": format!("bench-customer-{}", n % 100),
            });
            let sent = Instant::now();
            let response = http
                .post(&tickets)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            let elapsed = sent.elapsed();
            let created = match response {
                Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                    r.json::<serde_json::Value>().await.ok().and_then(|ticket| {
                        ticket["id"]
                            .as_str()
                            .and_then(|id| Uuid::parse_str(id).ok())
                    })
                }
                _ => None,
            };
            (elapsed, created)
        }
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();

    let mut latencies = Latencies::new();
    let mut created = Vec::new();
    let mut failed = 0;
    for (latency, id) in outcomes.into_iter().flatten() {
        match id {
            Some(id) => {
                latencies.record(latency);
                created.push(id);
            }
            None => failed += 1,
        }
    }

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&settings.database_url)
        .await
        .context("bench reads lag from DATABASE_URL")?;
    // Only the tickets this run created, looked up by primary key on both sides.
    let (lag_p50, lag_p99): (Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) \
         FROM (SELECT extract(epoch FROM t.projected_at - e.recorded_at) * 1000 AS lag \
               FROM tickets t JOIN events e \
                 ON e.aggregate_type = 'ticket' AND e.aggregate_id = t.id::text AND e.sequence = 1 \
               WHERE t.id = ANY($1)) lags",
    )
    .bind(&created)
    .fetch_one(&pool)
    .await?;

    let metrics = reqwest::get(format!("{url}/metrics")).await?.text().await?;
    let peak_rss = metrics
        .lines()
        .find_map(|line| line.strip_prefix("process_resident_memory_peak_bytes "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);

    println!("supportd bench: {clients} clients for {elapsed:.1} s against {url}");
    println!(
        "tickets created:         {} ({failed} failed)",
        created.len()
    );
    println!(
        "creations per second:    {:.0}",
        created.len() as f64 / elapsed
    );
    println!("command latency p50:     {:.1} ms", latencies.ms(0.50));
    println!("command latency p99:     {:.1} ms", latencies.ms(0.99));
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
