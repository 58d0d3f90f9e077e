//! The two ways events reach a read model, live batches from the bus and a replay from the event
//! store, and the guard they share: each event is applied once, in its aggregate's order.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{PgConnection, PgPool};
use support_domain::RecordedEvent;

use crate::personal_data::DataKeys;
use crate::projection::Projection;
use crate::rebuild::FreshTables;
use crate::{event_log, ProjectionError};

/// The channel on which a committed batch announces `<read model>:<checkpoint>`.
pub const APPLIED_CHANNEL: &str = "projection_applied";

/// Serialises live batches, replays and dead-letter retries of one read model across processes.
pub(crate) async fn lock(conn: &mut PgConnection, projection: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('read-model'), hashtext($1))")
        .bind(projection)
        .execute(conn)
        .await?;
    Ok(())
}

type AggregateKey = (String, String);

/// The last sequence a read model applied of each aggregate of one batch: its duplicate and gap
/// guard. It holds one batch's aggregates only, so a replay's memory does not grow with the store.
#[derive(Default)]
pub(crate) struct Positions {
    known: HashMap<AggregateKey, i64>,
    moved: HashMap<AggregateKey, i64>,
    /// A replay's: saved to `replayed_positions`, and into `projection_positions` when it ends.
    replaying: bool,
}

impl Positions {
    /// The positions of a replay's chunk, taken from the event store itself rather than read: the
    /// store holds each aggregate's events once and in order, and the replay reads them in that
    /// order, so each aggregate of the chunk stands just before its first event there.
    fn continuing(events: &[&RecordedEvent]) -> Self {
        let mut known = HashMap::new();
        for event in events {
            known
                .entry((event.aggregate_type.clone(), event.aggregate_id.clone()))
                .or_insert(event.sequence - 1);
        }
        Self {
            known,
            moved: HashMap::new(),
            replaying: true,
        }
    }

    /// Reads the positions of the aggregates of `events` it does not know yet.
    async fn load(
        &mut self,
        conn: &mut PgConnection,
        projection: &str,
        events: &[&RecordedEvent],
    ) -> Result<(), sqlx::Error> {
        let mut unknown: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.aggregate_type.as_str(), e.aggregate_id.as_str()))
            .filter(|(t, i)| !self.known.contains_key(&(t.to_string(), i.to_string())))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        unknown.dedup();
        let (types, ids): (Vec<&str>, Vec<&str>) = unknown.into_iter().unzip();
        // One primary-key probe per aggregate. As a plain join, the planner (which takes unnest
        // for 100 rows) hashed the whole table once it grew: 2 ms a batch at 16,000 tickets, the
        // costliest statement of ticket creation. LIMIT keeps each probe from being flattened
        // into such a join.
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT k.aggregate_type, k.aggregate_id, p.sequence \
             FROM unnest($2::text[], $3::text[]) AS k(aggregate_type, aggregate_id) \
             JOIN LATERAL (SELECT sequence FROM projection_positions \
                 WHERE projection = $1 AND aggregate_type = k.aggregate_type \
                   AND aggregate_id = k.aggregate_id LIMIT 1) AS p ON true",
        )
        .bind(projection)
        .bind(&types)
        .bind(&ids)
        .fetch_all(conn)
        .await?;
        for (aggregate_type, aggregate_id, sequence) in rows {
            self.known.insert((aggregate_type, aggregate_id), sequence);
        }
        Ok(())
    }

    /// The events the read model has not applied yet. An event beyond the next one of its aggregate
    /// means an earlier one is missing: the batch fails and is retried once that one is in.
    fn fresh<'e>(
        &mut self,
        events: &[&'e RecordedEvent],
    ) -> Result<Vec<&'e RecordedEvent>, ProjectionError> {
        let mut fresh = Vec::with_capacity(events.len());
        for event in events {
            let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
            let current = self.known.get(&key).copied().unwrap_or(0);
            if event.sequence <= current {
                continue;
            }
            if event.sequence != current + 1 {
                return Err(ProjectionError::OutOfOrder {
                    aggregate: event.aggregate_type.clone(),
                    id: event.aggregate_id.clone(),
                    current: (current > 0).then_some(current),
                    sequence: event.sequence,
                });
            }
            self.known.insert(key.clone(), event.sequence);
            self.moved.insert(key, event.sequence);
            fresh.push(*event);
        }
        Ok(fresh)
    }

    async fn save(&mut self, conn: &mut PgConnection, projection: &str) -> Result<(), sqlx::Error> {
        if self.moved.is_empty() {
            return Ok(());
        }
        let mut types = Vec::with_capacity(self.moved.len());
        let mut ids = Vec::with_capacity(self.moved.len());
        let mut sequences = Vec::with_capacity(self.moved.len());
        for ((aggregate_type, aggregate_id), sequence) in self.moved.drain() {
            types.push(aggregate_type);
            ids.push(aggregate_id);
            sequences.push(sequence);
        }
        let query = if self.replaying {
            sqlx::query(
                "INSERT INTO replayed_positions (aggregate_type, aggregate_id, sequence) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])",
            )
        } else {
            sqlx::query(
                "INSERT INTO projection_positions (projection, aggregate_type, aggregate_id, sequence) \
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[]) \
                 ON CONFLICT (projection, aggregate_type, aggregate_id) \
                 DO UPDATE SET sequence = EXCLUDED.sequence",
            )
            .bind(projection)
        };
        query
            .bind(&types)
            .bind(&ids)
            .bind(&sequences)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// Applies the events of `events` that this read model reads, each at most once and in its
/// aggregate's order, inside the caller's transaction and under the read model's lock. The events'
/// personal fields are open already.
pub(crate) async fn apply_guarded(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    positions: &mut Positions,
    events: &[&RecordedEvent],
) -> Result<(), ProjectionError> {
    let own: Vec<&RecordedEvent> = events
        .iter()
        .copied()
        .filter(|e| projection.reads(&e.aggregate_type))
        .collect();
    if own.is_empty() {
        return Ok(());
    }
    positions.load(conn, projection.name(), &own).await?;
    let fresh = positions.fresh(&own)?;
    if !fresh.is_empty() {
        projection.apply(conn, &fresh).await?;
    }
    positions.save(conn, projection.name()).await?;
    Ok(())
}

/// Applies a live batch to the read models of a group inside the caller's transaction: opens the
/// events' personal fields once for all of them, then, for each, applies what it has not yet,
/// moves its checkpoint and announces it on commit.
pub async fn apply_batch(
    conn: &mut PgConnection,
    keys: &DataKeys,
    projections: &[Arc<dyn Projection>],
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    // In one statement and in name order: a replay or a dead-letter retry takes one of the locks,
    // so no two holders ever wait on each other.
    let mut names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    names.sort_unstable();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('read-model'), hashtext(name)) \
         FROM unnest($1::text[]) WITH ORDINALITY AS n(name, at) ORDER BY at",
    )
    .bind(&names)
    .execute(&mut *conn)
    .await?;
    let read: Vec<&RecordedEvent> = events
        .iter()
        .filter(|e| projections.iter().any(|p| p.reads(&e.aggregate_type)))
        .collect();
    let opened = keys.open_events(conn, &read).await?;
    let opened: Vec<&RecordedEvent> = opened.iter().map(|e| e.as_ref()).collect();
    let all: Vec<&RecordedEvent> = events.iter().collect();
    for projection in projections {
        let projection = projection.as_ref();
        apply_guarded(conn, projection, &mut Positions::default(), &opened).await?;
        announce(conn, projection.name(), &all).await?;
    }
    Ok(())
}

/// Applies `batches` to one read model as the runner does, through the framework's guard, in one
/// transaction: the projections' own tests feed it recorded events.
#[cfg(test)]
pub(crate) async fn apply_batches(
    pool: &PgPool,
    projection: Arc<dyn Projection>,
    batches: &[&[RecordedEvent]],
) -> Result<(), ProjectionError> {
    let keys = DataKeys::new(&crate::personal_data::MasterKey::development());
    let mut tx = pool.begin().await?;
    for batch in batches {
        apply_batch(&mut tx, &keys, std::slice::from_ref(&projection), batch).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The longest list of positions an announcement carries: `pg_notify` payloads end below 8,000
/// bytes. Without the list, waiters ask `projection_positions` instead.
const ANNOUNCED_POSITIONS: usize = 7_000;

/// Moves the checkpoint past a committed batch's events and announces, at commit,
/// `<read model>:<checkpoint>:<position>,<position>,…` with the batch's event positions, so that
/// whoever waits to read their own writes knows, without asking the database, that theirs was
/// applied.
pub(crate) async fn announce(
    conn: &mut PgConnection,
    projection: &str,
    events: &[&RecordedEvent],
) -> Result<(), sqlx::Error> {
    let Some(last) = events.iter().map(|e| e.global_position).max() else {
        return Ok(());
    };
    let mut applied = String::new();
    for event in events {
        if applied.len() >= ANNOUNCED_POSITIONS {
            applied.clear();
            break;
        }
        if !applied.is_empty() {
            applied.push(',');
        }
        applied.push_str(&event.global_position.to_string());
    }
    advance_checkpoint(conn, projection, last, &applied).await
}

/// Moves the checkpoint (a high-water mark: batches commit out of position order) and announces
/// that the read model changed, which wakes whoever waits to read their own writes.
pub(crate) async fn advance_checkpoint(
    conn: &mut PgConnection,
    projection: &str,
    position: i64,
    applied: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH moved AS ( \
             INSERT INTO projection_checkpoints (projection, global_position, updated_at) \
             VALUES ($1, $2, now()) \
             ON CONFLICT (projection) DO UPDATE SET \
                 global_position = GREATEST(projection_checkpoints.global_position, EXCLUDED.global_position), \
                 updated_at = now() \
             RETURNING global_position) \
         SELECT pg_notify($3, $1 || ':' || global_position || ':' || $4) FROM moved",
    )
    .bind(projection)
    .bind(position)
    .bind(APPLIED_CHANNEL)
    .bind(applied)
    .execute(conn)
    .await?;
    Ok(())
}

/// An announcement on `APPLIED_CHANNEL`: the read model, its checkpoint, and the positions of the
/// events of the batch that moved it (empty when they did not fit or after a replay).
pub fn parse_announcement(payload: &str) -> Option<(&str, i64, Vec<i64>)> {
    let mut parts = payload.splitn(3, ':');
    let name = parts.next()?;
    let checkpoint = parts.next()?.parse().ok()?;
    let applied = match parts.next() {
        Some(list) if !list.is_empty() => list
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?,
        _ => Vec::new(),
    };
    Some((name, checkpoint, applied))
}

/// The position up to which a read model has applied the stream (0 before its first batch).
pub async fn checkpoint(pool: &PgPool, projection: &str) -> Result<i64, sqlx::Error> {
    let position: Option<i64> = sqlx::query_scalar(
        "SELECT global_position FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(projection)
    .fetch_optional(pool)
    .await?;
    Ok(position.unwrap_or(0))
}

/// Whether a read model shows an aggregate at `sequence` or later: what a command's answer waits for.
pub async fn shows(
    pool: &PgPool,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM projection_positions \
         WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3 AND sequence >= $4)",
    )
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .fetch_one(pool)
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayReport {
    pub events: u64,
    pub checkpoint: i64,
}

/// Rebuilds a read model from the event store in one transaction, into fresh tables that replace
/// the live ones at commit (`FreshTables`). It holds the read model's lock, so live batches wait
/// and then find their events already applied (or apply the newer ones): nothing is lost or
/// applied twice, and readers see the old rows until the new ones commit.
pub async fn replay(
    pool: &PgPool,
    keys: &DataKeys,
    projection: &dyn Projection,
) -> Result<ReplayReport, ProjectionError> {
    // Large chunks put more of each ticket's life in one batch, where its events fold into one
    // change: 50,000 events are about three and a half days of a desk at a million tickets a
    // year.
    const CHUNK: i64 = 50_000;
    let mut tx = pool.begin().await?;
    lock(&mut tx, projection.name()).await?;
    let fresh = FreshTables::create(&mut tx, projection.name(), projection.tables()).await?;
    sqlx::query(
        "CREATE TEMPORARY TABLE replayed_positions \
         (aggregate_type text, aggregate_id text, sequence bigint) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await?;
    let mut report = ReplayReport {
        events: 0,
        checkpoint: 0,
    };
    // The next chunk is read, decoded and opened on a connection and a task of its own while this
    // one is applied: decoding takes about as long as applying, and the two then share the
    // machine's cores. Memory holds two chunks.
    let types = projection.aggregate_types();
    let read = |position| {
        tokio::spawn(read_chunk(
            pool.clone(),
            keys.clone(),
            types,
            position,
            CHUNK,
        ))
    };
    let mut next = read(0);
    loop {
        let chunk = match next.await {
            Ok(read) => read?,
            Err(stopped) => std::panic::resume_unwind(stopped.into_panic()),
        };
        let Some(last) = chunk.last() else { break };
        report.checkpoint = last.global_position;
        next = read(report.checkpoint);
        let events: Vec<&RecordedEvent> = chunk.iter().collect();
        let mut positions = Positions::continuing(&events);
        apply_guarded(&mut tx, projection, &mut positions, &events).await?;
        report.events += chunk.len() as u64;
    }
    fresh.swap_in(&mut tx).await?;
    // One position per aggregate, the last its chunks applied. A replay of the same events finds
    // most positions as they were and writes nothing for them; positions of aggregates the store
    // no longer holds (restored from an older backup) go.
    sqlx::query(
        "INSERT INTO projection_positions (projection, aggregate_type, aggregate_id, sequence) \
         SELECT $1, aggregate_type, aggregate_id, max(sequence) FROM replayed_positions \
         GROUP BY aggregate_type, aggregate_id ORDER BY aggregate_type, aggregate_id \
         ON CONFLICT (projection, aggregate_type, aggregate_id) DO UPDATE \
         SET sequence = EXCLUDED.sequence \
         WHERE projection_positions.sequence <> EXCLUDED.sequence",
    )
    .bind(projection.name())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM projection_positions p WHERE projection = $1 AND NOT EXISTS \
         (SELECT 1 FROM replayed_positions r \
          WHERE r.aggregate_type = p.aggregate_type AND r.aggregate_id = p.aggregate_id)",
    )
    .bind(projection.name())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection, global_position, updated_at, rebuilds) \
         VALUES ($1, 0, now(), 1) \
         ON CONFLICT (projection) DO UPDATE SET rebuilds = projection_checkpoints.rebuilds + 1",
    )
    .bind(projection.name())
    .execute(&mut *tx)
    .await?;
    if report.checkpoint > 0 {
        advance_checkpoint(&mut tx, projection.name(), report.checkpoint, "").await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// The next `limit` events of `aggregate_types` after `position`, in store order, opened.
async fn read_chunk(
    pool: PgPool,
    keys: DataKeys,
    aggregate_types: &'static [&'static str],
    position: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let mut conn = pool.acquire().await?;
    let events = event_log::events_after(&mut conn, aggregate_types, position, limit).await?;
    keys.open_all(&mut conn, events).await
}

#[cfg(test)]
mod tests {
    use super::parse_announcement;

    #[test]
    fn an_announcement_names_the_read_model_its_checkpoint_and_the_batch_positions() {
        assert_eq!(
            parse_announcement("tickets:42:40,42,41"),
            Some(("tickets", 42, vec![40, 42, 41]))
        );
        // A replay, or a batch whose positions did not fit, announces the checkpoint alone.
        assert_eq!(
            parse_announcement("tickets:42:"),
            Some(("tickets", 42, vec![]))
        );
        assert_eq!(
            parse_announcement("tickets:42"),
            Some(("tickets", 42, vec![]))
        );
        assert_eq!(parse_announcement("tickets:x:1"), None);
        assert_eq!(parse_announcement("tickets:42:1,y"), None);
        assert_eq!(parse_announcement("tickets"), None);
    }
}
