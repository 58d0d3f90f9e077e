//! The read models of the support desk: how each event lands in SQL (idempotently, guarded by the
//! aggregate's sequence) and the query functions the API reads them with.

pub mod event_log;
pub mod page;
pub mod read_model;
pub mod schema;
pub mod tickets;

pub use read_model::{apply_batch, replay, ReadModel};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("event {event} cannot be read: {reason}")]
    Undecodable { event: String, reason: String },
    /// An event arrived before one it follows; the batch is retried once the earlier one is in.
    #[error(
        "{aggregate} {id} is at version {current:?}, so event {sequence} cannot be applied yet"
    )]
    OutOfOrder {
        aggregate: &'static str,
        id: String,
        current: Option<i64>,
        sequence: i64,
    },
}

impl ProjectionError {
    pub fn undecodable(event: &str, reason: impl std::fmt::Display) -> Self {
        Self::Undecodable {
            event: event.to_owned(),
            reason: reason.to_string(),
        }
    }
}
