use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, VariantAccess,
    Visitor,
};
use serde::{forward_to_deserialize_any, Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{Actor, ActorRole};

/// Implements `cqrs_es::DomainEvent` for an aggregate's event enum: its type is its `name()`, its
/// version the enum's `VERSION`.
macro_rules! domain_event {
    ($event:ty) => {
        impl cqrs_es::DomainEvent for $event {
            fn event_type(&self) -> String {
                self.name().to_owned()
            }

            fn event_version(&self) -> String {
                Self::VERSION.to_owned()
            }
        }
    };
}
pub(crate) use domain_event;

/// Implements `PersonalData` for an aggregate's event enum that carries none: the desk's own
/// configuration or writing.
macro_rules! without_personal_data {
    ($event:ty) => {
        impl $crate::PersonalData for $event {
            fn personal_fields(&self) -> &'static [&'static str] {
                &[]
            }

            fn data_subject(&self) -> Option<&str> {
                None
            }

            fn erases_personal_data(&self) -> bool {
                false
            }
        }
    };
}
pub(crate) use without_personal_data;

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

/// Reads an event enum, externally tagged as the store writes it (`{"TicketOpened": {...}}`), back
/// from its type and payload, which the store and the bus hold apart. It reads the payload where it
/// lies: putting it under its tag first would copy the whole tree, for every event a replay reads.
pub fn decode_event<E: DeserializeOwned>(
    event_type: &str,
    payload: &Value,
) -> serde_json::Result<E> {
    E::deserialize(Tagged {
        tag: event_type,
        payload,
    })
}

/// An event's type and payload, read as the one-entry map that tags it.
struct Tagged<'a> {
    tag: &'a str,
    payload: &'a Value,
}

impl<'de> Deserializer<'de> for Tagged<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> serde_json::Result<V::Value> {
        visitor.visit_enum(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

impl<'de> EnumAccess<'de> for Tagged<'de> {
    type Error = serde_json::Error;
    type Variant = Payload<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> serde_json::Result<(V::Value, Self::Variant)> {
        let variant = seed.deserialize(self.tag.into_deserializer())?;
        Ok((variant, Payload(self.payload)))
    }
}

struct Payload<'a>(&'a Value);

impl<'de> VariantAccess<'de> for Payload<'de> {
    type Error = serde_json::Error;

    fn unit_variant(self) -> serde_json::Result<()> {
        <()>::deserialize(self.0)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> serde_json::Result<T::Value> {
        seed.deserialize(self.0)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        self.0.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        self.0.deserialize_struct("", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Sample {
        Opened { title: String, tags: Vec<String> },
        Renamed(String),
        Moved(u32, u32),
        Closed,
    }

    #[test]
    fn an_event_reads_back_from_its_type_and_payload_as_from_its_tagged_form() {
        let samples = [
            Sample::Opened {
                title: "Login fails".into(),
                tags: vec!["sso".into()],
            },
            Sample::Renamed("Login fails on SSO".into()),
            Sample::Moved(1, 2),
            Sample::Closed,
        ];
        for sample in samples {
            let tagged = serde_json::to_value(&sample).unwrap();
            let (event_type, payload) = match &tagged {
                Value::Object(map) => map.iter().next().unwrap(),
                // A unit variant is stored as its name alone, with no payload.
                Value::String(name) => (name, &Value::Null),
                other => panic!("{other}"),
            };
            assert_eq!(decode_event::<Sample>(event_type, payload).unwrap(), sample);
        }
    }

    #[test]
    fn an_unknown_type_or_a_payload_of_the_wrong_shape_is_an_error_that_says_so() {
        let unknown = decode_event::<Sample>("Reopened", &json!({})).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown variant `Reopened`"),
            "{unknown}"
        );
        let missing = decode_event::<Sample>("Opened", &json!({"title": "x"})).unwrap_err();
        assert!(
            missing.to_string().contains("missing field `tags`"),
            "{missing}"
        );
        let wrong = decode_event::<Sample>("Renamed", &json!(7)).unwrap_err();
        assert!(wrong.to_string().contains("invalid type"), "{wrong}");
        assert!(decode_event::<Sample>("Closed", &json!({"x": 1})).is_err());
    }
}
