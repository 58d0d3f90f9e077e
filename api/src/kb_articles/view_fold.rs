//! The `kb-views` worker: folds the view log (`kb_article_views`) into the articles' counts every
//! `SUPPORTD_KB_VIEW_FOLD_MS`, so that the log a count adds up stays short. Any number may run
//! side by side (concurrent folds take disjoint rows), and a fold killed half-way folded nothing.

use std::time::Duration;

use sqlx::PgPool;
use support_projections::kb;
use support_workers::supervise::supervise;

/// Views folded by one statement; a fold that fills it goes on at once.
const BATCH: i64 = 10_000;

/// Runs until the process stops, restarted after an error as every worker loop is.
pub async fn run(pool: PgPool, every: Duration) {
    supervise("kb-views", || fold_every(pool.clone(), every)).await
}

async fn fold_every(pool: PgPool, every: Duration) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        while kb::fold_views(&pool, BATCH).await? == BATCH as u64 {}
    }
}
