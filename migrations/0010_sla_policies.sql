-- Read model: one row per SLA policy, as the `sla_policies` projection builds it from the policy
-- events. `definition` is the policy as its latest event states it (the spec's `SLAPolicy` fields
-- without id and state); the columns beside it are what lists filter and sort on and what
-- the active ones are read by.
CREATE TABLE sla_policies
(
    id            uuid PRIMARY KEY,
    name          text        NOT NULL,
    priority      text        NOT NULL,
    -- NULL: the policy applies to every customer tier.
    customer_tier text,
    -- The list's order: priority (0 = P0_CRITICAL), then tier (0 = every tier, then ENTERPRISE
    -- to FREE), as the enums order them in code.
    priority_rank smallint    NOT NULL,
    tier_rank     smallint    NOT NULL,
    definition    jsonb       NOT NULL,
    active        boolean     NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- The sequence of the last event applied: the version a command's response waits for.
    version       bigint      NOT NULL
);

-- The active policies, which every ticket command that may match a policy reads (the ticket picks
-- among them): a scan of this index alone, however many inactive policies pile up.
CREATE INDEX sla_policies_active ON sla_policies (id) WHERE active;

-- The list, unfiltered, in its order; and its filters: priority (alone or with the tier), tier,
-- and active.
CREATE INDEX sla_policies_listed ON sla_policies (priority_rank, tier_rank, name, id);
CREATE INDEX sla_policies_by_priority ON sla_policies (priority, customer_tier);
CREATE INDEX sla_policies_by_tier ON sla_policies (customer_tier);
CREATE INDEX sla_policies_by_active ON sla_policies (active);
