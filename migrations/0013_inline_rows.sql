-- An opening under an SLA policy carries the policy's terms and clocks: its event and its ticket
-- row run to 2-3 KB, past the 2 KB at which PostgreSQL compresses a row's largest values (pglz,
-- on every insert, and decompression on every read). Rows up to a page's half stay as they are:
-- the space is cheaper than the CPU on the path every ticket's creation takes.
ALTER TABLE events SET (toast_tuple_target = 4080);
ALTER TABLE tickets SET (toast_tuple_target = 4080);
