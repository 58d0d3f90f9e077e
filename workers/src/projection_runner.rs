//! Builds a group of read models from the bus: one durable consumer, each batch applied to every
//! read model of the group in one transaction, acknowledged only after the commit. An event that
//! keeps failing in one read model is parked in that read model's dead letters after a bounded
//! number of deliveries, so it carries on without it, and the others apply it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, AckKind, Message};
use chrono::Utc;
use futures::StreamExt;
use sqlx::PgPool;
use support_domain::RecordedEvent;
use support_projections::dead_letters::{self, Parked};
use support_projections::personal_data::DataKeys;
use support_projections::projection::ReadModelGroup;
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
    group: ReadModelGroup,
    keys: DataKeys,
    batch_size: usize,
}

impl ProjectionRunner {
    pub fn new(
        pool: PgPool,
        js: jetstream::Context,
        bus: Bus,
        group: ReadModelGroup,
        keys: DataKeys,
    ) -> Self {
        Self {
            pool,
            js,
            bus,
            group,
            keys,
            batch_size: 500,
        }
    }

    /// Runs until the process ends, starting over after any failure of NATS or PostgreSQL.
    pub async fn run(self) {
        let worker = format!("projection-{}", self.group.name());
        supervise(&worker, || {
            let runner = self.clone();
            async move { runner.consume().await }
        })
        .await
    }

    async fn consume(&self) -> anyhow::Result<()> {
        let stream = self.bus.ensure_stream(&self.js).await?;
        let name = self.group.consumer();
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: self.bus.filter(self.group.aggregate_types()),
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
                    for projection in self.group.members() {
                        self.park(projection.as_ref(), &message, None, error.clone())
                            .await?;
                    }
                    ack(&message, AckKind::Ack).await?;
                }
            }
        }
        match self.apply_committed(self.group.members(), &events).await {
            Ok(()) => {
                for projection in self.group.members() {
                    applied(projection.as_ref(), &events);
                }
                for message in carriers {
                    ack(&message, AckKind::Ack).await?;
                }
            }
            Err(error) if error.is_transient() => {
                tracing::warn!(read_models = %self.group.consumer(), error = %Redacted(&error), "database unavailable; the batch will be redelivered");
                for message in &carriers {
                    self.redeliver(message).await?;
                }
            }
            // One event spoils the batch: find it, and the read model it fails in, by applying
            // the events one at a time to one read model at a time.
            Err(error) => {
                tracing::warn!(read_models = %self.group.consumer(), error = %Redacted(&error), "batch not applied; applying its events one by one");
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
            let mut outcome = Outcome::Done;
            for projection in self.group.members() {
                let member = self.apply_one(projection, message, event).await?;
                outcome = outcome.max(member);
                if outcome == Outcome::DatabaseDown {
                    break;
                }
            }
            match outcome {
                Outcome::Done => ack(message, AckKind::Ack).await?,
                // Read models that applied it skip it when it comes again.
                Outcome::Again => self.redeliver(message).await?,
                Outcome::DatabaseDown => {
                    self.redeliver(message).await?;
                    break;
                }
            }
        }
        // After a transient failure the rest wait for the database too.
        for (message, _) in pending {
            self.redeliver(message).await?;
        }
        Ok(())
    }

    /// Applies one event to one read model in a transaction of its own, or parks it in that read
    /// model's dead letters once it has failed there often enough.
    async fn apply_one(
        &self,
        projection: &Arc<dyn Projection>,
        message: &Message,
        event: &RecordedEvent,
    ) -> anyhow::Result<Outcome> {
        let error = match self
            .apply_committed(
                std::slice::from_ref(projection),
                std::slice::from_ref(event),
            )
            .await
        {
            Ok(()) => {
                applied(projection.as_ref(), std::slice::from_ref(event));
                return Ok(Outcome::Done);
            }
            Err(error) if error.is_transient() => return Ok(Outcome::DatabaseDown),
            Err(error) => error,
        };
        let projection = projection.as_ref();
        let deliveries = message.info().map(|i| i.delivered).unwrap_or(1);
        // A gap is normal while an earlier event is being redelivered; it is parked only behind
        // an earlier event of the same aggregate that was parked itself.
        let park = match &error {
            ProjectionError::OutOfOrder { .. } => {
                let mut conn = self.pool.acquire().await?;
                dead_letters::blocks(
                    &mut conn,
                    projection.name(),
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
            self.park(projection, message, Some(event), error).await?;
            Ok(Outcome::Done)
        } else {
            tracing::warn!(read_model = projection.name(), event = %event.event_id, deliveries, error, "event not applied; it will be redelivered");
            Ok(Outcome::Again)
        }
    }

    async fn apply_committed(
        &self,
        projections: &[Arc<dyn Projection>],
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        apply_batch(&mut tx, &self.keys, projections, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn redeliver(&self, message: &Message) -> anyhow::Result<()> {
        for projection in self.group.members() {
            metrics::counter!("supportd_projection_redeliveries_total", "projection" => projection.name())
                .increment(1);
        }
        ack(message, AckKind::Nak(Some(REDELIVERY_DELAY))).await
    }

    /// Parks a message in a read model's dead letters: it carries on without it.
    async fn park(
        &self,
        projection: &dyn Projection,
        message: &Message,
        event: Option<&RecordedEvent>,
        error: String,
    ) -> anyhow::Result<()> {
        let name = projection.name();
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
        Ok(())
    }
}

/// What became of one event in one read model, ordered by what it asks of the message: a
/// message gets the worst of its read models'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Applied, or parked.
    Done,
    /// Failed, not often enough to park: delivered again.
    Again,
    /// The database is unavailable: this message and the rest are delivered again.
    DatabaseDown,
}

fn applied(projection: &dyn Projection, events: &[RecordedEvent]) {
    let name = projection.name();
    metrics::counter!("supportd_events_projected_total", "projection" => name)
        .increment(events.len() as u64);
    let lag = metrics::histogram!("supportd_projection_lag_seconds", "projection" => name);
    let now = Utc::now();
    for event in events {
        lag.record((now - event.occurred_at).as_seconds_f64().max(0.0));
    }
}

async fn ack(message: &Message, kind: AckKind) -> anyhow::Result<()> {
    message.ack_with(kind).await.map_err(|e| anyhow::anyhow!(e))
}
