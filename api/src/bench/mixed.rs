//! `--scenario mixed`: a support desk's traffic against the running service. Of every hundred
//! requests, 10 open a ticket (customers), 15 update one (assign or reprioritise), 15 comment, 35
//! read one ticket and 25 read a list's first page.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::postgres::PgPoolOptions;
use support_domain::ActorRole;
use uuid::Uuid;

use super::{drive, http_client, token, Dice, Latencies};
use crate::settings::Settings;

const PRIORITIES: [&str; 4] = ["P0_CRITICAL", "P1_HIGH", "P2_MEDIUM", "P3_LOW"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Open,
    Update,
    Comment,
    Get,
    List,
}

impl Operation {
    const ALL: [Operation; 5] = [
        Operation::Open,
        Operation::Update,
        Operation::Comment,
        Operation::Get,
        Operation::List,
    ];

    /// Cumulative shares out of 100, in `ALL`'s order.
    const UP_TO: [usize; 5] = [10, 25, 40, 75, 100];

    fn roll(dice: &mut Dice) -> Self {
        let roll = dice.below(100);
        let index = Self::UP_TO
            .iter()
            .position(|&bound| roll < bound)
            .expect("the last bound is 100");
        Self::ALL[index]
    }

    fn name(self) -> &'static str {
        match self {
            Operation::Open => "open (POST)",
            Operation::Update => "update (PUT)",
            Operation::Comment => "comment (POST)",
            Operation::Get => "get (GET one)",
            Operation::List => "list (GET first page)",
        }
    }
}

enum Outcome {
    Done,
    /// A 409 from a concurrent command on the same ticket: a legitimate answer, counted apart.
    Conflict,
    Failed,
}

/// Who the clients act as, and the tickets they work on.
struct Desk {
    http: reqwest::Client,
    tickets_url: String,
    admin: String,
    customers: Vec<(String, String)>,
    agents: Vec<(String, String)>,
    /// Open tickets to change and read; the ones opened during the run join them.
    tickets: Mutex<Vec<Uuid>>,
}

impl Desk {
    fn ticket(&self, dice: &mut Dice) -> Option<Uuid> {
        let tickets = self.tickets.lock().expect("not poisoned");
        (!tickets.is_empty()).then(|| tickets[dice.below(tickets.len())])
    }

    /// Does `operation`, or opens a ticket when there is none to work on yet; returns what it
    /// did.
    async fn step(&self, operation: Operation, dice: &mut Dice) -> (Operation, Outcome) {
        let (customer, customer_token) = &self.customers[dice.below(self.customers.len())];
        let (agent, agent_token) = &self.agents[dice.below(self.agents.len())];
        let (operation, ticket) = match self.ticket(dice) {
            Some(ticket) => (operation, ticket),
            None => (Operation::Open, Uuid::nil()),
        };
        let request = match operation {
            Operation::Open => self
                .http
                .post(&self.tickets_url)
                .bearer_auth(customer_token)
                .json(&serde_json::json!({
                    "title": "Cannot export the monthly report",
                    "description": "The export spins and then fails with an error.",
                    "priority": PRIORITIES[1 + dice.below(3)],
                    "category": "TECHNICAL",
                    "channel": "WEB_FORM",
                    "customerId": customer,
                })),
            Operation::Update => {
                let body = if dice.below(2) == 0 {
                    serde_json::json!({ "assignedTo": agent })
                } else {
                    serde_json::json!({ "priority": PRIORITIES[dice.below(4)] })
                };
                self.http
                    .put(format!("{}/{ticket}", self.tickets_url))
                    .bearer_auth(&self.admin)
                    .json(&body)
            }
            Operation::Comment => self
                .http
                .post(format!("{}/{ticket}/comments", self.tickets_url))
                .bearer_auth(&self.admin)
                .json(&serde_json::json!({ "body": "We are looking into it.", "visibility": "PUBLIC" })),
            Operation::Get => self
                .http
                .get(format!("{}/{ticket}", self.tickets_url))
                .bearer_auth(&self.admin),
            Operation::List => {
                let (query, token) = match dice.below(5) {
                    0 => ("", &self.admin),
                    1 => ("?status=OPEN", &self.admin),
                    2 => ("?priority=P1_HIGH&status=OPEN", &self.admin),
                    3 => ("", agent_token),
                    _ => ("", customer_token),
                };
                self.http
                    .get(format!("{}{query}", self.tickets_url))
                    .bearer_auth(token)
            }
        };
        let Ok(response) = request.send().await else {
            return (operation, Outcome::Failed);
        };
        let status = response.status();
        let Ok(body) = response.bytes().await else {
            return (operation, Outcome::Failed);
        };
        let outcome = match status {
            StatusCode::CREATED if operation == Operation::Open => {
                let opened = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|t| t["id"].as_str().and_then(|id| Uuid::parse_str(id).ok()));
                if let Some(id) = opened {
                    self.tickets.lock().expect("not poisoned").push(id);
                }
                Outcome::Done
            }
            StatusCode::OK | StatusCode::CREATED => Outcome::Done,
            StatusCode::CONFLICT => Outcome::Conflict,
            _ => Outcome::Failed,
        };
        (operation, outcome)
    }
}

pub async fn run(
    url: &str,
    clients: usize,
    duration: Duration,
    settings: &Settings,
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&settings.database_url)
        .await?;
    let tickets: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM tickets WHERE status NOT IN ('CLOSED', 'CANCELLED') \
         ORDER BY random() LIMIT 2000",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    let customers = (1..=50)
        .map(|n| {
            let customer = format!("customer-{n:04}");
            let token = token(settings, ActorRole::Customer, &customer);
            (customer, token)
        })
        .collect();
    let agents = (1..=50)
        .map(|n| {
            let agent = format!("agent-{n:02}");
            let token = token(settings, ActorRole::Agent, &agent);
            (agent, token)
        })
        .collect();
    let desk = Arc::new(Desk {
        http: http_client(clients)?,
        tickets_url: format!("{url}/api/v1/support/tickets"),
        admin: token(settings, ActorRole::Admin, "bench-admin"),
        customers,
        agents,
        tickets: Mutex::new(tickets),
    });

    let started = Instant::now();
    let outcomes = drive(clients, duration, move |client, n| {
        let desk = desk.clone();
        async move {
            let mut dice = Dice::new((client as u64) << 32 | n);
            let sent = Instant::now();
            let (operation, outcome) = desk.step(Operation::roll(&mut dice), &mut dice).await;
            (operation, sent.elapsed(), outcome)
        }
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();

    println!("supportd bench mixed: {clients} clients for {elapsed:.1} s against {url}\n");
    println!("| operation | done | conflicts | failed | per second | p50 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let outcomes: Vec<_> = outcomes.into_iter().flatten().collect();
    let mut all = Latencies::new();
    for operation in Operation::ALL {
        let mut latencies = Latencies::new();
        let (mut conflicts, mut failed) = (0, 0);
        for (_, elapsed, outcome) in outcomes.iter().filter(|(op, ..)| *op == operation) {
            match outcome {
                Outcome::Done => latencies.record(*elapsed),
                Outcome::Conflict => conflicts += 1,
                Outcome::Failed => failed += 1,
            }
        }
        println!(
            "| {} | {} | {conflicts} | {failed} | {:.0} | {:.1} | {:.1} |",
            operation.name(),
            latencies.len(),
            latencies.len() as f64 / elapsed,
            latencies.ms(0.50),
            latencies.ms(0.99)
        );
        all.add(&latencies);
    }
    println!(
        "| all | {} | | | **{:.0}** | {:.1} | {:.1} |",
        all.len(),
        all.len() as f64 / elapsed,
        all.ms(0.50),
        all.ms(0.99)
    );
    Ok(())
}
