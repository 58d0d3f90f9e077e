-- Crypto-shredding (see projections/src/personal_data.rs and docs/privacy.md). Write side: each
-- aggregate that holds a customer's personal data has a data key, sealed with SUPPORTD_MASTER_KEY
-- and filed under the customer. Deleting the row erases the personal fields of that aggregate's
-- every event, in the store and on the bus. Events written before this migration hold them in
-- clear.
CREATE TABLE data_keys
(
    aggregate_type text,
    aggregate_id   text,
    -- Whose data the key seals; NULL when the aggregate names no customer.
    customer_id    text,
    sealed_key     bytea       NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
CREATE INDEX data_keys_by_customer ON data_keys (customer_id) WHERE customer_id IS NOT NULL;

-- What each erasure destroyed, when and at whose request. Holds no personal data: the customer id
-- is the account's identifier, which reports keep counting by.
CREATE TABLE personal_data_erasures
(
    receipt_id  uuid PRIMARY KEY,
    customer_id text,
    reason      text        NOT NULL,
    erased_by   text        NOT NULL,
    erased_at   timestamptz NOT NULL,
    tickets     uuid[]      NOT NULL
);
CREATE INDEX personal_data_erasures_by_customer
    ON personal_data_erasures (customer_id, erased_at DESC);

-- Read side: when a ticket reached a final status (retention counts from it) and when its
-- personal data was erased. A final ticket changes no more, so its last update was its closing.
ALTER TABLE tickets
    ADD COLUMN closed_at               timestamptz,
    ADD COLUMN personal_data_erased_at timestamptz;
UPDATE tickets SET closed_at = updated_at WHERE status IN ('CLOSED', 'CANCELLED');
CREATE INDEX tickets_awaiting_retention ON tickets (closed_at)
    WHERE closed_at IS NOT NULL AND personal_data_erased_at IS NULL;
