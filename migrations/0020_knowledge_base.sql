-- The knowledge base read models. `kb_articles` is the articles' current revision with the search
-- document; `kb_article_revisions` every revision in full, which the API compares pairwise; and
-- `kb_words` the words of the articles, where a search that finds little looks for the words a
-- typo meant. Views and searches are not events: they are counted where they happen.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE kb_articles
(
    id                 uuid PRIMARY KEY,
    article_number     text        NOT NULL UNIQUE,
    version            bigint      NOT NULL,
    revision           integer     NOT NULL,
    status             text        NOT NULL,
    title              text        NOT NULL,
    summary            text        NOT NULL,
    content            text        NOT NULL,
    category           text        NOT NULL,
    tags               text[]      NOT NULL,
    keywords           text[]      NOT NULL,
    author             text        NOT NULL,
    is_internal        boolean     NOT NULL,
    is_pinned          boolean     NOT NULL,
    search_boost       double precision NOT NULL,
    related_articles   uuid[]      NOT NULL,
    related_tickets    uuid[]      NOT NULL,
    related_incidents  uuid[]      NOT NULL,
    created_by         text        NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    published_at       timestamptz,
    -- Title A, keywords and tags B, summary C, content D; English stems.
    document           tsvector    NOT NULL,
    -- The title's words as written, unstemmed: an exact title match ranks ahead of a stemmed one.
    title_words        tsvector    NOT NULL
);

CREATE INDEX kb_articles_document ON kb_articles USING gin (document);
-- Browsing without a search: pinned first, newest first; within a status (published for
-- customers), within a category, and the articles carrying a tag.
CREATE INDEX kb_articles_recent ON kb_articles (is_pinned DESC, updated_at DESC, id);
CREATE INDEX kb_articles_browse ON kb_articles (status, is_pinned DESC, updated_at DESC, id);
CREATE INDEX kb_articles_category ON kb_articles (category, status, is_pinned DESC, updated_at DESC, id);
CREATE INDEX kb_articles_tags ON kb_articles USING gin (tags);
-- The category counts of browsing, from the index alone (the rows are wide).
CREATE INDEX kb_articles_facets ON kb_articles (status, is_internal, category);

CREATE TABLE kb_article_revisions
(
    article_id  uuid,
    revision    integer,
    fields      jsonb       NOT NULL,
    revised_by  text        NOT NULL,
    revised_at  timestamptz NOT NULL,
    PRIMARY KEY (article_id, revision)
);

CREATE TABLE kb_words
(
    word text PRIMARY KEY
);
CREATE INDEX kb_words_trigrams ON kb_words USING gin (word gin_trgm_ops);

-- A view is a row here (an insert takes no lock another reader waits on), folded into the
-- article's count in batches; the count is the folded total plus the rows not folded yet.
CREATE TABLE kb_article_views
(
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id uuid        NOT NULL,
    viewed_at  timestamptz NOT NULL
);
CREATE INDEX kb_article_views_article ON kb_article_views (article_id);

CREATE TABLE kb_article_view_counts
(
    article_id uuid PRIMARY KEY,
    views      bigint NOT NULL
);

-- Every search, without who searched: the query as normalised (lower case, one space, emails and
-- long numbers masked) and how many articles it found.
CREATE TABLE kb_searches
(
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    searched_at timestamptz NOT NULL,
    query       text        NOT NULL,
    results     integer     NOT NULL
);
CREATE INDEX kb_searches_range ON kb_searches (searched_at);
