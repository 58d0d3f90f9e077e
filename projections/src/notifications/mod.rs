//! Notifications: the webhook endpoints as the API lists them, the planner that turns events
//! into deliveries, and the delivery log.

pub mod deliveries;
pub mod endpoints;
pub mod planner;
