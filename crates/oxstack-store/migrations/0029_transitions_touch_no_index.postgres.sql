-- `instances_unsettled (host, task_state)` moved in every task transition.
-- On PostgreSQL it did more harm: an update that changes an indexed
-- column writes a new entry in every index of the table (seven), while one
-- that changes none stays on its page ("HOT") and writes in none. What it
-- served, a host's instances (`unsettled`, read when a compute host
-- starts, and `on_host`), an index on the host alone serves.
DROP INDEX instances_unsettled;
CREATE INDEX instances_host ON instances (host);
-- A HOT update needs room on the row's page: instances are updated many
-- times for each insert, so new pages keep a fifth free.
ALTER TABLE instances SET (fillfactor = 80);
