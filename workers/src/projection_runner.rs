//! Builds one read model from the bus: one durable consumer, batches applied in one transaction,
//! acknowledged only after the commit.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, AckKind, Message};
use futures::StreamExt;
use sqlx::PgPool;
use support_domain::RecordedEvent;
use support_projections::{apply_batch, ReadModel};

use crate::{counters, Bus};

pub struct ProjectionRunner {
    pool: PgPool,
    js: jetstream::Context,
    bus: Bus,
    model: ReadModel,
    batch_size: usize,
}

impl ProjectionRunner {
    pub fn new(pool: PgPool, js: jetstream::Context, bus: Bus, model: ReadModel) -> Self {
        Self {
            pool,
            js,
            bus,
            model,
            batch_size: 500,
        }
    }

    /// Runs until the process ends, reconnecting after any failure of NATS.
    pub async fn run(self) {
        loop {
            if let Err(error) = self.consume().await {
                tracing::warn!(read_model = self.model.name(), error = %error, "projection consumer stopped; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn consume(&self) -> anyhow::Result<()> {
        let stream = self.bus.ensure_stream(&self.js).await?;
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                self.model.name(),
                pull::Config {
                    durable_name: Some(self.model.name().to_owned()),
                    filter_subject: self.bus.aggregate_filter(self.model.aggregate_type()),
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
        let mut projectable = Vec::with_capacity(messages.len());
        for message in messages {
            match serde_json::from_slice::<RecordedEvent>(&message.payload) {
                Ok(event) => {
                    events.push(event);
                    projectable.push(message);
                }
                Err(error) => {
                    // Not an event envelope at all: no retry can make it one.
                    tracing::error!(subject = %message.subject, error = %error, "dropping a message that is not an event envelope");
                    message
                        .ack_with(AckKind::Term)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?;
                }
            }
        }
        let mut tx = self.pool.begin().await?;
        let applied = apply_batch(&mut tx, self.model, &events).await;
        let outcome = match applied {
            Ok(()) => tx.commit().await.map_err(anyhow::Error::from),
            Err(error) => Err(error.into()),
        };
        match outcome {
            Ok(()) => {
                counters::add(&counters::EVENTS_PROJECTED, projectable.len());
                for message in projectable {
                    message.ack().await.map_err(|e| anyhow::anyhow!(e))?;
                }
            }
            Err(error) => {
                counters::add(&counters::PROJECTION_BATCHES_FAILED, 1);
                tracing::warn!(read_model = self.model.name(), error = %error, "batch not applied; it will be redelivered");
                for message in projectable {
                    message
                        .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?;
                }
            }
        }
        Ok(())
    }
}
