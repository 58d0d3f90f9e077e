-- Readers' ratings of knowledge base articles (`projections/src/kb/ratings.rs`): each reader's
-- rating of an article, and each article's sums, from which the API shows the mean, the helpful
-- share and the low-rating flag. Both are rebuilt by a replay of `kb_ratings`.
CREATE TABLE kb_ratings
(
    -- The KbRating aggregate: the UUID v5 of the article and the reader.
    rating_id   uuid PRIMARY KEY,
    article_id  uuid        NOT NULL,
    -- The reader's sub, and the customer account a customer reader acts for.
    reader      text        NOT NULL,
    customer_id text,
    rating      smallint    NOT NULL,
    helpful     boolean     NOT NULL,
    -- Personal data: `[erased]` once the reader's customer account is erased.
    comment     text,
    rated_at    timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    erased_at   timestamptz
);
-- A customer's ratings still holding their comments, for the export and the erasure.
CREATE INDEX kb_ratings_by_customer ON kb_ratings (customer_id) WHERE erased_at IS NULL;

CREATE TABLE kb_rating_summaries
(
    article_id          uuid PRIMARY KEY,
    rating_count        integer     NOT NULL,
    rating_sum          integer     NOT NULL,
    helpful_count       integer     NOT NULL,
    -- At least 5 ratings with a mean under 2.5 (`RatingSummary::is_low`).
    low_rated           boolean     NOT NULL,
    -- `low_rated` changed since the article was last told (its KbArticleRatedLow or
    -- KbArticleRatingRecovered): set in the transaction that changes it, cleared by the SLA
    -- timer's pass once the article took the command.
    alert_pending       boolean     NOT NULL,
    -- The last rating that changed the sums; a pending alert is due from then.
    changed_at          timestamptz NOT NULL,
    -- While a timer holds the pending alert: another takes it only after this.
    alert_claimed_until timestamptz
);
-- `GET /kb-articles?lowRated=`: the low-rated articles are few.
CREATE INDEX kb_rating_summaries_low_rated ON kb_rating_summaries (article_id) WHERE low_rated;
-- The timer's claims of pending alerts, earliest first.
CREATE INDEX kb_rating_summaries_alert_pending ON kb_rating_summaries (changed_at)
    WHERE alert_pending;

ALTER TABLE personal_data_erasures
    ADD COLUMN kb_ratings uuid[] NOT NULL DEFAULT '{}';
