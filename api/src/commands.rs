//! The one command path every aggregate goes through: metadata from the caller with one clock
//! read, the aggregate's decision committed by cqrs-es, a lost race mapped to 409, and an answer
//! that shows the read model after the command's events were applied (or 202 if they were not
//! within the wait bound).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope};
use serde::Serialize;
use sqlx::PgPool;
use support_domain::recorded::decode_event;
use support_domain::{ActorRole, DomainError, EventMetadata, PersonalData};
use support_projections::event_log::{stream_head, StreamHead};
use support_projections::personal_data::{field_binding, open_fields, DataKey, DataKeys};
use support_projections::Redacted;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::problem::ApiError;
use crate::startup::ApiContext;

/// An aggregate the command path runs: its refusals say what kind they are, its events name their
/// personal fields, and it needs no services but their defaults.
pub trait CommandAggregate:
    Aggregate<Error: DomainError, Event: PersonalData, Services: Default>
{
}

impl<A: Aggregate<Error: DomainError, Event: PersonalData, Services: Default>> CommandAggregate
    for A
{
}

/// An aggregate as its events leave it, with the data key its personal fields are sealed with
/// (`None` if it has none yet, or no longer).
struct Loaded<A: Aggregate> {
    context: EventStoreAggregateContext<A>,
    key: Option<DataKey>,
}

/// The ids a request carries into the events it causes.
pub struct RequestIds {
    request_id: String,
    correlation_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestIds {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 200)
                .map(str::to_owned)
        };
        let request_id = header("x-request-id").unwrap_or_else(|| Uuid::new_v4().to_string());
        let correlation_id = header("x-correlation-id").unwrap_or_else(|| request_id.clone());
        Ok(Self {
            request_id,
            correlation_id,
        })
    }
}

/// A command's events are committed: where its aggregate's stream stood afterwards, if that is
/// known.
pub struct Committed {
    pub aggregate_type: &'static str,
    pub id: Uuid,
    pub head: Option<StreamHead>,
    /// Whether the command appended events; a command that changed nothing appends none.
    pub appended: bool,
}

/// The answer to a command whose effect the read model did not show within the wait bound.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandAccepted {
    pub id: Uuid,
    /// The aggregate version the command produced, when it could be read; a GET will show it
    /// shortly.
    pub version: Option<i64>,
}

impl ApiContext {
    /// The metadata of one command. The clock is read here, once: whatever else the command needs
    /// to know of the time (a ticket number's day) comes from `occurred_at`. Every command needs
    /// its metadata, so a read-only role is refused here whatever the handler checked.
    pub fn metadata(
        &self,
        principal: &Principal,
        ids: &RequestIds,
    ) -> Result<EventMetadata, ApiError> {
        if !principal.role.may_write() {
            return Err(ApiError::Forbidden(format!(
                "the {} role is read-only",
                principal.role.as_str()
            )));
        }
        Ok(EventMetadata {
            actor_sub: principal.sub.clone(),
            actor_role: principal.role,
            request_id: ids.request_id.clone(),
            correlation_id: ids.correlation_id.clone(),
            causation_id: None,
            occurred_at: self.now(),
            source: "api".to_owned(),
        })
    }

    /// The metadata of a command the service sends of its own accord, as `actor_sub` in the
    /// service role, rather than for a request.
    pub fn worker_metadata(&self, actor_sub: &str) -> EventMetadata {
        let id = Uuid::new_v4().to_string();
        EventMetadata {
            actor_sub: actor_sub.to_owned(),
            actor_role: ActorRole::Service,
            request_id: id.clone(),
            correlation_id: id,
            causation_id: None,
            occurred_at: self.now(),
            source: "worker".to_owned(),
        }
    }

    /// A command's time: one clock read. PostgreSQL keeps microseconds, and rounds text but
    /// truncates binary values: a time already in microseconds lands the same in live batches
    /// and in a replay.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }

    /// Runs one command on the existing aggregate `id` of type `A` and commits its events.
    pub async fn execute<A: CommandAggregate>(
        &self,
        id: Uuid,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed, ApiError> {
        let started = Instant::now();
        let loaded = load::<A>(&self.pool, &self.data_keys, &id.to_string()).await;
        self.decide(started, id, loaded, command, metadata).await
    }

    /// `execute` for a worker, which has no client to retry: a command that loses a race with
    /// another command on its aggregate (409) is tried again at once, `attempts` times in all.
    pub async fn execute_retrying<A: CommandAggregate>(
        &self,
        id: Uuid,
        command: A::Command,
        metadata: &EventMetadata,
        attempts: usize,
    ) -> Result<Committed, ApiError>
    where
        A::Command: Clone,
    {
        let mut attempt = 1;
        loop {
            match self.execute::<A>(id, command.clone(), metadata).await {
                Err(ApiError::Conflict { .. }) if attempt < attempts => attempt += 1,
                outcome => return outcome,
            }
        }
    }

    /// Runs the command that creates aggregate `id`, an id made for this command: it has no
    /// events, so none are read (a statement less per create; were the id taken after all, the
    /// append would find it and answer 409).
    pub async fn create<A: CommandAggregate>(
        &self,
        id: Uuid,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed, ApiError> {
        let fresh = Loaded {
            context: EventStoreAggregateContext {
                aggregate_id: id.to_string(),
                aggregate: A::default(),
                current_sequence: 0,
                current_snapshot: None,
            },
            key: None,
        };
        self.decide(Instant::now(), id, Ok(fresh), command, metadata)
            .await
    }

    /// The aggregate decides; its events are appended in one statement (one transaction, no
    /// BEGIN and COMMIT round trips), which also tells where the stream then stands.
    async fn decide<A: CommandAggregate>(
        &self,
        started: Instant,
        id: Uuid,
        loaded: Result<Loaded<A>, AggregateError<A::Error>>,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed, ApiError> {
        let outcome = async {
            let mut loaded = loaded?;
            let sink = EventSink::default();
            loaded
                .context
                .aggregate
                .handle(command, &A::Services::default(), &sink)
                .await
                .map_err(AggregateError::UserError)?;
            append(
                &self.pool,
                &self.data_keys,
                loaded,
                sink.collect().await,
                metadata,
            )
            .await
        }
        .await;
        metrics::histogram!(
            "supportd_command_duration_seconds",
            "aggregate" => A::TYPE,
            "outcome" => if outcome.is_ok() { "committed" } else { "refused" },
        )
        .record(started.elapsed().as_secs_f64());
        let appended = outcome?;
        let head = match appended {
            Some(head) => Some(head),
            // Nothing to append: the answer shows the stream where it already stands. Committed,
            // so a failure to read it only costs the caller the read-your-writes wait.
            None => stream_head(&self.pool, A::TYPE, &id.to_string())
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(error = %Redacted(&error), "cannot read the stream head of a command");
                    None
                }),
        };
        Ok(Committed {
            aggregate_type: A::TYPE,
            id,
            head,
            appended: appended.is_some(),
        })
    }

    /// Answers a committed command with `read()`, once `projection` shows the command's events;
    /// `202` with the id and version if it did not within the wait bound.
    pub async fn answer<T, F, Fut>(
        &self,
        status: StatusCode,
        location: String,
        committed: Committed,
        projection: &'static str,
        read: F,
    ) -> Response
    where
        T: Serialize,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
    {
        let shown = match committed.head {
            Some(head) => self
                .checkpoints
                .wait_until(
                    projection,
                    committed.aggregate_type,
                    &committed.id.to_string(),
                    head,
                    read,
                )
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(error = %Redacted(error.as_ref()), "cannot read back a committed command");
                    None
                }),
            None => None,
        };
        match shown {
            Some(view) => (status, [(header::LOCATION, location)], Json(view)).into_response(),
            None => {
                let accepted = CommandAccepted {
                    id: committed.id,
                    version: committed.head.map(|h| h.sequence),
                };
                (
                    StatusCode::ACCEPTED,
                    [(header::LOCATION, location)],
                    Json(accepted),
                )
                    .into_response()
            }
        }
    }
}

/// Reads aggregate `id` of type `A` from its events, in one statement with its data key, and
/// opens their personal fields.
async fn load<A: CommandAggregate>(
    pool: &PgPool,
    keys: &DataKeys,
    id: &str,
) -> Result<Loaded<A>, AggregateError<A::Error>> {
    // Errors stay typed, not text: the API answers an unreachable database with 503 by its type,
    // and logs a serde error (which can quote an opened personal field) by its kind only.
    let unknown = |e: Box<dyn std::error::Error + Send + Sync>| AggregateError::UnexpectedError(e);
    let rows: Vec<(i64, String, serde_json::Value, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT e.sequence, e.event_type, e.payload, k.sealed_key FROM events e \
         LEFT JOIN data_keys k ON k.aggregate_type = e.aggregate_type \
             AND k.aggregate_id = e.aggregate_id \
         WHERE e.aggregate_type = $1 AND e.aggregate_id = $2 ORDER BY e.sequence",
    )
    .bind(A::TYPE)
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(|e| unknown(e.into()))?;
    let key = match rows.first().and_then(|row| row.3.as_deref()) {
        Some(sealed) => Some(
            keys.unseal(A::TYPE, id, sealed)
                .map_err(|e| unknown(e.into()))?,
        ),
        None => None,
    };
    let binding = field_binding(A::TYPE, id);
    let mut context = EventStoreAggregateContext {
        aggregate_id: id.to_owned(),
        aggregate: A::default(),
        current_sequence: 0,
        current_snapshot: None,
    };
    for (sequence, event_type, stored, _) in rows {
        // The store keeps postgres-es's externally tagged form: `{"<type>": {...}}`.
        let mut payload = match stored {
            serde_json::Value::Object(mut tagged) => tagged.remove(&event_type),
            _ => None,
        }
        .ok_or_else(|| {
            unknown(format!("event {sequence} of {id} is not tagged with its type").into())
        })?;
        open_fields(key.as_ref(), &binding, &mut payload).map_err(|e| unknown(e.into()))?;
        let event: A::Event = decode_event(&event_type, &payload).map_err(|e| unknown(e.into()))?;
        context.aggregate.apply(event);
        context.current_sequence = sequence as usize;
    }
    Ok(Loaded { context, key })
}

/// Appends a command's events after the aggregate's `current_sequence`, in the format postgres-es
/// records and reads, and returns the new head; `None` if there were no events. Personal fields
/// are sealed with the aggregate's data key, made in the same statement when it has none; an
/// erasure destroys the key in the same statement. A concurrent command that appended first makes
/// the sequences collide: 409.
async fn append<A: CommandAggregate>(
    pool: &PgPool,
    keys: &DataKeys,
    loaded: Loaded<A>,
    events: Vec<A::Event>,
    metadata: &EventMetadata,
) -> Result<Option<StreamHead>, AggregateError<A::Error>> {
    if events.is_empty() {
        return Ok(None);
    }
    let Loaded { context, key } = loaded;
    let id = context.aggregate_id.as_str();
    let personal = events.iter().any(|e| !e.personal_fields().is_empty());
    let (key, new_key) = match key {
        Some(key) => (Some(key), None),
        None if personal => {
            let new = keys.generate(A::TYPE, id);
            (Some(new.key), Some(new.sealed))
        }
        None => (None, None),
    };
    let subject = events
        .iter()
        .find_map(|e| e.data_subject().map(str::to_owned));
    let erases = events.iter().any(|e| e.erases_personal_data());
    let map = metadata.to_map();
    let count = events.len();
    let (mut sequences, mut types, mut versions, mut payloads, mut metadatas) = (
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
    );
    for (offset, payload) in events.into_iter().enumerate() {
        let fields = payload.personal_fields();
        let envelope = EventEnvelope::<A> {
            aggregate_id: context.aggregate_id.clone(),
            sequence: context.current_sequence + offset + 1,
            payload,
            metadata: map.clone(),
        };
        let mut event = SerializedEvent::try_from(&envelope)?;
        if let (Some(key), false) = (&key, fields.is_empty()) {
            let own = event
                .payload
                .get_mut(&event.event_type)
                .expect("postgres-es tags each payload with its type");
            key.seal_fields(A::TYPE, id, own, fields);
        }
        sequences.push(event.sequence as i64);
        types.push(event.event_type);
        versions.push(event.event_version);
        payloads.push(event.payload);
        metadatas.push(event.metadata);
    }
    // Statements of a WITH all run, on one snapshot, in the statement's one transaction: the key
    // exists exactly when the events that need it do, and is gone exactly when the erasure is
    // recorded.
    let heads: Vec<(i64, i64)> = sqlx::query_as(
        "WITH new_key AS ( \
             INSERT INTO data_keys (aggregate_type, aggregate_id, customer_id, sealed_key, created_at) \
             SELECT $1, $2, $8, $9, $10 WHERE $9::bytea IS NOT NULL \
             ON CONFLICT (aggregate_type, aggregate_id) DO NOTHING), \
         destroyed AS ( \
             DELETE FROM data_keys WHERE $11 AND aggregate_type = $1 AND aggregate_id = $2) \
         INSERT INTO events \
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[]) \
         RETURNING sequence, global_position",
    )
    .bind(A::TYPE)
    .bind(id)
    .bind(&sequences)
    .bind(&types)
    .bind(&versions)
    .bind(&payloads)
    .bind(&metadatas)
    .bind(subject)
    .bind(new_key)
    .bind(metadata.occurred_at)
    .bind(erases)
    .fetch_all(pool)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            PersistenceError::OptimisticLockError
        }
        _ => PersistenceError::UnknownError(Box::new(error)),
    })?;
    Ok(heads
        .into_iter()
        .max()
        .map(|(sequence, global_position)| StreamHead {
            sequence,
            global_position,
        }))
}
