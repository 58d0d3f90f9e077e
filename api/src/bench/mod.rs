//! `supportd bench`: load generators that drive a running service over HTTP and report what
//! docs/benchmarks.md records. One file per scenario.

mod analytics;
mod breaches;
mod create;
mod kb_read;
mod kb_search;
mod mixed;
mod report;
mod scale;
mod store;

use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use support_domain::ActorRole;

use crate::auth::TokenKeys;
use crate::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Ticket creations as fast as the clients go: throughput, latency, lag, memory.
    Create,
    /// Builds a store of `--tickets` tickets, replays it, then times lists and gets.
    Scale,
    /// A support desk's traffic: opens, updates, comments, gets and lists.
    Mixed,
    /// SLA breaches recorded while `--tickets` clocks run: delay from instant to event.
    SlaBreaches,
    /// SLA reports over periods of a year of `--tickets` tickets' verdicts.
    SlaReport,
    /// Support analytics over periods of a year of `--tickets` tickets' rollups.
    Analytics,
    /// Knowledge base searches over `--articles` published articles.
    KbSearch,
    /// Anonymous reads of `--articles` published knowledge base articles.
    KbRead,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value_t = Scenario::Create)]
    pub scenario: Scenario,
    /// The service to drive.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Concurrent clients, each sending one request at a time [default: 32 for create, 8 for the
    /// others].
    #[arg(long)]
    pub clients: Option<usize>,
    /// How long to drive it: the whole run for create, mixed and kb-read, each measured request
    /// for scale, sla-report and kb-search [default: 60 for create and mixed, 10 for the others].
    #[arg(long)]
    pub seconds: Option<u64>,
    /// scale: how many tickets the store gets; sla-breaches: how many clocks run; sla-report and
    /// analytics: how many tickets a year holds [default: 1,000,000 for scale, sla-report and
    /// analytics, 100,000 for sla-breaches].
    #[arg(long)]
    pub tickets: Option<u64>,
    /// kb-search: how many published articles the store gets; kb-read: how many are published and
    /// read [default: 100,000 for kb-search, 1,000 for kb-read].
    #[arg(long)]
    pub articles: Option<u64>,
    /// sla-breaches: tickets opened a second under the one-minute policy, each timed.
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
    /// scale, sla-report, analytics, kb-search: measure the store or read model DATABASE_URL already holds (built by an
    /// earlier run) instead of building one.
    #[arg(long)]
    pub existing_store: bool,
}

/// A query's period for each month of 2025, with `filter` after it (`&priority=P1_HIGH`): the
/// months the report and analytics scenarios time.
fn months_of_2025(filter: &str) -> Vec<String> {
    (1..=12_u32)
        .map(|m| {
            let end = chrono::NaiveDate::from_ymd_opt(2025 + (m / 12) as i32, m % 12 + 1, 1)
                .expect("a month's first day")
                .pred_opt()
                .expect("a day before it");
            format!("startDate=2025-{m:02}-01&endDate={end}{filter}")
        })
        .collect()
}

pub async fn run(args: BenchArgs, settings: &Settings) -> anyhow::Result<()> {
    let url = args.url.trim_end_matches('/').to_owned();
    let seconds = |default| Duration::from_secs(args.seconds.unwrap_or(default));
    match args.scenario {
        Scenario::Create => {
            create::run(&url, args.clients.unwrap_or(32), seconds(60), settings).await
        }
        Scenario::Scale => {
            let store = if args.existing_store {
                None
            } else {
                Some(args.tickets.unwrap_or(1_000_000))
            };
            scale::run(
                &url,
                args.clients.unwrap_or(8),
                seconds(10),
                store,
                settings,
            )
            .await
        }
        Scenario::Mixed => mixed::run(&url, args.clients.unwrap_or(8), seconds(60), settings).await,
        Scenario::SlaBreaches => {
            breaches::run(
                &url,
                args.clients.unwrap_or(32),
                args.tickets.unwrap_or(100_000),
                args.rate,
                seconds(60),
                settings,
            )
            .await
        }
        Scenario::SlaReport => {
            let verdicts = if args.existing_store {
                None
            } else {
                Some(args.tickets.unwrap_or(1_000_000))
            };
            report::run(
                &url,
                args.clients.unwrap_or(8),
                seconds(10),
                verdicts,
                settings,
            )
            .await
        }
        Scenario::Analytics => {
            let tickets = (!args.existing_store).then_some(args.tickets.unwrap_or(1_000_000));
            analytics::run(
                &url,
                args.clients.unwrap_or(8),
                seconds(10),
                tickets,
                settings,
            )
            .await
        }
        Scenario::KbSearch => {
            let articles = (!args.existing_store).then_some(args.articles.unwrap_or(100_000));
            kb_search::run(
                &url,
                args.clients.unwrap_or(8),
                seconds(10),
                articles,
                settings,
            )
            .await
        }
        Scenario::KbRead => {
            let articles = args.articles.unwrap_or(1_000) as usize;
            let clients = args.clients.unwrap_or(8);
            kb_read::run(&url, clients, seconds(10), articles, settings).await
        }
    }
}

/// A token the bench mints for itself with the service's secret.
fn token(settings: &Settings, role: ActorRole, sub: &str) -> String {
    TokenKeys::new(&settings.jwt_secret).issue(role, sub, None, chrono::Duration::hours(4))
}

fn http_client(clients: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?)
}

/// Request latencies in microseconds.
struct Latencies(Histogram<u64>);

impl Latencies {
    fn new() -> Self {
        Self(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"))
    }

    fn record(&mut self, elapsed: Duration) {
        self.0
            .saturating_record((elapsed.as_micros() as u64).max(1));
    }

    fn add(&mut self, other: &Latencies) {
        self.0.add(&other.0).expect("same bounds");
    }

    fn len(&self) -> u64 {
        self.0.len()
    }

    /// The latency at `quantile`, in milliseconds.
    fn ms(&self, quantile: f64) -> f64 {
        self.0.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Runs `clients` loops side by side until `duration` has passed; each calls `step` with its
/// client number and how many steps it has taken, and keeps what it returns.
async fn drive<T, F, Fut>(clients: usize, duration: Duration, step: F) -> Vec<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T> + Send,
{
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut results = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    results.push(step(client, n).await);
                    n += 1;
                }
                results
            })
        })
        .collect();
    let mut all = Vec::with_capacity(clients);
    for task in tasks {
        all.push(task.await.expect("a bench client does not panic"));
    }
    all
}

/// SplitMix64: reproducible choices without another dependency.
#[derive(Debug, Clone)]
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
