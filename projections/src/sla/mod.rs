//! The SLA read models: the policies, the timers, and the active policies as a command matches
//! them.

pub mod policies;
pub mod report;
pub mod timers;
