use anyhow::Context;
use chrono::Duration;
use clap::{Parser, Subcommand};
use support_domain::ActorRole;
use support_projections::{replay, ReadModel};
use supportd::auth::TokenKeys;
use supportd::settings::Settings;
use supportd::startup::{Application, Worker};
use supportd::{bench, database, telemetry};

/// supportd: the support desk service. Configuration comes from the environment; see
/// docs/operations.md (DATABASE_URL, NATS_URL, SUPPORTD_BIND, SUPPORTD_JWT_SECRET, ...).
#[derive(Parser)]
#[command(name = "supportd", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API and every worker in one process (creates the database and migrates it).
    Serve,
    /// Run only the HTTP API.
    Api,
    /// Run only the named workers: `relay` (one leader at a time; others stand by) and
    /// `projection-tickets`.
    Worker {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Print a bearer token signed with SUPPORTD_JWT_SECRET.
    Token {
        #[arg(long, value_parser = ["customer", "agent", "admin", "service"])]
        role: String,
        #[arg(long)]
        sub: String,
        /// The customer account a customer token acts for (defaults to --sub).
        #[arg(long)]
        customer_id: Option<String>,
        #[arg(long, default_value_t = 24)]
        ttl_hours: i64,
    },
    /// Rebuild read models from the event store, then let live consumption carry on.
    Replay {
        /// One read model (`tickets`); all of them when absent.
        #[arg(long)]
        projection: Option<String>,
    },
    /// Drive a running service over HTTP and report what docs/benchmarks.md records: ticket
    /// creation (`--scenario create`), lists at scale (`scale`), a support desk's traffic
    /// (`mixed`).
    Bench(bench::BenchArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => run(settings, true, &Worker::all()).await,
        Command::Api => run(settings, true, &[]).await,
        Command::Worker { names } => {
            let workers = names
                .iter()
                .map(|name| Worker::parse(name))
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?;
            run(settings, false, &workers).await
        }
        Command::Token {
            role,
            sub,
            customer_id,
            ttl_hours,
        } => {
            let role: ActorRole = role.parse().map_err(anyhow::Error::msg)?;
            let keys = TokenKeys::new(&settings.jwt_secret);
            println!(
                "{}",
                keys.issue(
                    role,
                    &sub,
                    customer_id.as_deref(),
                    Duration::hours(ttl_hours)
                )
            );
            Ok(())
        }
        Command::Replay { projection } => {
            let models = match projection {
                Some(name) => vec![ReadModel::parse(&name).map_err(anyhow::Error::msg)?],
                None => ReadModel::ALL.to_vec(),
            };
            let pool = database::connect(&settings.database_url).await?;
            for model in models {
                let report = replay(&pool, model)
                    .await
                    .with_context(|| format!("replaying {}", model.name()))?;
                println!(
                    "{}: replayed {} events up to position {}",
                    model.name(),
                    report.events,
                    report.checkpoint
                );
            }
            Ok(())
        }
        Command::Bench(args) => bench::run(args, &settings).await,
    }
}

async fn run(settings: Settings, serve_api: bool, workers: &[Worker]) -> anyhow::Result<()> {
    let pool = database::connect(&settings.database_url).await?;
    let application = Application::build(settings, pool, serve_api, workers).await?;
    if serve_api {
        tracing::info!(port = application.port(), "supportd listening");
    }
    application.run_until_stopped().await
}
