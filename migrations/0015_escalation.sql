-- Read model: one row per escalation policy, as the `escalation_policies` projection builds it.
-- `definition` is the policy as its latest event states it (name and rules).
CREATE TABLE escalation_policies
(
    id         uuid PRIMARY KEY,
    name       text        NOT NULL,
    definition jsonb       NOT NULL,
    active     boolean     NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    -- The sequence of the last event applied: the version a command's response waits for.
    version    bigint      NOT NULL
);

-- The active policies, which the commands that may start a climb match among.
CREATE INDEX escalation_policies_active ON escalation_policies (created_at, id) WHERE active;
-- The list in its order, and its one filter.
CREATE INDEX escalation_policies_listed ON escalation_policies (created_at, id);
CREATE INDEX escalation_policies_by_active ON escalation_policies (active, created_at, id);

-- Read model: one row per ticket climbing a ladder with a next level to come, as the
-- `escalation_timers` projection builds it from the ticket events. The SLA timer claims a row when
-- it falls due, as it claims `sla_timers`; `until` is the clock whose promise ends the climb
-- (RESPONSE: the first public reply; RESOLUTION: resolving, closing or cancelling).
CREATE TABLE escalation_timers
(
    ticket_id     uuid PRIMARY KEY,
    due_at        timestamptz NOT NULL,
    until         text        NOT NULL,
    claimed_until timestamptz
);

CREATE INDEX escalation_timers_by_due ON escalation_timers (due_at);
CREATE INDEX escalation_timers_by_lease ON escalation_timers (claimed_until)
    WHERE claimed_until IS NOT NULL;
