-- Part of the tickets read model: how many tickets it holds, in all and for each value of each
-- filter a list can take alone (`unassigned` is the agents' shared queue). The projection moves
-- the counters by the events of each batch, in the batch's transaction, so they are exactly as
-- current as the rows. A list with one filter or none (an agent's queue and a customer's list
-- included) reads its total here, exact at any size, instead of counting its matches on every page.
--
-- `rewritten` counts the changes after which a list by search text, created time, customer or
-- channel may have fewer matches than before (a title edit, a replay): until it moves, such a
-- list only grows (see `LongLists` in projections/src/tickets/queries.rs).
CREATE TABLE ticket_counts
(
    dimension text,
    value     text,
    tickets   bigint NOT NULL,
    PRIMARY KEY (dimension, value)
);

INSERT INTO ticket_counts (dimension, value, tickets)
SELECT 'all', '', count(*) FROM tickets HAVING count(*) > 0
UNION ALL SELECT 'status', status, count(*) FROM tickets GROUP BY status
UNION ALL SELECT 'priority', priority, count(*) FROM tickets GROUP BY priority
UNION ALL SELECT 'category', category, count(*) FROM tickets GROUP BY category
UNION ALL SELECT 'channel', channel, count(*) FROM tickets GROUP BY channel
UNION ALL SELECT 'assigned_to', assigned_to, count(*) FROM tickets
    WHERE assigned_to IS NOT NULL GROUP BY assigned_to
UNION ALL SELECT 'unassigned', '', count(*) FROM tickets WHERE assigned_to IS NULL
    HAVING count(*) > 0
UNION ALL SELECT 'customer_id', customer_id, count(*) FROM tickets
    WHERE customer_id IS NOT NULL GROUP BY customer_id
UNION ALL SELECT 'sla_breached', sla_breached::text, count(*) FROM tickets GROUP BY sla_breached;
