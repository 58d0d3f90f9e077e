-- Idempotency-Key: the first answer to each caller's key, replayed to retries for 24 hours.
-- `body` holds whole responses, which carry customers' personal data (names, email addresses,
-- comment text): treat this table like the read models in backups and exports. Rows are deleted
-- once expired (see api/src/idempotency.rs).
CREATE TABLE idempotency_keys
(
    subject         text        NOT NULL, -- the caller's token `sub`
    idempotency_key text        NOT NULL,
    request_hash    bytea       NOT NULL, -- SHA-256 of the method, path and body
    created_at      timestamptz NOT NULL,
    -- All NULL while the first request runs; then its answer. 5xx answers are never kept.
    status          smallint CHECK (status BETWEEN 100 AND 499),
    location        text,
    content_type    text,
    body            bytea,
    PRIMARY KEY (subject, idempotency_key),
    CHECK ((status IS NULL) = (body IS NULL))
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
