-- The status page read model: each component's state now (`status_components`), every change of
-- it (`status_component_history`, which the 90 daily bars and the uptime are read from), what it
-- keeps of each incident to derive the states (`status_incidents`), and the maintenance windows
-- (`status_maintenances`). From the incident and status page events.

CREATE TABLE status_components
(
    name            text PRIMARY KEY,
    -- An admin's override, which wins over the incidents while it is set.
    override_status text,
    -- The worst state the active incidents affecting it give.
    derived_status  text        NOT NULL,
    status          text        NOT NULL,
    since           timestamptz NOT NULL,
    first_seen      timestamptz NOT NULL
);

CREATE TABLE status_component_history
(
    name   text,
    since  timestamptz,
    status text NOT NULL,
    PRIMARY KEY (name, since)
);

CREATE TABLE status_incidents
(
    incident_id      uuid PRIMARY KEY,
    impact           text    NOT NULL,
    affected_systems text[]  NOT NULL,
    active           boolean NOT NULL
);

CREATE INDEX status_incidents_active ON status_incidents USING gin (affected_systems)
    WHERE active;

CREATE TABLE status_maintenances
(
    maintenance_id uuid PRIMARY KEY,
    title          text        NOT NULL,
    description    text,
    components     text[]      NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    cancelled_at   timestamptz
);

CREATE INDEX status_maintenances_by_end ON status_maintenances (ends_at) WHERE cancelled_at IS NULL;

-- The feed: incidents most recently changed first.
CREATE INDEX incidents_updated ON incidents (updated_at DESC, id DESC);
