//! Retention: the personal data of tickets closed (or cancelled) longer ago than
//! `SUPPORTD_RETENTION_DAYS` is erased, ticket by ticket, as an erasure on request would: the same
//! `PersonalDataErased` event and a receipt each.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use support_domain::ticket::ErasureReason;
use support_domain::{ActorRole, EventMetadata};
use support_projections::Redacted;
use uuid::Uuid;

use crate::personal_data::{erase, ErasureReceipt, Held};
use crate::problem::ApiError;
use crate::startup::ApiContext;

/// Who the erasures are recorded as.
pub const RETENTION_ACTOR: &str = "retention";
const EVERY: Duration = Duration::from_secs(3600);
const PAGE: i64 = 500;

/// Sweeps at start and then hourly. One process sweeps at a time (an advisory lock); a sweep that
/// fails is retried at the next hour, and erasing is idempotent, so nothing is erased twice.
pub async fn run(ctx: ApiContext, keep_for: TimeDelta) {
    let mut every = tokio::time::interval(EVERY);
    loop {
        every.tick().await;
        match sweep(&ctx, keep_for, ctx.clock.now()).await {
            Ok(receipts) if !receipts.is_empty() => {
                tracing::info!(tickets = receipts.len(), "retention erased personal data")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %Redacted(&error), "the retention sweep failed"),
        }
    }
}

/// Erases every ticket closed before `now - keep_for` that still holds personal data, and returns
/// a receipt per ticket erased; none if another process is sweeping.
pub async fn sweep(
    ctx: &ApiContext,
    keep_for: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Vec<ErasureReceipt>, ApiError> {
    let mut lock = ctx.pool.acquire().await?;
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('retention-sweep'))")
            .fetch_one(&mut *lock)
            .await?;
    if !locked {
        return Ok(Vec::new());
    }
    let swept = async {
        let cutoff = now - keep_for;
        let mut receipts = Vec::new();
        let mut after: Option<(DateTime<Utc>, Uuid)> = None;
        loop {
            let page: Vec<(DateTime<Utc>, Uuid)> = sqlx::query_as(
                "SELECT closed_at, id FROM tickets \
                 WHERE closed_at IS NOT NULL AND personal_data_erased_at IS NULL \
                     AND closed_at < $1 AND ($2::timestamptz IS NULL OR (closed_at, id) > ($2, $3)) \
                 ORDER BY closed_at, id LIMIT $4",
            )
            .bind(cutoff)
            .bind(after.map(|a| a.0))
            .bind(after.map(|a| a.1))
            .bind(PAGE)
            .fetch_all(&ctx.pool)
            .await?;
            let Some(last) = page.last() else { break };
            after = Some(*last);
            for (_, id) in &page {
                let metadata = EventMetadata {
                    actor_sub: RETENTION_ACTOR.to_owned(),
                    actor_role: ActorRole::Service,
                    request_id: Uuid::new_v4().to_string(),
                    correlation_id: Uuid::new_v4().to_string(),
                    causation_id: None,
                    occurred_at: now,
                    source: "worker".to_owned(),
                };
                let receipt = erase(
                    ctx,
                    &metadata,
                    None,
                    ErasureReason::Retention,
                    &Held {
                        tickets: vec![*id],
                        ..Held::default()
                    },
                )
                .await?;
                if !receipt.tickets.is_empty() {
                    receipts.push(receipt);
                }
            }
        }
        Ok::<_, ApiError>(receipts)
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock(hashtext('retention-sweep'))")
        .execute(&mut *lock)
        .await?;
    swept
}
