//! `--scenario scale`: builds a store of many tickets in the event format, times a replay of the
//! tickets read model from it, then times first pages of lists and single-ticket reads over HTTP
//! against the running service.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::page::Cursor;
use support_projections::personal_data::DataKeys;
use support_projections::replay;
use support_projections::tickets::TicketsProjection;
use uuid::Uuid;

use super::{drive, http_client, store, token, Latencies};
use crate::database;
use crate::settings::Settings;

/// What a measured request is sent as: its path and query, and the token it carries (none when
/// empty: an anonymous reader).
#[derive(Clone)]
pub(super) struct Request {
    pub(super) path: String,
    pub(super) token: Arc<str>,
}

/// One row of the table: requests of one kind, varied over values the store holds.
pub(super) struct Measure {
    pub(super) name: &'static str,
    pub(super) requests: Vec<Request>,
}

/// Values of the store to vary the requests over.
struct Sample {
    tickets: Vec<(Uuid, String, DateTime<Utc>)>,
    agents: Vec<String>,
    customers: Vec<String>,
    days: Vec<NaiveDate>,
}

impl Sample {
    async fn take(pool: &PgPool) -> anyhow::Result<Self> {
        let tickets: Vec<(Uuid, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT id, ticket_number, created_at FROM tickets ORDER BY random() LIMIT 1000",
        )
        .fetch_all(pool)
        .await?;
        anyhow::ensure!(!tickets.is_empty(), "the store has no tickets to measure");
        let agents = sqlx::query_scalar(
            "SELECT assigned_to FROM tickets WHERE assigned_to IS NOT NULL GROUP BY 1 LIMIT 100",
        )
        .fetch_all(pool)
        .await?;
        let customers = sqlx::query_scalar(
            "SELECT customer_id FROM tickets WHERE customer_id IS NOT NULL GROUP BY 1 LIMIT 1000",
        )
        .fetch_all(pool)
        .await?;
        let days = tickets
            .iter()
            .map(|(_, _, created_at)| created_at.date_naive())
            .collect();
        Ok(Self {
            tickets,
            agents,
            customers,
            days,
        })
    }
}

pub async fn run(
    url: &str,
    clients: usize,
    duration: Duration,
    store: Option<u64>,
    settings: &Settings,
) -> anyhow::Result<()> {
    let pool = database::connect(&settings.database_url).await?;
    if let Some(tickets) = store {
        println!("building a store of {tickets} tickets");
        let started = Instant::now();
        let events = store::build(&settings.database_url, tickets).await?;
        println!(
            "store: {events} events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let keys = DataKeys::new(&settings.master_key);
        let report = replay(&pool, &keys, &TicketsProjection).await?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "replay of the tickets read model: {} events in {seconds:.1} s = {:.0} events/s",
            report.events,
            report.events as f64 / seconds
        );
        // What autovacuum would soon do: statistics for the planner, a visibility map for
        // index-only scans.
        sqlx::raw_sql("VACUUM (ANALYZE) tickets, ticket_comments")
            .execute(&pool)
            .await?;
    }
    let sample = Sample::take(&pool).await?;
    let measures = measures(&sample, settings);
    let http = http_client(clients)?;
    println!(
        "\n{clients} clients, {} s per row after a 1 s warm-up, against {url}\n",
        duration.as_secs()
    );
    println!("| request | requests | p50 ms | p99 ms | total (first request) |");
    println!("| --- | ---: | ---: | ---: | --- |");
    for measure in measures {
        let total = total_of(&http, url, &measure.requests[0]).await?;
        run_requests(&http, url, clients, Duration::from_secs(1), &measure).await;
        let (latencies, failed) = run_requests(&http, url, clients, duration, &measure).await;
        anyhow::ensure!(
            failed == 0,
            "{}: {failed} requests did not answer 200",
            measure.name
        );
        println!(
            "| {} | {} | {:.1} | {:.1} | {total} |",
            measure.name,
            latencies.len(),
            latencies.ms(0.50),
            latencies.ms(0.99)
        );
    }
    Ok(())
}

fn measures(sample: &Sample, settings: &Settings) -> Vec<Measure> {
    let admin: Arc<str> = token(settings, ActorRole::Admin, "bench-admin").into();
    let as_admin = |paths: Vec<String>| -> Vec<Request> {
        paths
            .into_iter()
            .map(|path| Request {
                path,
                token: admin.clone(),
            })
            .collect()
    };
    let lists = |query: &dyn Fn(usize) -> String, n: usize| -> Vec<Request> {
        as_admin(
            (0..n)
                .map(|i| format!("/api/v1/support/tickets?{}", query(i)))
                .collect(),
        )
    };
    let statuses = [
        "OPEN",
        "ASSIGNED",
        "IN_PROGRESS",
        "WAITING_CUSTOMER",
        "WAITING_INTERNAL",
        "RESOLVED",
        "CLOSED",
        "CANCELLED",
    ];
    let priorities = ["P0_CRITICAL", "P1_HIGH", "P2_MEDIUM", "P3_LOW"];
    let categories = [
        "TECHNICAL",
        "BILLING",
        "ACCOUNT",
        "DATA",
        "INTEGRATION",
        "PERFORMANCE",
        "SECURITY",
        "FEATURE_REQUEST",
        "BUG_REPORT",
        "GENERAL",
    ];
    let channels = ["EMAIL", "PHONE", "CHAT", "WEB_FORM", "API", "INTERNAL"];
    let pick = |values: &[String], i: usize| values[i % values.len()].clone();
    let agents = &sample.agents;
    let customers = &sample.customers;
    let tickets = &sample.tickets;
    vec![
        Measure {
            name: "list, no filter",
            requests: lists(&|_| "limit=20".into(), 1),
        },
        Measure {
            name: "list, priority=P1_HIGH&status=OPEN",
            requests: lists(
                &|_| "priority=P1_HIGH&status=OPEN&page=1&limit=20".into(),
                1,
            ),
        },
        Measure {
            name: "list, status (each)",
            requests: lists(&|i| format!("status={}", statuses[i]), statuses.len()),
        },
        Measure {
            name: "list, priority (each)",
            requests: lists(&|i| format!("priority={}", priorities[i]), priorities.len()),
        },
        Measure {
            name: "list, category (each)",
            requests: lists(&|i| format!("category={}", categories[i]), categories.len()),
        },
        Measure {
            name: "list, channel (each)",
            requests: lists(&|i| format!("channel={}", channels[i]), channels.len()),
        },
        Measure {
            name: "list, assignedTo (each agent)",
            requests: lists(&|i| format!("assignedTo={}", pick(agents, i)), agents.len()),
        },
        Measure {
            name: "list, customerId (1,000 customers)",
            requests: lists(
                &|i| format!("customerId={}", pick(customers, i)),
                customers.len(),
            ),
        },
        Measure {
            name: "list, slaBreached (true, false)",
            requests: lists(&|i| format!("slaBreached={}", i == 0), 2),
        },
        Measure {
            name: "list, one day created (random days)",
            requests: lists(
                &|i| {
                    let day = sample.days[i];
                    format!("createdFrom={day}&createdTo={day}")
                },
                sample.days.len(),
            ),
        },
        Measure {
            name: "agent's queue (agent token)",
            requests: agents
                .iter()
                .map(|agent| Request {
                    path: "/api/v1/support/tickets".into(),
                    token: token(settings, ActorRole::Agent, agent).into(),
                })
                .collect(),
        },
        Measure {
            name: "customer's list (customer token)",
            requests: customers
                .iter()
                .take(200)
                .map(|customer| Request {
                    path: "/api/v1/support/tickets".into(),
                    token: token(settings, ActorRole::Customer, customer).into(),
                })
                .collect(),
        },
        Measure {
            name: "text, common (q=error)",
            requests: lists(&|_| "q=error".into(), 1),
        },
        Measure {
            name: "text, rare (q=GDPR)",
            requests: lists(&|_| "q=GDPR".into(), 1),
        },
        Measure {
            name: "text, a ticket number (q=TKT-…)",
            requests: lists(&|i| format!("q={}", tickets[i].1), tickets.len()),
        },
        Measure {
            name: "deep page by cursor (random depth)",
            requests: lists(
                &|i| {
                    let (id, _, created_at) = tickets[i];
                    let cursor = Cursor { created_at, id }.encode();
                    format!("cursor={cursor}")
                },
                tickets.len(),
            ),
        },
        Measure {
            name: "get by id",
            requests: as_admin(
                tickets
                    .iter()
                    .map(|(id, _, _)| format!("/api/v1/support/tickets/{id}"))
                    .collect(),
            ),
        },
        Measure {
            name: "get by number",
            requests: as_admin(
                tickets
                    .iter()
                    .map(|(_, number, _)| format!("/api/v1/support/tickets/{number}"))
                    .collect(),
            ),
        },
    ]
    .into_iter()
    .filter(|measure| !measure.requests.is_empty())
    .collect()
}

/// The list's total as the first request of a measure answers it; `~` marks an estimate.
async fn total_of(http: &reqwest::Client, url: &str, request: &Request) -> anyhow::Result<String> {
    let body: serde_json::Value = http
        .get(format!("{url}{}", request.path))
        .bearer_auth(&*request.token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(match (&body["total"], &body["totalIsEstimate"]) {
        (serde_json::Value::Number(total), serde_json::Value::Bool(true)) => format!("~{total}"),
        (serde_json::Value::Number(total), _) => total.to_string(),
        _ => "-".into(),
    })
}

/// Times each measure after a 1 s warm-up and prints a table row of its p50 and p99, the first
/// column headed `what`; fails if a request does not answer 200.
pub(super) async fn print_latencies(
    url: &str,
    clients: usize,
    duration: Duration,
    what: &str,
    measures: Vec<Measure>,
) -> anyhow::Result<()> {
    let http = http_client(clients)?;
    println!(
        "\n{clients} clients, {} s per row after a 1 s warm-up, against {url}\n",
        duration.as_secs()
    );
    println!("| {what} | requests | p50 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: |");
    for measure in measures {
        run_requests(&http, url, clients, Duration::from_secs(1), &measure).await;
        let (latencies, failed) = run_requests(&http, url, clients, duration, &measure).await;
        anyhow::ensure!(
            failed == 0,
            "{}: {failed} requests did not answer 200",
            measure.name
        );
        println!(
            "| {} | {} | {:.1} | {:.1} |",
            measure.name,
            latencies.len(),
            latencies.ms(0.50),
            latencies.ms(0.99)
        );
    }
    Ok(())
}

/// Sends the measure's requests in turn from every client until `duration` has passed.
pub(super) async fn run_requests(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
    duration: Duration,
    measure: &Measure,
) -> (Latencies, u64) {
    let requests = Arc::new(measure.requests.clone());
    let (http, url) = (http.clone(), url.to_owned());
    let outcomes = drive(clients, duration, move |client, n| {
        let (http, url, requests) = (http.clone(), url.clone(), requests.clone());
        async move {
            let request = &requests[(n as usize * clients + client) % requests.len()];
            let sent = Instant::now();
            let mut get = http.get(format!("{url}{}", request.path));
            if !request.token.is_empty() {
                get = get.bearer_auth(&*request.token);
            }
            let answered = match get.send().await {
                Ok(response) if response.status() == reqwest::StatusCode::OK => {
                    response.bytes().await.is_ok()
                }
                _ => false,
            };
            (sent.elapsed(), answered)
        }
    })
    .await;
    let mut latencies = Latencies::new();
    let mut failed = 0;
    for (elapsed, answered) in outcomes.into_iter().flatten() {
        if answered {
            latencies.record(elapsed);
        } else {
            failed += 1;
        }
    }
    (latencies, failed)
}
