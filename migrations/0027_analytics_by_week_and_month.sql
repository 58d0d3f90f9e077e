-- Analytics by the week and month (docs/analytics.md, Cost). Each rollup is kept per UTC day,
-- week (from Monday) and month, so that a period reads its whole months and weeks a row each and
-- only the few days left at its edges day by day: a year is 12 rows a slice and figure instead
-- of 365 (projections/src/grain.rs). The SLA report's verdicts are counted the same way, for the
-- compliance analytics shows.

-- `analytics_daily` becomes `analytics_rollups`: a row per grain ('day', 'week' or 'month'), the
-- UTC day, week or month it starts on, slice and figure.
ALTER TABLE analytics_daily RENAME TO analytics_rollups;
ALTER TABLE analytics_rollups RENAME COLUMN day TO starts_on;
ALTER TABLE analytics_rollups ADD COLUMN grain text NOT NULL DEFAULT 'day';
ALTER TABLE analytics_rollups ALTER COLUMN grain DROP DEFAULT;
ALTER TABLE analytics_rollups DROP CONSTRAINT analytics_daily_pkey;
-- The indexes carry the count, so that what reads counts only (the breakdowns, the series) reads
-- the index alone: a row with its histograms fills much of a page of its own.
ALTER TABLE analytics_rollups
    ADD PRIMARY KEY (dimension, value, grain, starts_on, figure) INCLUDE (measured);
-- The breakdowns read every slice of a few dimensions over a period.
CREATE INDEX analytics_rollups_by_period
    ON analytics_rollups (grain, starts_on, dimension, value, figure) INCLUDE (measured);

-- A histogram's counts added up, bucket by bucket: the weeks and months below are made of the
-- days already stored.
CREATE FUNCTION pg_temp.add_counts(total integer[], counts integer[]) RETURNS integer[]
    LANGUAGE sql IMMUTABLE AS
$$
SELECT coalesce(array_agg(coalesce(t, 0) + coalesce(c, 0) ORDER BY i), '{}')
FROM unnest(total, counts) WITH ORDINALITY AS b(t, c, i)
$$;
CREATE AGGREGATE pg_temp.sum_counts(integer[]) (
    SFUNC = pg_temp.add_counts,
    STYPE = integer[],
    INITCOND = '{}'
    );

INSERT INTO analytics_rollups (dimension, value, figure, grain, starts_on, measured,
                               calendar_seconds, business_seconds, calendar_histogram,
                               business_histogram)
SELECT dimension,
       value,
       figure,
       g.grain,
       date_trunc(g.grain, starts_on)::date,
       sum(measured),
       sum(calendar_seconds),
       sum(business_seconds),
       pg_temp.sum_counts(calendar_histogram ORDER BY starts_on),
       pg_temp.sum_counts(business_histogram ORDER BY starts_on)
FROM analytics_rollups,
     (VALUES ('week'), ('month')) AS g(grain)
GROUP BY dimension, value, figure, g.grain, date_trunc(g.grain, starts_on)
HAVING sum(measured) <> 0;

-- The backlog's moves per day, week and month: the backlog at a day's start adds up the months
-- before, then the month's weeks and days before it, instead of every day since the first.
ALTER TABLE analytics_backlog RENAME COLUMN day TO starts_on;
ALTER TABLE analytics_backlog ADD COLUMN grain text NOT NULL DEFAULT 'day';
ALTER TABLE analytics_backlog ALTER COLUMN grain DROP DEFAULT;
ALTER TABLE analytics_backlog DROP CONSTRAINT analytics_backlog_pkey;
ALTER TABLE analytics_backlog
    ADD PRIMARY KEY (dimension, value, grain, starts_on, opened_on) INCLUDE (moves);
CREATE INDEX analytics_backlog_by_period
    ON analytics_backlog (grain, starts_on, dimension, value) INCLUDE (moves);

INSERT INTO analytics_backlog (dimension, value, grain, starts_on, opened_on, moves)
SELECT dimension, value, g.grain, date_trunc(g.grain, starts_on)::date, opened_on, sum(moves)
FROM analytics_backlog,
     (VALUES ('week'), ('month')) AS g(grain)
GROUP BY dimension, value, g.grain, date_trunc(g.grain, starts_on), opened_on
HAVING sum(moves) <> 0;

-- The SLA report's verdicts counted per grain and UTC day, week or month of the verdict, by what its
-- compliance figures group them by (docs/sla.md): kept by the `sla_report` projection with the
-- verdicts themselves. `customer_tier` is '' for a ticket without one.
CREATE TABLE sla_verdict_counts
(
    grain         text    NOT NULL,
    starts_on     date    NOT NULL,
    clock         text    NOT NULL,
    priority      text    NOT NULL,
    category      text    NOT NULL,
    customer_tier text    NOT NULL,
    verdict       text    NOT NULL,
    -- A breached clock that still counts.
    open          boolean NOT NULL,
    clocks        bigint  NOT NULL,
    PRIMARY KEY (grain, starts_on, clock, priority, category, customer_tier, verdict, open)
        INCLUDE (clocks)
);
-- Counts that went back to zero (a verdict withdrawn or moved) are deleted after each batch.
CREATE INDEX sla_verdict_counts_emptied ON sla_verdict_counts (grain) WHERE clocks = 0;

INSERT INTO sla_verdict_counts
SELECT g.grain,
       date_trunc(g.grain, verdict_at AT TIME ZONE 'UTC')::date,
       clock,
       priority,
       category,
       coalesce(customer_tier, '') AS customer_tier,
       verdict,
       ended_at IS NULL AS open,
       count(*)
FROM sla_report,
     (VALUES ('day'), ('week'), ('month')) AS g(grain)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
