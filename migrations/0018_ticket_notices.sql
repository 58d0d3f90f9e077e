-- The notification planner's rule for people (`projections/src/notifications/notices.rs`): what it
-- keeps of each ticket to decide who is told of an event and how urgently. Rebuilt by a replay of
-- the planner, like `webhook_subscriptions`.
CREATE TABLE notice_tickets
(
    ticket_id         uuid PRIMARY KEY,
    priority          text    NOT NULL,
    -- The assignee's sub; NULL in the queue.
    assignee          text,
    -- The customer account the ticket is for; NULL for a ticket without one.
    customer_id       text,
    -- As the SLA terms the ticket runs under say; false without a policy.
    notify_on_warning boolean NOT NULL,
    notify_on_breach  boolean NOT NULL
);

-- The position of the last event recorded before the rule was deployed: events up to it are
-- history, which nobody is told of now. A fresh store starts at 0. Not rebuilt by a replay.
CREATE TABLE notice_start
(
    position bigint NOT NULL
);
INSERT INTO notice_start (position)
SELECT coalesce(max(global_position), 0)
FROM events;
