//! Lets a command's response show the read model after the command: waits, without polling, for
//! the projection to announce that it has passed the command's events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use support_projections::read_model::{checkpoint, APPLIED_CHANNEL};
use support_projections::ReadModel;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The latest checkpoint of each read model, as announced on `projection_applied`.
#[derive(Clone)]
pub struct Checkpoints {
    senders: Arc<HashMap<ReadModel, watch::Sender<i64>>>,
    timeout: Duration,
}

impl Checkpoints {
    /// Starts following the announcements; the task runs until aborted.
    pub async fn follow(pool: PgPool, timeout: Duration) -> anyhow::Result<(Self, JoinHandle<()>)> {
        let mut senders = HashMap::new();
        for model in ReadModel::ALL {
            senders.insert(*model, watch::channel(checkpoint(&pool, *model).await?).0);
        }
        let checkpoints = Self {
            senders: Arc::new(senders),
            timeout,
        };
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(APPLIED_CHANNEL).await?;
        let follower = checkpoints.clone();
        let task = tokio::spawn(async move { follower.listen(listener, pool).await });
        Ok((checkpoints, task))
    }

    async fn listen(self, mut listener: PgListener, pool: PgPool) {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let announced =
                        notification
                            .payload()
                            .split_once(':')
                            .and_then(|(name, position)| {
                                Some((ReadModel::parse(name).ok()?, position.parse().ok()?))
                            });
                    if let Some((model, position)) = announced {
                        self.raise(model, position);
                    }
                }
                // The connection dropped and announcements may have been missed: read the table.
                Ok(None) => self.reload(&pool).await,
                Err(error) => {
                    tracing::warn!(error = %error, "lost the projection_applied listener; reconnecting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    self.reload(&pool).await;
                }
            }
        }
    }

    async fn reload(&self, pool: &PgPool) {
        for model in ReadModel::ALL {
            if let Ok(position) = checkpoint(pool, *model).await {
                self.raise(*model, position);
            }
        }
    }

    /// Wakes every waiter, even when the checkpoint did not rise: a batch may have applied an
    /// event whose position is below the checkpoint (transactions commit out of position order).
    fn raise(&self, model: ReadModel, position: i64) {
        if let Some(sender) = self.senders.get(&model) {
            sender.send_modify(|current| *current = (*current).max(position));
        }
    }

    /// Waits until `model` has passed `position` and `ready` finds what it looks for, re-checking
    /// after each announcement. `None` when the time bound ran out first.
    pub async fn wait_until<T, F, Fut>(
        &self,
        model: ReadModel,
        position: i64,
        mut ready: F,
    ) -> anyhow::Result<Option<T>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut announced = self.senders[&model].subscribe();
        loop {
            let reached = *announced.borrow_and_update() >= position;
            if reached {
                if let Some(found) = ready().await? {
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
