//! Lets a command's answer show the read model after the command: waits, without polling, for the
//! projection to announce a commit, then checks that it has applied the command's events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use support_projections::read_model::{shows, APPLIED_CHANNEL};
use support_projections::Projections;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How many commits each read model has announced on `projection_applied`: a waiter re-checks
/// after each one.
#[derive(Clone)]
pub struct Checkpoints {
    pool: PgPool,
    announced: Arc<HashMap<&'static str, watch::Sender<u64>>>,
    timeout: Duration,
}

impl Checkpoints {
    /// Starts following the announcements; the task runs until aborted.
    pub async fn follow(
        pool: PgPool,
        projections: &Projections,
        timeout: Duration,
    ) -> anyhow::Result<(Self, JoinHandle<()>)> {
        let announced = projections
            .all()
            .map(|p| (p.name(), watch::channel(0).0))
            .collect();
        let checkpoints = Self {
            pool: pool.clone(),
            announced: Arc::new(announced),
            timeout,
        };
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(APPLIED_CHANNEL).await?;
        let follower = checkpoints.clone();
        let task = tokio::spawn(async move { follower.listen(listener).await });
        Ok((checkpoints, task))
    }

    async fn listen(self, mut listener: PgListener) {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some((name, _)) = notification.payload().split_once(':') {
                        self.wake(Some(name));
                    }
                }
                // The connection dropped and announcements may have been missed: wake everyone.
                Ok(None) => self.wake(None),
                Err(error) => {
                    tracing::warn!(error = %error, "lost the projection_applied listener; reconnecting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    self.wake(None);
                }
            }
        }
    }

    fn wake(&self, projection: Option<&str>) {
        for (name, sender) in self.announced.iter() {
            if projection.is_none_or(|p| p == *name) {
                sender.send_modify(|count| *count += 1);
            }
        }
    }

    /// Waits until `projection` has applied the aggregate up to `sequence` and `read` finds what
    /// it looks for, re-checking after each announcement. `None` when the time bound ran out
    /// first.
    pub async fn wait_until<T, F, Fut>(
        &self,
        projection: &str,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
        mut read: F,
    ) -> anyhow::Result<Option<T>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut announced = self
            .announced
            .get(projection)
            .ok_or_else(|| anyhow::anyhow!("no read model is named {projection:?}"))?
            .subscribe();
        loop {
            announced.borrow_and_update();
            if shows(
                &self.pool,
                projection,
                aggregate_type,
                aggregate_id,
                sequence,
            )
            .await?
            {
                if let Some(found) = read().await? {
                    return Ok(Some(found));
                }
            }
            if tokio::time::timeout_at(deadline, announced.changed())
                .await
                .is_err()
            {
                return Ok(None);
            }
        }
    }
}
