//! Configuration from the environment, with defaults that work where PostgreSQL and NATS run
//! locally.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use support_workers::Bus;

use crate::clock::{Clock, SystemClock};
use crate::rate_limit::RateLimits;

pub const DEVELOPMENT_JWT_SECRET: &str = "supportd-development-secret-do-not-use-in-production";

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub nats_url: String,
    pub bind: SocketAddr,
    /// Where a workers-only process serves health, readiness and metrics.
    pub worker_bind: SocketAddr,
    pub jwt_secret: String,
    pub bus: Bus,
    /// How long a command's response waits for the read model to show it.
    pub read_timeout: Duration,
    pub clock: Arc<dyn Clock>,
    /// Requests a minute each caller of the support API may make, by role.
    pub rate_limits: RateLimits,
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let jwt_secret = match std::env::var("SUPPORTD_JWT_SECRET") {
            Ok(secret) if !secret.is_empty() => secret,
            _ => {
                tracing::warn!(
                    "SUPPORTD_JWT_SECRET is not set: using the DEVELOPMENT secret. Anyone can mint \
                     tokens for this service. Set SUPPORTD_JWT_SECRET before exposing it."
                );
                DEVELOPMENT_JWT_SECRET.to_owned()
            }
        };
        let read_timeout_ms: u64 = var("SUPPORTD_READ_TIMEOUT_MS", "5000")
            .parse()
            .context("SUPPORTD_READ_TIMEOUT_MS must be a number of milliseconds")?;
        let ack_wait_ms: u64 = var("SUPPORTD_ACK_WAIT_MS", "30000")
            .parse()
            .context("SUPPORTD_ACK_WAIT_MS must be a number of milliseconds")?;
        let max_deliveries: i64 = var("SUPPORTD_MAX_DELIVERIES", "5")
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .context("SUPPORTD_MAX_DELIVERIES must be a whole number, 1 or more")?;
        Ok(Self {
            database_url: var("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/support"),
            nats_url: var("NATS_URL", "nats://127.0.0.1:4222"),
            bind: var("SUPPORTD_BIND", "127.0.0.1:3000")
                .parse()
                .context("SUPPORTD_BIND must be host:port")?,
            worker_bind: var("SUPPORTD_WORKER_BIND", "127.0.0.1:3001")
                .parse()
                .context("SUPPORTD_WORKER_BIND must be host:port")?,
            jwt_secret,
            bus: Bus {
                stream: var("SUPPORTD_STREAM", "SUPPORT_EVENTS"),
                subject_prefix: var("SUPPORTD_SUBJECT_PREFIX", "support.events"),
                max_age: None,
                ack_wait: Duration::from_millis(ack_wait_ms),
                max_deliveries,
            },
            read_timeout: Duration::from_millis(read_timeout_ms),
            clock: Arc::new(SystemClock),
            rate_limits: RateLimits::from_env()?,
        })
    }
}
