//! The long-running loops of the support desk and what they share: the outbox relay that
//! publishes the event store to JetStream, and the runners that build read models from it.

pub mod bus;
pub mod projection_runner;
pub mod relay;
pub mod supervise;
pub mod telemetry;

pub use bus::Bus;
pub use projection_runner::ProjectionRunner;
pub use relay::Relay;
