-- Indexes of the audit search (`GET /audit`, `supportd audit`), which reads the event store newest
-- first (`global_position DESC`) by actor, role, event type and time. An aggregate's own events
-- are found through the primary key, and a search by aggregate type alone walks the
-- `global_position` index, since there are few types.

-- When an event happened, as its metadata says. Declared IMMUTABLE, so that it can be indexed,
-- although casting text to timestamptz is only STABLE: the cast reads the session's TimeZone only
-- for a time without an offset, and `occurredAt` is RFC 3339, which always has one.
CREATE FUNCTION event_occurred_at(metadata json) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (metadata ->> 'occurredAt')::timestamptz;

CREATE INDEX events_by_actor ON events ((metadata ->> 'actorSub'), global_position DESC);
CREATE INDEX events_by_actor_role ON events ((metadata ->> 'actorRole'), global_position DESC);
CREATE INDEX events_by_event_type ON events (event_type, global_position DESC);
CREATE INDEX events_by_occurred_at ON events (event_occurred_at(metadata));
