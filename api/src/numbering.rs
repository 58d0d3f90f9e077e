//! Numbers people use for aggregates (`TKT-YYYYMMDD-XXXX`, `KB-000123`, and INC- as it comes):
//! one counter per prefix and UTC day, or one running counter per prefix, and a record of which aggregate holds each number, so commands
//! find an aggregate by its number on the write side.

use chrono::NaiveDate;
use sqlx::PgPool;
use uuid::Uuid;

/// Takes the next number of `prefix` on `day` (or of its running counter, for `None`) for
/// `aggregate_id`. The counter row serialises
/// concurrent callers, so no two aggregates share a number. The statement commits without
/// waiting for the disk: the aggregate's own event commit flushes the log that holds it, and a
/// lost number belongs to no aggregate. A command that fails after this leaves a gap in the day's
/// numbers, never a duplicate.
pub async fn take(
    pool: &PgPool,
    prefix: &str,
    day: Option<NaiveDate>,
    aggregate_id: Uuid,
) -> Result<u64, sqlx::Error> {
    // One statement, so one transaction: set_config(.., true) applies to its commit.
    let counter: i64 = sqlx::query_scalar(
        "WITH counted AS ( \
             INSERT INTO number_counters (prefix, day, last_value) \
             SELECT $1, coalesce($2, '-infinity'::date), 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit \
             ON CONFLICT (prefix, day) DO UPDATE SET last_value = number_counters.last_value + 1 \
             RETURNING last_value) \
         INSERT INTO numbered_aggregates (prefix, day, counter, aggregate_id) \
         SELECT $1, coalesce($2, '-infinity'::date), last_value, $3 FROM counted \
         RETURNING counter",
    )
    .bind(prefix)
    .bind(day)
    .bind(aggregate_id)
    .fetch_one(pool)
    .await?;
    Ok(counter as u64)
}

/// The aggregate that holds number `counter` of `prefix` on `day` (or of its running counter).
pub async fn holder(
    pool: &PgPool,
    prefix: &str,
    day: Option<NaiveDate>,
    counter: u64,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT aggregate_id FROM numbered_aggregates \
         WHERE prefix = $1 AND day = coalesce($2, '-infinity'::date) AND counter = $3",
    )
    .bind(prefix)
    .bind(day)
    .bind(counter as i64)
    .fetch_optional(pool)
    .await
}
