//! Nothing committed is lost or applied twice: the relay stopped, crashing between publish and
//! acknowledgement, a projection worker killed in the middle of a batch, and replays.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use common::{
    read_model_snapshot, spawn_app, ticket_body, wait_until_projected, TestBus, NATS_URL,
};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::CqrsFramework;
use futures::StreamExt;
use postgres_es::PostgresEventRepository;
use serde_json::json;
use sqlx::PgPool;
use support_domain::ticket::{
    Labels, OpenTicket, Ticket, TicketCategory, TicketChannel, TicketCommand, TicketContent,
    TicketDescription, TicketNumber, TicketPriority, TicketTitle, UpdateTicket,
};
use support_domain::{Actor, ActorRole, Caller, EventMetadata, RecordedEvent};
use support_projections::projection::ReadModelGroup;
use support_projections::replay;
use support_projections::tickets::TicketsProjection;
use support_workers::{bus, ProjectionRunner, Relay};
use uuid::Uuid;

/// Records events straight into the event store, as the API would, with no worker running.
struct EventWriter(CqrsFramework<Ticket, PersistedEventStore<PostgresEventRepository, Ticket>>);

impl EventWriter {
    fn new(pool: &PgPool) -> Self {
        let store =
            PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()));
        Self(CqrsFramework::new(store, vec![], ()))
    }

    async fn execute(&self, id: Uuid, command: TicketCommand) {
        let metadata = EventMetadata {
            actor_sub: "agent-1".into(),
            actor_role: ActorRole::Agent,
            request_id: Uuid::new_v4().to_string(),
            correlation_id: Uuid::new_v4().to_string(),
            causation_id: None,
            occurred_at: chrono::Utc::now(),
            source: "import".into(),
        };
        self.0
            .execute_with_metadata(&id.to_string(), command, metadata.to_map())
            .await
            .unwrap();
    }

    async fn open(&self, n: u64) -> Uuid {
        let id = Uuid::new_v4();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let command = TicketCommand::Open(OpenTicket {
            ticket_id: id,
            ticket_number: TicketNumber::new(day, n),
            content: TicketContent {
                title: TicketTitle::parse(&format!("Ticket {n}")).unwrap(),
                description: TicketDescription::parse("Imported").unwrap(),
                priority: TicketPriority::Medium,
                category: TicketCategory::General,
                channel: TicketChannel::Email,
                customer: None,
                customer_tier: None,
                affected_systems: Labels::default(),
                tags: Labels::default(),
            },
            suggested_articles_seen: Default::default(),
            created_by: "importer".into(),
            at: chrono::Utc::now(),
            policies: Default::default(),
        });
        self.execute(id, command).await;
        id
    }

    async fn retitle(&self, id: Uuid, title: &str) {
        let mut update = UpdateTicket::by(
            Caller {
                actor: Actor {
                    sub: "admin-1".into(),
                    role: ActorRole::Admin,
                },
                customer_id: None,
            },
            chrono::Utc::now(),
        );
        update.title = TicketTitle::parse(title).ok();
        self.execute(id, TicketCommand::Update(update)).await;
    }
}

fn tickets_runner(
    pool: &PgPool,
    js: &jetstream::Context,
    bus: &support_workers::Bus,
) -> ProjectionRunner {
    ProjectionRunner::new(
        pool.clone(),
        js.clone(),
        bus.clone(),
        ReadModelGroup::of(vec![Arc::new(TicketsProjection)]),
        common::data_keys(),
    )
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn last_position(pool: &PgPool) -> i64 {
    count(pool, "SELECT max(global_position) FROM events").await
}

/// Reads `expected` messages from the stream with a consumer of the test's own.
async fn read_stream(
    js: &jetstream::Context,
    bus: &support_workers::Bus,
    expected: usize,
) -> Vec<async_nats::jetstream::Message> {
    let stream = js.get_stream(&bus.stream).await.unwrap();
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: format!("{}.>", bus.subject_prefix),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut received = Vec::new();
    while received.len() < expected {
        let next = tokio::time::timeout(Duration::from_secs(30), messages.next()).await;
        let message = next
            .expect("the stream delivers every event")
            .unwrap()
            .unwrap();
        message.ack().await.unwrap();
        received.push(message);
    }
    received
}

#[sqlx::test(migrations = "../migrations")]
async fn events_committed_while_the_relay_is_stopped_are_published_once_when_it_starts(
    pool: PgPool,
) {
    let test_bus = TestBus::new();
    let bus = test_bus.bus.clone();
    let js = bus::connect(NATS_URL).await.unwrap();
    let writer = EventWriter::new(&pool);
    let mut tickets = Vec::new();
    for n in 1..=20 {
        let id = writer.open(n).await;
        writer.retitle(id, &format!("Ticket {n}, retitled")).await;
        tickets.push(id);
    }
    assert_eq!(
        count(&pool, "SELECT count(*) FROM event_outbox").await,
        40,
        "every event waits in the outbox"
    );
    let stream = bus.ensure_stream(&js).await.unwrap();
    assert_eq!(stream.cached_info().state.messages, 0);

    // A relay that publishes and dies before removing its outbox rows...
    let relay = Relay::new(pool.clone(), js.clone(), bus.clone());
    let mut crashed = pool.begin().await.unwrap();
    assert_eq!(relay.relay_batch(&mut crashed).await.unwrap(), 40);
    crashed.rollback().await.unwrap();
    assert_eq!(count(&pool, "SELECT count(*) FROM event_outbox").await, 40);

    // ...and the relay started again: it publishes them all again, and JetStream keeps one of each.
    let running = tokio::spawn(Relay::new(pool.clone(), js.clone(), bus.clone()).run());
    let messages = read_stream(&js, &bus, 40).await;
    running.abort();
    let mut stream = js.get_stream(&bus.stream).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        40,
        "re-published events are deduplicated"
    );

    let mut sequences: HashMap<String, Vec<i64>> = HashMap::new();
    for message in &messages {
        let event: RecordedEvent = serde_json::from_slice(&message.payload).unwrap();
        let headers = message.headers.as_ref().unwrap();
        assert_eq!(
            headers.get("Nats-Msg-Id").unwrap().as_str(),
            format!("ticket:{}:{}", event.aggregate_id, event.sequence)
        );
        assert_eq!(
            message.subject.as_str(),
            bus.subject("ticket", &event.event_type)
        );
        assert_eq!(event.metadata.source, "import");
        sequences
            .entry(event.aggregate_id)
            .or_default()
            .push(event.sequence);
    }
    for id in &tickets {
        assert_eq!(
            sequences[&id.to_string()],
            [1, 2],
            "per-ticket order is kept"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_projection_worker_killed_mid_batch_ends_with_the_uninterrupted_read_model(pool: PgPool) {
    let test_bus = TestBus::new();
    let bus = test_bus.bus.clone();
    let js = bus::connect(NATS_URL).await.unwrap();
    let relay = tokio::spawn(Relay::new(pool.clone(), js.clone(), bus.clone()).run());
    let writer = EventWriter::new(&pool);

    // First wave, fully projected by a runner that then stops.
    let mut tickets = Vec::new();
    for n in 1..=50 {
        tickets.push(writer.open(n).await);
    }
    let first = tokio::spawn(tickets_runner(&pool, &js, &bus).run());
    let first_wave_end = last_position(&pool).await;
    wait_until_projected(&pool).await;
    first.abort();

    // Second wave; one ticket late in it is locked, so the worker stops inside its batch there.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE")
        .bind(tickets[40])
        .execute(&mut *blocker)
        .await
        .unwrap();
    for (n, id) in tickets.iter().enumerate() {
        writer
            .retitle(*id, &format!("Ticket {}, second wave", n + 1))
            .await;
    }

    let database = pool.connect_options().get_database().unwrap().to_owned();
    let mut worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_supportd"))
        .args(["worker", "projection-tickets"])
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{database}"),
        )
        .env("NATS_URL", NATS_URL)
        .env("SUPPORTD_STREAM", &bus.stream)
        .env("SUPPORTD_SUBJECT_PREFIX", &bus.subject_prefix)
        .env("SUPPORTD_ACK_WAIT_MS", "1000")
        .env("SUPPORTD_WORKER_BIND", "127.0.0.1:0")
        .env("SUPPORTD_JWT_SECRET", "unused")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The worker is inside its batch transaction once it waits for the locked row.
    let blocked = async {
        loop {
            let waiting = count(
                &pool,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE 'UPDATE tickets%'",
            )
            .await;
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), blocked)
        .await
        .expect("the worker reaches the locked row");
    worker.start_kill().unwrap();
    worker.wait().await.unwrap();
    blocker.rollback().await.unwrap();

    let checkpoint = count(
        &pool,
        "SELECT global_position FROM projection_checkpoints WHERE projection = 'tickets'",
    )
    .await;
    // Batches before the blocked one may have committed; the blocked one did not, and nothing
    // of it is visible.
    let blocked_event: i64 = sqlx::query_scalar(
        "SELECT global_position FROM events WHERE aggregate_id = $1 AND sequence = 2",
    )
    .bind(tickets[40].to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        first_wave_end <= checkpoint && checkpoint < blocked_event,
        "{checkpoint}"
    );
    let beyond_checkpoint = count(
        &pool,
        &format!(
            "SELECT count(*) FROM tickets t JOIN events e \
             ON e.aggregate_id = t.id::text AND e.sequence = t.version \
             WHERE e.global_position > {checkpoint}"
        ),
    )
    .await;
    assert_eq!(beyond_checkpoint, 0, "the killed batch left nothing behind");

    // Restarted, the read model catches up from the redelivered messages.
    let restarted = tokio::spawn(tickets_runner(&pool, &js, &bus).run());
    wait_until_projected(&pool).await;
    restarted.abort();
    relay.abort();
    let recovered = read_model_snapshot(&pool).await;
    assert_eq!(recovered.tickets.len(), 50);
    for ticket in &recovered.tickets {
        assert_eq!(ticket["version"], 2, "each event applied exactly once");
        assert!(ticket["title"].as_str().unwrap().ends_with("second wave"));
    }

    // An uninterrupted run from the event store gives the same read model.
    common::replay_tickets(&pool).await;
    assert_eq!(read_model_snapshot(&pool).await, recovered);
}

#[sqlx::test(migrations = "../migrations")]
async fn replay_rebuilds_the_live_read_model_and_live_consumption_carries_on(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin();
    let agent = app.token(ActorRole::Agent, "agent-1");
    for n in 0..10 {
        let ticket = app
            .open_ticket(&admin, ticket_body(&format!("Replayed {n}"), "c-1"))
            .await;
        let path = format!("/api/v1/support/tickets/{}", ticket["id"].as_str().unwrap());
        app.put(
            &path,
            &admin,
            json!({"assignedTo": "agent-1", "tags": ["replay"]}),
        )
        .await;
        app.post(
            &format!("{path}/comments"),
            &agent,
            json!({"body": "On it"}),
        )
        .await;
        app.post(
            &format!("{path}/comments"),
            &agent,
            json!({"body": "note", "visibility": "INTERNAL"}),
        )
        .await;
        if n % 2 == 0 {
            app.put(
                &path,
                &agent,
                json!({"status": "RESOLVED", "resolutionNote": "Fixed"}),
            )
            .await;
        }
    }
    let live = read_model_snapshot(&pool).await;
    assert_eq!((live.tickets.len(), live.comments.len()), (10, 20));
    // What an operator may have set on a read model's table: a replay keeps it.
    sqlx::raw_sql(
        "ALTER TABLE tickets SET (fillfactor = 90); \
         GRANT SELECT ON tickets, ticket_comments TO PUBLIC",
    )
    .execute(&pool)
    .await
    .unwrap();
    let shape = read_model_shape(&pool).await;

    // Replay while commands keep arriving: both finish, and nothing is lost or doubled.
    let writes = async {
        for n in 0..5 {
            app.open_ticket(&admin, ticket_body(&format!("During replay {n}"), "c-1"))
                .await;
        }
    };
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let cli_replay = tokio::process::Command::new(env!("CARGO_BIN_EXE_supportd"))
        .args(["replay", "--projection", "tickets"])
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{database}"),
        )
        .env("SUPPORTD_JWT_SECRET", "unused")
        .output();
    let ((), output) = tokio::join!(writes, cli_replay);
    let output = output.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("tickets: replayed"));

    let after = app
        .open_ticket(&admin, ticket_body("After replay", "c-1"))
        .await;
    assert_eq!(
        after["title"], "After replay",
        "live consumption carries on after the replay"
    );
    let with_new = read_model_snapshot(&pool).await;
    assert_eq!(with_new.tickets.len(), 16);
    let unchanged: Vec<_> = with_new
        .tickets
        .iter()
        .filter(|t| live.tickets.contains(t))
        .collect();
    assert_eq!(unchanged.len(), 10, "the replayed rows equal the live ones");

    common::replay_tickets(&pool).await;
    assert_eq!(read_model_snapshot(&pool).await, with_new);
    assert_eq!(
        read_model_shape(&pool).await,
        shape,
        "the fresh tables took the live ones' place with their columns, keys and indexes"
    );
}

/// The tickets read model's tables as the catalogue describes them (columns, constraints, indexes,
/// storage parameters, privileges), and any schema a replay left behind.
async fn read_model_shape(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT table_name, column_name || ' ' || data_type || ' ' || is_nullable || ' ' \
                || COALESCE(column_default, '') || ' ' || COALESCE(generation_expression, '') \
         FROM information_schema.columns \
         WHERE table_schema = 'public' \
           AND table_name IN ('tickets', 'ticket_comments', 'ticket_counts') \
         UNION ALL SELECT conrelid::regclass::text, conname || ' ' || pg_get_constraintdef(oid) \
         FROM pg_constraint \
         WHERE conrelid IN ('tickets'::regclass, 'ticket_comments'::regclass, \
                            'ticket_counts'::regclass) \
         UNION ALL SELECT tablename, indexdef FROM pg_indexes \
         WHERE schemaname = 'public' \
           AND tablename IN ('tickets', 'ticket_comments', 'ticket_counts') \
         UNION ALL SELECT relname, COALESCE(reloptions::text, '') || ' ' \
                || COALESCE(relacl::text, '') \
         FROM pg_class \
         WHERE oid IN ('tickets'::regclass, 'ticket_comments'::regclass, \
                       'ticket_counts'::regclass) \
         UNION ALL SELECT 'schema', nspname FROM pg_namespace WHERE nspname LIKE 'rebuild%' \
         ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_replay_that_fails_leaves_the_live_read_model_as_it_was(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin();
    for n in 0..3 {
        app.open_ticket(&admin, ticket_body(&format!("Kept {n}"), "c-1"))
            .await;
    }
    let live = read_model_snapshot(&pool).await;
    let shape = read_model_shape(&pool).await;
    // An event no version of the projection can read, written past the domain into the store.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
                             payload, metadata) \
         VALUES ('ticket', $1, 1, 'TicketOpened', '1.0', '{\"TicketOpened\": 42}', '{}')",
    )
    .bind(Uuid::new_v4().to_string())
    .execute(&pool)
    .await
    .unwrap();

    let failed = replay(&pool, &common::data_keys(), &TicketsProjection).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(read_model_snapshot(&pool).await, live);
    assert_eq!(
        read_model_shape(&pool).await,
        shape,
        "no fresh table is left"
    );
}

/// A NATS server of the test's own, so it can be killed without disturbing other tests.
struct PrivateNats {
    port: u16,
    store: std::path::PathBuf,
    process: Option<tokio::process::Child>,
}

impl PrivateNats {
    async fn start() -> Self {
        let port = free_port();
        let store = std::env::temp_dir().join(format!("supportd-nats-{}", Uuid::new_v4()));
        let mut nats = Self {
            port,
            store,
            process: None,
        };
        nats.restart().await;
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let process = tokio::process::Command::new("/usr/sbin/nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server runs");
        self.process = Some(process);
        let up = async {
            while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), up)
            .await
            .expect("nats-server answers");
    }

    async fn kill(&mut self) {
        let mut process = self.process.take().unwrap();
        process.start_kill().unwrap();
        process.wait().await.unwrap();
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// The relay and the tickets projection running against one bus, as `supportd serve` runs them.
struct Pipeline {
    relay: tokio::task::JoinHandle<()>,
    runner: tokio::task::JoinHandle<()>,
}

impl Pipeline {
    fn start(pool: &PgPool, js: &jetstream::Context, bus: &support_workers::Bus) -> Self {
        Self {
            relay: tokio::spawn(Relay::new(pool.clone(), js.clone(), bus.clone()).run()),
            runner: tokio::spawn(tickets_runner(pool, js, bus).run()),
        }
    }

    /// Waits until every recorded event is in the read model, then checks that each of the
    /// `tickets` reached it and the stream exactly once.
    async fn finish(
        self,
        pool: &PgPool,
        js: &jetstream::Context,
        bus: &support_workers::Bus,
        tickets: i64,
    ) {
        wait_until_projected(pool).await;
        self.relay.abort();
        self.runner.abort();
        assert_eq!(count(pool, "SELECT count(*) FROM tickets").await, tickets);
        assert_eq!(
            count(pool, "SELECT count(*) FROM tickets WHERE version = 1").await,
            tickets
        );
        let mut stream = js.get_stream(&bus.stream).await.unwrap();
        assert_eq!(
            stream.info().await.unwrap().state.messages,
            tickets as u64,
            "each event is on the stream once"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_nats_restart_delays_events_but_loses_none(pool: PgPool) {
    let mut nats = PrivateNats::start().await;
    // The stream lives on the private server and goes with it; the guard only names it.
    let test_bus = TestBus::new();
    let bus = &test_bus.bus;
    let js = bus::connect(&nats.url()).await.unwrap();
    let pipeline = Pipeline::start(&pool, &js, bus);
    let writer = EventWriter::new(&pool);
    for n in 1..=10 {
        writer.open(n).await;
    }
    wait_until_projected(&pool).await;

    nats.kill().await;
    for n in 11..=20 {
        writer.open(n).await;
    }
    nats.restart().await;
    pipeline.finish(&pool, &js, bus, 20).await;
}

/// A PostgreSQL cluster of the test's own, so it can be restarted without disturbing other tests.
struct PrivatePostgres {
    dir: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn bin(tool: &str) -> String {
        let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is installed");
        let version = versions
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .max()
            .unwrap();
        format!(
            "/usr/lib/postgresql/{}/bin/{tool}",
            version.to_string_lossy()
        )
    }

    /// A server tool, run as the `postgres` user when we are root (initdb refuses root).
    fn tool(name: &str) -> std::process::Command {
        if running_as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--", &Self::bin(name)]);
            command
        } else {
            std::process::Command::new(Self::bin(name))
        }
    }

    async fn run(tool: &str, args: &[&str]) {
        let output = tokio::process::Command::from(Self::tool(tool))
            .args(args)
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    async fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("supportd-pg-{}", Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        if running_as_root() {
            let status = std::process::Command::new("chown")
                .arg("postgres")
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.to_string_lossy().into_owned();
        Self::run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        )
        .await;
        let cluster = Self { dir, port };
        cluster.pg_ctl("start").await;
        cluster
    }

    async fn pg_ctl(&self, action: &str) {
        let data = self.dir.to_string_lossy().into_owned();
        let options = format!(
            "-p {} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        // With a log file the server does not inherit (and hold open) our output pipes.
        let log = format!("{data}/server.log");
        Self::run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-m", "fast", "-w", action,
            ],
        )
        .await;
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/support", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.to_string_lossy().into_owned();
        let _ = Self::tool("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on, for a server of the test's own.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
}

#[tokio::test]
async fn a_postgres_restart_delays_events_but_loses_none() {
    let postgres = PrivatePostgres::start().await;
    let pool = supportd::database::connect(&postgres.url()).await.unwrap();
    let test_bus = TestBus::new();
    let bus = &test_bus.bus;
    let js = bus::connect(NATS_URL).await.unwrap();
    let pipeline = Pipeline::start(&pool, &js, bus);
    let writer = EventWriter::new(&pool);
    for n in 1..=10 {
        writer.open(n).await;
    }
    // Some of these may still be in the outbox or in a projection batch when the server stops.
    postgres.pg_ctl("restart").await;
    for n in 11..=20 {
        writer.open(n).await;
    }
    pipeline.finish(&pool, &js, bus, 20).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_event_store_refuses_to_change_or_remove_events(pool: PgPool) {
    EventWriter::new(&pool).open(1).await;
    for statement in [
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "TRUNCATE events CASCADE",
    ] {
        let error = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(
            error.to_string().contains("events are append-only"),
            "{statement}: {error}"
        );
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 1);
}
