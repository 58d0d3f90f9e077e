//! The notifier: delivers what the notification planner recorded, through the channels.

pub mod channel;
pub mod email;
pub mod sms;
pub mod ticket_message;
