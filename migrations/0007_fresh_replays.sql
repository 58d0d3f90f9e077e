-- A replay builds a read model's tables afresh and swaps them in (projections/src/rebuild.rs).
-- A foreign key would tie the fresh comments to the old tickets table; the read model needs none,
-- since the event store already holds each comment's ticket.
ALTER TABLE ticket_comments DROP CONSTRAINT ticket_comments_ticket_id_fkey;

-- How often each read model was rebuilt by a replay: its rows may differ from those before (a
-- fixed projection), so what was remembered about them, such as a list known to be long, is
-- forgotten when this moves.
ALTER TABLE projection_checkpoints ADD COLUMN rebuilds bigint NOT NULL DEFAULT 0;

