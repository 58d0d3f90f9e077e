-- Support analytics: the `analytics` read model, built from the ticket events. Figures are kept
-- as rollups (per UTC day and hour, per slice of the desk), so that a period's figures read a few
-- rows per day whatever the number of tickets. docs/analytics.md defines every figure.
--
-- A slice is the whole desk (`dimension` 'all', `value` '') or the tickets of one priority,
-- category, channel, customer tier or assignee ('priority', 'category', 'channel',
-- 'customerTier', 'agent') as they stood when the figure was measured.

-- What the read model must remember of each ticket to measure its next figure (its dimensions,
-- status, calendar, time accumulated per status, first reply, first resolution): JSON, since
-- nothing queries it but the projection itself.
CREATE TABLE analytics_tickets
(
    ticket_id uuid PRIMARY KEY,
    state     jsonb NOT NULL
);

-- Per UTC day, slice and figure: how many times the figure was measured and, for durations, the
-- sum of the durations (seconds, on the wall clock and in the ticket's business calendar) and
-- their histograms (counts per bucket, see docs/analytics.md; trailing empty buckets dropped).
CREATE TABLE analytics_daily
(
    dimension          text             NOT NULL,
    value              text             NOT NULL,
    figure             text             NOT NULL,
    day                date             NOT NULL,
    measured           bigint           NOT NULL,
    calendar_seconds   double precision NOT NULL,
    business_seconds   double precision NOT NULL,
    calendar_histogram integer[]        NOT NULL,
    business_histogram integer[]        NOT NULL,
    PRIMARY KEY (dimension, value, figure, day)
);

-- Per UTC hour, slice and figure, how many times it was measured: the time series.
CREATE TABLE analytics_hourly
(
    dimension text        NOT NULL,
    value     text        NOT NULL,
    figure    text        NOT NULL,
    hour      timestamptz NOT NULL,
    measured  bigint      NOT NULL,
    PRIMARY KEY (dimension, value, figure, hour)
);

-- The backlog's moves: per UTC day, slice and day the tickets were opened, how many entered the
-- backlog (opened, reopened, moved into the slice) less how many left it (resolved, cancelled,
-- moved out). The backlog at the end of a day is the sum of the moves up to it, per opening day.
CREATE TABLE analytics_backlog
(
    dimension text    NOT NULL,
    value     text    NOT NULL,
    day       date    NOT NULL,
    opened_on date    NOT NULL,
    moves     integer NOT NULL,
    PRIMARY KEY (dimension, value, day, opened_on)
);

-- Each ticket's latest satisfaction rating, by its customer. Personal data: the comment reads
-- `[erased]` once the ticket's personal data is erased.
CREATE TABLE ticket_satisfaction
(
    ticket_id  uuid PRIMARY KEY,
    -- Which resolution of the ticket it rates: 1 for the first.
    resolution integer     NOT NULL,
    score      smallint    NOT NULL,
    comment    text,
    rated_at   timestamptz NOT NULL
);

-- Knowledge base views per UTC day, added to by the fold that counts them per article: views are
-- reads, not events, so this is the one figure of analytics a replay does not rebuild.
CREATE TABLE kb_daily_views
(
    day   date PRIMARY KEY,
    views bigint NOT NULL
);

-- Analytics reads the ratings last given in a period.
CREATE INDEX kb_ratings_updated ON kb_ratings (updated_at);

-- Customers' NPS responses, built by the `nps_responses` projection from the `nps_survey`
-- events. Personal data: the comment reads `[erased]` once the account is erased.
CREATE TABLE nps_responses
(
    survey_id    uuid        NOT NULL,
    -- The response's event in the survey's stream.
    sequence     bigint      NOT NULL,
    customer_id  text        NOT NULL,
    respondent   text        NOT NULL,
    score        smallint    NOT NULL,
    comment      text,
    responded_at timestamptz NOT NULL,
    erased_at    timestamptz,
    PRIMARY KEY (survey_id, sequence)
);
CREATE INDEX nps_responses_at ON nps_responses (responded_at);
-- An account's responses still holding their comments, for the export and the erasure.
CREATE INDEX nps_responses_by_customer ON nps_responses (customer_id) WHERE erased_at IS NULL;

ALTER TABLE personal_data_erasures
    ADD COLUMN nps_surveys uuid[] NOT NULL DEFAULT '{}';

-- Alert rules (the `alert_rules` projection of the `alert_rule` events) and their firings.
CREATE TABLE alert_rules
(
    rule_id          uuid PRIMARY KEY,
    version          bigint           NOT NULL,
    name             text             NOT NULL,
    kind             text             NOT NULL,
    threshold        double precision NOT NULL,
    recipients       jsonb            NOT NULL,
    cooldown_minutes integer          NOT NULL,
    active           boolean          NOT NULL,
    created_at       timestamptz      NOT NULL,
    updated_at       timestamptz      NOT NULL,
    last_fired_at    timestamptz
);
CREATE INDEX alert_rules_listed ON alert_rules (created_at, rule_id);

CREATE TABLE alert_firings
(
    rule_id   uuid             NOT NULL,
    sequence  bigint           NOT NULL,
    subject   text             NOT NULL,
    observed  double precision NOT NULL,
    threshold double precision NOT NULL,
    detail    text             NOT NULL,
    fired_at  timestamptz      NOT NULL,
    PRIMARY KEY (rule_id, sequence)
);
