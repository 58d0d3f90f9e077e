use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// Where the API and its workers read the time; tests set it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once `now()` has reached `at`: a worker waits for its next deadline here.
    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let wait = (at - self.now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant, for tests.
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock a test moves by hand: a 24-hour scenario runs in milliseconds, and a worker sleeping
/// until a deadline wakes when the test moves the clock past it.
pub struct ManualClock {
    now: std::sync::Mutex<DateTime<Utc>>,
    moved: Notify,
}

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            now: std::sync::Mutex::new(at),
            moved: Notify::new(),
        }
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().expect("no thread panics holding the clock") = at;
        self.moved.notify_waiters();
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        let at = self.now() + by;
        self.set(at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("no thread panics holding the clock")
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                // Registered before the check, so a move between the two is not missed.
                let moved = self.moved.notified();
                tokio::pin!(moved);
                moved.as_mut().enable();
                if self.now() >= at {
                    return;
                }
                moved.await;
            }
        })
    }
}
