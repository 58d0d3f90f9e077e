//! The outbox relay: publishes every committed event to JetStream, in order, at least once.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, context::PublishAckFuture};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use support_domain::RecordedEvent;
use support_projections::event_log::{recorded_event, EVENT_COLUMNS};

use crate::supervise::supervise;
use crate::Bus;

/// Only one relay publishes at a time; the others wait on this lock in Postgres.
const LEADER_LOCK: i64 = 0x5355_5050_5245_4C59; // "SUPPRELY"

/// How many relayed (deleted) outbox rows between two vacuums of the outbox.
const VACUUM_EVERY: usize = 5_000;

#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    js: jetstream::Context,
    bus: Bus,
    batch_size: i64,
}

impl Relay {
    pub fn new(pool: PgPool, js: jetstream::Context, bus: Bus) -> Self {
        Self {
            pool,
            js,
            bus,
            batch_size: 1_000,
        }
    }

    /// Runs until the process ends: waits to lead, then relays; any failure drops the leadership
    /// (its connection) and starts over, so a restart of Postgres or NATS only delays events.
    pub async fn run(self) {
        supervise("relay", || {
            let relay = self.clone();
            async move { relay.lead().await }
        })
        .await
    }

    async fn lead(&self) -> anyhow::Result<()> {
        self.bus.ensure_stream(&self.js).await?;
        let mut leader = self.pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LEADER_LOCK)
            .execute(&mut leader)
            .await?;
        // The leader's statements live as long as it does. A generic plan settled while the
        // events table was small scans the whole table for every batch; a plan of each batch's
        // own keeps to the index as the table grows.
        sqlx::query("SET plan_cache_mode = force_custom_plan")
            .execute(&mut leader)
            .await?;
        tracing::info!("relay elected leader");
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen("event_outbox").await?;
        let mut deleted_since_vacuum = 0;
        loop {
            let relayed = self.relay_batch(&mut leader).await?;
            deleted_since_vacuum += relayed;
            // The outbox is a queue: its dead rows pile up at the head of the index every scan
            // starts from, faster than autovacuum's once-a-minute visits clear them.
            if deleted_since_vacuum >= VACUUM_EVERY {
                sqlx::query("VACUUM event_outbox")
                    .execute(&mut leader)
                    .await?;
                deleted_since_vacuum = 0;
            }
            if relayed == 0 {
                // A notification wakes us at once; the timeout covers one lost while reconnecting.
                let _ = tokio::time::timeout(Duration::from_secs(1), listener.recv()).await;
            }
        }
    }

    /// Publishes the oldest outbox rows and removes them once JetStream has acknowledged every one.
    /// Returns how many were published.
    pub async fn relay_batch(&self, conn: &mut PgConnection) -> anyhow::Result<usize> {
        // Looked up by position, so the plan stays index lookups however stale the statistics
        // of this fast-churning table are (a merge join would walk the whole events table).
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e \
             WHERE e.global_position = ANY(ARRAY( \
                 SELECT global_position FROM event_outbox ORDER BY global_position LIMIT $1)) \
             ORDER BY e.global_position"
        );
        let rows = sqlx::query(&sql)
            .bind(self.batch_size)
            .fetch_all(&mut *conn)
            .await?;
        let events = rows
            .iter()
            .map(recorded_event)
            .collect::<Result<Vec<_>, _>>()?;
        if events.is_empty() {
            return Ok(0);
        }
        let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(events.len());
        for event in &events {
            acks.push(self.publish(event).await?);
        }
        for ack in acks {
            ack.await?;
        }
        let positions: Vec<i64> = events.iter().map(|e| e.global_position).collect();
        sqlx::query("DELETE FROM event_outbox WHERE global_position = ANY($1)")
            .bind(&positions)
            .execute(&mut *conn)
            .await?;
        metrics::counter!("supportd_events_relayed_total").increment(events.len() as u64);
        let lag = metrics::histogram!("supportd_relay_lag_seconds");
        let now = chrono::Utc::now();
        for event in &events {
            lag.record((now - event.occurred_at).as_seconds_f64().max(0.0));
        }
        Ok(events.len())
    }

    async fn publish(&self, event: &RecordedEvent) -> anyhow::Result<PublishAckFuture> {
        let message_id =
            RecordedEvent::message_id(&event.aggregate_type, &event.aggregate_id, event.sequence);
        let message = PublishMessage::build()
            .message_id(message_id)
            .payload(serde_json::to_vec(event)?.into());
        let subject = self.bus.subject(&event.aggregate_type, &event.event_type);
        Ok(self.js.send_publish(subject, message).await?)
    }
}
