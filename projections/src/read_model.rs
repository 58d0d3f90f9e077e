//! The read models there are, and the two ways events reach them: live batches from the bus and
//! a replay from the event store.

use sqlx::{PgConnection, PgPool};
use support_domain::RecordedEvent;

use crate::{event_log, tickets, ProjectionError};

/// The channel on which a committed batch announces `<read model>:<checkpoint>`.
pub const APPLIED_CHANNEL: &str = "projection_applied";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadModel {
    Tickets,
}

impl ReadModel {
    pub const ALL: &'static [ReadModel] = &[ReadModel::Tickets];

    pub fn name(self) -> &'static str {
        match self {
            ReadModel::Tickets => "tickets",
        }
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|model| model.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown read model {name:?}: known are {}",
                    known.join(", ")
                )
            })
    }

    /// The aggregate whose events build this read model.
    pub fn aggregate_type(self) -> &'static str {
        match self {
            ReadModel::Tickets => tickets::AGGREGATE_TYPE,
        }
    }

    /// Applies events of this read model's aggregate, in order.
    async fn apply(
        self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        match self {
            ReadModel::Tickets => tickets::apply_all(conn, events).await,
        }
    }

    async fn clear(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        match self {
            ReadModel::Tickets => tickets::clear(conn).await,
        }
    }

    /// Serialises live batches and replays of one read model across every process.
    async fn lock(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('read-model'), hashtext($1))")
            .bind(self.name())
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// Applies a batch inside the caller's transaction: each event at most once per aggregate sequence,
/// then moves the checkpoint and announces it on commit.
pub async fn apply_batch(
    conn: &mut PgConnection,
    model: ReadModel,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    model.lock(conn).await?;
    let own: Vec<&RecordedEvent> = events
        .iter()
        .filter(|e| e.aggregate_type == model.aggregate_type())
        .collect();
    model.apply(conn, &own).await?;
    if let Some(last) = events.iter().map(|e| e.global_position).max() {
        advance_checkpoint(conn, model, last).await?;
    }
    Ok(())
}

async fn advance_checkpoint(
    conn: &mut PgConnection,
    model: ReadModel,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH moved AS ( \
             INSERT INTO projection_checkpoints (projection, global_position, updated_at) \
             VALUES ($1, $2, now()) \
             ON CONFLICT (projection) DO UPDATE SET \
                 global_position = GREATEST(projection_checkpoints.global_position, EXCLUDED.global_position), \
                 updated_at = now() \
             RETURNING global_position) \
         SELECT pg_notify($3, $1 || ':' || global_position) FROM moved",
    )
    .bind(model.name())
    .bind(position)
    .bind(APPLIED_CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

/// The position up to which a read model has applied the stream (0 before its first batch).
pub async fn checkpoint(pool: &PgPool, model: ReadModel) -> Result<i64, sqlx::Error> {
    let position: Option<i64> = sqlx::query_scalar(
        "SELECT global_position FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(model.name())
    .fetch_optional(pool)
    .await?;
    Ok(position.unwrap_or(0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayReport {
    pub events: u64,
    pub checkpoint: i64,
}

/// Rebuilds a read model from the event store in one transaction. It holds the read model's lock,
/// so live batches wait and then find their events already applied (or apply the newer ones):
/// nothing is lost or applied twice, and readers see the old rows until the new ones commit.
pub async fn replay(pool: &PgPool, model: ReadModel) -> Result<ReplayReport, ProjectionError> {
    const CHUNK: i64 = 20_000;
    let mut tx = pool.begin().await?;
    model.lock(&mut tx).await?;
    model.clear(&mut tx).await?;
    let mut report = ReplayReport {
        events: 0,
        checkpoint: 0,
    };
    loop {
        let chunk =
            event_log::events_after(&mut tx, model.aggregate_type(), report.checkpoint, CHUNK)
                .await?;
        let Some(last) = chunk.last() else { break };
        report.checkpoint = last.global_position;
        model
            .apply(&mut tx, &chunk.iter().collect::<Vec<_>>())
            .await?;
        report.events += chunk.len() as u64;
    }
    if report.checkpoint > 0 {
        advance_checkpoint(&mut tx, model, report.checkpoint).await?;
    }
    tx.commit().await?;
    Ok(report)
}
