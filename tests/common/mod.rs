//! Starts a real `supportd` in-process on port 0, against the test's own database and its own
//! JetStream stream and subject prefix, so tests run in parallel.

#![allow(dead_code)] // each test binary uses a different part of this

pub mod browser;
pub mod python;
pub mod receivers;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, Response};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use support_domain::ActorRole;
use support_projections::personal_data::{DataKeys, MasterKey};
use support_projections::read_model::APPLIED_CHANNEL;
use support_projections::tickets::{Snapshot, TicketsProjection};
use support_projections::Projections;
use support_workers::Bus;
use supportd::auth::TokenKeys;
use supportd::clock::{ManualClock, SystemClock};
use supportd::notifier::email::EmailSettings;
use supportd::notifier::sms::SmsSettings;
use supportd::rate_limit::RateLimits;
use supportd::settings::Settings;
use supportd::startup::{ApiContext, Application, Registry, Worker};
use uuid::Uuid;

pub const NATS_URL: &str = "nats://127.0.0.1:4222";
const SECRET: &str = "test-secret";
/// Far above what any test sends with one token or from one address: only `rate_limits.rs` sets
/// limits it can reach.
const UNREACHABLE_RATE_LIMIT: NonZeroU32 = NonZeroU32::new(1_000_000).unwrap();

/// A stream and subject prefix of the test's own; the stream is deleted when the test ends,
/// whether it passed or not.
pub struct TestBus {
    pub bus: Bus,
}

impl TestBus {
    pub fn new() -> Self {
        let id = Uuid::new_v4().simple().to_string();
        Self {
            bus: Bus {
                stream: format!("TEST_{id}"),
                subject_prefix: format!("t{id}.events"),
                max_age: Some(Duration::from_secs(3600)),
                ack_wait: Duration::from_secs(1),
                max_deliveries: 3,
            },
        }
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let stream = self.bus.stream.clone();
        // Drop cannot await, and may run inside the test's runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect(NATS_URL).await {
                    let _ = async_nats::jetstream::new(client)
                        .delete_stream(&stream)
                        .await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub http: reqwest::Client,
    pub keys: TokenKeys,
    pub test_bus: TestBus,
    /// The running service's context, to run a worker's step at a chosen instant.
    pub context: ApiContext,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for TestApp {
    /// Stops the server and its workers, so they let go of the test's database.
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn settings(bus: &Bus) -> Settings {
    Settings {
        database_url: String::new(),
        nats_url: NATS_URL.to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        worker_bind: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: SECRET.to_owned(),
        master_key: MasterKey::development(),
        retention: None,
        identity_provider: None,
        bus: bus.clone(),
        read_timeout: Duration::from_secs(10),
        clock: Arc::new(SystemClock),
        rate_limits: RateLimits::everyone(UNREACHABLE_RATE_LIMIT),
        webhooks: Default::default(),
        email: None,
        sms: None,
        kb: Default::default(),
    }
}

/// The API with every worker, as `supportd serve` runs it.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, |_| {}).await
}

/// As `spawn_app`, with settings changed first (an injected clock, say).
pub async fn spawn_app_with(pool: PgPool, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_registry(pool, Registry::standard(), Worker::all, configure).await
}

/// As `spawn_app_with`, without the workers that act when their rows fall due (the SLA timer and
/// the notifier): for a clock that counts its reads, or a test that runs their passes itself.
pub async fn spawn_app_without_sla_timer(
    pool: PgPool,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_app_without(pool, &[Worker::SlaTimer, Worker::Notifier], configure).await
}

/// As `spawn_app_with`, without the given workers: for a test that runs their passes itself at
/// chosen instants.
pub async fn spawn_app_without(
    pool: PgPool,
    without: &[Worker],
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let workers = |projections: &Projections| {
        let mut workers = Worker::all(projections);
        workers.retain(|w| !without.contains(w));
        workers
    };
    spawn_registry(pool, Registry::standard(), workers, configure).await
}

/// The app at `at` on a clock the test moves, its timer and notifier run by the test; email and
/// SMS go to the SMTP server on port `smtp` and the SMS receiver at `sms` when given.
pub async fn spawn_notifying_app(
    pool: PgPool,
    at: DateTime<Utc>,
    smtp: Option<u16>,
    sms: Option<String>,
) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at));
    let injected = clock.clone();
    let app = spawn_app_without_sla_timer(pool, move |settings| {
        settings.clock = injected;
        settings.email = smtp.map(|port| {
            EmailSettings::from_vars(|name| match name {
                "SUPPORTD_SMTP_URL" => Some(format!("smtp://127.0.0.1:{port}")),
                "SUPPORTD_SMTP_FROM" => Some("Support Desk <support@desk.example>".to_owned()),
                _ => None,
            })
            .unwrap()
            .unwrap()
        });
        settings.sms = sms.map(|url| {
            SmsSettings::from_vars(|name| match name {
                "SUPPORTD_SMS_URL" => Some(url.clone()),
                "SUPPORTD_SMS_ACCOUNT" => Some("AC123".to_owned()),
                "SUPPORTD_SMS_TOKEN" => Some("sms-token".to_owned()),
                "SUPPORTD_SMS_FROM" => Some("+15005550006".to_owned()),
                _ => None,
            })
            .unwrap()
            .unwrap()
        });
    })
    .await;
    (app, clock)
}

/// The API made of the given projections and routes, with the workers `workers` picks.
pub async fn spawn_registry(
    pool: PgPool,
    registry: Registry,
    workers: impl FnOnce(&Projections) -> Vec<Worker>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let test_bus = TestBus::new();
    let mut settings = settings(&test_bus.bus);
    configure(&mut settings);
    let workers = workers(&registry.projections);
    let application = Application::build(settings, pool.clone(), registry, true, &workers)
        .await
        .expect("the application starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    let context = application.context();
    let server = tokio::spawn(application.run_until_stopped());
    TestApp {
        server,
        context,
        address,
        pool,
        http: reqwest::Client::new(),
        keys: TokenKeys::new(SECRET),
        test_bus,
    }
}

impl TestApp {
    pub fn token(&self, role: ActorRole, sub: &str) -> String {
        self.keys.issue(role, sub, None, chrono::Duration::hours(1))
    }

    pub fn admin(&self) -> String {
        self.token(ActorRole::Admin, "admin-1")
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.http.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("the request is sent")
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.send(Method::GET, path, Some(token), None).await
    }

    /// GETs `path` and reads the JSON answer, whatever its status.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> T {
        self.get(path, token).await.json().await.unwrap()
    }

    /// GETs an unauthenticated operations path (`/metrics`, the OpenAPI document) as text.
    pub async fn get_text(&self, path: &str) -> String {
        self.send(Method::GET, path, None, None)
            .await
            .text()
            .await
            .unwrap()
    }

    /// Opens a ticket as `token` and returns it; panics unless the answer is 201.
    pub async fn open_ticket(&self, token: &str, body: Value) -> Value {
        let response = self.post("/api/v1/support/tickets", token, body).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// The spec's own `POST /tickets` example, every field as the spec writes it.
pub fn spec_create_example() -> Value {
    serde_json::json!({
        "title": "Unable to access lead dashboard",
        "description": "Getting 500 error when trying to load the lead dashboard",
        "priority": "P1_HIGH",
        "category": "TECHNICAL",
        "channel": "WEB_FORM",
        "customerId": "customer-123",
        "customerName": "John Doe",
        "customerEmail": "john.doe@example.com",
        "affectedSystems": ["lead-dashboard", "api"],
        "createdBy": "customer-123"
    })
}

pub fn ticket_body(title: &str, customer: &str) -> Value {
    serde_json::json!({
        "title": title,
        "description": "Getting 500 error when trying to load the lead dashboard",
        "priority": "P1_HIGH",
        "category": "TECHNICAL",
        "channel": "WEB_FORM",
        "customerId": customer,
    })
}

/// Waits until the tickets read model shows every ticket event in the store.
pub async fn wait_until_projected(pool: &PgPool) {
    wait_until_applied(pool, "tickets", "ticket").await
}

/// Waits, woken by the projections' own announcements, until `read_model` has applied every event
/// of `aggregate_type` in the store: for what no command's answer waited for (events written
/// straight into the store, or what the service records at start-up). Not the checkpoint: it is
/// a high-water mark, and a redelivered event can still be below it. The positions it reads are
/// written in the transaction that writes the rows.
pub async fn wait_until_applied(pool: &PgPool, read_model: &str, aggregate_type: &str) {
    let mut listener = PgListener::connect_with(pool).await.unwrap();
    listener.listen(APPLIED_CHANNEL).await.unwrap();
    let caught_up = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT NOT EXISTS ( \
                 SELECT 1 FROM events e LEFT JOIN projection_positions p \
                     ON p.projection = $1 AND p.aggregate_type = e.aggregate_type \
                         AND p.aggregate_id = e.aggregate_id \
                 WHERE e.aggregate_type = $2 AND (p.sequence IS NULL OR p.sequence < e.sequence))",
        )
        .bind(read_model)
        .bind(aggregate_type)
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let wait = async {
        while !caught_up().await {
            listener.recv().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the read model shows every event within 30 s");
}

/// The data keys every test app seals personal data with.
pub fn data_keys() -> DataKeys {
    DataKeys::new(&MasterKey::development())
}

/// Rebuilds the tickets read model from the event store, as `supportd replay` does.
pub async fn replay_tickets(pool: &PgPool) {
    support_projections::replay(pool, &data_keys(), &TicketsProjection)
        .await
        .unwrap();
}

/// The tickets read model as comparable data.
pub async fn read_model_snapshot(pool: &PgPool) -> Snapshot {
    Snapshot::take(pool).await.unwrap()
}

/// Reads a problem document, checking its status and media type.
pub async fn problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "errors are problem documents"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], status);
    assert!(problem["type"].as_str().unwrap().starts_with("/problems/"));
    assert!(problem["title"].is_string() && problem["detail"].is_string());
    problem
}

/// The fields a problem document's `errors` name, in order.
pub fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// Reads a JSON answer, checking its status.
pub async fn ok_json(response: Response, status: u16) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(actual, status, "{body}");
    body
}
