-- `instances_unsettled (host, task_state)` moved in every task transition
-- (a delete and an insert in the index). What it served, a host's
-- instances (`unsettled`, read when a compute host starts, and `on_host`),
-- an index on the host alone serves: the task is filtered among them.
DROP INDEX instances_unsettled;
CREATE INDEX instances_host ON instances (host);
