-- Knowledge base search at scale. A common word matches a fifth of a large knowledge base; ranked
-- through GIN, every match's document is read and ranked to find the best twenty (at 100,000
-- articles, 400 ms). RUM keeps each word's positions in the index and hands the matches over best
-- first, so a page reads only the rows it shows. The build installs the extension where the
-- server runs here from Debian's packages (projections/build.rs); docs/operations.md says what a
-- server elsewhere needs.
CREATE EXTENSION IF NOT EXISTS rum;

DROP INDEX kb_articles_document;
CREATE INDEX kb_articles_document ON kb_articles USING rum (document rum_tsvector_ops);

-- The text (content and the two search vectors, kilobytes an article) out of the row, so that
-- counting the matches by category reads narrow rows: a twelfth of the pages.
ALTER TABLE kb_articles SET (toast_tuple_target = 128);

-- Pinned articles come first whatever their rank, so they are looked up apart: they are few.
CREATE INDEX kb_articles_pinned ON kb_articles (id) WHERE is_pinned;

-- The transaction that last changed the articles, written by the read model with each change: a
-- search page an API process keeps (its search cache) is out of date once this moves.
CREATE TABLE kb_articles_changed
(
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    changed_in xid8    NOT NULL
);
INSERT INTO kb_articles_changed (changed_in) VALUES (pg_current_xact_id());
