-- The knowledge-base articles a customer was shown or opened before opening a ticket, as its
-- `TicketOpened` recorded them: what analytics counts deflection from. Tickets opened before hold
-- none.
ALTER TABLE tickets
    ADD COLUMN suggested_articles_seen uuid[] NOT NULL DEFAULT '{}';
