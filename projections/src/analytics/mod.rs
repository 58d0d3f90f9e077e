//! `analytics`: the support desk's figures as rollups, per UTC day, week, month and hour and per
//! slice of the desk (`analytics_rollups`, `analytics_hourly`, `analytics_backlog`; the grains as
//! `grain.rs` says), built from the ticket events so that `supportd replay` recomputes every one
//! of them. `tickets.rs` says what each event measures; `query.rs` reads a period's figures.
//! docs/analytics.md defines them.

pub mod histogram;
mod query;
pub mod sections;
pub mod tickets;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use support_domain::ticket::TicketEvent;
use support_domain::{RecordedEvent, ERASED};
use uuid::Uuid;

pub use query::{
    analytics, AgeBucket, AgentFigures, Analytics, AnalyticsFilter, Backlog, Breakdown,
    FirstContactResolution, Interval, SeriesPoint, TicketCounts, TimeFigures, Times,
};

use self::histogram::Histogram;
use self::tickets::{Figure, Measured, Slice, TicketRecord};
use crate::copy_rows::copy_rows;
use crate::grain::Grain;
use crate::tickets::AGGREGATE_TYPE;
use crate::{Projection, ProjectionError, Redacted};

pub const READ_MODEL: &str = "analytics";

/// The ticket events that measure something or change what later ones measure.
const READ_EVENTS: &[&str] = &[
    "TicketOpened",
    "TicketReprioritized",
    "TicketRecategorized",
    "TicketCustomerTierChanged",
    "TicketAssigned",
    "TicketUnassigned",
    "TicketStatusChanged",
    "TicketCommentAdded",
    "TicketFirstResponseRecorded",
    "SlaPolicyApplied",
    "TicketSatisfactionRated",
    "PersonalDataErased",
];

pub struct AnalyticsProjection;

#[async_trait]
impl Projection for AnalyticsProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "analytics_tickets",
            "analytics_rollups",
            "analytics_hourly",
            "analytics_backlog",
            "ticket_satisfaction",
        ]
    }

    /// Folds the batch into each ticket's record in memory and adds what it measured to the
    /// rollups: a few statements a batch, whatever its size.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let read: Vec<&RecordedEvent> = events
            .iter()
            .copied()
            .filter(|e| READ_EVENTS.contains(&e.event_type.as_str()))
            .collect();
        if read.is_empty() {
            return Ok(());
        }
        let mut tickets: Vec<Uuid> = Vec::with_capacity(read.len());
        for event in &read {
            tickets.push(
                Uuid::parse_str(&event.aggregate_id)
                    .map_err(|e| ProjectionError::undecodable_event(event, e))?,
            );
        }
        let stored = crate::sla::already_stored(events, tickets.iter().copied());
        let mut records = stored_records(conn, &stored).await?;

        let mut rollups = Rollups::default();
        let mut ratings = Ratings::default();
        for (event, ticket) in read.iter().zip(tickets) {
            let decoded = TicketEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
            ratings.add(ticket, &decoded, event.occurred_at);
            let measured = match TicketRecord::opened(&decoded, event.occurred_at) {
                Some((record, measured)) => {
                    records.insert(ticket, record);
                    measured
                }
                None => records
                    .get_mut(&ticket)
                    .ok_or_else(|| {
                        ProjectionError::undecodable_event(
                            event,
                            "the ticket's opening was never applied",
                        )
                    })?
                    .apply(&decoded, event.occurred_at),
            };
            rollups.add(measured);
        }

        if !stored.is_empty() {
            sqlx::query("DELETE FROM analytics_tickets WHERE ticket_id = ANY($1)")
                .bind(&stored)
                .execute(&mut *conn)
                .await?;
        }
        let mut rows = Vec::with_capacity(records.len());
        for (ticket_id, record) in records {
            let state = serde_json::to_string(&record)
                .map_err(|e| ProjectionError::Unwritable(serde::ser::Error::custom(e)))?;
            rows.push(TicketRow { ticket_id, state });
        }
        rows.sort_unstable_by_key(|r| r.ticket_id);
        copy_rows(conn, "analytics_tickets", &rows).await?;
        ratings.write(conn).await?;
        rollups.write(conn).await
    }
}

/// The batch's ratings (each ticket's last) and erasures, for `ticket_satisfaction`.
#[derive(Default)]
struct Ratings {
    rated: HashMap<Uuid, SatisfactionRow>,
    erased: Vec<Uuid>,
}

#[derive(Serialize)]
struct SatisfactionRow {
    ticket_id: Uuid,
    resolution: i32,
    score: i16,
    comment: Option<String>,
    rated_at: DateTime<Utc>,
}

impl Ratings {
    fn add(&mut self, ticket_id: Uuid, event: &TicketEvent, at: DateTime<Utc>) {
        match event {
            TicketEvent::TicketSatisfactionRated {
                resolution,
                score,
                comment,
            } => {
                let row = SatisfactionRow {
                    ticket_id,
                    resolution: i32::try_from(*resolution).unwrap_or(i32::MAX),
                    score: i16::from(score.get()),
                    comment: comment.as_ref().map(|c| c.as_str().to_owned()),
                    rated_at: at,
                };
                self.rated.insert(ticket_id, row);
            }
            TicketEvent::PersonalDataErased { .. } => {
                if let Some(row) = self.rated.get_mut(&ticket_id) {
                    row.comment = row.comment.as_ref().map(|_| ERASED.to_owned());
                }
                self.erased.push(ticket_id);
            }
            _ => {}
        }
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        let mut rows: Vec<SatisfactionRow> = self.rated.into_values().collect();
        rows.sort_unstable_by_key(|r| r.ticket_id);
        let replaced: Vec<Uuid> = rows.iter().map(|r| r.ticket_id).collect();
        if !replaced.is_empty() {
            sqlx::query("DELETE FROM ticket_satisfaction WHERE ticket_id = ANY($1)")
                .bind(&replaced)
                .execute(&mut *conn)
                .await?;
        }
        copy_rows(conn, "ticket_satisfaction", &rows).await?;
        if !self.erased.is_empty() {
            sqlx::query(
                "UPDATE ticket_satisfaction SET comment = $2 \
                 WHERE ticket_id = ANY($1) AND comment IS NOT NULL",
            )
            .bind(&self.erased)
            .bind(ERASED)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// A ticket's latest satisfaction rating, as its customer and the desk read it back.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SatisfactionView {
    pub ticket_id: Uuid,
    /// Which resolution of the ticket it rates: 1 for the first.
    pub resolution: i32,
    #[schema(minimum = 1, maximum = 5)]
    pub score: i16,
    /// `[erased]` once the ticket's personal data is erased.
    pub comment: Option<String>,
    pub rated_at: DateTime<Utc>,
}

/// The ticket's latest rating, if it has one.
pub async fn satisfaction_of(
    pool: &sqlx::PgPool,
    ticket_id: Uuid,
) -> Result<Option<SatisfactionView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ticket_id, resolution, score, comment, rated_at FROM ticket_satisfaction \
         WHERE ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_optional(pool)
    .await
}

#[derive(Serialize)]
struct TicketRow {
    ticket_id: Uuid,
    state: String,
}

async fn stored_records(
    conn: &mut PgConnection,
    tickets: &[Uuid],
) -> Result<HashMap<Uuid, TicketRecord>, ProjectionError> {
    if tickets.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, sqlx::types::Json<TicketRecord>)> =
        sqlx::query_as("SELECT ticket_id, state FROM analytics_tickets WHERE ticket_id = ANY($1)")
            .bind(tickets)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(|(id, state)| (id, state.0)).collect())
}

/// A figure of one slice over a day, week or month (or a period), as a change to add or as the row
/// it adds up to.
#[derive(Debug, Clone, Default)]
struct FigureSum {
    measured: i64,
    calendar_seconds: f64,
    business_seconds: f64,
    calendar_histogram: Histogram,
    business_histogram: Histogram,
}

impl FigureSum {
    fn add(&mut self, other: &FigureSum) {
        self.measured += other.measured;
        self.calendar_seconds += other.calendar_seconds;
        self.business_seconds += other.business_seconds;
        self.calendar_histogram.add(&other.calendar_histogram);
        self.business_histogram.add(&other.business_histogram);
    }
}

/// A row of `analytics_rollups`: the slice, figure, grain and the day, week or month it starts on.
type RollupKey = (Slice, Figure, Grain, NaiveDate);

/// What a batch adds to the rollups, summed per row before anything is written.
#[derive(Default)]
struct Rollups {
    sums: HashMap<RollupKey, FigureSum>,
    hourly: HashMap<(Slice, Figure, DateTime<Utc>), i64>,
    /// (slice, grain, the day, week or month it starts on, opening day): moves.
    backlog: HashMap<(Slice, Grain, NaiveDate, NaiveDate), i32>,
}

impl Rollups {
    fn add(&mut self, measured: Measured) {
        for measure in measured.measures {
            let day = measure.at.date_naive();
            let hour = measure
                .at
                .duration_trunc(TimeDelta::hours(1))
                .unwrap_or(measure.at);
            for slice in measure.slices {
                for grain in Grain::ALL {
                    let row = self
                        .sums
                        .entry((slice.clone(), measure.figure, grain, grain.start(day)))
                        .or_default();
                    row.measured += i64::from(measure.times);
                    if let Some(span) = measure.span {
                        let times = f64::from(measure.times);
                        row.calendar_seconds += times * span.calendar;
                        row.business_seconds += times * span.business;
                        row.calendar_histogram.record(span.calendar, measure.times);
                        row.business_histogram.record(span.business, measure.times);
                    }
                }
                *self
                    .hourly
                    .entry((slice, measure.figure, hour))
                    .or_default() += i64::from(measure.times);
            }
        }
        for moved in measured.backlog {
            for grain in Grain::ALL {
                *self
                    .backlog
                    .entry((
                        moved.slice.clone(),
                        grain,
                        grain.start(moved.day),
                        moved.opened_on,
                    ))
                    .or_default() += moved.moves;
            }
        }
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        self.write_sums(conn).await?;

        let (mut dimensions, mut values, mut figures, mut hours, mut counts) =
            (vec![], vec![], vec![], vec![], vec![]);
        for ((slice, figure, hour), measured) in self.hourly {
            dimensions.push(slice.dimension.as_str());
            values.push(slice.value);
            figures.push(figure.as_str());
            hours.push(hour);
            counts.push(measured);
        }
        if !counts.is_empty() {
            sqlx::query(
                "INSERT INTO analytics_hourly (dimension, value, figure, hour, measured) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], \
                     $5::bigint[]) \
                 ON CONFLICT (dimension, value, figure, hour) \
                 DO UPDATE SET measured = analytics_hourly.measured + excluded.measured",
            )
            .bind(&dimensions)
            .bind(&values)
            .bind(&figures)
            .bind(&hours)
            .bind(&counts)
            .execute(&mut *conn)
            .await?;
        }

        let (mut dimensions, mut values, mut grains, mut starts, mut opened, mut moves) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for ((slice, grain, starts_on, opened_on), moved) in self.backlog {
            if moved == 0 {
                continue;
            }
            dimensions.push(slice.dimension.as_str());
            values.push(slice.value);
            grains.push(grain.as_str());
            starts.push(starts_on);
            opened.push(opened_on);
            moves.push(moved);
        }
        if !moves.is_empty() {
            sqlx::query(
                "INSERT INTO analytics_backlog \
                     (dimension, value, grain, starts_on, opened_on, moves) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], \
                     $5::date[], $6::integer[]) \
                 ON CONFLICT (dimension, value, grain, starts_on, opened_on) \
                 DO UPDATE SET moves = analytics_backlog.moves + excluded.moves",
            )
            .bind(&dimensions)
            .bind(&values)
            .bind(&grains)
            .bind(&starts)
            .bind(&opened)
            .bind(&moves)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// The rows hold histograms, which SQL cannot add: the touched rows are read, added to
    /// here, and written again.
    async fn write_sums(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.sums.is_empty() {
            return Ok(());
        }
        let (mut dimensions, mut values, mut grains, mut starts, mut figures) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (slice, figure, grain, starts_on) in self.sums.keys() {
            dimensions.push(slice.dimension.as_str());
            values.push(slice.value.as_str());
            grains.push(grain.as_str());
            starts.push(*starts_on);
            figures.push(figure.as_str());
        }
        let stored: Vec<RollupRow> = sqlx::query_as(
            "DELETE FROM analytics_rollups r \
             USING unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[]) \
                 AS k(dimension, value, grain, starts_on, figure) \
             WHERE (r.dimension, r.value, r.grain, r.starts_on, r.figure) \
                 = (k.dimension, k.value, k.grain, k.starts_on, k.figure) \
             RETURNING r.*",
        )
        .bind(&dimensions)
        .bind(&values)
        .bind(&grains)
        .bind(&starts)
        .bind(&figures)
        .fetch_all(&mut *conn)
        .await?;
        let mut rows: HashMap<RowKey, RollupRow> =
            stored.into_iter().map(|row| (row.key(), row)).collect();
        let mut written = Vec::with_capacity(self.sums.len());
        for ((slice, figure, grain, starts_on), change) in &self.sums {
            let key = (
                slice.dimension.as_str().to_owned(),
                slice.value.clone(),
                grain.as_str().to_owned(),
                *starts_on,
                figure.as_str().to_owned(),
            );
            let mut total = rows.remove(&key).map(RollupRow::figure).unwrap_or_default();
            total.add(change);
            if total.measured != 0 {
                written.push(RollupRow::of(key, total));
            }
        }
        written.sort_unstable_by(|a, b| a.order().cmp(&b.order()));
        copy_rows(conn, "analytics_rollups", &written).await
    }
}

/// A row's primary key: dimension, value, grain, start, figure.
type RowKey = (String, String, String, NaiveDate, String);

#[derive(Debug, Serialize, sqlx::FromRow)]
struct RollupRow {
    dimension: String,
    value: String,
    grain: String,
    starts_on: NaiveDate,
    figure: String,
    measured: i64,
    calendar_seconds: f64,
    business_seconds: f64,
    calendar_histogram: Vec<i32>,
    business_histogram: Vec<i32>,
}

impl RollupRow {
    /// The primary key, borrowed.
    fn order(&self) -> (&str, &str, &str, NaiveDate, &str) {
        (
            &self.dimension,
            &self.value,
            &self.grain,
            self.starts_on,
            &self.figure,
        )
    }

    fn key(&self) -> RowKey {
        (
            self.dimension.clone(),
            self.value.clone(),
            self.grain.clone(),
            self.starts_on,
            self.figure.clone(),
        )
    }

    fn figure(self) -> FigureSum {
        FigureSum {
            measured: self.measured,
            calendar_seconds: self.calendar_seconds,
            business_seconds: self.business_seconds,
            calendar_histogram: Histogram::from_counts(self.calendar_histogram),
            business_histogram: Histogram::from_counts(self.business_histogram),
        }
    }

    fn of((dimension, value, grain, starts_on, figure): RowKey, total: FigureSum) -> Self {
        RollupRow {
            dimension,
            value,
            grain,
            starts_on,
            figure,
            measured: total.measured,
            calendar_seconds: total.calendar_seconds,
            business_seconds: total.business_seconds,
            calendar_histogram: total.calendar_histogram.counts().to_vec(),
            business_histogram: total.business_histogram.counts().to_vec(),
        }
    }
}
