-- Notifications: webhook endpoints as the API lists them, what the planner knows of their
-- subscriptions, and the deliveries with their attempts.

-- Read model of the `webhook_endpoint` aggregate, for the API. No signing secret: the delivery
-- worker opens it from the endpoint's own sealed event when it signs.
CREATE TABLE webhook_endpoints
(
    id              uuid PRIMARY KEY,
    url             text        NOT NULL,
    event_types     text[]      NOT NULL,
    description     text,
    active          boolean     NOT NULL,
    -- Why the service disabled it (the endpoint answered 410); NULL while active, or when an
    -- admin deactivated it.
    disabled_reason text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         bigint      NOT NULL
);

CREATE INDEX webhook_endpoints_listed ON webhook_endpoints (created_at, id);

-- The planner's view of the endpoints: which event types each active one takes, and the position
-- of the event that registered it, so that nothing recorded before it is ever delivered to it.
-- Rebuilt by a replay of the planner (it is the planner's only table).
CREATE TABLE webhook_subscriptions
(
    endpoint_id         uuid PRIMARY KEY,
    event_types         text[]  NOT NULL,
    active              boolean NOT NULL,
    registered_position bigint  NOT NULL
);

-- One row per (event, recipient, channel): the exactly-once key. The planner inserts with ON
-- CONFLICT DO NOTHING, so a redelivered or replayed event never yields a second delivery. No body
-- and no personal data: the event is read again from the store (by its position) and rendered
-- when it is sent. Never part of a replay, never pruned: a replay that found a row gone would
-- plan, and send, it again.
CREATE TABLE notification_deliveries
(
    id              uuid PRIMARY KEY,
    -- `RecordedEvent::message_id` of the event: `<aggregate type>:<aggregate id>:<sequence>`.
    message_id      text        NOT NULL,
    -- The envelope's `eventId`, which the delivery log shows.
    event_id        uuid        NOT NULL,
    global_position bigint      NOT NULL,
    event_type      text        NOT NULL,
    -- Opaque to the worker: a webhook endpoint's id, a user's sub.
    recipient       text        NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('WEBHOOK', 'EMAIL', 'SMS', 'IN_APP')),
    kind            text        NOT NULL,
    state           text        NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts        integer     NOT NULL DEFAULT 0,
    -- The attempt count at which the current series of retries began (0, or where the last resend
    -- found it): the retry budget counts from here.
    series_start    integer     NOT NULL DEFAULT 0,
    -- When it may be tried next; a planner rule may set it later than the event (working hours).
    next_attempt_at timestamptz NOT NULL,
    -- Claimed by a worker until then (FOR UPDATE SKIP LOCKED, committed at once).
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    last_error      text,
    UNIQUE (message_id, recipient, channel)
);

-- What the worker claims: pending rows by when they are due.
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at)
    WHERE state = 'PENDING';
-- A recipient's delivery log, newest first.
CREATE INDEX notification_deliveries_by_recipient
    ON notification_deliveries (recipient, channel, created_at DESC, id DESC);

CREATE TABLE notification_attempts
(
    delivery_id   uuid        NOT NULL REFERENCES notification_deliveries (id),
    number        integer     NOT NULL,
    started_at    timestamptz NOT NULL,
    -- DELIVERED, RETRY, FAILED or GONE.
    outcome       text        NOT NULL,
    http_status   integer,
    latency_ms    bigint      NOT NULL,
    error         text,
    -- When the delivery is tried again after this attempt; NULL when it is not.
    next_attempt_at timestamptz,
    PRIMARY KEY (delivery_id, number)
);
