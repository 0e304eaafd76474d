-- No query could use `instances_updated`: `changes-since`, `changes-before`
-- and sorting by `updated_at` compare `COALESCE(updated_at, created_at)`
-- (or `COALESCE(updated_at, 0)`), which an index on the bare column does
-- not serve. It was only written to: a delete and an insert on every task
-- transition.
DROP INDEX instances_updated;
