//! The JetStream stream the events travel on, and how they are named there.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// Where events are published. Tests give each run its own stream and subject prefix.
#[derive(Debug, Clone)]
pub struct Bus {
    pub stream: String,
    /// Subjects are `<prefix>.<aggregate>.<EventType>`.
    pub subject_prefix: String,
    /// How long the stream keeps events; `None` keeps them for good.
    pub max_age: Option<Duration>,
    /// How long a projection runner has to acknowledge a message before it is redelivered.
    pub ack_wait: Duration,
    /// How many deliveries an event that keeps failing gets before it is parked as a dead letter.
    pub max_deliveries: i64,
}

impl Default for Bus {
    fn default() -> Self {
        Self {
            stream: "SUPPORT_EVENTS".to_owned(),
            subject_prefix: "support.events".to_owned(),
            max_age: None,
            ack_wait: Duration::from_secs(30),
            max_deliveries: 5,
        }
    }
}

impl Bus {
    pub fn subject(&self, aggregate_type: &str, event_type: &str) -> String {
        format!("{}.{aggregate_type}.{event_type}", self.subject_prefix)
    }

    /// The subjects a consumer of these aggregate types reads. NATS 2.9 gives a consumer one
    /// filter subject, so a view over several aggregates reads every event and the projection
    /// framework passes it only those it reads.
    pub fn filter(&self, aggregate_types: &[&str]) -> String {
        match aggregate_types {
            [one] => format!("{}.{one}.>", self.subject_prefix),
            _ => format!("{}.>", self.subject_prefix),
        }
    }

    pub async fn ensure_stream(&self, js: &jetstream::Context) -> anyhow::Result<stream::Stream> {
        let stream = js
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![format!("{}.>", self.subject_prefix)],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                max_age: self.max_age.unwrap_or_default(),
                ..Default::default()
            })
            .await?;
        Ok(stream)
    }
}

/// A NATS client that keeps reconnecting for as long as the process runs, and its JetStream.
pub async fn connect(url: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(url)
        .await?;
    Ok(jetstream::new(client))
}
