//! What kind of refusal a domain error is, so that one mapping turns the errors of every aggregate
//! into HTTP answers.

use crate::FieldErrors;

/// The kind of a domain error, with the data a client needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The thing does not exist, or the caller may not know that it does.
    NotFound {
        resource: &'static str,
    },
    Forbidden,
    /// One request field is wrong, named as the request spells it.
    InvalidField {
        field: &'static str,
    },
    /// Fields that are wrong only together with the aggregate's state (a partial update that no
    /// longer fits the rest), each named as the request spells it, all at once.
    InvalidFields(FieldErrors),
    /// The current state does not allow it; `allowed_statuses` lists where it may go instead.
    Conflict {
        allowed_statuses: Option<Vec<&'static str>>,
    },
}

/// Implemented by every aggregate's error type.
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    fn refusal(&self) -> Refusal;
}
