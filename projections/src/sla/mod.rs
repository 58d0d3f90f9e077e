//! The SLA read models: the policies, the timers, and the active policies as a command matches
//! them.

use std::collections::HashSet;

use support_domain::RecordedEvent;
use uuid::Uuid;

pub mod policies;
pub mod report;
pub mod timers;

/// Of `tickets`, those whose rows a read model may hold already, sorted and once each: all but
/// the tickets `events` opens, which have none yet.
pub(crate) fn already_stored(
    events: &[&RecordedEvent],
    tickets: impl IntoIterator<Item = Uuid>,
) -> Vec<Uuid> {
    let opened: HashSet<Uuid> = events
        .iter()
        .filter(|e| e.sequence == 1)
        .filter_map(|e| Uuid::parse_str(&e.aggregate_id).ok())
        .collect();
    let mut stored: Vec<Uuid> = tickets
        .into_iter()
        .filter(|ticket| !opened.contains(ticket))
        .collect();
    stored.sort_unstable();
    stored.dedup();
    stored
}
