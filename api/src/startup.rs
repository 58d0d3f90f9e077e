//! Builds the service: the HTTP API and, in the same process, whichever workers were asked for.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use sqlx::PgPool;
use support_projections::personal_data::DataKeys;
use support_projections::{Projection, Projections};
use support_workers::{bus, ProjectionRunner, Relay};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::active_policies::ActivePolicies;
use crate::auth::TokenVerifier;
use crate::clock::Clock;
use crate::kb_articles::cache::ArticleCache;
use crate::kb_articles::view_fold;
use crate::notifier::channel::Channel;
use crate::notifier::email::EmailChannel;
use crate::notifier::in_app::InAppChannel;
use crate::notifier::sms::SmsChannel;
use crate::notifier::webhook::{WebhookChannel, WebhookSettings};
use crate::notifier::Channels;
use crate::problem::ApiError;
use crate::rate_limit::{self, RateLimitState, RateLimiters};
use crate::read_your_writes::Checkpoints;
use crate::settings::Settings;
use crate::{
    alert_rules, analytics, audit, dashboard, dead_letters, escalation_policies, health,
    idempotency, incidents, kb_articles, notification_preferences, notifications, notifier, nps,
    openapi, personal_data, retention, sla_policies, sla_report, sla_timer, status_page, tickets,
    webhooks,
};
use support_domain::escalation::EscalationBook;
use support_domain::sla::SlaPolicyBook;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Where the support API's routes are nested; everything under it is rate-limited.
pub const SUPPORT_API: &str = "/api/v1/support";

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiContext {
    pub pool: PgPool,
    pub tokens: TokenVerifier,
    pub clock: std::sync::Arc<dyn Clock>,
    pub checkpoints: Checkpoints,
    pub projections: Projections,
    pub nats: async_nats::Client,
    pub data_keys: DataKeys,
    /// The active SLA policies, which ticket commands match among.
    pub active_policies: ActivePolicies<SlaPolicyBook>,
    /// The active escalation policies, whose ladders ticket commands start climbs on.
    pub active_escalations: ActivePolicies<EscalationBook>,
    /// What notifications go out through.
    pub channels: Channels,
    /// Where webhooks may go: endpoints are checked against it when registered.
    pub webhooks: WebhookSettings,
    /// Published public articles, as last read.
    pub kb_cache: ArticleCache,
}

/// What the service is made of: its read models and its routes under `/api/v1/support`. An
/// aggregate joins with its projection and its routes; no shared code grows a branch for it.
#[derive(Clone)]
pub struct Registry {
    pub projections: Projections,
    routes: Router<ApiContext>,
}

impl Registry {
    pub fn standard() -> Self {
        Self {
            projections: support_projections::standard(),
            routes: Router::new()
                .merge(tickets::routes())
                .merge(sla_policies::routes())
                .merge(escalation_policies::routes())
                .merge(kb_articles::routes())
                .merge(incidents::routes())
                .merge(status_page::routes())
                .merge(personal_data::routes())
                .merge(dead_letters::routes())
                .merge(audit::routes())
                .merge(sla_report::routes())
                .merge(analytics::routes())
                .merge(nps::routes())
                .merge(alert_rules::routes())
                .merge(webhooks::routes())
                .merge(notifications::routes())
                .merge(notification_preferences::routes()),
        }
    }

    pub fn with_projection(mut self, projection: impl Projection) -> Self {
        self.projections = self.projections.with(projection);
        self
    }

    pub fn with_routes(mut self, routes: Router<ApiContext>) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }
}

/// A long-running loop the process can host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Worker {
    Relay,
    /// The read models of one group (`Projections::groups`), named after its first.
    Projection(&'static str),
    /// Erases personal data past `SUPPORTD_RETENTION_DAYS`; idle when that is unset.
    Retention,
    /// Records SLA warnings and breaches when they fall due, and tells knowledge base articles
    /// that readers rate them low.
    SlaTimer,
    /// Sends the planned notifications when they fall due, retrying by one rule.
    Notifier,
    /// Folds the knowledge base's view log into the articles' counts.
    KbViews,
}

impl Worker {
    pub fn all(projections: &Projections) -> Vec<Worker> {
        let mut workers = vec![Worker::Relay];
        workers.extend(
            projections
                .groups()
                .iter()
                .map(|g| Worker::Projection(g.name())),
        );
        workers.push(Worker::Retention);
        workers.push(Worker::SlaTimer);
        workers.push(Worker::Notifier);
        workers.push(Worker::KbViews);
        workers
    }

    pub fn name(&self) -> String {
        match self {
            Worker::Relay => "relay".to_owned(),
            Worker::Projection(name) => format!("projection-{name}"),
            Worker::Retention => "retention".to_owned(),
            Worker::SlaTimer => "sla-timer".to_owned(),
            Worker::Notifier => "notifier".to_owned(),
            Worker::KbViews => "kb-views".to_owned(),
        }
    }

    pub fn parse(name: &str, projections: &Projections) -> Result<Self, String> {
        let all = Self::all(projections);
        all.iter()
            .find(|w| w.name() == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<_> = all.iter().map(Worker::name).collect();
                format!("unknown worker {name:?}: known are {}", known.join(", "))
            })
    }
}

pub struct Application {
    port: u16,
    listener: TcpListener,
    router: Router,
    context: ApiContext,
    background: Vec<JoinHandle<()>>,
}

impl Application {
    /// Starts `workers` and binds the API (when `serve_api`); a process that runs only workers
    /// serves health, readiness and metrics on the workers' address instead. The pool's schema
    /// must be migrated.
    pub async fn build(
        settings: Settings,
        pool: PgPool,
        registry: Registry,
        serve_api: bool,
        workers: &[Worker],
    ) -> anyhow::Result<Self> {
        let tokens = TokenVerifier::new(&settings);
        let mut background = Vec::new();
        if let Some(jwks) = tokens.jwks().filter(|_| serve_api) {
            jwks.refresh()
                .await
                .context("loading the identity provider's keys (SUPPORTD_JWKS_URL)")?;
            background.push(tokio::spawn(jwks.clone().refresh_periodically()));
        }
        support_workers::telemetry::prometheus();
        let js = bus::connect(&settings.nats_url).await?;
        let data_keys = DataKeys::new(&settings.master_key);
        for worker in workers {
            let (pool, js, bus) = (pool.clone(), js.clone(), settings.bus.clone());
            let task = match worker {
                Worker::Relay => tokio::spawn(Relay::new(pool, js, bus).run()),
                Worker::KbViews => tokio::spawn(view_fold::run(pool, settings.kb.view_fold_every)),
                Worker::Projection(name) => {
                    let group = registry
                        .projections
                        .groups()
                        .into_iter()
                        .find(|g| g.name() == *name)
                        .expect("workers are parsed from the same read models");
                    tokio::spawn(
                        ProjectionRunner::new(pool, js, bus, group, data_keys.clone()).run(),
                    )
                }
                // They command through the command path, so they start below, with the API's
                // context.
                Worker::Retention | Worker::SlaTimer | Worker::Notifier => continue,
            };
            background.push(task);
        }
        let (checkpoints, follower) =
            Checkpoints::follow(pool.clone(), &registry.projections, settings.read_timeout).await?;
        background.push(follower);

        // Webhooks and the inbox need no settings; email and SMS need a server.
        let mut channels: Vec<Arc<dyn Channel>> = vec![
            Arc::new(WebhookChannel::new(
                pool.clone(),
                data_keys.clone(),
                settings.webhooks.clone(),
            )),
            Arc::new(InAppChannel),
        ];
        if let Some(email) = &settings.email {
            channels.push(Arc::new(EmailChannel::new(pool.clone(), email)?));
        }
        if let Some(sms) = &settings.sms {
            channels.push(Arc::new(SmsChannel::new(pool.clone(), sms.clone())?));
        }
        let channels = Channels::new(channels);
        let context = ApiContext {
            pool,
            tokens,
            clock: settings.clock.clone(),
            checkpoints,
            projections: registry.projections.clone(),
            nats: js.client(),
            data_keys,
            active_policies: ActivePolicies::default(),
            active_escalations: ActivePolicies::default(),
            channels,
            webhooks: settings.webhooks.clone(),
            kb_cache: ArticleCache::new(settings.kb.cache_bytes),
        };
        // Before the API answers, so that a fresh desk never serves a moment without policies.
        if serve_api {
            let created = sla_policies::create_defaults(&context)
                .await
                .context("creating the default SLA policies")?;
            if created > 0 {
                tracing::info!(created, "created the default SLA policies");
            }
        }
        if let (true, Some(keep_for)) = (workers.contains(&Worker::Retention), settings.retention) {
            background.push(tokio::spawn(retention::run(context.clone(), keep_for)));
        }
        if workers.contains(&Worker::SlaTimer) {
            background.push(tokio::spawn(sla_timer::run(context.clone())));
        }
        if workers.contains(&Worker::Notifier) {
            background.push(tokio::spawn(notifier::run(context.clone())));
        }
        let (bind, router) = if serve_api {
            let limiters = Arc::new(RateLimiters::new(&settings.rate_limits));
            background.push(tokio::spawn(
                limiters.clone().forget_idle_callers_every_minute(),
            ));
            (
                settings.bind,
                router(context.clone(), registry.routes, limiters),
            )
        } else {
            (settings.worker_bind, operations_router(context.clone()))
        };
        let listener = TcpListener::bind(bind).await?;
        Ok(Self {
            port: listener.local_addr()?.port(),
            listener,
            router,
            context,
            background,
        })
    }

    /// What its handlers and workers reach: for running a worker's step at a chosen instant.
    pub fn context(&self) -> ApiContext {
        self.context.clone()
    }

    /// The port of the API, or of a workers-only process's health and metrics.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn address(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until the process is stopped.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let _workers = AbortOnDrop(self.background);
        // The client's address keys the rate limit of requests without a valid token.
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown_signal())
            .await?;
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

/// Request latency by route and status, for every route the process serves.
async fn record_latency(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics::histogram!(
        "supportd_http_request_duration_seconds",
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// The span of a request: its method, route template and id. Not the URI, whose query string
/// holds what agents search for (`?q=`), nor headers, which hold the bearer token.
fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

/// The answer's status and latency, on the request's span; nothing of its headers or body.
fn record_response(response: &Response, latency: Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    span.record("latency_ms", latency.as_millis() as u64);
    tracing::debug!("finished processing request");
}

fn with_common_layers(router: Router<ApiContext>, context: ApiContext) -> Router {
    router
        .fallback(|| async { ApiError::NotFound("resource") })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this resource does not accept that method".to_owned())
        })
        .layer(middleware::from_fn(record_latency))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(record_response),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(context)
}

fn router(context: ApiContext, routes: Router<ApiContext>, limiters: Arc<RateLimiters>) -> Router {
    // Route layers, added after every route: each POST of the API takes an Idempotency-Key, and
    // unknown paths and methods are answered without it. The rate limit is the outer one, so a
    // refused request reads no body and keeps no answer, and a replayed answer still counts.
    let rate_limited = RateLimitState {
        context: context.clone(),
        limiters,
    };
    let routes = routes
        .route_layer(middleware::from_fn_with_state(
            context.clone(),
            idempotency::replay_or_run,
        ))
        .route_layer(middleware::from_fn_with_state(
            rate_limited,
            rate_limit::limit_requests,
        ));
    let api = Router::new()
        .nest(SUPPORT_API, routes)
        .merge(status_page::public_routes())
        .merge(dashboard::routes())
        .merge(health::routes())
        .merge(openapi::routes());
    with_common_layers(api, context)
}

fn operations_router(context: ApiContext) -> Router {
    with_common_layers(health::routes(), context)
}
