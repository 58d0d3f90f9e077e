//! The spec's low KB rating alert, raised by a pass of the SLA timer: the ratings read model
//! marks an article's alert pending in the transaction that changes its low-rating flag; the pass
//! leases the pending rows (`FOR UPDATE SKIP LOCKED`, committed at once), tells each article what
//! its flag now says (`RaiseLowRatingAlert` or `ClearLowRatingAlert`), and clears the mark unless
//! the flag changed again meanwhile. A crash before the mark is cleared leaves the lease to run
//! out and the article to be told again: the article records a change of its alert once, so no
//! alert is lost or repeated.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use support_domain::kb::{KbArticle, KbArticleCommand, RatingSummary};
use support_domain::{Caller, EventMetadata};
use support_projections::Redacted;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::startup::ApiContext;

/// Who the alerts are recorded as.
pub const ALERT_ACTOR: &str = "kb-rating-alerts";
/// How long a claimed row is the claimer's: one whose command failed is claimed again after it.
const LEASE: TimeDelta = TimeDelta::seconds(30);
/// A command that loses a race with another command on its article is tried again at once.
const ATTEMPTS: usize = 5;

/// The instant the SLA timer wakes for the alerts: the earliest pending one not claimed, or the
/// earliest lease to run out.
pub const NEXT_DUE: &str = "least( \
     (SELECT changed_at FROM kb_rating_summaries WHERE alert_pending \
      AND alert_claimed_until IS NULL ORDER BY changed_at LIMIT 1), \
     (SELECT min(alert_claimed_until) FROM kb_rating_summaries WHERE alert_pending))";

/// A pending alert as claimed.
#[derive(sqlx::FromRow)]
struct Pending {
    article_id: Uuid,
    low_rated: bool,
    rating_count: i32,
    rating_sum: i32,
    helpful_count: i32,
}

/// Leases up to `batch` pending alerts at `now`, tells each article, and returns how many it
/// leased.
pub async fn tell_pending(
    ctx: &ApiContext,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<usize, ApiError> {
    let now = now.trunc_subsecs(6);
    let claimed: Vec<Pending> = sqlx::query_as(
        "UPDATE kb_rating_summaries s SET alert_claimed_until = $3 FROM ( \
             SELECT article_id FROM kb_rating_summaries \
             WHERE alert_pending AND (alert_claimed_until IS NULL OR alert_claimed_until <= $1) \
             ORDER BY changed_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS c \
         WHERE s.article_id = c.article_id \
         RETURNING s.article_id, s.low_rated, s.rating_count, s.rating_sum, s.helpful_count",
    )
    .bind(now)
    .bind(batch)
    .bind(now + LEASE)
    .fetch_all(&ctx.pool)
    .await?;
    let metadata = EventMetadata {
        occurred_at: now,
        ..ctx.worker_metadata(ALERT_ACTOR)
    };
    let (mut told, mut said) = (Vec::new(), Vec::new());
    for pending in &claimed {
        match tell(ctx, pending, &metadata).await {
            Ok(()) => {
                told.push(pending.article_id);
                said.push(pending.low_rated);
            }
            Err(error) => {
                tracing::warn!(article = %pending.article_id, error = %Redacted(&error), "cannot tell an article of its ratings; tried again when its lease runs out");
            }
        }
    }
    // Still pending where the flag changed again since the claim: the next pass tells that.
    sqlx::query(
        "UPDATE kb_rating_summaries s SET alert_claimed_until = NULL, \
             alert_pending = s.low_rated <> t.low_rated \
         FROM unnest($1::uuid[], $2::bool[]) AS t(article_id, low_rated) \
         WHERE s.article_id = t.article_id",
    )
    .bind(&told)
    .bind(&said)
    .execute(&ctx.pool)
    .await?;
    Ok(claimed.len())
}

/// Raises the article's alert while it is rated low, or clears it.
async fn tell(
    ctx: &ApiContext,
    pending: &Pending,
    metadata: &EventMetadata,
) -> Result<(), ApiError> {
    let caller = Caller {
        actor: metadata.actor(),
        customer_id: None,
    };
    let summary = RatingSummary {
        count: pending.rating_count as u32,
        sum: pending.rating_sum as u32,
        helpful: pending.helpful_count as u32,
    };
    let command = if pending.low_rated {
        KbArticleCommand::RaiseLowRatingAlert {
            caller,
            rating: summary.mean(),
            rating_count: summary.count,
        }
    } else {
        KbArticleCommand::ClearLowRatingAlert { caller }
    };
    ctx.execute_retrying::<KbArticle>(pending.article_id, command, metadata, ATTEMPTS)
        .await
        .map(|_| ())
}
