//! The notifier: delivers what the notification planner recorded, through the channels.

pub mod channel;
