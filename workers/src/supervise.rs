//! One way to keep a worker loop alive: every attempt runs as its own task, so an error or even a
//! panic ends only that attempt, and the next starts after a backoff.

use std::future::Future;
use std::time::Duration;

use support_projections::Redacted;
use tokio::time::Instant;

/// Runs `attempt` again and again until the process ends. The backoff doubles from 1 s to 30 s
/// while attempts fail fast, and starts over after one that ran for a minute.
pub async fn supervise<F, Fut>(worker: &str, attempt: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    const FIRST: Duration = Duration::from_secs(1);
    const LONGEST: Duration = Duration::from_secs(30);
    let mut backoff = FIRST;
    loop {
        let started = Instant::now();
        let mut running = AbortOnDrop(tokio::spawn(attempt()));
        match (&mut running.0).await {
            Ok(Ok(())) => tracing::warn!(worker, "worker loop ended; restarting"),
            Ok(Err(error)) => {
                tracing::warn!(worker, error = %Redacted(error.as_ref()), "worker loop failed; restarting")
            }
            // Not the panic's message: it can hold any value the worker had in hand.
            Err(_) => tracing::error!(worker, "worker loop panicked; restarting"),
        }
        metrics::counter!("supportd_worker_restarts_total", "worker" => worker.to_owned())
            .increment(1);
        if started.elapsed() > Duration::from_secs(60) {
            backoff = FIRST;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(LONGEST);
    }
}

/// Ends the running attempt when the supervisor itself is stopped (aborted or dropped): a worker
/// stopped is stopped, not left running on its own.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
