//! The notifier: delivers what the notification planner recorded, through the channels. It
//! sleeps until the earliest due delivery, or until the planner announces an earlier one, leases
//! the due rows (claimed with `FOR UPDATE SKIP LOCKED` and committed at once, so workers side by
//! side share the work and no lock is held while sending), reads each event again from the store
//! with its personal fields opened (or erased), hands it to its channel, records the attempt,
//! and applies one retry rule to whatever the channel answered, for every channel.
//!
//! A crash between a send and its record leaves the lease to run out and the delivery to be sent
//! again: the receiver gets it at least once, with the same id (`webhook-id`) to drop a repeat by.

pub mod channel;
pub mod email;
pub mod in_app;
pub mod message;
pub mod sms;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use futures::stream::{self, StreamExt};
use support_domain::notification::{NotificationChannel, NotificationKind};
use support_domain::ticket::Reason;
use support_domain::webhook::{DisableWebhookEndpoint, WebhookEndpoint, WebhookEndpointCommand};
use support_domain::{Caller, EventMetadata, RecordedEvent};
use support_projections::event_log::{recorded_event, EVENT_COLUMNS};
use support_projections::notifications::planner::DELIVERIES_CHANNEL;
use support_projections::Redacted;
use support_workers::supervise::supervise;
use uuid::Uuid;

use crate::due_passes;
use crate::problem::ApiError;
use crate::startup::ApiContext;
use channel::{Channel, Notification, Outcome};

/// Who the notifier's commands are recorded as.
pub const NOTIFIER_ACTOR: &str = "notifier";
/// Rows claimed in one pass, and sent this many at once.
const BATCH: i64 = 64;
const IN_FLIGHT: usize = 16;
/// How long a claimed row is the claimer's: well past the longest send, so that only a worker
/// that died lets it go to another.
const LEASE: TimeDelta = TimeDelta::minutes(5);
/// A command that loses a race with another command on its endpoint is tried again at once.
const COMMAND_ATTEMPTS: usize = 5;

/// The retry rule, the same for every channel: after the n-th failed attempt of a series, wait
/// 30 s doubled n-1 times, at most 6 h, plus up to a quarter more at random (so receivers that
/// failed together are not retried together); give up after 13 attempts, about 20 hours after
/// the first. A `Retry-After` is heeded as given, up to the same 6 h.
pub mod retry {
    use std::time::Duration;

    use chrono::TimeDelta;

    pub const FIRST_DELAY: TimeDelta = TimeDelta::seconds(30);
    pub const MAX_DELAY: TimeDelta = TimeDelta::hours(6);
    pub const MAX_ATTEMPTS: i32 = 13;
    /// The most jitter adds, in percent of the delay.
    pub const JITTER_PERCENT: i64 = 25;

    /// The wait after the `failed`-th failed attempt of a series; `jitter` in `[0, 1)`.
    pub fn delay(failed: i32, jitter: f64) -> TimeDelta {
        let doublings = (failed.max(1) - 1).min(20) as u32;
        let base = (FIRST_DELAY * 2i32.pow(doublings)).min(MAX_DELAY);
        let extra =
            base.num_milliseconds() as f64 * jitter.clamp(0.0, 1.0) * JITTER_PERCENT as f64 / 100.0;
        base + TimeDelta::milliseconds(extra as i64)
    }

    /// A receiver's own `Retry-After`, within bounds.
    pub fn after(retry_after: Duration) -> TimeDelta {
        TimeDelta::from_std(retry_after)
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_delay_doubles_from_thirty_seconds_to_six_hours_with_at_most_a_quarter_more() {
            let seconds = |failed, jitter| delay(failed, jitter).num_seconds();
            assert_eq!(seconds(1, 0.0), 30);
            assert_eq!(seconds(2, 0.0), 60);
            assert_eq!(seconds(10, 0.0), 30 * 512);
            assert_eq!(seconds(11, 0.0), 6 * 3600);
            assert_eq!(seconds(12, 0.999), 6 * 3600 + 5394);
            assert_eq!(seconds(1, 0.5), 33);
            let total: i64 = (1..MAX_ATTEMPTS).map(|n| seconds(n, 0.0)).sum();
            assert!((18 * 3600..24 * 3600).contains(&total), "{total}");
            assert_eq!(after(Duration::from_secs(120)), TimeDelta::minutes(2));
            assert_eq!(after(Duration::from_secs(86_400)), MAX_DELAY);
        }
    }
}

/// The channels deliveries go out through, one of each kind at most.
#[derive(Clone, Default)]
pub struct Channels(Arc<Vec<Arc<dyn Channel>>>);

impl Channels {
    pub fn new(channels: Vec<Arc<dyn Channel>>) -> Self {
        Self(Arc::new(channels))
    }

    pub fn get(&self, channel: NotificationChannel) -> Option<&Arc<dyn Channel>> {
        self.0.iter().find(|c| c.channel() == channel)
    }
}

/// Runs until the process stops, restarted after an error as every worker loop is.
pub async fn run(ctx: ApiContext) {
    supervise("notifier", || {
        let ctx = ctx.clone();
        async move { watch(&ctx).await.map_err(anyhow::Error::from) }
    })
    .await
}

async fn watch(ctx: &ApiContext) -> Result<(), ApiError> {
    // The earliest pending delivery, or the earliest lease to run out.
    let next_due = "SELECT min(coalesce(lease_until, next_attempt_at)) \
         FROM notification_deliveries WHERE state = 'PENDING'";
    due_passes::run(ctx, DELIVERIES_CHANNEL, BATCH as usize, next_due, |now| {
        deliver_due(ctx, now)
    })
    .await
}

/// A delivery as the worker claimed it.
#[derive(sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    global_position: i64,
    recipient: String,
    channel: String,
    kind: String,
    attempts: i32,
    series_start: i32,
}

/// Leases the deliveries due at `now`, earliest first, sends each and records what came of it;
/// returns how many it leased.
pub async fn deliver_due(ctx: &ApiContext, now: DateTime<Utc>) -> Result<usize, ApiError> {
    // As every command's time: in microseconds, as PostgreSQL keeps them.
    let now = now.trunc_subsecs(6);
    let claimed: Vec<Claimed> = sqlx::query_as(
        "UPDATE notification_deliveries d SET lease_until = $3 FROM ( \
             SELECT id FROM notification_deliveries \
             WHERE state = 'PENDING' AND next_attempt_at <= $1 \
               AND (lease_until IS NULL OR lease_until <= $1) \
             ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS c \
         WHERE d.id = c.id \
         RETURNING d.id, d.global_position, d.recipient, d.channel, d.kind, d.attempts, \
             d.series_start",
    )
    .bind(now)
    .bind(BATCH)
    .bind(now + LEASE)
    .fetch_all(&ctx.pool)
    .await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let events = events_at(ctx, claimed.iter().map(|c| c.global_position).collect()).await?;
    let count = claimed.len();
    stream::iter(claimed)
        .map(|claimed| {
            let event = events.get(&claimed.global_position).cloned();
            async move {
                let id = claimed.id;
                if let Err(error) = attempt(ctx, claimed, event, now).await {
                    tracing::warn!(delivery = %id, error = %Redacted(&error), "cannot record a delivery attempt; tried again when its lease runs out");
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<()>()
        .await;
    Ok(count)
}

/// The events at `positions`, personal fields opened (or erased), by position.
pub(crate) async fn events_at(
    ctx: &ApiContext,
    positions: Vec<i64>,
) -> Result<HashMap<i64, RecordedEvent>, ApiError> {
    let mut conn = ctx.pool.acquire().await?;
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events e WHERE e.global_position = ANY($1)"
    ))
    .bind(&positions)
    .fetch_all(&mut *conn)
    .await?;
    let events = rows
        .iter()
        .map(recorded_event)
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::from)?;
    let opened = ctx
        .data_keys
        .open_all(&mut conn, events)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(opened.into_iter().map(|e| (e.global_position, e)).collect())
}

/// One attempt: sent through its channel, recorded, and its consequences drawn.
async fn attempt(
    ctx: &ApiContext,
    claimed: Claimed,
    event: Option<RecordedEvent>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let channel = NotificationChannel::parse(&claimed.channel).map_err(anyhow::Error::msg)?;
    let kind = NotificationKind::parse(&claimed.kind).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let outcome = match (ctx.channels.get(channel), event) {
        (None, _) => Outcome::Failed {
            status: None,
            error: format!("no {channel} channel is configured"),
        },
        (_, None) => Outcome::Failed {
            status: None,
            error: "the event is not in the store".to_owned(),
        },
        (Some(sender), Some(event)) => {
            let notification = Notification {
                delivery_id: claimed.id,
                kind,
                recipient: claimed.recipient.clone(),
                event,
                attempted_at: now,
            };
            sender.send(&notification).await
        }
    };
    let latency_ms = started.elapsed().as_millis() as i64;
    metrics::counter!("supportd_notification_attempts_total", "channel" => channel.as_str(), "outcome" => outcome_name(&outcome))
        .increment(1);
    record(ctx, &claimed, &outcome, now, latency_ms).await?;
    if let (Outcome::Gone { status }, NotificationChannel::Webhook) = (&outcome, channel) {
        disable_endpoint(ctx, &claimed, *status, now).await?;
    }
    Ok(())
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Delivered { .. } => "DELIVERED",
        Outcome::Retry { .. } => "RETRY",
        Outcome::Failed { .. } => "FAILED",
        Outcome::Gone { .. } => "GONE",
    }
}

/// The attempt's row, and the delivery's state after it by the retry rule.
async fn record(
    ctx: &ApiContext,
    claimed: &Claimed,
    outcome: &Outcome,
    now: DateTime<Utc>,
    latency_ms: i64,
) -> Result<(), ApiError> {
    let number = claimed.attempts + 1;
    let (state, next_attempt_at, status, error) = match outcome {
        Outcome::Delivered { status } => ("DELIVERED", None, *status, None),
        Outcome::Retry {
            status,
            error,
            retry_after,
        } => {
            let failed = number - claimed.series_start;
            if failed >= retry::MAX_ATTEMPTS {
                let error = format!("{error}; given up after {failed} attempts");
                ("FAILED", None, *status, Some(error))
            } else {
                let wait = match retry_after {
                    Some(after) => retry::after(*after),
                    None => retry::delay(failed, jitter()),
                };
                ("PENDING", Some(now + wait), *status, Some(error.clone()))
            }
        }
        Outcome::Failed { status, error } => ("FAILED", None, *status, Some(error.clone())),
        Outcome::Gone { status } => (
            "FAILED",
            None,
            Some(*status),
            Some("the receiver is gone (410): the endpoint is disabled".to_owned()),
        ),
    };
    let mut tx = ctx.pool.begin().await?;
    sqlx::query(
        "INSERT INTO notification_attempts (delivery_id, number, started_at, outcome, \
             http_status, latency_ms, error, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(claimed.id)
    .bind(number)
    .bind(now)
    .bind(outcome_name(outcome))
    .bind(status.map(i32::from))
    .bind(latency_ms)
    .bind(&error)
    .bind(next_attempt_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE notification_deliveries SET state = $2, attempts = $3, \
             next_attempt_at = coalesce($4, next_attempt_at), lease_until = NULL, \
             delivered_at = CASE WHEN $2 = 'DELIVERED' THEN $5 END, last_error = $6 \
         WHERE id = $1",
    )
    .bind(claimed.id)
    .bind(state)
    .bind(number)
    .bind(next_attempt_at)
    .bind(now)
    .bind(&error)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A random fraction in `[0, 1)` for the retry rule's jitter.
fn jitter() -> f64 {
    let mut bytes = [0u8; 2];
    match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes) {
        Ok(()) => f64::from(u16::from_be_bytes(bytes)) / 65_536.0,
        // No randomness at hand only costs the spread.
        Err(_) => 0.0,
    }
}

/// An endpoint that answered 410 is gone: the worker disables it, with the reason in its events.
async fn disable_endpoint(
    ctx: &ApiContext,
    claimed: &Claimed,
    status: u16,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let Ok(endpoint) = Uuid::parse_str(&claimed.recipient) else {
        return Ok(());
    };
    let reason = Reason::parse(&format!(
        "the endpoint answered {status} Gone to delivery {}",
        claimed.id
    ))
    .map_err(anyhow::Error::msg)?;
    let metadata = EventMetadata {
        occurred_at: now,
        ..ctx.worker_metadata(NOTIFIER_ACTOR)
    };
    let command = WebhookEndpointCommand::Disable(DisableWebhookEndpoint {
        caller: Caller {
            actor: metadata.actor(),
            customer_id: None,
        },
        reason,
    });
    ctx.execute_retrying::<WebhookEndpoint>(endpoint, command, &metadata, COMMAND_ATTEMPTS)
        .await
        .map(|_| ())
}

/// What a resend found.
pub enum Resent {
    Due,
    /// A worker is sending it right now.
    InFlight,
    NotFound,
}

/// Sends a delivery again, with the same id: back to `PENDING`, due at `now`, a new series of
/// retries; the attempts so far are kept.
pub async fn resend(
    ctx: &ApiContext,
    recipient: &str,
    channel: NotificationChannel,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Resent, ApiError> {
    let now = now.trunc_subsecs(6);
    let found: Option<bool> = sqlx::query_scalar(
        "WITH wanted AS ( \
             SELECT id, lease_until IS NULL OR lease_until <= $4 AS free \
             FROM notification_deliveries WHERE id = $1 AND recipient = $2 AND channel = $3), \
         resent AS ( \
             UPDATE notification_deliveries d SET state = 'PENDING', next_attempt_at = $4, \
                 series_start = d.attempts, lease_until = NULL, delivered_at = NULL, \
                 last_error = NULL \
             FROM wanted w WHERE d.id = w.id AND w.free RETURNING d.id) \
         SELECT w.free FROM wanted w",
    )
    .bind(id)
    .bind(recipient)
    .bind(channel.as_str())
    .bind(now)
    .fetch_optional(&ctx.pool)
    .await?;
    Ok(match found {
        None => Resent::NotFound,
        Some(false) => Resent::InFlight,
        Some(true) => {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(DELIVERIES_CHANNEL)
                .bind(now.to_rfc3339())
                .execute(&ctx.pool)
                .await?;
            Resent::Due
        }
    })
}
