//! Builds the service: the HTTP API and, in the same process, whichever workers were asked for.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Router};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::CqrsFramework;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use support_domain::ticket::Ticket;
use support_projections::ReadModel;
use support_workers::{bus, ProjectionRunner, Relay};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::TokenKeys;
use crate::clock::Clock;
use crate::problem::ApiError;
use crate::read_your_writes::Checkpoints;
use crate::settings::Settings;
use crate::{health, idempotency, openapi, tickets};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub type TicketStore = CqrsFramework<Ticket, PersistedEventStore<PostgresEventRepository, Ticket>>;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiContext {
    pub pool: PgPool,
    pub tickets: Arc<TicketStore>,
    pub tokens: TokenKeys,
    pub clock: Arc<dyn Clock>,
    pub checkpoints: Checkpoints,
    pub nats: async_nats::Client,
}

/// A long-running loop the process can host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    Relay,
    Projection(ReadModel),
}

impl Worker {
    pub fn all() -> Vec<Worker> {
        let mut workers = vec![Worker::Relay];
        workers.extend(ReadModel::ALL.iter().map(|m| Worker::Projection(*m)));
        workers
    }

    pub fn name(self) -> String {
        match self {
            Worker::Relay => "relay".to_owned(),
            Worker::Projection(model) => format!("projection-{}", model.name()),
        }
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        Self::all()
            .into_iter()
            .find(|w| w.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = Self::all().into_iter().map(Worker::name).collect();
                format!("unknown worker {name:?}: known are {}", known.join(", "))
            })
    }
}

pub struct Application {
    port: u16,
    listener: Option<TcpListener>,
    router: Router,
    background: Vec<JoinHandle<()>>,
}

impl Application {
    /// Binds the API (when `serve_api`) and starts `workers`. The pool's schema must be migrated.
    pub async fn build(
        settings: Settings,
        pool: PgPool,
        serve_api: bool,
        workers: &[Worker],
    ) -> anyhow::Result<Self> {
        let js = bus::connect(&settings.nats_url).await?;
        let mut background = Vec::new();
        for worker in workers {
            let (pool, js, bus) = (pool.clone(), js.clone(), settings.bus.clone());
            background.push(match *worker {
                Worker::Relay => tokio::spawn(Relay::new(pool, js, bus).run()),
                Worker::Projection(model) => {
                    tokio::spawn(ProjectionRunner::new(pool, js, bus, model).run())
                }
            });
        }
        let (checkpoints, follower) =
            Checkpoints::follow(pool.clone(), settings.read_timeout).await?;
        background.push(follower);

        let store =
            PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()));
        let context = ApiContext {
            pool,
            tickets: Arc::new(CqrsFramework::new(store, vec![], ())),
            tokens: TokenKeys::new(&settings.jwt_secret),
            clock: settings.clock.clone(),
            checkpoints,
            nats: js.client(),
        };
        let listener = if serve_api {
            Some(TcpListener::bind(settings.bind).await?)
        } else {
            None
        };
        let port = match &listener {
            Some(listener) => listener.local_addr()?.port(),
            None => 0,
        };
        Ok(Self {
            port,
            listener,
            router: router(context),
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is stopped; with no API, runs the workers until then.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let _workers = AbortOnDrop(self.background);
        match self.listener {
            Some(listener) => {
                axum::serve(listener, self.router)
                    .with_graceful_shutdown(shutdown_signal())
                    .await?
            }
            None => shutdown_signal().await,
        }
        Ok(())
    }
}

/// Stops the background tasks when the application is dropped (a test ending, a shutdown).
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Ctrl-C, or SIGTERM as process supervisors send it.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

fn router(context: ApiContext) -> Router {
    // A route layer, added after every route: each POST of the API takes an Idempotency-Key, and
    // unknown paths and methods are answered without it.
    let support = tickets::routes().route_layer(middleware::from_fn_with_state(
        context.clone(),
        idempotency::replay_or_run,
    ));
    Router::new()
        .nest("/api/v1/support", support)
        .merge(health::routes())
        .merge(openapi::routes())
        .fallback(|| async { ApiError::NotFound("resource") })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this resource does not accept that method".to_owned())
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(context)
}
