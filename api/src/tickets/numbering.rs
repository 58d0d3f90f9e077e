//! Ticket numbers: `TKT-YYYYMMDD-XXXX`, counted per UTC day.

use chrono::NaiveDate;
use sqlx::PgPool;
use support_domain::ticket::TicketNumber;

/// Takes the next number of `day`. The counter row serialises concurrent callers, so no two
/// tickets share a number. The increment commits without waiting for the disk: the ticket's own
/// event commit flushes the log that holds it, and a lost increment belongs to no ticket.
/// A command that fails after this leaves a gap in the day's numbers, never a duplicate.
pub async fn next_ticket_number(
    pool: &PgPool,
    day: NaiveDate,
) -> Result<TicketNumber, sqlx::Error> {
    // One statement, so one transaction: set_config(.., true) applies to its commit.
    let counter: i64 = sqlx::query_scalar(
        "INSERT INTO ticket_number_counters (day, last_value) \
         SELECT $1, 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit \
         ON CONFLICT (day) DO UPDATE SET last_value = ticket_number_counters.last_value + 1 \
         RETURNING last_value",
    )
    .bind(day)
    .fetch_one(pool)
    .await?;
    Ok(TicketNumber::new(day, counter as u64))
}
