//! `--scenario sla-breaches`: how late the SLA timer records breaches while `--tickets` clocks
//! run. It opens that many tickets under the default P3 policy (a day to respond: running clocks
//! that fill the timer table), then, for `--seconds`, opens `--rate` tickets a second under a
//! one-minute response policy of its own, and waits until each of those has breached. A breach's
//! delay is the time from its instant (the `at` of `SlaBreached`) to the moment its event was
//! recorded (`recorded_at`, the append's transaction time).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::postgres::PgPoolOptions;
use support_domain::ActorRole;
use uuid::Uuid;

use super::{drive, http_client, token};
use crate::settings::Settings;

pub async fn run(
    url: &str,
    clients: usize,
    clocks: u64,
    rate: u32,
    duration: Duration,
    settings: &Settings,
) -> anyhow::Result<()> {
    let run_id = format!("bench-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let token = token(settings, ActorRole::Admin, &run_id);
    let http = http_client(clients)?;
    let tickets = format!("{url}/api/v1/support/tickets");
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&settings.database_url)
        .await
        .context("bench reads the events from DATABASE_URL")?;

    let policy = http
        .post(format!("{url}/api/v1/support/sla-policies"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "name": format!("{run_id}: respond within a minute"),
            "priority": "P3_LOW",
            "customerTier": "FREE",
            "responseTimeTarget": 1,
            "resolutionTimeTarget": 525_600,
            "timezone": "UTC",
        }))
        .send()
        .await?;
    if !policy.status().is_success() {
        bail!("cannot create the bench's policy: {}", policy.text().await?);
    }

    // The running clocks: tickets opened as fast as the clients go, until there are enough.
    let started = Instant::now();
    let per_client = clocks.div_ceil(clients as u64);
    let body = |tier: Option<&str>, n: u64| {
        serde_json::json!({
            "title": format!("Bench clock {n}"),
            "description": "Created by supportd bench",
            "priority": "P3_LOW",
            "customerTier": tier,
            "customerId": format!("bench-customer-{}", n % 100),
        })
    };
    let fill: Vec<_> = (0..clients as u64)
        .map(|client| {
            let (http, tickets, token) = (http.clone(), tickets.clone(), token.clone());
            tokio::spawn(async move {
                for n in 0..per_client {
                    let _ = http
                        .post(&tickets)
                        .bearer_auth(&token)
                        .json(&body(None, client * per_client + n))
                        .send()
                        .await;
                }
            })
        })
        .collect();
    for task in fill {
        task.await?;
    }
    let running: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tickets WHERE response_due_at IS NOT NULL")
            .fetch_one(&pool)
            .await?;
    println!(
        "running clocks: {running} tickets with a response clock running ({:.0} s to open)",
        started.elapsed().as_secs_f64()
    );

    // The measured tickets, at a steady rate: `rate` clients, each opening one a second.
    let measured = drive(rate as usize, duration, move |client, n| {
        let (http, tickets, token) = (http.clone(), tickets.clone(), token.clone());
        async move {
            let next = Instant::now() + Duration::from_secs(1);
            let opened = http
                .post(&tickets)
                .bearer_auth(&token)
                .json(&body(Some("FREE"), client as u64 * 1_000_000 + n))
                .send()
                .await
                .ok()
                .filter(|r| r.status() == reqwest::StatusCode::CREATED);
            let id = match opened {
                Some(response) => response
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|t| t["id"].as_str().and_then(|id| Uuid::parse_str(id).ok())),
                None => None,
            };
            tokio::time::sleep_until(next.into()).await;
            id
        }
    })
    .await;
    let measured: Vec<String> = measured
        .into_iter()
        .flatten()
        .flatten()
        .map(|id| id.to_string())
        .collect();

    // Every measured ticket breaches a minute after it opened; wait for the last, and some.
    let deadline = Instant::now() + Duration::from_secs(90);
    let breached = loop {
        let breached: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_type = 'ticket' \
             AND aggregate_id = ANY($1) AND event_type = 'SlaBreached'",
        )
        .bind(&measured)
        .fetch_one(&pool)
        .await?;
        if breached as usize >= measured.len() || Instant::now() > deadline {
            break breached;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let (p50, p99, max): (Option<f64>, Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY delay), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY delay), max(delay) \
         FROM (SELECT (extract(epoch FROM recorded_at \
                   - (payload -> 'SlaBreached' ->> 'at')::timestamptz) * 1000)::float8 AS delay \
               FROM events WHERE aggregate_type = 'ticket' AND aggregate_id = ANY($1) \
                   AND event_type = 'SlaBreached') delays",
    )
    .bind(&measured)
    .fetch_one(&pool)
    .await?;

    println!("supportd bench: sla-breaches against {url}");
    println!(
        "measured tickets:        {} opened at {rate}/s, {breached} breaches recorded",
        measured.len()
    );
    println!("breach delay p50:        {:.0} ms", p50.unwrap_or(f64::NAN));
    println!("breach delay p99:        {:.0} ms", p99.unwrap_or(f64::NAN));
    println!("breach delay max:        {:.0} ms", max.unwrap_or(f64::NAN));
    Ok(())
}
