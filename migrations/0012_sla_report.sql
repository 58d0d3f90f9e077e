-- The SLA report's read model, built by the `sla_report` projection from the ticket events.

-- What the report needs of each ticket, as its events leave it: the dimensions a verdict is
-- filed under, the policy it runs under and when its clocks started.
CREATE TABLE sla_report_tickets
(
    ticket_id     uuid PRIMARY KEY,
    ticket_number text        NOT NULL,
    priority      text        NOT NULL,
    category      text        NOT NULL,
    customer_tier text,
    -- NULL while no policy applies.
    policy_id     uuid,
    opened_at     timestamptz NOT NULL
);

-- One row per clock of a ticket that has a verdict: MET (completed within its target) or BREACHED
-- (its deadline passed, whether it still counts or ended late). A clock without a verdict (running,
-- paused, stopped unbreached, or a met resolution clock restarted by a reopening) has no row.
-- Priority, category, tier and policy are the ticket's at the verdict. Durations are seconds:
-- `counted` in the policy's calendar (business time), `calendar` on the wall clock from opening,
-- pauses included; `breach` is counted past the target.
CREATE TABLE sla_report
(
    ticket_id        uuid             NOT NULL,
    clock            text             NOT NULL,
    ticket_number    text             NOT NULL,
    priority         text             NOT NULL,
    category         text             NOT NULL,
    customer_tier    text,
    policy_id        uuid             NOT NULL,
    verdict          text             NOT NULL,
    -- MET: when the clock completed; BREACHED: the breach's true instant.
    verdict_at       timestamptz      NOT NULL,
    started_at       timestamptz      NOT NULL,
    -- When the clock ended (completed, or stopped by a cancellation); NULL while a breached clock
    -- still counts.
    ended_at         timestamptz,
    -- When the promise was kept, late or not; NULL for a clock stopped or still counting.
    completed_at     timestamptz,
    target_seconds   double precision NOT NULL,
    -- NULL while the clock still counts.
    counted_seconds  double precision,
    -- Only for a completed clock.
    calendar_seconds double precision,
    -- Only for a breached clock that ended.
    breach_seconds   double precision,
    PRIMARY KEY (ticket_id, clock)
);

-- The report reads a range of verdicts, unfiltered or filtered by one dimension; a second filter
-- is applied to the rows the first one's index finds.
CREATE INDEX sla_report_by_verdict_at ON sla_report (verdict_at);
CREATE INDEX sla_report_by_priority ON sla_report (priority, verdict_at);
CREATE INDEX sla_report_by_category ON sla_report (category, verdict_at);
CREATE INDEX sla_report_by_customer_tier ON sla_report (customer_tier, verdict_at);
-- The longest breaches are among the breaches that ended: a seventh of the rows, say.
CREATE INDEX sla_report_ended_breaches ON sla_report (verdict_at) WHERE breach_seconds IS NOT NULL;

-- The what-if finds the tickets opened in a range straight from the event store: the openings
-- alone, by the instant they happened.
CREATE INDEX events_ticket_openings ON events (event_occurred_at(metadata))
    WHERE aggregate_type = 'ticket' AND event_type = 'TicketOpened';
