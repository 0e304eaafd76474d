-- What the live (including soft-deleted) instances of each project consume,
-- kept up to date by the very transactions that create, delete and resize
-- instances, so a quota check reads one row instead of summing every
-- server of the project. The row is also the project's lock for quota
-- checks (it takes over from project_locks).
CREATE TABLE project_usage (
    project_id TEXT PRIMARY KEY,
    instances  BIGINT NOT NULL,
    cores      BIGINT NOT NULL,
    ram        BIGINT NOT NULL
);

INSERT INTO project_usage (project_id, instances, cores, ram)
    SELECT project_id, COUNT(*), SUM(vcpus), SUM(memory_mb)
    FROM instances WHERE deleted = 0 GROUP BY project_id;

DROP TABLE project_locks;
