-- Write side: one number counter per prefix (TKT, INC, KB) and UTC day, and the aggregate each
-- number was given to, so a command can name an aggregate by its number without a read model.
CREATE TABLE number_counters
(
    prefix     text,
    day        date,
    last_value bigint NOT NULL,
    PRIMARY KEY (prefix, day)
);
INSERT INTO number_counters (prefix, day, last_value)
SELECT 'TKT', day, last_value FROM ticket_number_counters;
DROP TABLE ticket_number_counters;

CREATE TABLE numbered_aggregates
(
    prefix       text,
    day          date,
    counter      bigint,
    aggregate_id uuid NOT NULL,
    PRIMARY KEY (prefix, day, counter)
);
INSERT INTO numbered_aggregates (prefix, day, counter, aggregate_id)
SELECT 'TKT', to_date(split_part(number, '-', 2), 'YYYYMMDD'), split_part(number, '-', 3)::bigint,
       aggregate_id::uuid
FROM (SELECT payload -> 'TicketOpened' ->> 'ticketNumber' AS number, aggregate_id
      FROM events WHERE aggregate_type = 'ticket' AND event_type = 'TicketOpened') AS opened;

-- The last sequence each read model applied of each aggregate: the one guard against duplicates
-- and gaps for every projection, and what a command's answer waits for.
CREATE TABLE projection_positions
(
    projection     text,
    aggregate_type text,
    aggregate_id   text,
    sequence       bigint NOT NULL,
    PRIMARY KEY (projection, aggregate_type, aggregate_id)
);
INSERT INTO projection_positions (projection, aggregate_type, aggregate_id, sequence)
SELECT 'tickets', 'ticket', id::text, version FROM tickets;

-- Events a read model could not apply after a bounded number of deliveries, kept for an admin to
-- retry. `message` is the envelope as it arrived: it may hold a customer's personal data.
CREATE TABLE dead_letters
(
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    projection     text        NOT NULL,
    subject        text        NOT NULL,
    aggregate_type text,
    aggregate_id   text,
    sequence       bigint,
    event_type     text,
    error          text        NOT NULL,
    deliveries     bigint      NOT NULL,
    retries        bigint      NOT NULL DEFAULT 0,
    message        bytea       NOT NULL,
    dead_at        timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    text
);
CREATE INDEX dead_letters_open ON dead_letters (projection, aggregate_type, aggregate_id)
    WHERE resolved_at IS NULL;
