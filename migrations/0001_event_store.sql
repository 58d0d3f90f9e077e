-- The event store: postgres-es's `events` table, plus a global order and the time of recording.
CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         json                         NOT NULL,
    metadata        json                         NOT NULL,
    global_position bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    recorded_at     timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- The audit trail is the event stream, so no event is ever changed or removed.
CREATE FUNCTION refuse_event_change() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'events are append-only: % on events is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_are_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_change();

CREATE TRIGGER events_are_never_truncated
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_change();

-- Positions not yet acknowledged by JetStream. Written in the transaction that appends the event,
-- so nothing committed can be missed by the relay.
CREATE TABLE event_outbox
(
    global_position bigint PRIMARY KEY
) WITH (
    -- Every row is deleted moments after it is inserted: vacuum often so scans skip no dead rows.
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0
);

CREATE FUNCTION enqueue_event_for_relay() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    INSERT INTO event_outbox (global_position) VALUES (NEW.global_position);
    PERFORM pg_notify('event_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_enter_the_outbox
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION enqueue_event_for_relay();

-- How far each read model has applied the stream; the API waits on it to read its own writes.
CREATE TABLE projection_checkpoints
(
    projection      text PRIMARY KEY,
    global_position bigint      NOT NULL,
    updated_at      timestamptz NOT NULL
);
