//! The SLA read models.

pub mod book;
pub mod timers;
