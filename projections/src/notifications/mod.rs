//! Notifications: the webhook endpoints as the API lists them, the planner that turns events
//! into deliveries, the delivery log, and the in-app inbox.

pub mod deliveries;
pub mod endpoints;
pub mod inbox;
pub mod notices;
pub mod planner;
