//! The loop of a worker that acts on rows when they fall due (the SLA timer, the notifier): a
//! pass over whatever is due, then sleep until the earliest row still to come, or until a
//! notification announces an earlier one.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::problem::ApiError;
use crate::startup::ApiContext;

/// Runs `pass` at the clock's now for as long as passes fill a `batch` (or more), then sleeps until the
/// instant `next_due` (a query of one nullable timestamp) selects, or until a notification on
/// `channel` carries an earlier instant (RFC 3339; anything else wakes it at once); and again.
pub async fn run<F, Fut>(
    ctx: &ApiContext,
    channel: &str,
    batch: usize,
    next_due: &str,
    pass: F,
) -> Result<(), ApiError>
where
    F: Fn(DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<usize, ApiError>>,
{
    // A connection of its own, outside the pool: the listener holds it for good, and the pool's
    // connections are for the passes.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*ctx.pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&own)
        .await
        .map_err(anyhow::Error::from)?;
    listener
        .listen(channel)
        .await
        .map_err(anyhow::Error::from)?;
    loop {
        while pass(ctx.clock.now()).await? >= batch {}
        let mut wake_at: Option<DateTime<Utc>> =
            sqlx::query_scalar(next_due).fetch_one(&ctx.pool).await?;
        // Sleeps until the next row is due (a day at most: a clock moved by hand or a lost
        // notification costs no more); a new row wakes it only if it is due sooner.
        loop {
            let until = wake_at
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
                .min(ctx.clock.now() + TimeDelta::days(1));
            tokio::select! {
                _ = ctx.clock.sleep_until(until) => break,
                notification = listener.recv() => {
                    let notification = notification.map_err(anyhow::Error::from)?;
                    let due = DateTime::parse_from_rfc3339(notification.payload())
                        .map(|d| d.with_timezone(&Utc))
                        .ok();
                    match (due, wake_at) {
                        (Some(due), Some(at)) if due >= at => {}
                        (Some(due), _) => wake_at = Some(due),
                        (None, _) => break,
                    }
                }
            }
        }
    }
}
