use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Actor, ActorRole};

/// The metadata every event carries; the audit trail reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMetadata {
    pub actor_sub: String,
    pub actor_role: ActorRole,
    pub request_id: String,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// `api`, `worker` or `import`.
    pub source: String,
}

impl EventMetadata {
    pub fn actor(&self) -> Actor {
        Actor {
            sub: self.actor_sub.clone(),
            role: self.actor_role,
        }
    }

    /// The string map cqrs-es stores beside each event.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            ("actorSub".to_owned(), self.actor_sub.clone()),
            ("actorRole".to_owned(), self.actor_role.as_str().to_owned()),
            ("requestId".to_owned(), self.request_id.clone()),
            ("correlationId".to_owned(), self.correlation_id.clone()),
            ("occurredAt".to_owned(), self.occurred_at.to_rfc3339()),
            ("source".to_owned(), self.source.clone()),
        ]);
        if let Some(causation) = &self.causation_id {
            map.insert("causationId".to_owned(), causation.clone());
        }
        map
    }
}

/// An event as the event store holds it and the bus carries it: the envelope downstream consumers
/// read (see docs/events.md). `payload` is the event's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub global_position: i64,
    pub event_type: String,
    pub event_version: String,
    pub occurred_at: DateTime<Utc>,
    pub metadata: EventMetadata,
    pub payload: serde_json::Value,
}

impl RecordedEvent {
    /// The id JetStream dedupes on; the same event always gets the same one.
    pub fn message_id(aggregate_type: &str, aggregate_id: &str, sequence: i64) -> String {
        format!("{aggregate_type}:{aggregate_id}:{sequence}")
    }

    /// A stable event id derived from the message id, so a re-published event keeps its id.
    pub fn derive_event_id(aggregate_type: &str, aggregate_id: &str, sequence: i64) -> Uuid {
        Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            Self::message_id(aggregate_type, aggregate_id, sequence).as_bytes(),
        )
    }
}
