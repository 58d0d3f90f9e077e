-- One `sla_timers` row per ticket, its next warning or deadline, instead of one per warning and
-- deadline still to come: a ticket's later instants follow from its clocks once the earlier one
-- is recorded (the projection replaces the row with each SLA event), and four rows with two
-- indexes each were a tenth of what an opening under a policy wrote.
CREATE TABLE sla_timers_next
(
    ticket_id     uuid PRIMARY KEY,
    kind          text        NOT NULL,
    due_at        timestamptz NOT NULL,
    claimed_until timestamptz
);
INSERT INTO sla_timers_next (ticket_id, kind, due_at, claimed_until)
SELECT DISTINCT ON (ticket_id) ticket_id, kind, due_at, claimed_until
FROM sla_timers
ORDER BY ticket_id, due_at, kind DESC;
DROP TABLE sla_timers;
ALTER TABLE sla_timers_next RENAME TO sla_timers;
ALTER INDEX sla_timers_next_pkey RENAME TO sla_timers_pkey;
CREATE INDEX sla_timers_by_due ON sla_timers (due_at);
CREATE INDEX sla_timers_by_lease ON sla_timers (claimed_until) WHERE claimed_until IS NOT NULL;
