//! Lets a command's answer show the read model after the command: waits, without polling, for the
//! projection to announce the batch that applied the command's events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use support_projections::event_log::StreamHead;
use support_projections::read_model::{checkpoint, parse_announcement, shows, APPLIED_CHANNEL};
use support_projections::{Projections, Redacted};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What a read model last announced on `projection_applied`.
#[derive(Default)]
struct Announced {
    /// The highest checkpoint. Below a command's position its events cannot have been applied; at
    /// or past it they may have been (batches commit out of position order).
    checkpoint: i64,
    /// The positions the latest batch applied: a command's position among them is applied, with
    /// no need to ask the read model's positions.
    applied: Vec<i64>,
}

#[derive(Clone)]
pub struct Checkpoints {
    pool: PgPool,
    announced: Arc<HashMap<&'static str, watch::Sender<Announced>>>,
    timeout: Duration,
}

impl Checkpoints {
    /// Starts following the announcements; the task runs until aborted.
    pub async fn follow(
        pool: PgPool,
        projections: &Projections,
        timeout: Duration,
    ) -> anyhow::Result<(Self, JoinHandle<()>)> {
        let mut announced = HashMap::new();
        for projection in projections.all() {
            let checkpoint = checkpoint(&pool, projection.name()).await?;
            let announced_so_far = Announced {
                checkpoint,
                applied: Vec::new(),
            };
            announced.insert(projection.name(), watch::channel(announced_so_far).0);
        }
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

    /// The highest checkpoint `projection` has announced; `None` for a read model it does not
    /// follow.
    pub fn announced(&self, projection: &str) -> Option<i64> {
        self.announced
            .get(projection)
            .map(|sender| sender.borrow().checkpoint)
    }

    async fn listen(self, mut listener: PgListener) {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some((name, position, applied)) =
                        parse_announcement(notification.payload())
                    {
                        self.raise(name, position, applied);
                    }
                }
                // The connection dropped and announcements may have been missed: read them.
                Ok(None) => self.reload().await,
                Err(error) => {
                    tracing::warn!(error = %Redacted(&error), "lost the projection_applied listener; reconnecting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    self.reload().await;
                }
            }
        }
    }

    async fn reload(&self) {
        for name in self.announced.keys() {
            if let Ok(position) = checkpoint(&self.pool, name).await {
                self.raise(name, position, Vec::new());
            }
        }
    }

    /// Wakes every waiter of the read model even when the checkpoint did not rise: the batch may
    /// have applied an event below it.
    fn raise(&self, projection: &str, position: i64, applied: Vec<i64>) {
        if let Some(sender) = self.announced.get(projection) {
            sender.send_modify(|current| {
                current.checkpoint = current.checkpoint.max(position);
                current.applied = applied;
            });
        }
    }

    /// Waits until `projection` has applied the aggregate up to `head` and `read` finds what it
    /// looks for, re-checking after each announcement. `None` when the time bound ran out first.
    pub async fn wait_until<T, F, Fut>(
        &self,
        projection: &str,
        aggregate_type: &str,
        aggregate_id: &str,
        head: StreamHead,
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
            let (passed, seen) = {
                let now = announced.borrow_and_update();
                (
                    now.checkpoint >= head.global_position,
                    now.applied.contains(&head.global_position),
                )
            };
            // An announcement missed between two looks (the channel keeps the latest only) or
            // made before the wait began leaves the read model's positions to tell.
            if passed
                && (seen
                    || shows(
                        &self.pool,
                        projection,
                        aggregate_type,
                        aggregate_id,
                        head.sequence,
                    )
                    .await?)
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
