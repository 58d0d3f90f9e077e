//! Process-wide counters, exposed on /metrics.

use std::sync::atomic::{AtomicU64, Ordering};

pub static EVENTS_RELAYED: AtomicU64 = AtomicU64::new(0);
pub static EVENTS_PROJECTED: AtomicU64 = AtomicU64::new(0);
pub static PROJECTION_BATCHES_FAILED: AtomicU64 = AtomicU64::new(0);

pub fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
