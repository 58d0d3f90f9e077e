CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Write side: the counter behind TKT-YYYYMMDD-XXXX, one row per UTC day.
CREATE TABLE ticket_number_counters
(
    day        date PRIMARY KEY,
    last_value bigint NOT NULL
);

-- Read model: one row per ticket, as the `tickets` projection builds it from the event stream.
CREATE TABLE tickets
(
    id                  uuid PRIMARY KEY,
    ticket_number       text        NOT NULL UNIQUE,
    title               text        NOT NULL,
    description         text        NOT NULL,
    priority            text        NOT NULL,
    status              text        NOT NULL,
    category            text        NOT NULL,
    channel             text        NOT NULL,
    customer_id         text,
    customer_name       text,
    customer_email      text,
    assigned_to         text,
    sla_id              uuid,
    response_deadline   timestamptz,
    resolution_deadline timestamptz,
    response_at         timestamptz,
    resolved_at         timestamptz,
    resolution_note     text,
    sla_breached        boolean     NOT NULL DEFAULT false,
    escalation_level    integer     NOT NULL DEFAULT 0,
    related_tickets     uuid[]      NOT NULL DEFAULT '{}',
    related_incidents   uuid[]      NOT NULL DEFAULT '{}',
    tags                text[]      NOT NULL DEFAULT '{}',
    affected_systems    text[]      NOT NULL DEFAULT '{}',
    created_by          text        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    -- The sequence of the last event applied: the guard against duplicates and the version
    -- a command's response waits for.
    version             bigint      NOT NULL,
    -- When the projection wrote the row first; event-to-read-model lag is measured from it.
    projected_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Lists sort newest first by (created_at, id); every filter has an index that also serves the sort.
CREATE INDEX tickets_by_created ON tickets (created_at DESC, id DESC);
CREATE INDEX tickets_by_status ON tickets (status, created_at DESC, id DESC);
CREATE INDEX tickets_by_priority ON tickets (priority, created_at DESC, id DESC);
CREATE INDEX tickets_by_category ON tickets (category, created_at DESC, id DESC);
CREATE INDEX tickets_by_channel ON tickets (channel, created_at DESC, id DESC);
CREATE INDEX tickets_by_assignee ON tickets (assigned_to, created_at DESC, id DESC);
CREATE INDEX tickets_by_customer ON tickets (customer_id, created_at DESC, id DESC);
CREATE INDEX tickets_by_sla_breached ON tickets (sla_breached, created_at DESC, id DESC);
CREATE INDEX tickets_text_search ON tickets USING gin ((ticket_number || ' ' || title) gin_trgm_ops);

CREATE TABLE ticket_comments
(
    id          uuid PRIMARY KEY,
    ticket_id   uuid        NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author_sub  text        NOT NULL,
    author_role text        NOT NULL,
    body        text        NOT NULL,
    visibility  text        NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE INDEX ticket_comments_by_ticket ON ticket_comments (ticket_id, created_at, id);
