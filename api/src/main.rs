use anyhow::Context;
use chrono::Duration;
use clap::{Parser, Subcommand};
use support_domain::ActorRole;
use support_projections::dead_letters::{self, LetterState};
use support_projections::personal_data::{DataKeys, MasterKey};
use support_projections::replay;
use supportd::auth::TokenKeys;
use supportd::settings::{check_exposure, Settings};
use supportd::startup::{Application, Registry, Worker};
use supportd::{audit, bench, database, telemetry};

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
    /// Run only the named workers: `relay` (one leader at a time; others stand by),
    /// `projection-<read model>` (`projection-tickets`) and `retention` (erases personal data past
    /// SUPPORTD_RETENTION_DAYS; idle when unset). Serves /healthz, /readyz and /metrics on
    /// SUPPORTD_WORKER_BIND.
    Worker {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Print a bearer token signed with SUPPORTD_JWT_SECRET.
    Token {
        #[arg(long, value_parser = role_names())]
        role: String,
        #[arg(long)]
        sub: String,
        /// The customer account a customer token acts for (defaults to --sub).
        #[arg(long)]
        customer_id: Option<String>,
        /// A team the caller belongs to (repeatable): escalation levels name recipients by team.
        #[arg(long = "team")]
        teams: Vec<String>,
        #[arg(long, default_value_t = 24)]
        ttl_hours: i64,
    },
    /// Rebuild read models from the event store, then let live consumption carry on.
    Replay {
        /// One read model (`tickets`); all of them when absent.
        #[arg(long)]
        projection: Option<String>,
    },
    /// List the events read models could not apply, or retry one (`retry ID`).
    DeadLetters {
        #[command(subcommand)]
        action: Option<DeadLetterAction>,
    },
    /// Print a new random master key for SUPPORTD_MASTER_KEY.
    MasterKey,
    /// Print the audit log, newest first, as JSON lines (the entries of GET /api/v1/support/audit),
    /// read from the event store at DATABASE_URL.
    Audit(audit::AuditArgs),
    /// Drive a running service over HTTP and report what docs/benchmarks.md records: ticket
    /// creation (`--scenario create`), lists at scale (`scale`), a support desk's traffic
    /// (`mixed`), knowledge base reads (`kb-read`).
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum DeadLetterAction {
    /// Print dead letters as JSON lines, newest first (the default action).
    List {
        #[arg(long)]
        projection: Option<String>,
        /// Include the ones already applied.
        #[arg(long)]
        all: bool,
    },
    /// Apply one again, with the events of its aggregate parked behind it.
    Retry { id: i64 },
}

/// Every role a token can carry, as `--role` accepts it.
fn role_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(ActorRole::ALL.iter().map(|role| role.as_str()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    let registry = Registry::standard();
    match cli.command {
        Command::Serve => {
            let workers = Worker::all(&registry.projections);
            run(settings, registry, true, &workers).await
        }
        Command::Api => run(settings, registry, true, &[]).await,
        Command::Worker { names } => {
            let workers = names
                .iter()
                .map(|name| Worker::parse(name, &registry.projections))
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?;
            run(settings, registry, false, &workers).await
        }
        Command::Token {
            role,
            sub,
            customer_id,
            teams,
            ttl_hours,
        } => {
            let role: ActorRole = role.parse().map_err(anyhow::Error::msg)?;
            let secret = settings.hs256_secret().context(
                "with SUPPORTD_JWKS_URL set and SUPPORTD_JWT_SECRET unset, the service accepts no \
                 HS256 token: take a token from the identity provider, or set SUPPORTD_JWT_SECRET",
            )?;
            let keys = TokenKeys::new(secret);
            println!(
                "{}",
                keys.sign(
                    role,
                    &sub,
                    customer_id.as_deref(),
                    None,
                    &teams.iter().map(String::as_str).collect::<Vec<_>>(),
                    Duration::hours(ttl_hours)
                )
            );
            Ok(())
        }
        Command::Replay { projection } => {
            let projections = match projection {
                Some(name) => vec![registry
                    .projections
                    .find(&name)
                    .map_err(anyhow::Error::msg)?],
                None => registry.projections.all().cloned().collect(),
            };
            let pool = database::connect(&settings.database_url).await?;
            let keys = DataKeys::new(&settings.master_key);
            for projection in projections {
                let report = replay(&pool, &keys, projection.as_ref())
                    .await
                    .with_context(|| format!("replaying {}", projection.name()))?;
                println!(
                    "{}: replayed {} events up to position {}",
                    projection.name(),
                    report.events,
                    report.checkpoint
                );
            }
            Ok(())
        }
        Command::DeadLetters { action } => {
            let pool = database::connect(&settings.database_url).await?;
            match action.unwrap_or(DeadLetterAction::List {
                projection: None,
                all: false,
            }) {
                DeadLetterAction::List { projection, all } => {
                    let state = if all {
                        LetterState::All
                    } else {
                        LetterState::Open
                    };
                    for letter in
                        dead_letters::list(&pool, projection.as_deref(), state, i64::MAX).await?
                    {
                        println!("{}", serde_json::to_string(&letter)?);
                    }
                }
                DeadLetterAction::Retry { id } => {
                    let operator = std::env::var("USER").unwrap_or_else(|_| "cli".to_owned());
                    let keys = DataKeys::new(&settings.master_key);
                    let letter =
                        dead_letters::retry(&pool, &keys, &registry.projections, id, &operator)
                            .await?;
                    println!("{}", serde_json::to_string(&letter)?);
                }
            }
            Ok(())
        }
        Command::MasterKey => {
            println!("{}", MasterKey::generate_base64());
            Ok(())
        }
        Command::Audit(args) => audit::print(args, &settings).await,
        Command::Bench(args) => bench::run(args, &settings).await,
    }
}

async fn run(
    settings: Settings,
    registry: Registry,
    serve_api: bool,
    workers: &[Worker],
) -> anyhow::Result<()> {
    // Before the database is touched, so a refused start changes nothing.
    if serve_api {
        check_exposure(settings.bind, settings.hs256_secret())?;
    }
    let pool = database::connect(&settings.database_url).await?;
    let application = Application::build(settings, pool, registry, serve_api, workers).await?;
    tracing::info!(address = %application.address()?, api = serve_api, "supportd listening");
    application.run_until_stopped().await
}
