//! The read models of the support desk: how each event lands in SQL (idempotently, guarded by the
//! aggregate's sequence) and the query functions the API reads them with.

pub mod alerts;
pub mod analytics;
pub mod audit;
mod copy_rows;
pub mod dead_letters;
pub mod escalation;
pub mod event_log;
#[cfg(test)]
mod explain;
mod grain;
pub mod incidents;
pub mod kb;
pub mod notification_preferences;
pub mod notifications;
pub mod nps;
pub mod page;
pub mod personal_data;
pub mod projection;
pub mod read_model;
mod rebuild;
pub mod redact;
pub mod schema;
pub mod sla;
pub mod status_page;
pub mod tickets;

use support_domain::RecordedEvent;

pub use projection::{standard, Projection, Projections};
pub use read_model::{apply_batch, replay};
pub use redact::Redacted;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Unwritable(#[from] copy_rows::Unwritable),
    #[error("event {event} cannot be read: {reason}")]
    Undecodable { event: String, reason: String },
    /// An event arrived before one it follows; the batch is retried once the earlier one is in.
    #[error(
        "{aggregate} {id} is at version {current:?}, so event {sequence} cannot be applied yet"
    )]
    OutOfOrder {
        aggregate: String,
        id: String,
        current: Option<i64>,
        sequence: i64,
    },
}

impl ProjectionError {
    /// Whether the database was unreachable (down, restarting, out of connections): retried
    /// without end, never counted against the event.
    pub fn is_transient(&self) -> bool {
        match self {
            // Class 40: a serialization failure or deadlock, gone on the next try.
            ProjectionError::Database(error) => {
                database_unavailable(error)
                    || error
                        .as_database_error()
                        .and_then(|e| e.code())
                        .is_some_and(|c| c.starts_with("40"))
            }
            _ => false,
        }
    }

    /// The reason is logged and kept in the dead letters: pass an error as `Redacted(&error)`, as
    /// a serde error's message can quote a personal field of the event.
    pub fn undecodable(event: &str, reason: impl std::fmt::Display) -> Self {
        Self::Undecodable {
            event: event.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// An event that changes a row the read model does not hold. The framework hands over an
    /// aggregate's events in order from the one that creates its row, so the read model lost the
    /// row: an error, never a silent skip.
    pub fn missing_row(event: &RecordedEvent) -> Self {
        Self::OutOfOrder {
            aggregate: event.aggregate_type.clone(),
            id: event.aggregate_id.clone(),
            current: None,
            sequence: event.sequence,
        }
    }

    /// `Ok` when a statement changed the one row of `event`'s aggregate, else `missing_row`.
    pub fn expect_one_row(
        done: sqlx::postgres::PgQueryResult,
        event: &RecordedEvent,
    ) -> Result<(), Self> {
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(Self::missing_row(event))
        }
    }

    /// `undecodable` for a recorded event, named by its message id (formatted only on failure).
    pub fn undecodable_event(event: &RecordedEvent, reason: impl std::fmt::Display) -> Self {
        Self::undecodable(
            &RecordedEvent::message_id(&event.aggregate_type, &event.aggregate_id, event.sequence),
            reason,
        )
    }
}

/// Whether the database is down or restarting, rather than a statement being wrong.
pub fn database_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        // Class 08: connection exception; class 57: operator intervention (shutdown, restart).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57")),
        _ => false,
    }
}
