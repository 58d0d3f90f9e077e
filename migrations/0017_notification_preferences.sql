-- Read model: each user's notification preferences, as the `notification_preferences` projection
-- builds them from the preferences events. One row per user who ever saved; a user without a row
-- has the defaults (`Preferences::defaults`). `email` and `phone` are personal data, in clear here
-- (sealed in the events): `[erased]` once the preferences' data key is destroyed.
CREATE TABLE notification_preferences
(
    -- The aggregate's id: the UUID v5 of `sub` (`preferences_id`).
    id            uuid PRIMARY KEY,
    sub           text        NOT NULL UNIQUE,
    -- The role and teams the user's token named when they last saved.
    role          text        NOT NULL,
    teams         text[]      NOT NULL,
    -- The customer account of a customer; NULL for staff.
    customer_id   text,
    -- Channels per notification kind: `{"SLA_BREACH": ["IN_APP", "EMAIL"], ...}`.
    channels      jsonb       NOT NULL,
    email         text,
    phone         text,
    -- The time zone and working hours: `{"timeZone": "...", "workingHours": {...}}`.
    working_time  jsonb       NOT NULL,
    erased_at     timestamptz,
    updated_at    timestamptz NOT NULL,
    -- The sequence of the last event applied: the version a command's response waits for.
    version       bigint      NOT NULL
);

-- Escalation recipients are named by sub (the unique index above), role or team: one query
-- finds them all through these and a BitmapOr.
CREATE INDEX notification_preferences_by_role ON notification_preferences (role);
CREATE INDEX notification_preferences_by_team ON notification_preferences USING gin (teams);
-- A customer account's export and erasure.
CREATE INDEX notification_preferences_by_customer ON notification_preferences (customer_id)
    WHERE customer_id IS NOT NULL;

-- An erasure receipt lists the notification preferences it erased beside the tickets.
ALTER TABLE personal_data_erasures
    ADD COLUMN notification_preferences uuid[] NOT NULL DEFAULT '{}';
