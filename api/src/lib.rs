//! The support desk service: the REST API, its auth and errors, and the `supportd` command line.

pub mod audit;
pub mod auth;
pub mod bench;
pub mod clock;
pub mod commands;
pub mod database;
pub mod dead_letters;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod jwks;
pub mod numbering;
pub mod openapi;
pub mod personal_data;
pub mod problem;
pub mod rate_limit;
pub mod read_your_writes;
pub mod retention;
pub mod settings;
pub mod sla_policies;
pub mod sla_report;
pub mod sla_timer;
pub mod sla_what_if;
pub mod startup;
pub mod telemetry;
pub mod tickets;
