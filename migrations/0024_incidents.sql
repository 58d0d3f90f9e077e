-- The incidents read model: each incident as it stands (`incidents`), its status updates
-- (`incident_updates`) and its post-mortem's action items (`incident_action_items`). The links to
-- tickets are the tickets' own (`tickets.related_incidents`), found from the incident's side
-- through a GIN index.

CREATE TABLE incidents
(
    id                      uuid PRIMARY KEY,
    incident_number         text        NOT NULL UNIQUE,
    version                 bigint      NOT NULL,
    title                   text        NOT NULL,
    description             text        NOT NULL,
    severity                text        NOT NULL,
    status                  text        NOT NULL,
    category                text        NOT NULL,
    impact                  text        NOT NULL,
    affected_systems        text[]      NOT NULL,
    affected_services       text[]      NOT NULL,
    affected_customers      integer     NOT NULL,
    incident_commander      text,
    assigned_team           text[]      NOT NULL,
    reported_by             text        NOT NULL,
    detected_at             timestamptz NOT NULL,
    acknowledged_at         timestamptz,
    acknowledged_by         text,
    resolved_at             timestamptz,
    closed_at               timestamptz,
    -- Minutes from detection, from the severity.
    response_time_target    integer     NOT NULL,
    resolution_time_target  integer     NOT NULL,
    response_breached_at    timestamptz,
    resolution_breached_at  timestamptz,
    sla_breached            boolean     NOT NULL,
    root_cause              text,
    mitigation              text,
    resolution              text,
    -- The post-mortem's texts (PostMortemFields), and when it was completed.
    post_mortem             jsonb       NOT NULL,
    post_mortem_completed_at timestamptz,
    created_by              text        NOT NULL,
    updated_at              timestamptz NOT NULL
);

-- The list runs newest detected first, within each filter; `active` is a partial index.
CREATE INDEX incidents_recent ON incidents (detected_at DESC, id DESC);
CREATE INDEX incidents_status ON incidents (status, detected_at DESC, id DESC);
CREATE INDEX incidents_severity ON incidents (severity, detected_at DESC, id DESC);
CREATE INDEX incidents_category ON incidents (category, detected_at DESC, id DESC);
CREATE INDEX incidents_impact ON incidents (impact, detected_at DESC, id DESC);
CREATE INDEX incidents_commander ON incidents (incident_commander, detected_at DESC, id DESC);
CREATE INDEX incidents_active ON incidents (detected_at DESC, id DESC)
    WHERE status NOT IN ('RESOLVED', 'CLOSED');

-- The next deadline of each active incident with a target still unmet and not yet missed: the
-- SLA timer claims it when it falls due, as it claims `sla_timers`.
CREATE TABLE incident_timers
(
    incident_id   uuid PRIMARY KEY,
    due_at        timestamptz NOT NULL,
    claimed_until timestamptz
);

CREATE INDEX incident_timers_by_due ON incident_timers (due_at);
CREATE INDEX incident_timers_by_lease ON incident_timers (claimed_until)
    WHERE claimed_until IS NOT NULL;

CREATE TABLE incident_updates
(
    update_id   uuid PRIMARY KEY,
    incident_id uuid        NOT NULL,
    visibility  text        NOT NULL,
    message     text        NOT NULL,
    status      text        NOT NULL,
    posted_by   text        NOT NULL,
    posted_at   timestamptz NOT NULL
);

CREATE INDEX incident_updates_of ON incident_updates (incident_id, posted_at, update_id);

CREATE TABLE incident_action_items
(
    item_id     uuid PRIMARY KEY,
    incident_id uuid        NOT NULL,
    title       text        NOT NULL,
    owner       text,
    due_date    date,
    status      text        NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE INDEX incident_action_items_of ON incident_action_items (incident_id, created_at, item_id);

-- An incident's linked tickets, from the tickets' side.
CREATE INDEX tickets_related_incidents ON tickets USING gin (related_incidents);

-- The ticket links of an incident's timeline, from the tickets' streams.
CREATE INDEX events_incident_links ON events (((payload -> event_type) ->> 'incidentId'))
    WHERE aggregate_type = 'ticket'
      AND event_type IN ('TicketIncidentLinked', 'TicketIncidentUnlinked');

-- What the notification planner's incident rule decides by: each incident's severity and
-- responders, and the tickets linked to it (whose customers hear of its public updates).
CREATE TABLE notice_incidents
(
    incident_id uuid PRIMARY KEY,
    severity    text   NOT NULL,
    commander   text,
    team        text[] NOT NULL
);

CREATE TABLE notice_incident_tickets
(
    incident_id uuid,
    ticket_id   uuid,
    PRIMARY KEY (incident_id, ticket_id)
);

-- The `incident_holds` read model: which tickets are linked to which incidents, and which
-- incidents are active, from both streams; and the tickets whose hold may have changed, which the
-- SLA timer claims (as it claims `sla_timers`) to send each the incidents now active among its
-- links. The checks are work, not a view: a replay leaves them be (and adds some, harmlessly).
CREATE TABLE incident_hold_links
(
    incident_id uuid,
    ticket_id   uuid,
    PRIMARY KEY (incident_id, ticket_id)
);

CREATE INDEX incident_hold_links_of_ticket ON incident_hold_links (ticket_id);

CREATE TABLE incident_hold_activity
(
    incident_id uuid PRIMARY KEY,
    active      boolean NOT NULL
);

CREATE TABLE incident_hold_checks
(
    ticket_id     uuid PRIMARY KEY,
    due_at        timestamptz NOT NULL,
    claimed_until timestamptz
);

CREATE INDEX incident_hold_checks_by_due ON incident_hold_checks (due_at);
CREATE INDEX incident_hold_checks_by_lease ON incident_hold_checks (claimed_until)
    WHERE claimed_until IS NOT NULL;
