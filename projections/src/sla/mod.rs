//! The SLA read models.

pub mod book;
pub mod report;
pub mod timers;
