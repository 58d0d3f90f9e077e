//! The write model of the support desk. It decides which events a command causes and nothing else:
//! no database, no network, no clock (time arrives with the command's metadata).

pub mod actor;
pub mod alert;
pub mod escalation;
pub mod field;
pub mod incident;
pub mod kb;
pub mod notification;
pub mod nps;
pub mod personal_data;
pub mod recorded;
pub mod refusal;
pub mod sla;
pub mod status_page;
pub mod ticket;
pub mod webhook;

pub use actor::{Actor, ActorRole, Caller};
pub use field::{FieldError, FieldErrors, NUL_REFUSED};
pub use personal_data::{PersonalData, ERASED, SECRET, SECRET_FIELDS};
pub use recorded::{EventMetadata, RecordedEvent};
pub use refusal::{DomainError, Refusal};
