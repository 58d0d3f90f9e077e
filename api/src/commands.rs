//! The one command path every aggregate goes through: metadata from the caller with one clock
//! read, the aggregate's decision committed by cqrs-es, a lost race mapped to 409, and an answer
//! that shows the read model after the command's events were applied (or 202 if they were not
//! within the wait bound).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, CqrsFramework};
use postgres_es::PostgresEventRepository;
use serde::Serialize;
use support_domain::{DomainError, EventMetadata};
use support_projections::event_log::{stream_head, StreamHead};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::problem::ApiError;
use crate::startup::ApiContext;

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

/// A command's events are committed: where its aggregate's stream stood afterwards, if that could
/// be read.
pub struct Committed {
    pub aggregate_type: &'static str,
    pub id: Uuid,
    pub head: Option<StreamHead>,
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
    /// to know of the time (a ticket number's day) comes from `occurred_at`.
    pub fn metadata(&self, principal: &Principal, ids: &RequestIds) -> EventMetadata {
        EventMetadata {
            actor_sub: principal.sub.clone(),
            actor_role: principal.role,
            request_id: ids.request_id.clone(),
            correlation_id: ids.correlation_id.clone(),
            causation_id: None,
            occurred_at: self.clock.now(),
            source: "api".to_owned(),
        }
    }

    /// Runs one command on aggregate `id` of type `A` and commits its events.
    pub async fn execute<A>(
        &self,
        id: Uuid,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed, ApiError>
    where
        A: Aggregate,
        A::Error: DomainError,
        A::Services: Default,
    {
        let store =
            PersistedEventStore::new_event_store(PostgresEventRepository::new(self.pool.clone()));
        let framework = CqrsFramework::<A, _>::new(store, vec![], A::Services::default());
        let aggregate_id = id.to_string();
        let started = std::time::Instant::now();
        let outcome = framework
            .execute_with_metadata(&aggregate_id, command, metadata.to_map())
            .await;
        metrics::histogram!(
            "supportd_command_duration_seconds",
            "aggregate" => A::TYPE,
            "outcome" => if outcome.is_ok() { "committed" } else { "refused" },
        )
        .record(started.elapsed().as_secs_f64());
        outcome?;
        // Committed: a failure to read the head now only costs the caller the read-your-writes
        // wait, never a failed answer (a client would retry a command that took effect).
        let head = match stream_head(&self.pool, A::TYPE, &aggregate_id).await {
            Ok(head) => head,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the stream head of a committed command");
                None
            }
        };
        Ok(Committed {
            aggregate_type: A::TYPE,
            id,
            head,
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
                    tracing::warn!(error = %error, "cannot read back a committed command");
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
