//! Builds one read model from the bus: one durable consumer, batches applied in one transaction,
//! acknowledged only after the commit. An event that keeps failing is parked in the dead letters
//! after a bounded number of deliveries, so the read model carries on without it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, AckKind, Message};
use chrono::Utc;
use futures::StreamExt;
use sqlx::PgPool;
use support_domain::RecordedEvent;
use support_projections::dead_letters::{self, Parked};
use support_projections::personal_data::DataKeys;
use support_projections::{apply_batch, Projection, ProjectionError, Redacted};

use crate::supervise::supervise;
use crate::Bus;

/// How long a failed event waits before the bus delivers it again.
const REDELIVERY_DELAY: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct ProjectionRunner {
    pool: PgPool,
    js: jetstream::Context,
    bus: Bus,
    projection: Arc<dyn Projection>,
    keys: DataKeys,
    batch_size: usize,
}

impl ProjectionRunner {
    pub fn new(
        pool: PgPool,
        js: jetstream::Context,
        bus: Bus,
        projection: Arc<dyn Projection>,
        keys: DataKeys,
    ) -> Self {
        Self {
            pool,
            js,
            bus,
            projection,
            keys,
            batch_size: 500,
        }
    }

    /// Runs until the process ends, starting over after any failure of NATS or PostgreSQL.
    pub async fn run(self) {
        let worker = format!("projection-{}", self.projection.name());
        supervise(&worker, || {
            let runner = self.clone();
            async move { runner.consume().await }
        })
        .await
    }

    async fn consume(&self) -> anyhow::Result<()> {
        let stream = self.bus.ensure_stream(&self.js).await?;
        let name = self.projection.name();
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                name,
                pull::Config {
                    durable_name: Some(name.to_owned()),
                    filter_subject: self.bus.filter(self.projection.aggregate_types()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.bus.ack_wait,
                    max_ack_pending: 10_000,
                    ..Default::default()
                },
            )
            .await?;
        let mut batches = consumer
            .stream()
            .max_messages_per_batch(self.batch_size)
            .messages()
            .await?
            .ready_chunks(self.batch_size);
        while let Some(batch) = batches.next().await {
            let messages = batch
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!(e))?;
            self.apply(messages).await?;
        }
        Ok(())
    }

    async fn apply(&self, messages: Vec<Message>) -> anyhow::Result<()> {
        let mut events = Vec::with_capacity(messages.len());
        let mut carriers = Vec::with_capacity(messages.len());
        for message in messages {
            match serde_json::from_slice::<RecordedEvent>(&message.payload) {
                Ok(event) => {
                    events.push(event);
                    carriers.push(message);
                }
                // Not an event envelope at all: no retry can make it one.
                Err(error) => {
                    let error = format!("not an event envelope: {}", Redacted(&error));
                    self.park(&message, None, error).await?;
                }
            }
        }
        match self.apply_committed(&events).await {
            Ok(()) => {
                self.applied(&events);
                for message in carriers {
                    ack(&message, AckKind::Ack).await?;
                }
            }
            Err(error) if error.is_transient() => {
                tracing::warn!(read_model = self.projection.name(), error = %Redacted(&error), "database unavailable; the batch will be redelivered");
                for message in &carriers {
                    self.redeliver(message).await?;
                }
            }
            // One event spoils the batch: find it by applying them one at a time.
            Err(error) => {
                tracing::warn!(read_model = self.projection.name(), error = %Redacted(&error), "batch not applied; applying its events one by one");
                self.apply_one_by_one(carriers, events).await?;
            }
        }
        Ok(())
    }

    async fn apply_one_by_one(
        &self,
        carriers: Vec<Message>,
        events: Vec<RecordedEvent>,
    ) -> anyhow::Result<()> {
        let mut pending = carriers.iter().zip(&events);
        for (message, event) in pending.by_ref() {
            let error = match self.apply_committed(std::slice::from_ref(event)).await {
                Ok(()) => {
                    self.applied(std::slice::from_ref(event));
                    ack(message, AckKind::Ack).await?;
                    continue;
                }
                Err(error) if error.is_transient() => {
                    self.redeliver(message).await?;
                    break;
                }
                Err(error) => error,
            };
            let deliveries = message.info().map(|i| i.delivered).unwrap_or(1);
            // A gap is normal while an earlier event is being redelivered; it is parked only
            // behind an earlier event of the same aggregate that was parked itself.
            let park = match &error {
                ProjectionError::OutOfOrder { .. } => {
                    let mut conn = self.pool.acquire().await?;
                    dead_letters::blocks(
                        &mut conn,
                        self.projection.name(),
                        &event.aggregate_type,
                        &event.aggregate_id,
                    )
                    .await?
                }
                _ => deliveries >= self.bus.max_deliveries,
            };
            // Logged and parked without the values the error may quote (a field, a row's value).
            let error = Redacted(&error).to_string();
            if park {
                self.park(message, Some(event), error).await?;
            } else {
                tracing::warn!(read_model = self.projection.name(), event = %event.event_id, deliveries, error, "event not applied; it will be redelivered");
                self.redeliver(message).await?;
            }
        }
        // After a transient failure the rest wait for the database too.
        for (message, _) in pending {
            self.redeliver(message).await?;
        }
        Ok(())
    }

    async fn apply_committed(&self, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        apply_batch(&mut tx, &self.keys, self.projection.as_ref(), events).await?;
        tx.commit().await?;
        Ok(())
    }

    fn applied(&self, events: &[RecordedEvent]) {
        let name = self.projection.name();
        metrics::counter!("supportd_events_projected_total", "projection" => name)
            .increment(events.len() as u64);
        let lag = metrics::histogram!("supportd_projection_lag_seconds", "projection" => name);
        let now = Utc::now();
        for event in events {
            lag.record((now - event.occurred_at).as_seconds_f64().max(0.0));
        }
    }

    async fn redeliver(&self, message: &Message) -> anyhow::Result<()> {
        metrics::counter!("supportd_projection_redeliveries_total", "projection" => self.projection.name())
            .increment(1);
        ack(message, AckKind::Nak(Some(REDELIVERY_DELAY))).await
    }

    /// Parks a message in the dead letters, then acknowledges it: the read model carries on.
    async fn park(
        &self,
        message: &Message,
        event: Option<&RecordedEvent>,
        error: String,
    ) -> anyhow::Result<()> {
        let name = self.projection.name();
        let deliveries = message.info().map(|i| i.delivered).unwrap_or(1);
        let mut conn = self.pool.acquire().await?;
        let id = dead_letters::park(
            &mut conn,
            Parked {
                projection: name,
                subject: &message.subject,
                message: &message.payload,
                event,
                error: error.clone(),
                deliveries,
            },
        )
        .await?;
        tracing::error!(read_model = name, dead_letter = id, subject = %message.subject, error = %error, "event parked in the dead letters; the read model carries on without it");
        metrics::counter!("supportd_dead_letters_total", "projection" => name).increment(1);
        ack(message, AckKind::Ack).await
    }
}

async fn ack(message: &Message, kind: AckKind) -> anyhow::Result<()> {
    message.ack_with(kind).await.map_err(|e| anyhow::anyhow!(e))
}
