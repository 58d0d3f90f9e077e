-- The SLA side of the tickets read model: the policy a ticket runs under, its terms and clocks as
-- the last SLA event left them (`sla`, read by the API to show elapsed and remaining time at the
-- moment of a request), the most pressing clock state, and the deadlines of the clocks that are
-- running, which the "what breaches next" filters read.
ALTER TABLE tickets
    ADD COLUMN customer_tier     text,
    ADD COLUMN sla_state         text,
    ADD COLUMN response_due_at   timestamptz,
    ADD COLUMN resolution_due_at timestamptz,
    ADD COLUMN sla               jsonb;

CREATE INDEX tickets_by_sla_state ON tickets (sla_state, created_at DESC, id DESC);
CREATE INDEX tickets_by_response_due ON tickets (response_due_at) WHERE response_due_at IS NOT NULL;
CREATE INDEX tickets_by_resolution_due ON tickets (resolution_due_at)
    WHERE resolution_due_at IS NOT NULL;
CREATE INDEX tickets_by_customer_tier ON tickets (customer_tier, created_at DESC, id DESC);

-- The timer read model: one row per warning or deadline still to come. The SLA timer leases due
-- rows (`claimed_until`, taken with FOR UPDATE SKIP LOCKED and committed at once, so no lock is
-- held while it commands the tickets) and sleeps until the earliest one, or until the projection
-- notifies `sla_timers` of a new row. A row whose command failed is tried again once its lease
-- runs out; the projection rewrites a row, lease and all, when the ticket's clocks change.
CREATE TABLE sla_timers
(
    ticket_id     uuid        NOT NULL,
    clock         text        NOT NULL,
    kind          text        NOT NULL,
    due_at        timestamptz NOT NULL,
    claimed_until timestamptz,
    PRIMARY KEY (ticket_id, clock, kind)
);

CREATE INDEX sla_timers_by_due ON sla_timers (due_at);
CREATE INDEX sla_timers_by_lease ON sla_timers (claimed_until) WHERE claimed_until IS NOT NULL;
